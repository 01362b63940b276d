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

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
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
//   - fs: the real fs store, with group commit (its DeferredSyncer: objects written without
//     fsync, one SyncDeferred per runner flush), against a baseline in the same run that
//     hashes and writes the same files the durable way of a plain Put (sha256, write, fsync
//     file, fsync directory): x_baseline = runner throughput / baseline throughput.
//   - fs-put: the same store with its DeferredSyncer hidden, so every object is made
//     durable by its own Put (two fsyncs). Baseline as for fs.
//   - mem: the mem store, isolating the runner's own work (redaction, envelopes, journal,
//     SQLite index, manifest) from the disk; baseline: sha256 + os.WriteFile without fsync.
//
// Half the baseline runs before the runner and half after, so load that comes and goes on
// a shared machine weighs on both sides alike.
//
//	go test -run '^$' -bench RunnerOverhead -benchtime 20000x ./core/runner
//
// Target: ≥ 5,000 artefacts/s on the fs store.
func BenchmarkRunnerOverhead(b *testing.B) {
	for _, backend := range []string{"fs", "fs-put", "mem"} {
		b.Run(backend, func(b *testing.B) {
			e := newEnv(b)
			switch backend {
			case "mem":
				e.repo = &store.Repo{Objects: mem.New(), Runs: mem.New(), Describe: "mem"}
			case "fs-put":
				e.repo = &store.Repo{Objects: putOnly{e.repo.Objects}, Runs: e.repo.Runs, Describe: e.repo.Describe}
			}
			r := e.runner()
			baseDir := b.TempDir()
			writeBaselines := func(from, to int) time.Duration {
				start := time.Now()
				for i := from; i < to; i++ {
					d := kibDoc(i)
					sum := sha256.Sum256(d)
					if err := writeBaseline(filepath.Join(baseDir, hex.EncodeToString(sum[:])), d, backend != "mem"); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start)
			}
			baseline := writeBaselines(0, b.N/2)

			b.ResetTimer()
			start := time.Now()
			sum, err := r.Run(context.Background(), []Instance{instance("bench", emitDocs(b.N, 0, nil))})
			if err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			baseline += writeBaselines(b.N/2, b.N)
			if sum.Artefacts != b.N || sum.Gaps != 0 {
				b.Fatalf("%d artefacts, %d gaps", sum.Artefacts, sum.Gaps)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "artefacts/s")
			b.ReportMetric(float64(b.N)/baseline.Seconds(), "baseline/s")
			b.ReportMetric(baseline.Seconds()/elapsed.Seconds(), "x_baseline")
		})
	}
}

// The fs store offers group commit to the runner.
var _ DeferredSyncer = (*fs.Store)(nil)

// putOnly hides a store's optional capabilities (DeferredSyncer): every Put is durable.
type putOnly struct{ store.Store }

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
