package bundler

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// TestMain lets the test binary build a bundle in a process of its own, whose peak memory
// the parent reads (EXHIBIT_TEST_BUNDLE_RSS=<data dir>).
func TestMain(m *testing.M) {
	if dir := os.Getenv("EXHIBIT_TEST_BUNDLE_RSS"); dir != "" {
		if err := rssChild(dir); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// rssChild builds the bundle of the data in dir as `exhibit bundle` does and prints the
// process's peak resident memory (VmHWM).
func rssChild(dir string) error {
	ctx := context.Background()
	repo, err := fs.OpenRepo(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	ix, err := index.Open(ctx, filepath.Join(dir, "index.db"))
	if err != nil {
		return err
	}
	defer ix.Close()
	signer, err := sign.Load(filepath.Join(dir, "keys"))
	if err != nil {
		return err
	}
	eng, err := controls.NewEngine(controls.Options{BuiltinRules: os.DirFS("testdata/rules")})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "tmp")
	os.MkdirAll(tmp, 0o700)
	if prof := os.Getenv("EXHIBIT_TEST_BUNDLE_HEAPPROF"); prof != "" {
		go func() {
			var max uint64
			for {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > max+(8<<20) {
					max = ms.HeapAlloc
					f, _ := os.Create(prof)
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	sum, err := BuildBundle(ctx, Sources{Repo: repo, Index: ix, Engine: eng, Signer: signer}, BundleOptions{
		Framework: controls.ISO27001, From: day(1).Add(-2 * time.Hour), To: day(31), Output: filepath.Join(dir, "out.zip"), TempDir: tmp})
	if err != nil {
		return err
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			fmt.Printf("%s artefacts=%d uncompressed=%d go-sys=%dMiB heap-sys=%dMiB stacks=%dMiB\n", line, sum.Manifest.Counts.Artefacts,
				sum.Uncompressed, ms.Sys>>20, ms.HeapSys>>20, ms.StackSys>>20)
		}
	}
	return nil
}

// bulkCollect seals and indexes one run of n password policy artefacts of ~size bytes each
// (and a raw response each), storing objects in parallel.
func (w *world) bulkCollect(at time.Time, n, size int) {
	w.t.Helper()
	ctx := context.Background()
	w.now = at
	id := at.Format("20060102T150405Z") + "-bulk"
	envs := make([]evidence.Envelope, n)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				body := fmt.Sprintf(`{"MinimumPasswordLength":%d,"account":"%s-%d","padding":"%s"}`, 8+i%10, id, i, strings.Repeat(fmt.Sprintf("%08x", i), size/8))
				doc, err := store.PutBytes(ctx, w.repo.Objects, []byte(body), "application/json")
				if err != nil {
					errs <- err
					return
				}
				raw, err := store.PutBytes(ctx, w.repo.Objects, []byte(`{"PasswordPolicy":`+body+`}`), "application/json")
				if err != nil {
					errs <- err
					return
				}
				envs[i] = evidence.Envelope{Kind: "aws.iam.password_policy", Subject: fmt.Sprintf("aws:%012d", i), Status: evidence.StatusOK,
					Connector: evidence.ConnectorRef{Instance: "aws-prod", Type: "aws", Version: "1"}, CollectedAt: at.Add(time.Minute),
					Document: &doc, Exchanges: []evidence.Exchange{{Method: "POST", URL: "https://iam.amazonaws.com/", Status: 200, StartedAt: at, Body: raw}}}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		w.t.Fatal(err)
	}
	b, err := manifest.NewBuilder(w.t.TempDir())
	if err != nil {
		w.t.Fatal(err)
	}
	defer b.Close()
	for _, e := range envs {
		if err := b.Add(e); err != nil {
			w.t.Fatal(err)
		}
	}
	ref, err := w.eng.Evaluate(ctx, w.repo.Objects, id, b.Envelopes)
	if err != nil {
		w.t.Fatal(err)
	}
	sealed, err := manifest.Seal(ctx, w.repo, w.signer, manifest.Header{ID: id, Type: manifest.TypeCollection, StartedAt: at,
		EndedAt: at.Add(time.Hour), Outcome: manifest.OutcomeComplete, Results: ref}, b)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := 0; i < n; i += index.BatchSize {
		if err := w.ix.AddArtefacts(ctx, id, i, envs[i:min(n, i+index.BatchSize)]); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := w.ix.RecordRun(ctx, w.repo.Objects, sealed); err != nil {
		w.t.Fatal(err)
	}
}

// TestBundlePeakMemory builds a bundle of EXHIBIT_TEST_BUNDLE_RSS_ARTEFACTS artefacts
// (default 5,000 of ~16 KB, each with a raw response: ~170 MB of evidence, more than the
// bound) in a process of its own and checks its peak RSS stays under 100 MiB: the bundle
// streams from the store, and manifest.json, SHA256SUMS and the zip directory are spooled.
// (Memory, not time: a test, not a benchmark. Set the variable to 100000 for the issue's
// largest size.)
func TestBundlePeakMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~170 MB")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the peak from /proc/self/status")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use")
	}
	n := 5000
	if s := os.Getenv("EXHIBIT_TEST_BUNDLE_RSS_ARTEFACTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	const maxRSS = 100 << 20
	dir := t.TempDir()
	repo, err := fs.OpenRepo(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldIn(t, dir, repo)
	const runs = 5
	for r := 0; r < runs; r++ {
		w.bulkCollect(day(r+1), n/runs, 16<<10)
	}
	w.ix.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_TEST_BUNDLE_RSS="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// "VmHWM:	   23556 kB artefacts=5000 uncompressed=…"
	fields := strings.Fields(string(out))
	if len(fields) < 3 || fields[0] != "VmHWM:" || fields[2] != "kB" {
		t.Fatalf("child printed %q", out)
	}
	kib, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	peak := kib << 10
	t.Logf("peak RSS of exhibit bundle: %.1f MiB (%s)", float64(peak)/(1<<20), strings.Join(fields[3:], " "))
	if peak >= maxRSS {
		t.Errorf("peak RSS %d MiB, want < %d MiB", peak>>20, maxRSS>>20)
	}
}
