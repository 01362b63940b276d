package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// dyingStore fails every Put, as a process that dies at that point would never finish it.
type dyingStore struct{ store.Store }

var errDied = errors.New("the process died here")

func (dyingStore) Put(context.Context, evidence.Digest, io.ReadSeeker, int64) error { return errDied }

// sealDying seals run id with a pending file while the store named by die fails its Puts.
func sealDying(t *testing.T, repo *store.Repo, s *sign.Signer, id string, start time.Time, pending, die string) {
	t.Helper()
	broken := *repo
	switch die {
	case "objects":
		broken.Objects = dyingStore{repo.Objects}
	case "runs":
		broken.Runs = dyingStore{repo.Runs}
	}
	b, err := NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Add(envelope(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := SealWith(context.Background(), &broken, s, header(id, start), b, SealOptions{Pending: pending}); !errors.Is(err, errDied) {
		t.Fatalf("SealWith with a dying %s store = %v", die, err)
	}
	if _, err := os.Stat(pending); err != nil {
		t.Fatalf("no pending seal after the process died: %v", err)
	}
}

func TestCompletePending(t *testing.T) {
	ctx := context.Background()
	s := newSigner(t)

	t.Run("manifest stored, ref not: the ref is stored and chains", func(t *testing.T) {
		repo := mem.NewRepo()
		pending := filepath.Join(t.TempDir(), "seal-pending.json")
		first := seal(t, repo, s, "20261128T020000Z-aaaaaa", t0, 2)
		sealDying(t, repo, s, "20261129T020000Z-bbbbbb", t0.Add(24*time.Hour), pending, "runs")
		if head, _ := Head(ctx, repo); *head != first.Digest {
			t.Fatalf("before completion the head is %s, want the first run's manifest", head)
		}
		ri, err := CompletePending(ctx, repo, s.Verifier(), pending)
		if err != nil || ri == nil {
			t.Fatalf("CompletePending = %v, %v", ri, err)
		}
		if ri.Ref.ID != "20261129T020000Z-bbbbbb" || ri.Ref.Previous == nil || *ri.Ref.Previous != first.Digest {
			t.Errorf("completed ref %+v does not follow the first run", ri.Ref)
		}
		if head, _ := Head(ctx, repo); *head != ri.Ref.Manifest.Digest {
			t.Errorf("head after completion = %s, want the completed manifest %s", head, ri.Ref.Manifest.Digest)
		}
		if _, err := os.Stat(pending); !os.IsNotExist(err) {
			t.Errorf("pending seal left after completion: %v", err)
		}
		// Sealing goes on from the completed run.
		third := seal(t, repo, s, "20261130T020000Z-cccccc", t0.Add(48*time.Hour), 1)
		if *third.Header.Previous != ri.Ref.Manifest.Digest {
			t.Errorf("next run follows %s, want the completed run", third.Header.Previous)
		}
		if ri2, err := CompletePending(ctx, repo, s.Verifier(), pending); ri2 != nil || err != nil {
			t.Errorf("second CompletePending = %v, %v; want nothing to do", ri2, err)
		}
	})

	t.Run("manifest never stored: nothing was sealed", func(t *testing.T) {
		repo := mem.NewRepo()
		pending := filepath.Join(t.TempDir(), "seal-pending.json")
		sealDying(t, repo, s, "20261128T020000Z-aaaaaa", t0, pending, "objects")
		if ri, err := CompletePending(ctx, repo, s.Verifier(), pending); ri != nil || err != nil {
			t.Fatalf("CompletePending = %v, %v; want nothing to do", ri, err)
		}
		if refs, _ := ListRefs(ctx, repo.Runs); len(refs) != 0 {
			t.Errorf("%d refs stored for a manifest that was never stored", len(refs))
		}
		if _, err := os.Stat(pending); !os.IsNotExist(err) {
			t.Errorf("pending seal left: %v", err)
		}
	})

	t.Run("ref already stored: the file is only removed", func(t *testing.T) {
		repo := mem.NewRepo()
		pending := filepath.Join(t.TempDir(), "seal-pending.json")
		sealed := seal(t, repo, s, "20261128T020000Z-aaaaaa", t0, 1)
		data, _ := json.Marshal(sealed.Ref)
		os.WriteFile(pending, data, 0o600) // died after storing the ref, before removing the file
		if ri, err := CompletePending(ctx, repo, s.Verifier(), pending); ri != nil || err != nil {
			t.Fatalf("CompletePending = %v, %v; want nothing to do", ri, err)
		}
		if refs, _ := ListRefs(ctx, repo.Runs); len(refs) != 1 {
			t.Errorf("%d refs, want 1", len(refs))
		}
		if _, err := os.Stat(pending); !os.IsNotExist(err) {
			t.Errorf("pending seal left: %v", err)
		}
	})

	t.Run("chain moved on: no fork, the run stays without a ref", func(t *testing.T) {
		repo := mem.NewRepo()
		pending := filepath.Join(t.TempDir(), "seal-pending.json")
		seal(t, repo, s, "20261128T020000Z-aaaaaa", t0, 1)
		sealDying(t, repo, s, "20261129T020000Z-bbbbbb", t0.Add(24*time.Hour), pending, "runs")
		seal(t, repo, s, "20261129T030000Z-cccccc", t0.Add(25*time.Hour), 0) // sealed without completing first
		ri, err := CompletePending(ctx, repo, s.Verifier(), pending)
		if ri != nil || !errors.Is(err, ErrPendingStale) {
			t.Fatalf("CompletePending = %v, %v; want ErrPendingStale", ri, err)
		}
		if _, err := Head(ctx, repo); err != nil {
			t.Errorf("chain forked: %v", err)
		}
		if _, err := os.Stat(pending); !os.IsNotExist(err) {
			t.Errorf("pending seal left: %v", err)
		}
	})

	t.Run("signed by another key: refused, file kept", func(t *testing.T) {
		repo := mem.NewRepo()
		pending := filepath.Join(t.TempDir(), "seal-pending.json")
		sealDying(t, repo, newSigner(t), "20261128T020000Z-aaaaaa", t0, pending, "runs")
		if ri, err := CompletePending(ctx, repo, s.Verifier(), pending); ri != nil || err == nil {
			t.Fatalf("CompletePending = %v, %v; want a signature error", ri, err)
		}
		if refs, _ := ListRefs(ctx, repo.Runs); len(refs) != 0 {
			t.Errorf("a ref signed by another key was stored")
		}
		if _, err := os.Stat(pending); err != nil {
			t.Errorf("pending seal removed: %v", err)
		}
	})

	t.Run("no pending seal", func(t *testing.T) {
		if ri, err := CompletePending(ctx, mem.NewRepo(), s.Verifier(), filepath.Join(t.TempDir(), "none")); ri != nil || err != nil {
			t.Fatalf("CompletePending = %v, %v", ri, err)
		}
	})
}
