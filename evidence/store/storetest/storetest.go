// Package storetest is the conformance suite every store.Store backend passes. A backend's
// test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newEmptyStore(t) })
//	}
//
// newStore must return a new, empty store for each call; the suite calls it once per subtest.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Options adapt the suite to what a backend can offer. The zero value runs everything a
// backend can be asked for from outside.
type Options struct {
	// Corrupt alters the stored bytes of d in s (a store newStore returned) without changing
	// its name, the way a disk error or an attacker with write access would. Nil skips the
	// corruption test.
	Corrupt func(s store.Store, d evidence.Digest) error
	// InMemory says the backend keeps objects in memory by design (mem), which skips the
	// check that a large object is streamed rather than held.
	InMemory bool
	// LargeSize is the size of the large-object test (default 64 MiB; 0 keeps the default).
	LargeSize int64
}

// Run runs the conformance suite against the stores newStore returns. opts is optional
// (at most one).
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts ...Options) {
	t.Helper()
	var o Options
	if len(opts) > 1 {
		t.Fatal("storetest.Run: at most one Options")
	}
	if len(opts) == 1 {
		o = opts[0]
	}
	if o.LargeSize == 0 {
		o.LargeSize = 64 << 20
	}
	s := suite{newStore: newStore, opts: o}
	t.Run("RoundTrip", s.roundTrip)
	t.Run("IdempotentPut", s.idempotentPut)
	t.Run("DigestMismatch", s.digestMismatch)
	t.Run("WrongSize", s.wrongSize)
	t.Run("ReaderFails", s.readerFails)
	t.Run("NotFound", s.notFound)
	t.Run("ListOncePerObject", s.listOnce)
	t.Run("ListStopsOnError", s.listStops)
	t.Run("CancelledContext", s.cancelled)
	t.Run("CancelledMidPut", s.cancelledMidPut)
	t.Run("ConcurrentSameDigest", s.concurrentSame)
	t.Run("ConcurrentDifferent", s.concurrentDifferent)
	t.Run("LargeObjectStreamed", s.large)
	t.Run("CorruptedObject", s.corrupted)
}

type suite struct {
	newStore func(t *testing.T) store.Store
	opts     Options
}

// object returns deterministic content for test objects.
func object(seed uint64, size int64) ([]byte, evidence.Digest) {
	b, err := io.ReadAll(NewPattern(seed, size))
	if err != nil {
		panic(err)
	}
	return b, evidence.Sum(b)
}

func put(t *testing.T, s store.Store, b []byte) evidence.Digest {
	t.Helper()
	d := evidence.Sum(b)
	if err := s.Put(context.Background(), d, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put %s (%d bytes): %v", d, len(b), err)
	}
	return d
}

// read reads an object to its end and fails the test on any error.
func read(t *testing.T, s store.Store, d evidence.Digest) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), d)
	if err != nil {
		t.Fatalf("Get %s: %v", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	return b
}

// assertAbsent checks that d is stored nowhere: Stat, Get and List agree.
func assertAbsent(t *testing.T, s store.Store, d evidence.Digest) {
	t.Helper()
	if _, err := s.Stat(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat %s after a failed Put: got %v, want ErrNotFound", d, err)
	}
	if rc, err := s.Get(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get %s after a failed Put: got %v, want ErrNotFound", d, err)
	}
	for _, info := range listAll(t, s) {
		if info.Digest == d {
			t.Errorf("List shows %s after a failed Put", d)
		}
	}
}

func listAll(t *testing.T, s store.Store) []store.Info {
	t.Helper()
	var infos []store.Info
	if err := s.List(context.Background(), func(i store.Info) error {
		infos = append(infos, i)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	return infos
}

func (s suite) roundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"empty", 0},
		{"one byte", 1},
		{"4 KiB", 4 << 10},
		{"1 MiB and 7 bytes", 1<<20 + 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.newStore(t)
			b, d := object(uint64(tc.size)+1, tc.size)
			put(t, st, b)
			info, err := st.Stat(context.Background(), d)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Digest != d || info.Size != tc.size {
				t.Errorf("Stat = {%s %d}, want {%s %d}", info.Digest, info.Size, d, tc.size)
			}
			if info.ModTime.IsZero() {
				t.Error("Stat: zero ModTime")
			}
			if got := read(t, st, d); !bytes.Equal(got, b) {
				t.Errorf("Get returned %d bytes that differ from the %d stored", len(got), len(b))
			}
		})
	}
}

func (s suite) idempotentPut(t *testing.T) {
	st := s.newStore(t)
	b, d := object(2, 10_000)
	for i := range 3 {
		if err := st.Put(context.Background(), d, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatalf("Put #%d of the same object: %v", i+1, err)
		}
	}
	if infos := listAll(t, st); len(infos) != 1 || infos[0].Digest != d || infos[0].Size != int64(len(b)) {
		t.Errorf("List after 3 Puts of one object = %+v, want exactly %s", infos, d)
	}
	if got := read(t, st, d); !bytes.Equal(got, b) {
		t.Error("Get after repeated Puts returned other bytes")
	}
}

