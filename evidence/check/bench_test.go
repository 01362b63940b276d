package check

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// BenchmarkCheckReadData re-hashes the "large set" of the store benchmarks, 8 objects of
// 128 MiB in an fs store, with check.Run (ReadData, default workers) and with
// `sha256sum -c` over the very same files, in the same run, and reports both throughputs
// and their ratio (x_vs_sha256sum; the goal is ≥ 1.5). Both read from the page cache: the
// files are read once before timing.
//
// EXHIBIT_BENCH_CHECK_MIB sets the object size in MiB (default 128), e.g. 16 for a quick run:
//
//	go test -run '^$' -bench CheckReadData -benchtime 3x ./evidence/check
func BenchmarkCheckReadData(b *testing.B) {
	sha256sum, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Skip("sha256sum not installed")
	}
	mib := 128
	if v := os.Getenv("EXHIBIT_BENCH_CHECK_MIB"); v != "" {
		if mib, err = strconv.Atoi(v); err != nil || mib <= 0 {
			b.Fatalf("EXHIBIT_BENCH_CHECK_MIB=%q: want a positive number", v)
		}
	}
	const objects = 8
	ctx := context.Background()
	dir := b.TempDir()
	repo, err := fs.OpenRepo(dir)
	if err != nil {
		b.Fatal(err)
	}
	// Random bytes: nothing along the way may profit from compressible data.
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	buf := make([]byte, mib<<20)
	var sums bytes.Buffer
	for i := 0; i < objects; i++ {
		for j := 0; j+8 <= len(buf); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		d := evidence.Sum(buf)
		if err := repo.Objects.Put(ctx, d, bytes.NewReader(buf), int64(len(buf))); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&sums, "%s  %s\n", d, repo.Objects.(*fs.Store).Path(d))
	}
	buf = nil
	sumsFile := filepath.Join(b.TempDir(), "SHA256SUMS")
	if err := os.WriteFile(sumsFile, sums.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	key, err := sign.Generate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	total := float64(objects * mib << 20)
	runCheck := func() {
		r, err := Run(ctx, repo, key.Verifier(), Options{ReadData: true})
		if err != nil || !r.OK() || r.BytesRead != int64(total) {
			b.Fatalf("check: %v, %+v", err, r)
		}
	}
	runSum := func() {
		if out, err := exec.Command(sha256sum, "-c", "--quiet", sumsFile).CombinedOutput(); err != nil {
			b.Fatalf("sha256sum -c: %v: %s", err, out)
		}
	}
	runCheck() // warm the page cache, so both sides read from memory

	var tCheck, tSum time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate the order so neither side always runs on a cache the other just warmed.
		first, second := runCheck, runSum
		firstT, secondT := &tCheck, &tSum
		if i%2 == 1 {
			first, second, firstT, secondT = runSum, runCheck, &tSum, &tCheck
		}
		start := time.Now()
		first()
		*firstT += time.Since(start)
		start = time.Now()
		second()
		*secondT += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(total*float64(b.N)/tCheck.Seconds()/(1<<20), "check_MiB/s")
	b.ReportMetric(total*float64(b.N)/tSum.Seconds()/(1<<20), "sha256sum_MiB/s")
	b.ReportMetric(tSum.Seconds()/tCheck.Seconds(), "x_vs_sha256sum")
}
