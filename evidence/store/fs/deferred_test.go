package fs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

// deferredPuts is the fs store seen through group commit: Put is PutDeferred, followed by
// SyncDeferred if sync is set; List syncs first, since pending objects are not listed.
type deferredPuts struct {
	*fs.Store
	sync bool
}

func (s deferredPuts) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if err := s.PutDeferred(ctx, d, r, size); err != nil {
		return err
	}
	if s.sync {
		return s.SyncDeferred(ctx)
	}
	return nil
}

func (s deferredPuts) List(ctx context.Context, fn func(store.Info) error) error {
	if err := s.SyncDeferred(ctx); err != nil {
		return err
	}
	return s.Store.List(ctx, fn)
}

// TestConformanceDeferred runs the suite with every object stored by PutDeferred: read back
// while pending (Get, Stat, idempotence, mismatches, cancellation, concurrency, a large
// object streamed) and after SyncDeferred.
func TestConformanceDeferred(t *testing.T) {
	for _, tc := range []struct {
		name string
		sync bool
	}{
		{"pending until listed", false},
		{"synced after each put", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return deferredPuts{newStore(t), tc.sync} }, storetest.Options{
				Corrupt: func(s store.Store, d evidence.Digest) error {
					ds := s.(deferredPuts)
					if err := ds.SyncDeferred(context.Background()); err != nil {
						return err
					}
					return flipByte(ds.Store, d)
				},
			})
		})
	}
}

// listed returns the digests List shows, sorted.
func listed(t *testing.T, s *fs.Store) []evidence.Digest {
	t.Helper()
	var ds []evidence.Digest
	if err := s.List(context.Background(), func(i store.Info) error { ds = append(ds, i.Digest); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ds, func(a, b evidence.Digest) int { return strings.Compare(a.String(), b.String()) })
	return ds
}

func putDeferred(t *testing.T, s *fs.Store, b []byte) evidence.Digest {
	t.Helper()
	d := evidence.Sum(b)
	if err := s.PutDeferred(context.Background(), d, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("PutDeferred %s: %v", d, err)
	}
	return d
}

func syncDeferred(t *testing.T, s *fs.Store) {
	t.Helper()
	if err := s.SyncDeferred(context.Background()); err != nil {
		t.Fatalf("SyncDeferred: %v", err)
	}
}

// assertStored checks that b is stored as d: Stat, Get, and (if named) a read-only file
// under its final name holding exactly b.
func assertStored(t *testing.T, s *fs.Store, b []byte, named bool) {
	t.Helper()
	ctx := context.Background()
	d := evidence.Sum(b)
	if info, err := s.Stat(ctx, d); err != nil || info.Size != int64(len(b)) || info.Digest != d {
		t.Errorf("Stat %s = %+v, %v; want %d bytes", d, info, err, len(b))
	}
	if got, err := store.GetBytes(ctx, s, d); err != nil || !bytes.Equal(got, b) {
		t.Errorf("Get %s = %d bytes, %v; want the %d stored", d, len(got), err, len(b))
	}
	fi, err := os.Stat(s.Path(d))
	switch {
	case !named && err == nil:
		t.Errorf("%s has its final name before SyncDeferred", d)
	case named && err != nil:
		t.Errorf("%s has no final name after SyncDeferred: %v", d, err)
	case named && fi.Mode().Perm() != 0o444:
		t.Errorf("%s has mode %v, want read-only 0444", d, fi.Mode().Perm())
	}
}

func assertNotFound(t *testing.T, s *fs.Store, d evidence.Digest) {
	t.Helper()
	if _, err := s.Stat(context.Background(), d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stat %s: got %v, want ErrNotFound", d, err)
	}
	if _, err := store.GetBytes(context.Background(), s, d); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get %s: got %v, want ErrNotFound", d, err)
	}
}

func assertTempFiles(t *testing.T, s *fs.Store, want int) {
	t.Helper()
	if tmp := tempFiles(t, s.Dir()); len(tmp) != want {
		t.Errorf("%d staging/temporary files, want %d: %v", len(tmp), want, tmp)
	}
}

