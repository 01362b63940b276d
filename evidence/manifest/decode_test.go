package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

func putRef(t testing.TB, runs store.Store, r Ref) evidence.Digest {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := store.PutBytes(context.Background(), runs, data, RefMediaType)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Digest
}

const (
	goodHeader   = `{"schema":"exhibit.run/v1","id":"r1","type":"collection","started_at":"2026-11-28T02:00:00Z","ended_at":"2026-11-28T02:01:00Z","outcome":"complete","previous":null,"signer":"SHA256:x"`
	goodEnvelope = `{"kind":"aws.iam.password_policy","subject":"aws:1","connector":{"instance":"aws-prod","type":"aws","version":"1"},"collected_at":"2026-11-28T02:00:01Z","status":"ok","document":{"digest":"0000000000000000000000000000000000000000000000000000000000000001","size":2}}`
)

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // empty: accepted
	}{
		{"good", goodHeader + `,"envelopes":[` + goodEnvelope + `,` + goodEnvelope + `]}`, ""},
		{"good, no envelopes, whitespace", "\n" + goodHeader + `,"envelopes":[ ] }` + "\n\n", ""},
		{"not an object", `[1]`, "want '{'"},
		{"empty", ``, "EOF"},
		{"unknown header key", strings.Replace(goodHeader, `"id"`, `"color":"red","id"`, 1) + `,"envelopes":[]}`, "unknown field \"color\""},
		{"duplicate header key", goodHeader + `,"id":"r2","envelopes":[]}`, "duplicate key \"id\""},
		{"duplicate nested header key", goodHeader + `,"connectors":[{"instance":"a","instance":"b","type":"aws","version":"1","outcome":"complete","started_at":"2026-11-28T02:00:00Z","ended_at":"2026-11-28T02:00:00Z","artefacts":0,"gaps":0}],"envelopes":[]}`, "duplicate key \"instance\""},
		{"missing previous", strings.Replace(goodHeader, `"previous":null,`, ``, 1) + `,"envelopes":[]}`, "lacks [\"previous\"]"},
		{"wrong schema", strings.Replace(goodHeader, `run/v1`, `run/v3`, 1) + `,"envelopes":[]}`, "schema is"},
		{"v1 late and catch_up", goodHeader + `,"connectors":[{"instance":"a","type":"aws","version":"1","outcome":"complete","started_at":"2026-11-28T02:00:00Z","ended_at":"2026-11-28T02:00:00Z","artefacts":0,"gaps":0,"late":true,"catch_up":true}],"envelopes":[]}`, "both \"late\" and \"catch_up\""},
		{"v2 with v1's late", strings.Replace(goodHeader, `run/v1`, `run/v2`, 1) + `,"connectors":[{"instance":"a","type":"aws","version":"1","outcome":"complete","started_at":"2026-11-28T02:00:00Z","ended_at":"2026-11-28T02:00:00Z","artefacts":0,"gaps":0,"late":true}],"envelopes":[]}`, "unknown field \"late\""},
		{"no envelopes", goodHeader + `}`, "no \"envelopes\""},
		{"envelopes null", goodHeader + `,"envelopes":null}`, "want '['"},
		{"envelopes not last", goodHeader + `,"envelopes":[],"note":"x"}`, "envelopes must be last"},
		{"envelopes before header", `{"envelopes":[],` + goodHeader[1:] + `}`, "header lacks"},
		{"unknown envelope key", goodHeader + `,"envelopes":[` + strings.Replace(goodEnvelope, `"kind"`, `"extra":1,"kind"`, 1) + `]}`, "envelope 0: json: unknown field \"extra\""},
		{"duplicate envelope key", goodHeader + `,"envelopes":[` + goodEnvelope + `,` + strings.Replace(goodEnvelope, `"kind"`, `"subject":"x","kind"`, 1) + `]}`, "envelope 1: duplicate key \"subject\""},
		{"duplicate nested envelope key", goodHeader + `,"envelopes":[` + strings.Replace(goodEnvelope, `"type":"aws"`, `"type":"aws","type":"gcp"`, 1) + `]}`, "duplicate key \"type\" at $.connector"},
		{"invalid envelope", goodHeader + `,"envelopes":[` + strings.Replace(goodEnvelope, `"status":"ok"`, `"status":"maybe"`, 1) + `]}`, "unknown status"},
		{"envelope not an object", goodHeader + `,"envelopes":[1]}`, "envelope 0"},
		{"trailing data", goodHeader + `,"envelopes":[]}{}`, "unexpected data after the manifest"},
		{"truncated", goodHeader + `,"envelopes":[` + goodEnvelope, "unexpected EOF"},
		{"bad digest", goodHeader + `,"envelopes":[` + strings.Replace(goodEnvelope, `000000000001"`, `00000000001"`, 1) + `]}`, "invalid digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			_, err := Decode(strings.NewReader(tt.in), func(evidence.Envelope) error { n++; return nil })
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeStopsAtCallbackError(t *testing.T) {
	stop := errors.New("disk full")
	in := goodHeader + `,"envelopes":[` + goodEnvelope + `,` + goodEnvelope + `]}`
	n := 0
	_, err := Decode(strings.NewReader(in), func(evidence.Envelope) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 || !strings.Contains(err.Error(), "envelope 0 (aws.iam.password_policy aws:1)") {
		t.Fatalf("err = %v after %d calls, want the callback's error after 1, with its location", err, n)
	}
}

func TestParseRef(t *testing.T) {
	s := newSigner(t)
	repo := mem.NewRepo()
	sealed := seal(t, repo, s, "run-1", t0, 1)
	good, err := json.Marshal(sealed.Ref)
	if err != nil {
		t.Fatal(err)
	}
	g := string(good)
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"good", g, ""},
		{"unknown key", strings.Replace(g, `{"schema"`, `{"x":1,"schema"`, 1), "unknown field"},
		{"duplicate key", strings.Replace(g, `{"schema"`, `{"id":"run-2","schema"`, 1), "duplicate key \"id\""},
		{"missing previous", strings.Replace(g, `"previous":null,`, ``, 1), "\"previous\" is missing"},
		{"wrong schema", strings.Replace(g, `runref/v1`, `runref/v0`, 1), "schema is"},
		{"zero manifest digest", strings.Replace(g, sealed.Digest.String(), strings.Repeat("0", 64), 1), "manifest digest is missing"},
		{"bad id", strings.Replace(g, `"id":"run-1"`, `"id":"run 1"`, 1), "only letters"},
		{"empty signature", strings.Replace(g, `"sshsig":"`, `"sshsig":"","x":"`, 1), "unknown field"},
		{"not JSON", `ref`, "invalid run ref"},
		{"too large", `{"note":"` + strings.Repeat("x", maxRefSize) + `"}`, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRef([]byte(tt.in))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Verify(s.Verifier()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestRefVerify(t *testing.T) {
	s := newSigner(t)
	other := newSigner(t)
	repo := mem.NewRepo()
	good := seal(t, repo, s, "run-1", t0, 1).Ref
	otherRef := seal(t, mem.NewRepo(), other, "run-1", t0, 1).Ref
	tests := []struct {
		name    string
		mangle  func(r *Ref)
		wantErr string
	}{
		{"good", func(*Ref) {}, ""},
		{"manifest digest changed", func(r *Ref) { r.Manifest.Digest[0] ^= 1 }, "does not verify"},
		{"signed by another key", func(r *Ref) { r.Signature, r.SSHSig = otherRef.Signature, otherRef.SSHSig }, "made by key " + other.Fingerprint()},
		{"DER by another key", func(r *Ref) { r.Signature = otherRef.Signature }, "not by key"},
		{"SSHSIG by another key", func(r *Ref) { r.SSHSig = otherRef.SSHSig }, "made by key " + other.Fingerprint()},
		{"signer field changed", func(r *Ref) { r.Signer = other.Fingerprint() }, "names signer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			r.Signature = append([]byte(nil), good.Signature...)
			tt.mangle(&r)
			err := r.Verify(s.Verifier())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "run-1") {
				t.Fatalf("err = %v, want it to name run-1 and contain %q", err, tt.wantErr)
			}
		})
	}
}

// Manifests of schema v1 still read: their "late" (only ever set for a catch-up start)
// is CatchUp, and the header keeps the schema it was signed with.
func TestDecodeV1Late(t *testing.T) {
	cr := `{"instance":"a","type":"aws","version":"1","outcome":"complete","started_at":"2026-11-28T02:00:00Z","ended_at":"2026-11-28T02:00:00Z","artefacts":1,"gaps":0`
	for _, tt := range []struct {
		late    string
		catchUp bool
	}{{`,"late":true`, true}, {`,"late":false`, false}, {``, false}} {
		h, err := Decode(strings.NewReader(goodHeader+`,"connectors":[`+cr+tt.late+`}],"envelopes":[]}`), nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.late, err)
		}
		if h.Schema != SchemaV1 || len(h.Connectors) != 1 || h.Connectors[0].CatchUp != tt.catchUp || h.Connectors[0].OverDeadline {
			t.Errorf("%s: %+v", tt.late, h)
		}
	}
}
