package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// kibDoc returns the i-th distinct 1 KiB JSON document.
func kibDoc(i int) []byte {
	head := fmt.Sprintf(`{"id":%d,"name":"resource-%08d","enabled":true,"pad":"`, i, i)
	return []byte(head + strings.Repeat("x", 1024-len(head)-2) + `"}`)
}

// emitDocs is a connector emitting n distinct 1 KiB documents; sample, if set, is called
// after every step artefacts.
func emitDocs(n, step int, sample func(i int)) *testFactory {
	return &testFactory{typ: "bench", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		for i := 0; i < n; i++ {
			if err := emit(evidence.Artefact{Kind: "bench.resource", Subject: fmt.Sprintf("bench:%d", i), Document: kibDoc(i)}); err != nil {
				return err
			}
			if sample != nil && (i+1)%step == 0 {
				sample(i + 1)
			}
		}
		return nil
	}}
}

// BenchmarkRunnerOverhead measures the runner's cost per artefact — validate, redact,
// hash, store, envelope, journal, index, seal — with 1 KiB documents.
//
//   - fs: the real fs store (each object fsynced with its directory), against a baseline
//     in the same run that hashes and writes the same files the same durable way
//     (sha256, write, fsync file, fsync directory): x_baseline = runner time / baseline time.
//   - groupcommit: a test store with the DeferredSyncer capability on the same disk (files
//     written without fsync, one syncfs per runner batch): what the fs store could reach
//     with group commit. Baseline as for fs.
//   - mem: the mem store, isolating the runner's own work (redaction, envelopes, journal,
//     SQLite index, manifest) from the disk; baseline: sha256 + os.WriteFile without fsync.
//
// Target: ≥ 5,000 artefacts/s on the fs store.
func BenchmarkRunnerOverhead(b *testing.B) {
	for _, backend := range []string{"fs", "groupcommit", "mem"} {
		b.Run(backend, func(b *testing.B) {
			e := newEnv(b)
			switch backend {
			case "mem":
				e.repo = &store.Repo{Objects: mem.New(), Runs: mem.New(), Describe: "mem"}
			case "groupcommit":
				e.repo = &store.Repo{Objects: newSyncfsStore(b, filepath.Join(e.dir, "gc")), Runs: e.repo.Runs, Describe: "groupcommit"}
			}
			r := e.runner()
			baseDir := b.TempDir()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				d := kibDoc(i)
				sum := sha256.Sum256(d)
				if err := writeBaseline(filepath.Join(baseDir, hex.EncodeToString(sum[:])), d, backend != "mem"); err != nil {
					b.Fatal(err)
				}
			}
			baseline := time.Since(start)

			b.ResetTimer()
			start = time.Now()
			sum, err := r.Run(context.Background(), []Instance{instance("bench", emitDocs(b.N, 0, nil))})
			if err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if sum.Artefacts != b.N || sum.Gaps != 0 {
				b.Fatalf("%d artefacts, %d gaps", sum.Artefacts, sum.Gaps)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "artefacts/s")
			b.ReportMetric(float64(b.N)/baseline.Seconds(), "baseline/s")
			b.ReportMetric(elapsed.Seconds()/baseline.Seconds(), "x_baseline")
		})
	}
}

// writeBaseline writes a file the way a durable store does (durable) or plainly.
func writeBaseline(path string, b []byte, durable bool) error {
	if !durable {
		return os.WriteFile(path, b, 0o444)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// TestMemoryFlatInArtefacts runs n and 10n artefacts and compares the live heap at the
// end of collection: envelopes are spooled (builder, journal) and batched (index), so the
// heap must not grow with the number of artefacts. n is 2,000 by default and 10,000 with
// EXHIBIT_BENCH_LARGE=1 (10k vs 100k).
func TestMemoryFlatInArtefacts(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("memory measurement: not with -short or -race")
	}
	n := 2000
	if os.Getenv("EXHIBIT_BENCH_LARGE") == "1" {
		n = 10000
	}
	heapAt := func(count int) uint64 {
		e := newEnv(t)
		// Objects are hashed and dropped: the disk is not what is measured, and a mem
		// store would itself grow with the artefacts.
		e.repo = &store.Repo{Objects: discardStore{}, Runs: mem.New(), Describe: "discard"}
		r := e.runner()
		r.Logger = slog.New(slog.DiscardHandler)
		var peak uint64
		sample := func(int) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		if _, err := r.Run(context.Background(), []Instance{instance("mem", emitDocs(count, count/10, sample))}); err != nil {
			t.Fatal(err)
		}
		return peak
	}
	small := heapAt(n)
	large := heapAt(10 * n)
	t.Logf("peak live heap: %d artefacts %.1f MiB, %d artefacts %.1f MiB", n, float64(small)/(1<<20), 10*n, float64(large)/(1<<20))
	// 10× the artefacts may not cost more than 4 MiB of extra live heap (1.6 KiB each
	// would be 10× that): allowance for the SQLite page cache and allocator noise.
	if large > small+4<<20 {
		t.Errorf("live heap grew from %d to %d bytes for 10× the artefacts", small, large)
	}
}

// discardStore verifies and counts what is Put and keeps nothing.
type discardStore struct{}

func (discardStore) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	got, n, err := evidence.SumReader(r)
	if err != nil {
		return err
	}
	if got != d || n != size {
		return store.ErrDigestMismatch
	}
	return nil
}

func (discardStore) Get(ctx context.Context, d evidence.Digest) (io.ReadCloser, error) {
	return nil, store.ErrNotFound
}

func (discardStore) Stat(ctx context.Context, d evidence.Digest) (store.Info, error) {
	return store.Info{}, store.ErrNotFound
}

func (discardStore) List(ctx context.Context, fn func(store.Info) error) error { return nil }

// syncfsStore is a minimal on-disk store with group commit, for the benchmark only: Put
// fsyncs like the fs store, PutDeferred writes and renames without fsync, SyncDeferred
// issues one syncfs(2) for the whole file system.
type syncfsStore struct {
	dir string
}

func newSyncfsStore(tb testing.TB, dir string) *syncfsStore {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	return &syncfsStore{dir: dir}
}

func (s *syncfsStore) path(d evidence.Digest) string { return filepath.Join(s.dir, d.String()) }

func (s *syncfsStore) write(d evidence.Digest, r io.ReadSeeker, size int64, durable bool) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if evidence.Sum(b) != d || int64(len(b)) != size {
		return store.ErrDigestMismatch
	}
	tmp := s.path(d) + ".tmp"
	if err := writeBaseline(tmp, b, durable); err != nil {
		return err
	}
	return os.Rename(tmp, s.path(d))
}

func (s *syncfsStore) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	return s.write(d, r, size, true)
}

func (s *syncfsStore) PutDeferred(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	return s.write(d, r, size, false)
}

func (s *syncfsStore) SyncDeferred(ctx context.Context) error {
	f, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

func (s *syncfsStore) Get(ctx context.Context, d evidence.Digest) (io.ReadCloser, error) {
	f, err := os.Open(s.path(d))
	if err != nil {
		return nil, store.ErrNotFound
	}
	return store.NewVerifyingReader(f, d, s.path(d)), nil
}

func (s *syncfsStore) Stat(ctx context.Context, d evidence.Digest) (store.Info, error) {
	fi, err := os.Stat(s.path(d))
	if err != nil {
		return store.Info{}, store.ErrNotFound
	}
	return store.Info{Digest: d, Size: fi.Size()}, nil
}

func (s *syncfsStore) List(ctx context.Context, fn func(store.Info) error) error { return nil }
