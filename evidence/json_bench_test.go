package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// sealedEnvelope seals a run manifest the way the runner does (stored objects, Builder,
// Seal) and returns the bytes of its first envelope as the manifest holds them: what
// DecodeStrict reads once per artefact when a bundle is verified.
func sealedEnvelope(tb testing.TB) []byte {
	tb.Helper()
	ctx := context.Background()
	repo := mem.NewRepo()
	signer, err := sign.Generate(filepath.Join(tb.TempDir(), "keys"))
	if err != nil {
		tb.Fatal(err)
	}
	b, err := manifest.NewBuilder(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	defer b.Close()
	put := func(s string) evidence.ObjectRef {
		ref, err := store.PutBytes(ctx, repo.Objects, []byte(s), "application/json")
		if err != nil {
			tb.Fatal(err)
		}
		return ref
	}
	start := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	doc := put(`{"MinimumPasswordLength":14,"RequireSymbols":true}`)
	env := evidence.Envelope{Kind: "aws.iam.password_policy", Subject: "aws:123456789012",
		Connector:   evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"},
		CollectedAt: start.Add(3 * time.Second), Status: evidence.StatusOK, Document: &doc,
		Exchanges: []evidence.Exchange{
			{Method: "POST", URL: "https://iam.amazonaws.com/", Status: 200, RequestID: "7a62c49f-347e-4fc4-9331-6e8eEXAMPLE",
				StartedAt: start.Add(time.Second), DurationMS: 84, Body: put(`<GetAccountPasswordPolicyResponse/>`)},
			{Method: "POST", URL: "https://iam.amazonaws.com/", Status: 200, RequestID: "8b73d5a0-458f-5ad5-a442-7f9fEXAMPLE",
				StartedAt: start.Add(2 * time.Second), DurationMS: 61, Body: put(`<GetAccountSummaryResponse/>`),
				Redactions: []evidence.Redaction{{Rule: "aws_access_key_id", Location: "body", Count: 1}}},
		}}
	if err := b.Add(env); err != nil {
		tb.Fatal(err)
	}
	sealed, err := manifest.Seal(ctx, repo, signer, manifest.Header{ID: "20261128T020000Z-bench", Type: manifest.TypeCollection,
		StartedAt: start, EndedAt: start.Add(time.Minute), Outcome: manifest.OutcomeComplete}, b)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := store.GetBytes(ctx, repo.Objects, sealed.Digest)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatalf("no envelopes in the sealed manifest: %v", err)
		}
		if tok == "envelopes" {
			break
		}
	}
	if _, err := dec.Token(); err != nil {
		tb.Fatal(err)
	}
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		tb.Fatal(err)
	}
	return raw
}

// BenchmarkDecodeStrict decodes a sealed envelope with DecodeStrict (single-pass key check,
// one decode) and with the Token-based version it replaced.
func BenchmarkDecodeStrict(b *testing.B) {
	env := sealedEnvelope(b)
	for _, c := range []struct {
		name   string
		decode func([]byte, any) error
	}{{"single-pass", evidence.DecodeStrict}, {"token-based", evidence.DecodeStrictTokenBased}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(env)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var e evidence.Envelope
				if err := c.decode(env, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeStrictSpeedup times both versions of DecodeStrict (and of the key check
// alone) alternately in the same iterations (new, old, old, new), so load from other jobs
// on the machine hits both alike; speedup is the old version's time divided by the new one's.
func BenchmarkDecodeStrictSpeedup(b *testing.B) {
	env := sealedEnvelope(b)
	const batch = 32
	for _, c := range []struct {
		name     string
		new, old func([]byte) error
	}{
		{"decode", func(d []byte) error { var e evidence.Envelope; return evidence.DecodeStrict(d, &e) },
			func(d []byte) error { var e evidence.Envelope; return evidence.DecodeStrictTokenBased(d, &e) }},
		{"key-check", evidence.CheckDuplicateKeys, evidence.TokenCheckDuplicateKeys},
	} {
		b.Run(c.name, func(b *testing.B) {
			var tNew, tOld time.Duration
			run := func(f func([]byte) error, total *time.Duration) {
				start := time.Now()
				for j := 0; j < batch; j++ {
					if err := f(env); err != nil {
						b.Fatal(err)
					}
				}
				*total += time.Since(start)
			}
			for i := 0; i < b.N; i++ {
				run(c.new, &tNew)
				run(c.old, &tOld)
				run(c.old, &tOld)
				run(c.new, &tNew)
			}
			b.ReportMetric(float64(tOld)/float64(tNew), "speedup")
			b.ReportMetric(float64(tNew.Nanoseconds())/float64(2*batch*b.N), "ns/new")
			b.ReportMetric(float64(tOld.Nanoseconds())/float64(2*batch*b.N), "ns/old")
		})
	}
}
