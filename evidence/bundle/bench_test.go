package bundle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// Benchmark sizes: EXHIBIT_BENCH_BUNDLE_ARTEFACTS artefacts (default 2,000), each a ~25 KB
// document and a ~25 KB raw response, so the default bundle holds ~100 MB and
// EXHIBIT_BENCH_BUNDLE_ARTEFACTS=20000 the ~1 GiB of the issue. Both benchmarks report
// figures as ratios to a baseline measured in the same run on the same bytes.
func benchArtefacts(b *testing.B) int {
	n := 2000
	if s := os.Getenv("EXHIBIT_BENCH_BUNDLE_ARTEFACTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("EXHIBIT_BENCH_BUNDLE_ARTEFACTS=%q", s)
		}
		n = v
	}
	return n
}

// BenchmarkVerify compares `exhibit verify` (VerifyFile, straight from the zip, parallel
// hashing) with `sha256sum -c --strict --quiet SHA256SUMS` on the same files unpacked, both
// from the page cache. speedup-vs-sha256sum is sha256sum's time divided by ours (goal ≥ 1.5).
func BenchmarkVerify(b *testing.B) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		b.Skip("sha256sum not installed")
	}
	n := benchArtefacts(b)
	f := newFixture(b, fixtureOptions{runs: 1, perRun: n, docSize: 25 << 10})
	for _, c := range []struct {
		name string
		comp Compression
	}{{"deflate", Deflate}, {"store", Store}} {
		b.Run(c.name, func(b *testing.B) {
			path, sum := f.build(b, buildOptions{compression: c.comp})
			benchVerifyVsSha256sum(b, f, path, unpack(b, readBundle(b, path)), sum)
		})
	}
}

// benchVerifyVsSha256sum times VerifyFile on path against `sha256sum -c` in dir, the same
// bundle unpacked.
func benchVerifyVsSha256sum(b *testing.B, f *fixture, path, dir string, sum *Summary) {
	var ours, theirs, oursCPU, theirsCPU time.Duration
	b.SetBytes(sum.Uncompressed)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start, cpu0 := time.Now(), processCPU()
		rep, err := VerifyFile(context.Background(), path, VerifyOptions{Key: f.signer.Verifier()})
		if err != nil || !rep.OK() {
			b.Fatalf("verify: %v %v", err, rep.Problems)
		}
		ours += time.Since(start)
		oursCPU += processCPU() - cpu0
		b.StopTimer()
		start = time.Now()
		cmd := exec.Command("sha256sum", "-c", "--strict", "--quiet", SumsFile)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sha256sum: %v\n%s", err, out)
		}
		theirs += time.Since(start)
		theirsCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		b.StartTimer()
	}
	// Wall time is what the auditor waits; CPU time shows the work done, which a machine
	// shared with other jobs distorts less.
	b.ReportMetric(float64(theirs)/float64(ours), "speedup-vs-sha256sum")
	b.ReportMetric(float64(theirsCPU)/float64(oursCPU), "cpu-efficiency-vs-sha256sum")
	b.ReportMetric(float64(sum.Uncompressed)/float64(sum.Bytes), "compression-ratio")
}

// processCPU returns the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBundle writes (and verifies, as Commit does) a bundle from an fs store, compared
// with copying the same bytes at disk speed: every object file of the store concatenated by
// cat into one file on the same disk and synced (one output file, like the bundle; `cp -r`
// would be slower, creating thousands of files). time-vs-cat is our time divided by that
// baseline's (1.0 = disk speed).
func BenchmarkBundle(b *testing.B) {
	for _, tool := range []string{"sh", "find", "xargs", "cat", "sync"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	n := benchArtefacts(b)
	storeDir := filepath.Join(b.TempDir(), "store")
	repo, err := fs.OpenRepo(storeDir)
	if err != nil {
		b.Fatal(err)
	}
	f := newFixture(b, fixtureOptions{runs: 1, perRun: n, docSize: 25 << 10, repo: repo})
	for _, c := range []struct {
		name string
		comp Compression
	}{{"deflate", Deflate}, {"store", Store}} {
		b.Run(c.name, func(b *testing.B) {
			var ours, theirs time.Duration
			var size, bytes int64
			for i := 0; i < b.N; i++ {
				out := filepath.Join(b.TempDir(), "bundle.zip")
				start := time.Now()
				sum, err := f.write(context.Background(), out, buildOptions{compression: c.comp, tempDir: b.TempDir()})
				if err != nil {
					b.Fatal(err)
				}
				ours += time.Since(start)
				size, bytes = sum.Uncompressed, sum.Bytes
				b.StopTimer()
				os.Remove(out)
				dst := filepath.Join(b.TempDir(), "copy")
				start = time.Now()
				copyCmd := `find "$1" -type f -print0 | xargs -0 cat > "$2" && sync "$2"`
				if out, err := exec.Command("sh", "-c", copyCmd, "sh", storeDir, dst).CombinedOutput(); err != nil {
					b.Fatalf("copy: %v\n%s", err, out)
				}
				theirs += time.Since(start)
				os.Remove(dst)
				b.StartTimer()
			}
			b.SetBytes(size)
			b.ReportMetric(float64(ours)/float64(theirs), "time-vs-cat")
			b.ReportMetric(float64(size)/float64(bytes), "compression-ratio")
		})
	}
}

// BenchmarkVerifyMany is BenchmarkVerify with many small artefacts, where per-file costs
// dominate: 2,000 artefacts of ~1 KB (a document and a raw response each), and with
// EXHIBIT_BENCH_FULL=1 the 400,000 of the issue (about 1 GiB unpacked, 800,000 files).
// EXHIBIT_BENCH_BUNDLE_ARTEFACTS overrides the count. Goal: speedup-vs-sha256sum ≥ 1.5 at
// both sizes.
func BenchmarkVerifyMany(b *testing.B) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		b.Skip("sha256sum not installed")
	}
	n := 2000
	if os.Getenv("EXHIBIT_BENCH_FULL") == "1" {
		n = 400_000
	}
	if os.Getenv("EXHIBIT_BENCH_BUNDLE_ARTEFACTS") != "" {
		n = benchArtefacts(b)
	}
	f := newFixture(b, fixtureOptions{runs: 1, perRun: n, docSize: 1 << 10})
	path, sum := f.build(b, buildOptions{})
	dir := unpack(b, readBundle(b, path))
	benchVerifyVsSha256sum(b, f, path, dir, sum)
}