// TestDeferred covers what PutDeferred and SyncDeferred promise within one process.
func TestDeferred(t *testing.T) {
	ctx := context.Background()
	a, b := []byte("deferred evidence a"), []byte("deferred evidence b")
	da, db := evidence.Sum(a), evidence.Sum(b)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *fs.Store)
	}{
		{"pending passes for stored in the process but is not listed", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			assertStored(t, s, a, false)
			if got := listed(t, s); len(got) != 0 {
				t.Errorf("List shows pending objects: %v", got)
			}
			assertTempFiles(t, s, 1)
		}},
		{"sync names, lists and leaves no staging file", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			putDeferred(t, s, b)
			syncDeferred(t, s)
			assertStored(t, s, a, true)
			assertStored(t, s, b, true)
			if got := listed(t, s); len(got) != 2 {
				t.Errorf("List after SyncDeferred = %v, want both objects", got)
			}
			assertTempFiles(t, s, 0)
			syncDeferred(t, s) // nothing pending: a no-op
		}},
		{"deferring the same object twice writes it once", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			putDeferred(t, s, a)
			assertTempFiles(t, s, 1)
			syncDeferred(t, s)
			assertStored(t, s, a, true)
		}},
		{"deferring a stored object writes nothing", func(t *testing.T, s *fs.Store) {
			if _, err := store.PutBytes(ctx, s, a, ""); err != nil {
				t.Fatal(err)
			}
			putDeferred(t, s, a)
			assertTempFiles(t, s, 0)
			syncDeferred(t, s)
			assertStored(t, s, a, true)
		}},
		{"Put of a pending object stores it durably at once", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			if _, err := store.PutBytes(ctx, s, a, ""); err != nil {
				t.Fatal(err)
			}
			assertStored(t, s, a, true)
			syncDeferred(t, s) // finds the name taken by the same bytes
			assertStored(t, s, a, true)
			assertTempFiles(t, s, 0)
		}},
		{"nothing is named before its data is durable", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			putDeferred(t, s, b)
			var atData, atNamed []evidence.Digest
			defer fs.SetSyncHook(func(step string, n int) error {
				switch step {
				case "data":
					atData = listed(t, s)
				case "named":
					if n == 1 {
						atNamed = listed(t, s)
					}
				}
				return nil
			})()
			syncDeferred(t, s)
			if len(atData) != 0 || len(atNamed) != 1 {
				t.Errorf("listed when the data was synced: %v, after the first name: %v; want none, then one", atData, atNamed)
			}
		}},
		{"objects deferred during a sync wait for the next", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			restore := fs.SetSyncHook(func(step string, n int) error {
				if step == "data" {
					putDeferred(t, s, b)
				}
				return nil
			})
			syncDeferred(t, s)
			restore()
			assertStored(t, s, a, true)
			assertStored(t, s, b, false)
			syncDeferred(t, s)
			assertStored(t, s, b, true)
		}},
		{"RemoveStaleTemp spares this store's pending objects", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			old := time.Now().Add(-2 * fs.StaleTempAge)
			for _, p := range tempFiles(t, s.Dir()) {
				if err := os.Chtimes(p, old, old); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := s.RemoveStaleTemp(ctx, fs.StaleTempAge); err != nil || n != 0 {
				t.Fatalf("RemoveStaleTemp = %d, %v; want nothing removed", n, err)
			}
			syncDeferred(t, s)
			assertStored(t, s, a, true)
		}},
		{"a staging file removed by another process is lost, not stored", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			putDeferred(t, s, b)
			other, err := fs.New(s.Dir())
			if err != nil {
				t.Fatal(err)
			}
			if n, err := other.RemoveStaleTemp(ctx, 0); err != nil || n != 2 {
				t.Fatalf("RemoveStaleTemp from another store = %d, %v; want 2", n, err)
			}
			for range 2 { // a retry does not forget the loss
				err := s.SyncDeferred(ctx)
				if err == nil || !strings.Contains(err.Error(), "store it again") || !strings.Contains(err.Error(), "fs "+s.Dir()) {
					t.Fatalf("SyncDeferred after the staging files vanished: %v", err)
				}
			}
			assertNotFound(t, s, da)
			if got := listed(t, s); len(got) != 0 {
				t.Errorf("List shows lost objects: %v", got)
			}
			putDeferred(t, s, a)
			putDeferred(t, s, b)
			syncDeferred(t, s)
			assertStored(t, s, a, true)
			assertStored(t, s, b, true)
		}},
		{"a damaged object under the name fails the sync and stays", func(t *testing.T, s *fs.Store) {
			putDeferred(t, s, a)
			p := s.Path(da)
			if err := os.WriteFile(p, []byte("short"), 0o444); err != nil {
				t.Fatal(err)
			}
			err := s.SyncDeferred(ctx)
			if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), da.String()) {
				t.Fatalf("SyncDeferred over a damaged object: %v", err)
			}
			if got, _ := os.ReadFile(p); string(got) != "short" {
				t.Errorf("the damaged object was replaced: %q", got)
			}
			if err := s.PutDeferred(ctx, da, bytes.NewReader(a), int64(len(a))); err != nil {
				t.Errorf("PutDeferred of a pending object: %v", err) // still pending: idempotent
			}
		}},
		{"PutDeferred does not paper over a damaged object", func(t *testing.T, s *fs.Store) {
			if err := os.MkdirAll(filepath.Dir(s.Path(db)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(s.Path(db), []byte("short"), 0o444); err != nil {
				t.Fatal(err)
			}
			err := s.PutDeferred(ctx, db, bytes.NewReader(b), int64(len(b)))
			if err == nil || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("PutDeferred over a damaged object: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

// TestPutDeferredRejects: bad content or a cancelled context leaves no trace, and the error
// names the backend, the operation and the object.
func TestPutDeferredRejects(t *testing.T) {
	b := bytes.Repeat([]byte("evidence "), 1000)
	d := evidence.Sum(b)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		body []byte
		size int64
		want error
	}{
		{"other bytes", context.Background(), bytes.ToUpper(b), int64(len(b)), store.ErrDigestMismatch},
		{"shorter than claimed", context.Background(), b[:len(b)-1], int64(len(b)), store.ErrDigestMismatch},
		{"longer than claimed", context.Background(), append(slices.Clone(b), 'x'), int64(len(b)), store.ErrDigestMismatch},
		{"size too small", context.Background(), b, int64(len(b)) - 1, store.ErrDigestMismatch},
		{"cancelled", cancelled, b, int64(len(b)), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			err := s.PutDeferred(tc.ctx, d, bytes.NewReader(tc.body), tc.size)
			if !errors.Is(err, tc.want) {
				t.Fatalf("PutDeferred: got %v, want %v", err, tc.want)
			}
			for _, want := range []string{"fs " + s.Dir(), "put deferred " + d.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			assertNotFound(t, s, d)
			assertTempFiles(t, s, 0)
			syncDeferred(t, s)
			if got := listed(t, s); len(got) != 0 {
				t.Errorf("List shows %v", got)
			}
		})
	}
}

// TestSyncDeferredFaults makes each step of SyncDeferred fail. The error names the backend,
// the operation and an object; every visible object is complete; the objects stay pending
// (found by Stat and Get), and a retry once the fault is gone stores them all.
func TestSyncDeferredFaults(t *testing.T) {
	objects := make([][]byte, 40)
	for i := range objects {
		objects[i] = []byte(fmt.Sprintf("object %d of the faults test", i))
	}
	for _, tc := range []struct {
		name string
		// inject arranges the fault in s and returns what clears it.
		inject func(t *testing.T, s *fs.Store) (clear func())
		errno  error // the error the failing step reports
	}{
		{"data sync fails", hookFault("data", 0), syscall.EIO},
		{"naming fails half way", hookFault("named", 20), syscall.EIO},
		{"names sync fails", hookFault("names", 40), syscall.EIO},
		{"a shard directory is immutable", func(t *testing.T, s *fs.Store) func() {
			sh := filepath.Dir(s.Path(evidence.Sum(objects[0])))
			if out, err := exec.Command("chattr", "+i", sh).CombinedOutput(); err != nil {
				t.Skipf("cannot make a directory immutable here: %v: %s", err, out)
			}
			clear := func() { exec.Command("chattr", "-i", sh).Run() }
			t.Cleanup(clear)
			return clear
		}, syscall.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			for _, b := range objects {
				putDeferred(t, s, b)
			}
			clear := tc.inject(t, s)
			err := s.SyncDeferred(context.Background())
			if !errors.Is(err, tc.errno) {
				t.Fatalf("SyncDeferred: got %v, want %v", err, tc.errno)
			}
			t.Logf("SyncDeferred: %v", err)
			if !strings.Contains(err.Error(), "fs "+s.Dir()) || !strings.Contains(err.Error(), "sync deferred") {
				t.Errorf("error %q does not name the backend and the operation", err)
			}
			if !slices.ContainsFunc(objects, func(b []byte) bool { return strings.Contains(err.Error(), evidence.Sum(b).String()) }) {
				t.Errorf("error %q names no object", err)
			}
			for _, d := range listed(t, s) {
				checkObjectFile(t, s, d)
			}
			for _, b := range objects {
				if _, err := s.Stat(context.Background(), evidence.Sum(b)); err != nil {
					t.Errorf("Stat of an object still pending: %v", err)
				}
			}
			clear()
			syncDeferred(t, s)
			for _, b := range objects {
				assertStored(t, s, b, true)
			}
			if got := listed(t, s); len(got) != len(objects) {
				t.Errorf("List after the retry shows %d objects, want %d", len(got), len(objects))
			}
			assertTempFiles(t, s, 0)
		})
	}
}

// hookFault makes SyncDeferred's step fail with EIO when it reaches n, until cleared.
func hookFault(step string, n int) func(t *testing.T, s *fs.Store) func() {
	return func(t *testing.T, s *fs.Store) func() {
		restore := fs.SetSyncHook(func(st string, i int) error {
			if st == step && i == n {
				return fmt.Errorf("injected: %w", syscall.EIO)
			}
			return nil
		})
		t.Cleanup(restore)
		return restore
	}
}

// checkObjectFile re-hashes the file under d's final name, bypassing the store's reader.
func checkObjectFile(t *testing.T, s *fs.Store, d evidence.Digest) {
	t.Helper()
	f, err := os.Open(s.Path(d))
	if err != nil {
		t.Errorf("visible object %s: %v", d, err)
		return
	}
	defer f.Close()
	if got, n, err := evidence.SumReader(f); err != nil || got != d {
		t.Errorf("visible object %s is incomplete or wrong: %d bytes hashing to %s, %v", d, n, got, err)
	}
}

// TestDeferredConcurrent has many goroutines defer the same and different objects, Put
// some, read them back and sync, all at once (run it with -race).
func TestDeferredConcurrent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	objects := make([][]byte, 64)
	for i := range objects {
		objects[i], _ = io.ReadAll(storetest.NewPattern(uint64(i)+100, int64(1+i*977)))
	}
	const workers, rounds = 16, 96
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				for i := range rounds {
					b := objects[(w*5+i)%len(objects)]
					d := evidence.Sum(b)
					var err error
					if i%7 == 3 {
						err = s.Put(ctx, d, bytes.NewReader(b), int64(len(b)))
					} else {
						err = s.PutDeferred(ctx, d, bytes.NewReader(b), int64(len(b)))
					}
					if err != nil {
						return err
					}
					if got, err := store.GetBytes(ctx, s, d); err != nil || !bytes.Equal(got, b) {
						return fmt.Errorf("Get %s right after storing it: %d bytes, %v", d, len(got), err)
					}
					if i%10 == 9 {
						if err := s.SyncDeferred(ctx); err != nil {
							return err
						}
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	syncDeferred(t, s)
	if got := listed(t, s); len(got) != len(objects) {
		t.Errorf("List shows %d objects, want %d", len(got), len(objects))
	}
	for _, b := range objects {
		assertStored(t, s, b, true)
	}
	assertTempFiles(t, s, 0)
}
