package manifest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// heapSampler records the largest live heap seen at its sample points. Sampling forces a
// garbage collection, so HeapAlloc is what is still referenced, not garbage awaiting
// collection: if a reader or writer kept envelopes, it would grow with their number.
type heapSampler struct{ base, max uint64 }

func newHeapSampler() *heapSampler {
	h := &heapSampler{}
	h.base = h.live()
	return h
}

func (h *heapSampler) live() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func (h *heapSampler) sample() {
	if v := h.live(); v > h.max {
		h.max = v
	}
}

func (h *heapSampler) growth() int64 { return int64(h.max) - int64(h.base) }

// fileStore keeps objects in files, so that the test's own store holds nothing in memory,
// and samples the heap while Seal streams the manifest into it.
type fileStore struct {
	dir     string
	sampler *heapSampler
}

var _ store.Store = (*fileStore)(nil)

func (s *fileStore) path(d evidence.Digest) string { return filepath.Join(s.dir, d.String()) }

func (s *fileStore) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	f, err := os.Create(s.path(d))
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		m, err := r.Read(buf)
		if _, werr := f.Write(buf[:m]); werr != nil {
			return werr
		}
		n += int64(m)
		if n%(8<<20) < int64(m) {
			s.sampler.sample()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if n != size {
		return fmt.Errorf("put %s: got %d bytes, want %d", d, n, size)
	}
	return nil
}

func (s *fileStore) Get(ctx context.Context, d evidence.Digest) (io.ReadCloser, error) {
	f, err := os.Open(s.path(d))
	if err != nil {
		return nil, err
	}
	return store.NewVerifyingReader(f, d, "file "+d.String()), nil
}

func (s *fileStore) Stat(ctx context.Context, d evidence.Digest) (store.Info, error) {
	st, err := os.Stat(s.path(d))
	if err != nil {
		return store.Info{}, err
	}
	return store.Info{Digest: d, Size: st.Size()}, nil
}

func (s *fileStore) List(ctx context.Context, fn func(store.Info) error) error { return nil }

// TestMemoryIsFlatInEnvelopes builds, seals and decodes a run of 200,000 envelopes (about
// 110 MiB of manifest; 40,000 under -race or -short) and checks that the live heap never grows by more than a few MiB:
// Builder, Seal and Decode each hold one envelope at a time.
func TestMemoryIsFlatInEnvelopes(t *testing.T) {
	n := 200_000
	if testing.Short() || raceEnabled {
		// Still large enough that keeping the envelopes would exceed the limit several times.
		n = 40_000
	}
	const every = 20_000
	const limit = 8 << 20

	s := newSigner(t)
	sampler := newHeapSampler()
	objects := &fileStore{dir: t.TempDir(), sampler: sampler}
	repo := &store.Repo{Objects: objects, Runs: mem.New(), Describe: "test"}

	b, err := NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < n; i++ {
		if err := b.Add(envelope(i)); err != nil {
			t.Fatal(err)
		}
		if i%every == 0 {
			sampler.sample()
		}
	}
	sealed, err := Seal(context.Background(), repo, s, header("big-run", t0), b)
	if err != nil {
		t.Fatal(err)
	}
	if sealed.Size < int64(n)*300 {
		t.Fatalf("manifest is only %d bytes; the test would not notice a reader that keeps envelopes", sealed.Size)
	}

	rc, err := objects.Get(context.Background(), sealed.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	count := 0
	if _, err := Decode(rc, func(e evidence.Envelope) error {
		if count%every == 0 {
			sampler.sample()
		}
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("decoded %d envelopes, want %d", count, n)
	}
	t.Logf("%d envelopes, manifest %d MiB, live heap grew by at most %d KiB", n, sealed.Size>>20, sampler.growth()>>10)
	if sampler.growth() > limit {
		t.Errorf("live heap grew by %d MiB over %d envelopes (manifest %d MiB); want < %d MiB", sampler.growth()>>20, n, sealed.Size>>20, limit>>20)
	}
}