func (s suite) digestMismatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"small", 100},
		{"1 MiB", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.newStore(t)
			_, d := object(3, tc.size)
			other, _ := object(4, tc.size) // same size, other bytes
			err := st.Put(context.Background(), d, bytes.NewReader(other), tc.size)
			if !errors.Is(err, store.ErrDigestMismatch) {
				t.Fatalf("Put of other bytes under %s: got %v, want ErrDigestMismatch", d, err)
			}
			assertAbsent(t, st, d)
			if infos := listAll(t, st); len(infos) != 0 {
				t.Errorf("List after a rejected Put shows %d objects", len(infos))
			}
		})
	}
}

func (s suite) wrongSize(t *testing.T) {
	b, d := object(5, 5000)
	for _, tc := range []struct {
		name string
		data []byte
		size int64
	}{
		{"size too small", b, int64(len(b)) - 1},
		{"size too large", b, int64(len(b)) + 1},
		{"content truncated", b[:len(b)-10], int64(len(b))},
		{"content too long", append(append([]byte(nil), b...), 'x'), int64(len(b))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.newStore(t)
			err := st.Put(context.Background(), d, bytes.NewReader(tc.data), tc.size)
			if !errors.Is(err, store.ErrDigestMismatch) {
				t.Fatalf("Put: got %v, want ErrDigestMismatch", err)
			}
			assertAbsent(t, st, d)
		})
	}
}

var errReader = errors.New("storetest: reader failed")

type failingReader struct {
	io.ReadSeeker
	after int64
	n     int64
}

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n >= f.after {
		return 0, errReader
	}
	if rem := f.after - f.n; int64(len(b)) > rem {
		b = b[:rem]
	}
	n, err := f.ReadSeeker.Read(b)
	f.n += int64(n)
	return n, err
}

func (s suite) readerFails(t *testing.T) {
	st := s.newStore(t)
	size := int64(3 << 20)
	d := PatternDigest(6, size)
	err := st.Put(context.Background(), d, &failingReader{ReadSeeker: NewPattern(6, size), after: 1 << 20}, size)
	if err == nil {
		t.Fatal("Put from a reader that fails half way: got nil error")
	}
	assertAbsent(t, st, d)
}

func (s suite) notFound(t *testing.T) {
	st := s.newStore(t)
	put(t, st, []byte("something else"))
	d := evidence.Sum([]byte("never stored"))
	if _, err := st.Stat(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat of a missing object: got %v, want ErrNotFound", err)
	}
	rc, err := st.Get(context.Background(), d)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a missing object: got %v, want ErrNotFound", err)
	}
	if err == nil {
		rc.Close()
	}
}

func (s suite) listOnce(t *testing.T) {
	st := s.newStore(t)
	want := map[evidence.Digest]int64{}
	for i := range 100 {
		b, d := object(uint64(1000+i), int64(i*7))
		put(t, st, b)
		want[d] = int64(len(b))
	}
	seen := map[evidence.Digest]int{}
	for _, info := range listAll(t, st) {
		seen[info.Digest]++
		if size, ok := want[info.Digest]; !ok {
			t.Errorf("List shows %s, which was never stored", info.Digest)
		} else if info.Size != size {
			t.Errorf("List: %s has size %d, want %d", info.Digest, info.Size, size)
		}
	}
	for d := range want {
		if seen[d] != 1 {
			t.Errorf("List showed %s %d times, want once", d, seen[d])
		}
	}
}

