package manifest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

// encode writes a manifest from a header and envelopes held in memory, with the same code
// Seal uses.
func encode(t *testing.T, h Header, envs []evidence.Envelope) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, _, err := writeManifest(&buf, h, func(fn func([]byte) error) error {
		for _, e := range envs {
			line, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := fn(append(line, '\n')); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("could not encode what Decode accepted: %v", err)
	}
	return buf.Bytes()
}

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic, and whatever it accepts
// must encode to a manifest that decodes again and encodes to the same bytes: the reader
// and the writer agree on one meaning of every manifest.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(goodHeader + `,"envelopes":[` + goodEnvelope + `]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var envs []evidence.Envelope
		h, err := Decode(bytes.NewReader(data), func(e evidence.Envelope) error {
			if len(envs) < 1000 {
				envs = append(envs, e)
			}
			return nil
		})
		if _, herr := DecodeHeader(bytes.NewReader(data)); err == nil && herr != nil {
			t.Fatalf("Decode accepted what DecodeHeader refused: %v", herr)
		}
		if err != nil || len(envs) == 1000 {
			return
		}
		once := encode(t, h, envs)
		var again []evidence.Envelope
		h2, err := Decode(bytes.NewReader(once), func(e evidence.Envelope) error {
			again = append(again, e)
			return nil
		})
		if err != nil {
			t.Fatalf("our encoding of an accepted manifest does not decode: %v\n%s", err, once)
		}
		if twice := encode(t, h2, again); !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%s\n%s", once, twice)
		}
	})
}

// FuzzParseRef feeds arbitrary bytes to ParseRef: no panics, and an accepted ref survives
// a marshal/parse round trip.
func FuzzParseRef(f *testing.F) {
	f.Add([]byte(`{"schema":"exhibit.runref/v1","manifest":{"digest":"0000000000000000000000000000000000000000000000000000000000000001","size":10},"id":"r1","type":"collection","started_at":"2026-11-28T02:00:00Z","previous":null,"signer":"SHA256:x","signature":"MEQ=","sshsig":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRef(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("could not marshal an accepted ref: %v", err)
		}
		if _, err := ParseRef(out); err != nil {
			t.Fatalf("our encoding of an accepted ref does not parse: %v\n%s", err, out)
		}
	})
}

// FuzzDecodeEnvelope feeds arbitrary bytes to DecodeEnvelope, the reader of each manifest
// entry and of the Builder's spool.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(goodEnvelope))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEnvelope(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("could not marshal an accepted envelope: %v", err)
		}
		if _, err := DecodeEnvelope(out); err != nil {
			t.Fatalf("our encoding of an accepted envelope does not parse: %v\n%s", err, out)
		}
	})
}
