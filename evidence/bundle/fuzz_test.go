package bundle

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence/sign"
)

var update = flag.Bool("update", false, "rewrite testdata/bundles/golden-v1.zip")

// goldenPath is the committed bundle written by an earlier version: every later verifier
// must keep accepting it (format compatibility), and it seeds the fuzz corpus.
var goldenPath = filepath.Join("..", "..", "testdata", "bundles", "golden-v1.zip")

// fixedSigner is the signer of evidence/sign/testdata/fixed.key, a key that never changes,
// so that committed bundles and fuzz seeds stay valid.
func fixedSigner(t testing.TB) *sign.Signer {
	t.Helper()
	key, err := os.ReadFile(filepath.Join("..", "sign", "testdata", "fixed.key"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sign.KeyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sign.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	seedOnce sync.Once
	seedData []byte
)

// validSeed returns a small valid bundle signed by the fixed key.
func validSeed(t testing.TB) []byte {
	seedOnce.Do(func() {
		f := newFixture(t, fixtureOptions{runs: 2, perRun: 2, signer: fixedSigner(t)})
		path, _ := f.build(t, buildOptions{})
		seedData = readFile(t, path)
	})
	return seedData
}

func TestGoldenBundle(t *testing.T) {
	if *update {
		f := newFixture(t, fixtureOptions{runs: 2, perRun: 2, signer: fixedSigner(t)})
		path, _ := f.build(t, buildOptions{})
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, readFile(t, path), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := VerifyFile(context.Background(), goldenPath, VerifyOptions{Key: fixedSigner(t).Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, rep)
	if rep.Manifest.Schema != Schema || rep.Artefacts != 6 {
		t.Errorf("golden bundle: schema %s, %d artefacts", rep.Manifest.Schema, rep.Artefacts)
	}
}

// FuzzVerify feeds arbitrary archives to the verifier. It must never panic, never return a
// read error for in-memory data, and stay within its limits. Seeds: a valid bundle, the
// committed golden bundle, hostile archives (testdata/fuzz/FuzzVerify), the hostile layouts
// of TestHostileLayouts and mutations of the valid bundle that hit each parser.
func FuzzVerify(f *testing.F) {
	valid := validSeed(f)
	f.Add(valid)
	if golden, err := os.ReadFile(goldenPath); err == nil {
		f.Add(golden)
	}
	// Layouts that some zip reader reads differently (layout_test.go).
	for _, c := range hostileLayouts(f, valid) {
		f.Add(c.archive())
	}
	// Truncations at the interesting boundaries: inside the central directory and end records.
	for _, cut := range []int{22, 42, 98, 1000} {
		if cut < len(valid) {
			f.Add(valid[:len(valid)-cut])
		}
	}
	key := fixedSigner(f).Verifier()
	lim := Limits{MaxEntries: 10_000, MaxEntrySize: 64 << 20, MaxTotalSize: 256 << 20, MaxMetadataSize: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(context.Background(), bytes.NewReader(data), int64(len(data)), VerifyOptions{Key: key, Limits: lim, Workers: 2})
		if err != nil {
			t.Fatalf("Verify returned a read error for in-memory data: %v", err)
		}
		// Mutations of fields nobody reads (timestamps) may still verify; then the report
		// must at least be complete.
		if rep.OK() && (rep.Manifest == nil || rep.Signer != key.Fingerprint() || rep.Files == 0) {
			t.Fatalf("verified without a manifest, signer or files: %+v", rep)
		}
	})
}

// FuzzDecodeManifest feeds arbitrary manifest.json files to the strict streaming decoder.
func FuzzDecodeManifest(f *testing.F) {
	fs := readBundleBytes(f, validSeed(f))
	f.Add(fs.data[ManifestFile])
	f.Add([]byte(`{"schema":"exhibit.bundle/v1","artefacts":[]}`))
	f.Add([]byte(`{"artefacts":[],"schema":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_, _ = decodeManifest(bytes.NewReader(data), 1<<20, nil, func(Artefact) error { n++; return nil })
	})
}

// FuzzReadManifest compares readManifest, which the verifier uses, with decodeManifest on
// arbitrary manifest.json files: both accept the same files with the same header and
// artefacts.
func FuzzReadManifest(f *testing.F) {
	fs := readBundleBytes(f, validSeed(f))
	valid := fs.data[ManifestFile]
	f.Add(valid)
	f.Add([]byte(`{"schema":"exhibit.bundle/v1","artefacts":[]}`))
	if i := bytes.Index(valid, []byte(`"artefacts":[`)); i > 0 {
		head := valid[:i+len(`"artefacts":[`)]
		for _, tail := range []string{`]}`, ` ] } `, `]`, `],"x":1}`, `]}{}`, `{"run":"r"},]}`, `{"run":"r"} {"run":"r"}]}`, `"]"]}`, `1}`} {
			f.Add(append(append([]byte{}, head...), tail...))
		}
	}
	type result struct {
		m         Manifest
		artefacts []Artefact
		err       error
	}
	read := func(decode func(io.Reader, int64, func(Manifest) error, func(Artefact) error) (Manifest, error), data []byte) result {
		var r result
		r.m, r.err = decode(bytes.NewReader(data), 1<<20, nil, func(a Artefact) error {
			r.artefacts = append(r.artefacts, a)
			return nil
		})
		return r
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, want := read(readManifest, data), read(decodeManifest, data)
		if (got.err == nil) != (want.err == nil) {
			t.Fatalf("readManifest: %v; decodeManifest: %v", got.err, want.err)
		}
		if got.err == nil && (!reflect.DeepEqual(got.m, want.m) || !reflect.DeepEqual(got.artefacts, want.artefacts)) {
			t.Fatalf("readManifest read %+v %+v; decodeManifest %+v %+v", got.m, got.artefacts, want.m, want.artefacts)
		}
	})
}

// FuzzSums feeds arbitrary SHA256SUMS files to the strict line reader.
func FuzzSums(f *testing.F) {
	fs := readBundleBytes(f, validSeed(f))
	f.Add(fs.data[SumsFile])
	f.Add([]byte("0000000000000000000000000000000000000000000000000000000000000000  ../x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sr := newSumsReader(bytes.NewReader(data), DefaultLimits)
		prev := ""
		for {
			l, err := sr.next()
			if err != nil {
				return
			}
			if unsafeName(l.path, DefaultLimits) != "" || l.path <= prev && prev != "" {
				t.Fatalf("accepted %q after %q", l.path, prev)
			}
			prev = l.path
		}
	})
}

func readBundleBytes(t testing.TB, data []byte) *files {
	t.Helper()
	p := filepath.Join(t.TempDir(), "b.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return readBundle(t, p)
}

var _ io.Reader = (*capReader)(nil)
