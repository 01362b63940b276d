package fs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

// The ingest benchmarks store the same set of files two ways in one run and report the
// ratio: Exhibit (hash each file, then fs Put from the file, which verifies, writes, fsyncs
// and links it) against the baseline `sha256sum` over the files plus `cp -r` of them into a
// fresh directory. The baseline does not fsync; Exhibit does, per object (Put) or per
// batch (PutDeferred and SyncDeferred, BenchmarkIngestSmallDeferred). Each side's runs are
// logged, so a run disturbed by other load on the machine shows.
//
// Default sets run in well under a minute: 5,000 × 4 KiB and 8 × 32 MiB. With
// EXHIBIT_BENCH_FULL=1 they are the sets: 20,000 × 4 KiB and 8 × 128 MiB.
// EXHIBIT_BENCH_WORKERS sets how many Puts run at once (default 64 small, 2 large).
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./evidence/store/fs
//	EXHIBIT_BENCH_FULL=1 go test -run '^$' -bench Ingest -benchtime 1x -timeout 30m ./evidence/store/fs
//
// Metrics: exhibit_artefacts/s, baseline_artefacts/s, exhibit_MB/s, baseline_MB/s and
// x_baseline = exhibit throughput / baseline throughput (goals: large ≥ 1.5, small ≥ 5,000
// artefacts/s).
func BenchmarkIngestSmall(b *testing.B) {
	n, size := 5000, int64(4<<10)
	if os.Getenv("EXHIBIT_BENCH_FULL") == "1" {
		n = 20000
	}
	benchIngest(b, n, size, workers(b, 64), 0)
}

// BenchmarkIngestSmallDeferred is the small set stored with group commit, as the runner
// stores objects: PutDeferred for each file and one SyncDeferred per deferBatch objects (and
// one at the end), so every object is durable when the run ends. Always the 20,000
// × 4 KiB (a few seconds); EXHIBIT_BENCH_WORKERS (default 64, as for BenchmarkIngestSmall)
// files are put at once, and syncing does not stop the other workers, as in the runner.
//
//	go test -run '^$' -bench IngestSmallDeferred -benchtime 1x ./evidence/store/fs
//
// Metrics as for BenchmarkIngestSmall (goal ≥ 5,000 artefacts/s).
func BenchmarkIngestSmallDeferred(b *testing.B) {
	benchIngest(b, 20000, 4<<10, workers(b, 64), deferBatch)
}

// deferBatch is how many objects the deferred ingest puts per SyncDeferred: the runner's
// FlushEvery.
const deferBatch = 512

// BenchmarkIngestLarge is the large-file set of the ingest benchmark; see BenchmarkIngestSmall.
func BenchmarkIngestLarge(b *testing.B) {
	n, size := 8, int64(32<<20)
	if os.Getenv("EXHIBIT_BENCH_FULL") == "1" {
		size = 128 << 20
	}
	benchIngest(b, n, size, workers(b, 2), 0)
}

func workers(b *testing.B, def int) int {
	if v := os.Getenv("EXHIBIT_BENCH_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("EXHIBIT_BENCH_WORKERS=%q: want a positive number", v)
		}
		return n
	}
	return def
}

// benchIngest runs the ingest benchmark; syncEvery > 0 stores with PutDeferred and syncs
// after every syncEvery objects, 0 with Put.
func benchIngest(b *testing.B, n int, size int64, par, syncEvery int) {
	for _, tool := range []string{"sha256sum", "cp"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("baseline needs %s: %v", tool, err)
		}
	}
	b.StopTimer()
	base := b.TempDir()
	src := filepath.Join(base, "src")
	files := makeFiles(b, src, n, size)
	total := float64(n) * float64(size)

	var exhibit, baseline time.Duration
	for i := range b.N {
		// Each side runs twice, in the order baseline, exhibit, exhibit, baseline, so that
		// whatever the file system carries over from one run to the next weighs on both
		// sides alike. The main carry-over is ext4 skipping recently freed inodes when it
		// allocates (recently_deleted): creating files soon after many were deleted is
		// several times slower for whoever creates first. So nothing is deleted until all
		// four runs are done, and each run starts after a sync, so that no side pays for
		// the other's writeback.
		var dirs []string
		for j, side := range []string{"baseline", "exhibit", "exhibit", "baseline"} {
			dir := filepath.Join(base, fmt.Sprintf("%s-%d-%d", side, i, j))
			dirs = append(dirs, dir)
			syscall.Sync()
			if side == "baseline" {
				d := timed(b, func() { runBaseline(b, src, dir, files) })
				b.Logf("%s: %.0f artefacts/s", side, float64(n)/d.Seconds())
				baseline += d
				continue
			}
			b.StartTimer()
			d := timed(b, func() { ingest(b, dir, files, par, syncEvery) })
			b.StopTimer()
			b.Logf("%s: %.0f artefacts/s", side, float64(n)/d.Seconds())
			exhibit += d
		}
		for _, dir := range dirs {
			os.RemoveAll(dir)
		}
	}
	// Both sides ran twice per iteration.
	exhibit /= 2
	baseline /= 2
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(float64(n)/per(exhibit), "exhibit_artefacts/s")
	b.ReportMetric(float64(n)/per(baseline), "baseline_artefacts/s")
	b.ReportMetric(total/1e6/per(exhibit), "exhibit_MB/s")
	b.ReportMetric(total/1e6/per(baseline), "baseline_MB/s")
	b.ReportMetric(baseline.Seconds()/exhibit.Seconds(), "x_baseline")
}

