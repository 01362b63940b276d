package manifest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

func TestSealChainsAndDecodes(t *testing.T) {
	ctx := context.Background()
	repo := mem.NewRepo()
	s := newSigner(t)

	var prev *evidence.Digest
	for i, n := range []int{3, 0, 5} {
		id := []string{"20261128T020000Z-aaaaaa", "20261129T020000Z-bbbbbb", "20261130T020000Z-cccccc"}[i]
		start := t0.Add(time.Duration(i) * 24 * time.Hour)
		sealed := seal(t, repo, s, id, start, n)

		if !reflect.DeepEqual(sealed.Header.Previous, prev) {
			t.Fatalf("run %s: previous = %v, want %v", id, sealed.Header.Previous, prev)
		}
		if sealed.Header.Signer != s.Fingerprint() || sealed.Header.Schema != Schema {
			t.Errorf("run %s: signer %q schema %q not filled in", id, sealed.Header.Signer, sealed.Header.Schema)
		}
		data, err := store.GetBytes(ctx, repo.Objects, sealed.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) != sealed.Size || sealed.Ref.Manifest.Size != sealed.Size {
			t.Errorf("run %s: stored %d bytes, Sealed says %d, ref says %d", id, len(data), sealed.Size, sealed.Ref.Manifest.Size)
		}
		if !bytes.HasPrefix(data, []byte(`{"schema":"exhibit.run/v2","id":"`+id+`"`)) || !bytes.HasSuffix(data, []byte("]}\n")) {
			t.Errorf("run %s: manifest is not header-first, envelopes-last:\n%s", id, data)
		}

		var got []evidence.Envelope
		h, err := Decode(bytes.NewReader(data), func(e evidence.Envelope) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(h, sealed.Header) {
			t.Errorf("run %s: decoded header\n%+v\nwant\n%+v", id, h, sealed.Header)
		}
		if len(got) != n {
			t.Fatalf("run %s: decoded %d envelopes, want %d", id, len(got), n)
		}
		for j := range got {
			if want := envelope(j); !reflect.DeepEqual(got[j], want) {
				t.Errorf("run %s: envelope %d:\n%+v\nwant\n%+v", id, j, got[j], want)
			}
		}
		hOnly, err := DecodeHeader(bytes.NewReader(data))
		if err != nil || !reflect.DeepEqual(hOnly, h) {
			t.Errorf("run %s: DecodeHeader = %+v, %v", id, hOnly, err)
		}

		if err := sealed.Ref.Verify(s.Verifier()); err != nil {
			t.Errorf("run %s: ref does not verify: %v", id, err)
		}
		head, err := Head(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if head == nil || *head != sealed.Digest {
			t.Fatalf("run %s: Head = %v, want %s", id, head, sealed.Digest)
		}
		d := sealed.Digest
		prev = &d
	}

	refs, err := ListRefs(ctx, repo.Runs)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 3 || refs[0].Ref.Previous != nil || *refs[2].Ref.Previous != refs[1].Ref.Manifest.Digest {
		t.Fatalf("ListRefs: %+v", refs)
	}
}

func TestSealReadsBackWithoutEnvelopes(t *testing.T) {
	s := newSigner(t)
	repo := mem.NewRepo()
	sealed, err := Seal(context.Background(), repo, s, header("r1", t0), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := store.GetBytes(context.Background(), repo.Objects, sealed.Digest)
	if !bytes.HasSuffix(data, []byte(`,"envelopes":[]}`+"\n")) {
		t.Errorf("empty run manifest: %s", data)
	}
}

func TestSealRefuses(t *testing.T) {
	s := newSigner(t)
	tests := []struct {
		name    string
		mangle  func(h *Header)
		wantErr string
	}{
		{"no id", func(h *Header) { h.ID = "" }, "run id is required"},
		{"id with slash", func(h *Header) { h.ID = "../x" }, "only letters"},
		{"unknown type", func(h *Header) { h.Type = "backup" }, "unknown type"},
		{"ends before it starts", func(h *Header) { h.EndedAt = h.StartedAt.Add(-time.Second) }, "before started_at"},
		{"unknown outcome", func(h *Header) { h.Outcome = "fine" }, "unknown outcome"},
		{"evaluates on a collection", func(h *Header) { d := evidence.Sum(nil); h.Evaluates = &d }, "evaluates is set"},
		{"connector without outcome", func(h *Header) { h.Connectors = []ConnectorRun{{Instance: "a", Type: "aws"}} }, "unknown outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := mem.NewRepo()
			h := header("r1", t0)
			tt.mangle(&h)
			_, err := Seal(context.Background(), repo, s, h, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			n := 0
			repo.Runs.List(context.Background(), func(store.Info) error { n++; return nil })
			repo.Objects.List(context.Background(), func(store.Info) error { n++; return nil })
			if n != 0 {
				t.Errorf("a refused Seal stored %d objects", n)
			}
		})
	}
}

func TestBuilder(t *testing.T) {
	b, err := NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := b.Add(envelope(i)); err != nil {
			t.Fatal(err)
		}
	}
	bad := envelope(9)
	bad.Document = nil
	if err := b.Add(bad); err == nil || !strings.Contains(err.Error(), "status ok without a document") {
		t.Errorf("Add(invalid) = %v", err)
	}
	if b.Len() != 3 {
		t.Errorf("Len = %d, want 3", b.Len())
	}
	// Replaying twice, and adding in between, sees everything added so far.
	for round := 0; round < 2; round++ {
		var got []evidence.Envelope
		if err := b.Envelopes(func(e evidence.Envelope) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 3+round || !reflect.DeepEqual(got[2], envelope(2)) {
			t.Fatalf("round %d: replayed %d envelopes", round, len(got))
		}
		if err := b.Add(envelope(3)); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	if err := b.Envelopes(func(evidence.Envelope) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Envelopes did not return fn's error: %v", err)
	}
	name := b.f.Name()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := NewBuilder(name + ".missing-dir"); err == nil {
		t.Errorf("NewBuilder in a missing directory succeeded")
	}
	if err := b.Add(envelope(0)); err == nil {
		t.Errorf("Add after Close succeeded")
	}
}

func TestHead(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)

	t.Run("empty", func(t *testing.T) {
		head, err := Head(ctx, mem.NewRepo())
		if err != nil || head != nil {
			t.Fatalf("Head = %v, %v; want nil, nil", head, err)
		}
	})

	t.Run("fork after the same previous", func(t *testing.T) {
		repo := mem.NewRepo()
		r1 := seal(t, repo, s, "run-1", t0, 1)
		r2 := seal(t, repo, s, "run-2", t0.Add(time.Hour), 1)
		// A second writer that only saw run-1 seals run-3 after it.
		other := &store.Repo{Objects: repo.Objects, Runs: mem.New(), Describe: "other"}
		copyObject(t, repo.Runs, other.Runs, r1.RefDigest)
		r3 := seal(t, other, s, "run-3", t0.Add(2*time.Hour), 2)
		copyObject(t, other.Runs, repo.Runs, r3.RefDigest)

		_, err := Head(ctx, repo)
		var fe *ForkError
		if !errors.As(err, &fe) {
			t.Fatalf("Head = %v, want a ForkError", err)
		}
		for _, want := range []string{"run-2", "run-3", r2.Digest.String(), r3.Digest.String(), "follow manifest " + r1.Digest.String()} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("fork error %q does not name %s", err, want)
			}
		}
	})

	t.Run("two first runs", func(t *testing.T) {
		repo := mem.NewRepo()
		seal(t, repo, s, "run-a", t0, 1)
		other := &store.Repo{Objects: repo.Objects, Runs: mem.New(), Describe: "other"}
		rb := seal(t, other, s, "run-b", t0.Add(time.Hour), 2)
		copyObject(t, other.Runs, repo.Runs, rb.RefDigest)
		_, err := Head(ctx, repo)
		if err == nil || !strings.Contains(err.Error(), "run-a") || !strings.Contains(err.Error(), "run-b") || !strings.Contains(err.Error(), "first run") {
			t.Fatalf("Head = %v, want a fork naming run-a and run-b", err)
		}
	})

	t.Run("gap in the middle keeps the newest head", func(t *testing.T) {
		repo := mem.NewRepo()
		seal(t, repo, s, "run-1", t0, 1)
		r2 := seal(t, repo, s, "run-2", t0.Add(time.Hour), 2)
		r3 := seal(t, repo, s, "run-3", t0.Add(2*time.Hour), 3)
		repo.Runs.(*mem.Store).Remove(r2.RefDigest)
		head, err := Head(ctx, repo)
		if err != nil || head == nil || *head != r3.Digest {
			t.Fatalf("Head = %v, %v; want run-3's manifest %s", head, err, r3.Digest)
		}
	})

	t.Run("same manifest referenced twice is not a fork", func(t *testing.T) {
		repo := mem.NewRepo()
		r1 := seal(t, repo, s, "run-1", t0, 1)
		// Re-signing gives a different ref (ECDSA signatures are randomised) for the same manifest.
		ref := r1.Ref
		sig, err := s.Sign(sign.NamespaceRun, r1.Digest)
		if err != nil {
			t.Fatal(err)
		}
		ref.Signature, ref.SSHSig = sig.DER, string(sig.SSH)
		putRef(t, repo.Runs, ref)
		head, err := Head(ctx, repo)
		if err != nil || head == nil || *head != r1.Digest {
			t.Fatalf("Head = %v, %v; want %s", head, err, r1.Digest)
		}
	})

	t.Run("unreadable ref", func(t *testing.T) {
		repo := mem.NewRepo()
		if _, err := store.PutBytes(ctx, repo.Runs, []byte(`{"schema":"x"}`), ""); err != nil {
			t.Fatal(err)
		}
		if _, err := Head(ctx, repo); err == nil || !strings.Contains(err.Error(), "invalid run ref") {
			t.Fatalf("Head = %v, want an invalid ref error", err)
		}
	})
}

func TestDecodeDetectsAlteredObject(t *testing.T) {
	ctx := context.Background()
	repo := mem.NewRepo()
	sealed := seal(t, repo, newSigner(t), "run-1", t0, 3)
	data, _ := store.GetBytes(ctx, repo.Objects, sealed.Digest)
	// Still valid JSON, still a valid manifest: only the digest can tell.
	altered := bytes.Replace(data, []byte("aws:000000000001"), []byte("aws:000000000009"), 1)
	repo.Objects.(*mem.Store).Corrupt(sealed.Digest, altered)
	rc, err := repo.Objects.Get(ctx, sealed.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = Decode(rc, func(evidence.Envelope) error { return nil })
	if !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Decode of an altered manifest = %v, want ErrDigestMismatch", err)
	}
}