func (s suite) listStops(t *testing.T) {
	st := s.newStore(t)
	for i := range 20 {
		put(t, st, []byte(fmt.Sprintf("object %d", i)))
	}
	stop := errors.New("stop here")
	calls := 0
	err := st.List(context.Background(), func(store.Info) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("List: got %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("List called fn %d times after it failed, want 1", calls)
	}
}

func (s suite) cancelled(t *testing.T) {
	st := s.newStore(t)
	present := put(t, st, []byte("present"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	b, d := object(7, 1000)
	if err := st.Put(ctx, d, bytes.NewReader(b), int64(len(b))); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: got %v, want context.Canceled", err)
	}
	assertAbsent(t, st, d)
	if rc, err := st.Get(ctx, present); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Get with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := st.Stat(ctx, present); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with a cancelled context: got %v, want context.Canceled", err)
	}
	calls := 0
	if err := st.List(ctx, func(store.Info) error { calls++; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context: got %v, want context.Canceled", err)
	}
	if calls != 0 {
		t.Errorf("List with a cancelled context called fn %d times", calls)
	}
}

// cancellingReader cancels a context once it has yielded a given number of bytes.
type cancellingReader struct {
	io.ReadSeeker
	cancel func()
	after  int64
	n      int64
}

func (c *cancellingReader) Read(b []byte) (int, error) {
	n, err := c.ReadSeeker.Read(b)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

// cancelledMidPut cancels while the store reads. A store may finish (the object must then be
// complete) or stop (the object must then be absent); what it must not do is store part of it.
func (s suite) cancelledMidPut(t *testing.T) {
	st := s.newStore(t)
	size := int64(8 << 20)
	d := PatternDigest(8, size)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := st.Put(ctx, d, &cancellingReader{ReadSeeker: NewPattern(8, size), cancel: cancel, after: 1 << 20}, size)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Put cancelled mid-way: got %v, want context.Canceled", err)
		}
		assertAbsent(t, st, d)
		return
	}
	got, _, err := readDigest(st, d)
	if err != nil || got != d {
		t.Errorf("Put finished despite the cancellation but the object reads back as %s, %v", got, err)
	}
}

func (s suite) concurrentSame(t *testing.T) {
	st := s.newStore(t)
	b, d := object(9, 1<<20)
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.Put(context.Background(), d, bytes.NewReader(b), int64(len(b)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Put of the same object: %v", err)
		}
	}
	if infos := listAll(t, st); len(infos) != 1 {
		t.Errorf("List after %d concurrent Puts of one object shows %d objects", n, len(infos))
	}
	if got := read(t, st, d); !bytes.Equal(got, b) {
		t.Error("Get after concurrent Puts returned other bytes")
	}
}

func (s suite) concurrentDifferent(t *testing.T) {
	st := s.newStore(t)
	const n = 64
	objects := make([][]byte, n)
	for i := range objects {
		objects[i], _ = object(uint64(5000+i), int64(100+i*1000))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, b := range objects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.Put(context.Background(), evidence.Sum(b), bytes.NewReader(b), int64(len(b)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Put: %v", err)
		}
	}
	if infos := listAll(t, st); len(infos) != n {
		t.Errorf("List after %d concurrent Puts shows %d objects", n, len(infos))
	}
	for _, b := range objects {
		if got := read(t, st, evidence.Sum(b)); !bytes.Equal(got, b) {
			t.Errorf("object of %d bytes read back differently", len(b))
		}
	}
}

// readDigest streams an object through SHA-256.
func readDigest(st store.Store, d evidence.Digest) (evidence.Digest, int64, error) {
	rc, err := st.Get(context.Background(), d)
	if err != nil {
		return evidence.Digest{}, 0, err
	}
	defer rc.Close()
	return evidence.SumReader(rc)
}

// allocated runs f and returns the bytes the Go heap allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func (s suite) large(t *testing.T) {
	st := s.newStore(t)
	size := s.opts.LargeSize
	d := PatternDigest(10, size)
	src := &Counting{R: NewPattern(10, size)}
	var err error
	alloc := allocated(func() { err = st.Put(context.Background(), d, src, size) })
	if err != nil {
		t.Fatalf("Put of %d bytes: %v", size, err)
	}
	// The store must have read the whole object (at most twice, e.g. to hash before upload).
	if src.N() < size || src.N() > 2*size {
		t.Errorf("Put read %d bytes of a %d byte object", src.N(), size)
	}
	// A streaming store allocates buffers, not the object: allow a quarter of it.
	if limit := uint64(size / 4); !s.opts.InMemory && alloc > limit {
		t.Errorf("Put of %d MiB allocated %d MiB: the object is held in memory, not streamed", size>>20, alloc>>20)
	}
	info, err := st.Stat(context.Background(), d)
	if err != nil || info.Size != size {
		t.Fatalf("Stat after large Put = %+v, %v", info, err)
	}
	var got evidence.Digest
	var n int64
	alloc = allocated(func() { got, n, err = readDigest(st, d) })
	if err != nil || got != d || n != size {
		t.Fatalf("Get of the large object: %d bytes hashing to %s, %v; want %d bytes, %s", n, got, err, size, d)
	}
	if limit := uint64(size / 4); !s.opts.InMemory && alloc > limit {
		t.Errorf("Get of %d MiB allocated %d MiB: the object is held in memory, not streamed", size>>20, alloc>>20)
	}
}

func (s suite) corrupted(t *testing.T) {
	if s.opts.Corrupt == nil {
		t.Skip("the backend gives no Corrupt hook")
	}
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"small", 300},
		{"1 MiB", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.newStore(t)
			b, d := object(11, tc.size)
			put(t, st, b)
			if err := s.opts.Corrupt(st, d); err != nil {
				t.Fatalf("Corrupt %s: %v", d, err)
			}
			rc, err := st.Get(context.Background(), d)
			if err != nil {
				if errors.Is(err, store.ErrDigestMismatch) {
					return // refusing at Get is fine too
				}
				t.Fatalf("Get of a corrupted object: %v", err)
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			if !errors.Is(err, store.ErrDigestMismatch) {
				t.Errorf("reading a corrupted object to its end: got %v, want ErrDigestMismatch", err)
			}
		})
	}
}
