package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/exhibit-dev/exhibit/evidence"
)

// headerKeys are the keys a manifest must have before "envelopes". "previous" is required
// even when null, so a manifest that lost the key is never read as the first of a chain.
var headerKeys = []string{"schema", "id", "type", "started_at", "ended_at", "outcome", "previous", "signer"}

// Decode reads a run manifest from r and calls fn with each envelope, in order, one at a
// time, so memory stays flat however many envelopes the run has. It is strict: unknown and
// duplicate keys at any level, a missing "envelopes" array, keys after "envelopes" and data
// after the manifest are errors, and every envelope must pass Envelope.Validate. It reads r
// to its end, so a store.VerifyingReader gets to check the digest; a read error (for example
// store.ErrDigestMismatch) is returned wrapped. fn's error stops the decoding and is returned
// wrapped.
func Decode(r io.Reader, fn func(evidence.Envelope) error) (Header, error) {
	return decode(r, fn, true)
}

// DecodeHeader reads a manifest's header and stops before the envelopes. It does not read
// to the end, so the object's digest is NOT verified: use it for listing, never for
// checking.
func DecodeHeader(r io.Reader) (Header, error) {
	return decode(r, nil, false)
}

func decode(r io.Reader, fn func(evidence.Envelope) error, envelopes bool) (Header, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	if err := expectDelim(dec, '{', "the manifest"); err != nil {
		return Header{}, err
	}
	fields := map[string]json.RawMessage{}
	for {
		if !dec.More() {
			return Header{}, errors.New("invalid manifest: no \"envelopes\" after the header")
		}
		tok, err := dec.Token()
		if err != nil {
			return Header{}, fmt.Errorf("invalid manifest: %w", unexpectedEOF(err))
		}
		key, _ := tok.(string)
		if _, dup := fields[key]; dup {
			return Header{}, fmt.Errorf("invalid manifest: duplicate key %q", key)
		}
		if key == "envelopes" {
			break
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Header{}, fmt.Errorf("invalid manifest: key %q: %w", key, err)
		}
		fields[key] = raw
	}
	h, err := decodeHeader(fields)
	if err != nil {
		return Header{}, err
	}
	if !envelopes {
		return h, nil
	}
	if err := expectDelim(dec, '[', "run "+h.ID+": envelopes"); err != nil {
		return h, err
	}
	// The envelopes are split off the stream by evidence.ArrayReader and each decoded once
	// by DecodeEnvelope: json.Decoder.Decode into a json.RawMessage first would scan and
	// copy every envelope twice more, and verifying a bundle decodes one per artefact.
	ar := evidence.NewArrayReader(io.MultiReader(dec.Buffered(), r), 0)
	for i := 0; ; i++ {
		raw, err := ar.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return h, fmt.Errorf("invalid manifest: run %s: envelope %d: %w", h.ID, i, err)
		}
		e, err := DecodeEnvelope(raw)
		if err != nil {
			return h, fmt.Errorf("invalid manifest: run %s: envelope %d: %w", h.ID, i, err)
		}
		if fn != nil {
			if err := fn(e); err != nil {
				return h, fmt.Errorf("run %s: envelope %d (%s %s): %w", h.ID, i, e.Kind, e.Subject, err)
			}
		}
	}
	// What follows the array: the manifest's closing brace, then nothing but white space.
	rest := bufio.NewReader(ar.Rest())
	c, err := evidence.NextNonSpace(rest)
	if err != nil {
		return h, fmt.Errorf("invalid manifest: run %s: %w", h.ID, unexpectedEOF(err))
	}
	switch c {
	case '}':
	case ',':
		tok, _ := json.NewDecoder(rest).Token()
		return h, fmt.Errorf("invalid manifest: run %s: key %v after \"envelopes\" (envelopes must be last)", h.ID, tok)
	default:
		return h, fmt.Errorf("invalid manifest: run %s: got %q after the envelopes, want '}'", h.ID, c)
	}
	if _, err := evidence.NextNonSpace(rest); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the manifest")
		}
		return h, fmt.Errorf("invalid manifest: run %s: %w", h.ID, err)
	}
	return h, nil
}

func expectDelim(dec *json.Decoder, want json.Delim, what string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid manifest: %s: %w", what, unexpectedEOF(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("invalid manifest: %s: got %v, want '%c'", what, tok, rune(want))
	}
	return nil
}

func decodeHeader(fields map[string]json.RawMessage) (Header, error) {
	var missing []string
	for _, k := range headerKeys {
		if _, ok := fields[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return Header{}, fmt.Errorf("invalid manifest: header lacks %q", missing)
	}
	if string(fields["schema"]) == `"`+SchemaV1+`"` {
		if err := upgradeV1(fields); err != nil {
			return Header{}, fmt.Errorf("invalid manifest header: %w", err)
		}
	}
	data, err := json.Marshal(fields)
	if err != nil {
		return Header{}, fmt.Errorf("invalid manifest header: %w", err)
	}
	var h Header
	if err := evidence.DecodeStrict(data, &h); err != nil {
		return Header{}, fmt.Errorf("invalid manifest header: %w", err)
	}
	if err := h.Validate(); err != nil {
		return Header{}, fmt.Errorf("invalid manifest header: %w", err)
	}
	return h, nil
}

// DecodeEnvelope parses one envelope strictly (unknown and duplicate keys rejected) and
// validates it.
func DecodeEnvelope(data []byte) (evidence.Envelope, error) {
	var e evidence.Envelope
	if err := evidence.DecodeStrict(bytes.TrimSpace(data), &e); err != nil {
		return evidence.Envelope{}, err
	}
	if err := e.Validate(); err != nil {
		return evidence.Envelope{}, err
	}
	return e, nil
}

// unexpectedEOF turns io.EOF in the middle of a manifest into io.ErrUnexpectedEOF, so a
// truncated manifest says so.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// upgradeV1 rewrites the connector runs of a v1 header into the v2 form before the strict
// decoding: v1's "late" (a boolean, only ever set for a catch-up start) becomes "catch_up".
// The header keeps its v1 schema, so what was read is what was signed.
func upgradeV1(fields map[string]json.RawMessage) error {
	raw, ok := fields["connectors"]
	if !ok || string(raw) == "null" {
		return nil
	}
	// Duplicate keys are refused here, before the maps below would hide them.
	var crs []map[string]json.RawMessage
	if err := evidence.DecodeStrict(raw, &crs); err != nil {
		return fmt.Errorf("connectors: %w", err)
	}
	for i, cr := range crs {
		if late, ok := cr["late"]; ok {
			if _, both := cr["catch_up"]; both {
				return fmt.Errorf("connectors[%d]: both \"late\" and \"catch_up\"", i)
			}
			var b bool
			if err := json.Unmarshal(late, &b); err != nil {
				return fmt.Errorf("connectors[%d].late: %w", i, err)
			}
			delete(cr, "late")
			if b {
				cr["catch_up"] = json.RawMessage("true")
			}
		}
	}
	b, err := json.Marshal(crs)
	if err != nil {
		return err
	}
	fields["connectors"] = b
	return nil
}
