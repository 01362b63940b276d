package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestBuildAndVerify(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, c := range []struct {
		name string
		comp Compression
	}{{"deflate", Deflate}, {"store", Store}} {
		t.Run(c.name, func(t *testing.T) {
			path, sum := f.build(t, buildOptions{compression: c.comp})
			if sum.Verification == nil || !sum.Verification.OK() {
				t.Fatal("Commit did not report a clean verification")
			}
			rep := f.verify(t, path)
			mustOK(t, rep)
			if rep.Manifest == nil || rep.Manifest.LastRun.Manifest != f.runs[len(f.runs)-1].Digest {
				t.Errorf("last run = %+v, want %s", rep.Manifest.LastRun, f.runs[len(f.runs)-1].Digest)
			}
			// 3 period runs × (4 artefacts + 1 gap)
			if rep.Artefacts != 15 || rep.Runs != 4 {
				t.Errorf("verified %d artefacts in %d runs, want 15 in 4", rep.Artefacts, rep.Runs)
			}
			// The archive is an ordinary zip for other readers too.
			zr, err := zip.OpenReader(path)
			if err != nil {
				t.Fatalf("archive/zip cannot read the bundle: %v", err)
			}
			defer zr.Close()
			for _, zf := range zr.File {
				if !strings.HasPrefix(zf.Name, sum.Top+"/") {
					t.Errorf("entry %s outside the top folder %s", zf.Name, sum.Top)
				}
				rc, err := zf.Open()
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1<<16)
				for {
					_, err := rc.Read(buf)
					if err != nil {
						if err.Error() != "EOF" {
							t.Errorf("archive/zip: %s: %v", zf.Name, err)
						}
						break
					}
				}
				rc.Close()
			}
		})
	}
}

func TestVerifyTrust(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	other := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	path, _ := f.build(t, buildOptions{})
	ctx := context.Background()

	if _, err := VerifyFile(ctx, path, VerifyOptions{}); !errors.Is(err, ErrNoTrustAnchor) {
		t.Errorf("no pinned key: err = %v, want ErrNoTrustAnchor", err)
	}
	if _, err := VerifyFile(ctx, path, VerifyOptions{Key: f.signer.Verifier(), Fingerprint: other.signer.Fingerprint()}); err == nil {
		t.Error("a key and a fingerprint that disagree were accepted")
	}
	cases := []struct {
		name    string
		opts    VerifyOptions
		ok      bool
		problem string
		warning bool
	}{
		{"pinned key", VerifyOptions{Key: f.signer.Verifier()}, true, "", false},
		{"pinned fingerprint", VerifyOptions{Fingerprint: f.signer.Fingerprint()}, true, "", false},
		{"key and fingerprint", VerifyOptions{Key: f.signer.Verifier(), Fingerprint: f.signer.Fingerprint()}, true, "", false},
		{"another pinned key", VerifyOptions{Key: other.signer.Verifier()}, false, "not the pinned key", false},
		{"another fingerprint", VerifyOptions{Fingerprint: other.signer.Fingerprint()}, false, "not the pinned", false},
		{"unpinned", VerifyOptions{TrustBundleKeyUnsafe: true}, true, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyFile(ctx, path, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.ok {
				mustOK(t, rep)
			} else {
				wantProblem(t, rep, c.problem)
			}
			if got := len(rep.Warnings) > 0; got != c.warning {
				t.Errorf("warnings = %q, want warning: %v", rep.Warnings, c.warning)
			}
			if c.warning && !strings.Contains(rep.Warnings[0], "NOT PINNED") {
				t.Errorf("the warning does not say trust was not pinned: %s", rep.Warnings[0])
			}
		})
	}
}

// TestZip64EntryCount writes more entries than the 16-bit count of a plain zip holds, so
// the zip64 end records are used, and reads the archive back with our reader, archive/zip
// and (if installed) Info-ZIP's unzip.
func TestZip64EntryCount(t *testing.T) {
	const n = 70_000
	path := manyEntries(t, n)
	data := readFile(t, path)
	var problems []string
	a, err := readArchive(bytes.NewReader(data), int64(len(data)), DefaultLimits, func(p, m string) { problems = append(problems, p+": "+m) })
	if err != nil || len(problems) > 0 {
		t.Fatalf("readArchive: %v %v", err, problems)
	}
	if len(a.entries) != n {
		t.Fatalf("read %d entries, want %d", len(a.entries), n)
	}
	e := a.lookup("top/raw/069999")
	if e == nil {
		t.Fatal("last entry not found")
	}
	got, err := io.ReadAll(a.open(e))
	if err != nil || string(got) != "69999" {
		t.Fatalf("last entry: %q, %v", got, err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatalf("archive/zip: %v", err)
	}
	if len(zr.File) != n {
		t.Errorf("archive/zip reads %d entries", len(zr.File))
	}
	zr.Close()
	if _, err := exec.LookPath("unzip"); err == nil {
		if out, err := exec.Command("unzip", "-tqq", path).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}
	}
}

// manyEntries writes an archive of n tiny stored entries top/raw/000000… as the writer
// lays them out.
func manyEntries(t testing.TB, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "many.zip")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw, err := newZipWriter(out, t.TempDir(), day0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		data := []byte(strconv.Itoa(i))
		if err := zw.add(zipHeader{name: fmt.Sprintf("top/raw/%06d", i), method: methodStore, crc: crc32.ChecksumIEEE(data),
			size: uint64(len(data)), comp: uint64(len(data))}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUnzipReadsBundles checks a real bundle with Info-ZIP's unzip, which auditors use.
func TestUnzipReadsBundles(t *testing.T) {
	requireTool(t, "unzip")
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	for _, comp := range []Compression{Deflate, Store} {
		path, _ := f.build(t, buildOptions{compression: comp})
		if out, err := exec.Command("unzip", "-tq", path).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}
	}
}