func timed(b *testing.B, f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// makeFiles writes n distinct files of size bytes into dir.
func makeFiles(b *testing.B, dir string, n int, size int64) []string {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	files := make([]string, n)
	for i := range files {
		files[i] = filepath.Join(dir, fmt.Sprintf("f%06d", i))
		f, err := os.Create(files[i])
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.ReadFrom(storetest.NewPattern(uint64(i)+1, size)); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return files
}

// runBaseline hashes every file with sha256sum (in batches, to stay below the argument
// limit) and copies the directory with cp -r.
func runBaseline(b *testing.B, src, dst string, files []string) {
	const batch = 2000
	for i := 0; i < len(files); i += batch {
		cmd := exec.Command("sha256sum", files[i:min(i+batch, len(files))]...)
		if out, err := cmd.Output(); err != nil || len(out) == 0 {
			b.Fatalf("sha256sum: %v", err)
		}
	}
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v: %s", err, out)
	}
}

// ingest stores every file the way a caller of the Store interface does: hash the file,
// seek back, Put it (par files at a time). With syncEvery > 0 it uses PutDeferred, and the
// worker that completes every syncEvery-th object calls SyncDeferred (the others go on);
// a last SyncDeferred makes the rest durable.
func ingest(b *testing.B, dir string, files []string, par, syncEvery int) {
	s, err := fs.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	put := s.Put
	var done atomic.Int64
	if syncEvery > 0 {
		put = func(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
			if err := s.PutDeferred(ctx, d, r, size); err != nil {
				return err
			}
			if done.Add(1)%int64(syncEvery) == 0 {
				return s.SyncDeferred(ctx)
			}
			return nil
		}
	}
	work := make(chan string)
	errs := make(chan error, par)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if err := ingestFile(ctx, put, p); err != nil {
					errs <- err
					for range work { // let the sender finish
					}
					return
				}
			}
		}()
	}
	for _, p := range files {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if err := s.SyncDeferred(ctx); err != nil {
		b.Fatal(err)
	}
}

func ingestFile(ctx context.Context, put func(context.Context, evidence.Digest, io.ReadSeeker, int64) error, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	d, n, err := evidence.SumReader(f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	return put(ctx, d, f, n)
}

// BenchmarkReadVerifyLarge reads back and verifies every object of the large set through
// Get (the read path of `exhibit check --read-data`) against `sha256sum -c` over the same
// object files, both from the page cache. Sizes and EXHIBIT_BENCH_FULL as for
// BenchmarkIngestLarge; EXHIBIT_BENCH_WORKERS (default 2) objects are read at once.
//
//	go test -run '^$' -bench ReadVerify -benchtime 1x ./evidence/store/fs
//
// Metrics: exhibit_MB/s, baseline_MB/s, x_baseline (goal ≥ 1.5).
func BenchmarkReadVerifyLarge(b *testing.B) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		b.Skipf("baseline needs sha256sum: %v", err)
	}
	n, size := 8, int64(32<<20)
	if os.Getenv("EXHIBIT_BENCH_FULL") == "1" {
		size = 128 << 20
	}
	par := workers(b, 2)
	b.StopTimer()
	base := b.TempDir()
	s, err := fs.New(filepath.Join(base, "store"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var sums bytes.Buffer
	digests := make([]evidence.Digest, n)
	for i := range digests {
		digests[i] = storetest.PatternDigest(uint64(i)+1, size)
		if err := s.Put(ctx, digests[i], storetest.NewPattern(uint64(i)+1, size), size); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&sums, "%s  %s\n", digests[i], s.Path(digests[i]))
	}
	sumsFile := filepath.Join(base, "SHA256SUMS")
	if err := os.WriteFile(sumsFile, sums.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	total := float64(n) * float64(size)
	var exhibit, baseline time.Duration
	for range b.N {
		baseline += timed(b, func() {
			if out, err := exec.Command("sha256sum", "--quiet", "-c", sumsFile).CombinedOutput(); err != nil {
				b.Fatalf("sha256sum -c: %v: %s", err, out)
			}
		})
		b.StartTimer()
		exhibit += timed(b, func() { verifyAll(b, s, digests, par) })
		b.StopTimer()
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(total/1e6/per(exhibit), "exhibit_MB/s")
	b.ReportMetric(total/1e6/per(baseline), "baseline_MB/s")
	b.ReportMetric(baseline.Seconds()/exhibit.Seconds(), "x_baseline")
}

func verifyAll(b *testing.B, s *fs.Store, digests []evidence.Digest, par int) {
	work := make(chan evidence.Digest)
	errs := make(chan error, len(digests))
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				rc, err := s.Get(context.Background(), d)
				if err == nil {
					_, err = io.Copy(io.Discard, rc)
					rc.Close()
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, d := range digests {
		work <- d
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
