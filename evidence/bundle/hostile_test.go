package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

// hostile is an extra entry for a hostile archive, written with archive/zip (which, like
// any tool an attacker uses, writes whatever it is told).
type hostile struct {
	name string
	data []byte
	mode fs.FileMode // 0: regular file
	// raw, when set, writes data as the compressed bytes with these declared sizes.
	raw        bool
	method     uint16
	size, comp uint64
	crc        uint32
}

// zipWith writes the files of fs plus the hostile entries (names as given, not under the
// top folder unless they say so).
func zipWith(t testing.TB, fs *files, extra ...hostile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if fs != nil {
		for _, n := range fs.order {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: fs.top + "/" + n, Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(fs.data[n])
		}
	}
	for _, h := range extra {
		fh := &zip.FileHeader{Name: h.name, Method: zip.Deflate}
		if h.mode != 0 {
			fh.SetMode(h.mode)
		}
		if h.raw {
			fh.Method = h.method
			fh.UncompressedSize64, fh.CompressedSize64, fh.CRC32 = h.size, h.comp, h.crc
			w, err := zw.CreateRaw(fh)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(h.data)
			continue
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(h.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deflate(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// zip64End returns an archive of cdSize zero bytes (its "central directory", at offset 0)
// and the end records declaring count entries.
func zip64End(count, cdSize uint64) []byte {
	return endRecords(make(leBuf, cdSize, cdSize+200), count, cdSize, 0)
}

func TestHostileArchives(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 2})
	path, _ := f.build(t, buildOptions{})
	genuine := readFile(t, path)
	base := readBundle(t, path)
	top := base.top
	zeros := make([]byte, 32<<20)
	bomb := deflate(t, zeros)

	// One real entry written by hand, for byte-level surgery.
	single := func(name string) []byte {
		var b bytes.Buffer
		zw, err := newZipWriter(&b, t.TempDir(), day0)
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("hello")
		if err := zw.add(zipHeader{name: name, method: methodStore, crc: crc32.ChecksumIEEE(data), size: 5, comp: 5}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := zw.close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	overlapping := func() []byte {
		// Two central records for the one local entry: the "better zip bomb" pattern.
		z := single(top + "/a.json")
		le := binary.LittleEndian
		eocd := z[len(z)-eocdLen:]
		cdOff, cdSize := le.Uint32(eocd[16:]), le.Uint32(eocd[12:])
		cd := append([]byte(nil), z[cdOff:cdOff+cdSize]...)
		out := append(append(append([]byte(nil), z[:cdOff]...), cd...), cd...)
		var e leBuf
		e.u32(sigEOCD)
		e.u16(0)
		e.u16(0)
		e.u16(2)
		e.u16(2)
		e.u32(2 * cdSize)
		e.u32(cdOff)
		e.u16(0)
		return append(out, e...)
	}
	renamedLocal := func() []byte {
		z := single(top + "/manifest.json")
		i := bytes.Index(z, []byte("manifest.json"))
		copy(z[i:], "manifest.jsoX") // the local header only
		return z
	}
	withFlag := func(flag uint16, method uint16) []byte {
		z := single(top + "/manifest.json")
		le := binary.LittleEndian
		for _, sig := range []uint32{sigLocal, sigCentral} {
			var s [4]byte
			le.PutUint32(s[:], sig)
			i := bytes.Index(z, s[:])
			off := 6
			if sig == sigCentral {
				off = 8
			}
			le.PutUint16(z[i+off:], le.Uint16(z[i+off:])|flag)
			if method != 0 {
				le.PutUint16(z[i+off+2:], method)
			}
		}
		return z
	}
	manyEntries := func(n int) []byte {
		var hs []hostile
		for i := 0; i < n; i++ {
			hs = append(hs, hostile{name: top + "/raw/" + strings.Repeat("a", 10) + string(rune('a'+i%26)) + string(rune('a'+i/26)), data: []byte("x")})
		}
		return zipWith(t, nil, hs...)
	}
	liar := func() []byte {
		// A listed file replaced by data that inflates far beyond the size it declares.
		fs := readBundle(t, path)
		name := fs.first(t, "raw/", "")
		fs.remove(name)
		return zipWith(t, fs, hostile{name: top + "/" + name, raw: true, method: zip.Deflate, data: bomb, comp: uint64(len(bomb)), size: 4096})
	}
	tinyBombs := func() []byte {
		var hs []hostile
		for i := 0; i < 2000; i++ {
			hs = append(hs, hostile{name: top + "/raw/b" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)),
				raw: true, method: zip.Deflate, data: bomb[:16], comp: 16, size: 1 << 20})
		}
		return zipWith(t, nil, hs...)
	}

	cases := []struct {
		name    string
		archive []byte
		limits  Limits
		problem string
	}{
		{"parent directory entry", zipWith(t, base, hostile{name: top + "/../evil.sh", data: []byte("rm -rf ~")}), Limits{}, "path traversal"},
		{"entry above the top folder", zipWith(t, base, hostile{name: "../../evil.sh", data: []byte("x")}), Limits{}, "path traversal"},
		{"absolute path", zipWith(t, base, hostile{name: "/etc/cron.d/evil", data: []byte("x")}), Limits{}, "absolute path"},
		{"windows drive", zipWith(t, base, hostile{name: "C:/evil", data: []byte("x")}), Limits{}, "drive letter"},
		{"backslash", zipWith(t, base, hostile{name: top + `\..\..\evil`, data: []byte("x")}), Limits{}, "backslash"},
		{"symlink", zipWith(t, base, hostile{name: top + "/artefacts/link.json", data: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777}), Limits{}, "symbolic link"},
		{"device", zipWith(t, base, hostile{name: top + "/artefacts/dev", data: nil, mode: fs.ModeDevice | 0o644}), Limits{}, "special file"},
		{"duplicate name", zipWith(t, base, hostile{name: top + "/" + ManifestFile, data: []byte(`{}`)}), Limits{}, "duplicate entry name"},
		{"names differing in case", zipWith(t, base, hostile{name: top + "/Manifest.json", data: []byte(`{}`)}), Limits{}, "differs only in case"},
		{"file and directory", zipWith(t, base, hostile{name: top + "/" + ManifestFile + "/x", data: []byte(`{}`)}), Limits{}, "both a file and a directory"},
		{"control character", zipWith(t, base, hostile{name: top + "/a\x1b[2Jb", data: []byte("x")}), Limits{}, "control or non-ASCII"},
		{"too deep", zipWith(t, base, hostile{name: top + "/a/b/c/d/e/f/g/h", data: []byte("x")}), Limits{}, "deeper than"},
		{"two top folders", zipWith(t, base, hostile{name: "other/file", data: []byte("x")}), Limits{}, "outside the bundle's top folder"},
		{"declared zip bomb", zipWith(t, base, hostile{name: top + "/raw/bomb", raw: true, method: zip.Deflate, data: bomb, comp: uint64(len(bomb)), size: 64 << 30}), Limits{}, "zip bomb"},
		{"ratio zip bomb", zipWith(t, base, hostile{name: top + "/raw/bomb", raw: true, method: zip.Deflate, data: bomb, comp: uint64(len(bomb)), size: uint64(len(zeros)), crc: crc32.ChecksumIEEE(zeros)}), Limits{}, "ratio above"},
		{"many small bombs", tinyBombs(), Limits{}, "in total"},
		{"entry larger than declared", liar(), Limits{}, "expands beyond its declared"},
		{"overlapping entries", overlapping(), Limits{}, "overlaps"},
		{"local header names another file", renamedLocal(), Limits{}, "readers would disagree"},
		{"encrypted entry", withFlag(0x1, 0), Limits{}, "encrypted"},
		{"unknown compression", withFlag(0, 12), Limits{}, "unsupported compression method 12"},
		{"huge declared entry count", zip64End(50_000_000, 0), Limits{}, "more than the limit"},
		{"entry count over the limit", manyEntries(30), Limits{MaxEntries: 20}, "more than the limit of 20"},
		{"central directory too small for its count", zip64End(1000, 10), Limits{}, "does not fit"},
		{"appended data", append(append([]byte(nil), genuine...), "trailing"...), Limits{}, "after its end record"},
		{"prepended data", append([]byte("MZ-stub"), genuine...), Limits{}, "does not end where the end record starts"},
		{"truncated", genuine[:len(genuine)/2], Limits{}, "not a zip archive"},
		{"not a zip", []byte("%PDF-1.7 this is not a zip archive at all"), Limits{}, "not a zip archive"},
		{"empty", nil, Limits{}, "not a zip archive"},
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			rep, err := Verify(context.Background(), bytes.NewReader(c.archive), int64(len(c.archive)),
				VerifyOptions{Key: f.signer.Verifier(), Limits: c.limits})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("Verify: %v (hostile archives are invalid bundles, not read errors)", err)
			}
			wantProblem(t, rep, c.problem)
			// Bounded memory: nothing a hostile archive declares makes the reader allocate
			// in proportion to it.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("verifying allocated %d MiB", alloc>>20)
			}
		})
	}
	// The verifier reads straight from the archive: it never writes a file.
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("Verify wrote %d files to the temporary directory", len(ents))
	}
}

// TestSignedSumsOutsideFolder: even a correctly signed SHA256SUMS must not name paths
// outside the bundle folder (a verifier or `sha256sum -c` would read files of the
// auditor's machine).
func TestSignedSumsOutsideFolder(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 1})
	path, _ := f.build(t, buildOptions{})
	for _, c := range []struct{ name, line, problem string }{
		{"parent", "../../../etc/passwd", "points outside the bundle folder"},
		{"absolute", "/etc/passwd", "points outside the bundle folder"},
		{"dot component", "./manifest.json", "not normalised"},
		{"unsorted", "zzz-first", "not sorted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := readBundle(t, path)
			fs.resign(t, f.signer)
			line := appendSumLine(nil, [32]byte{}, c.line)
			sums := append(line, fs.data[SumsFile]...)
			sig, err := f.signer.Sign("exhibit-bundle", sha256Sum(sums))
			if err != nil {
				t.Fatal(err)
			}
			fs.set(SumsFile, sums)
			fs.set(SumsSigFile, sig.DER)
			fs.set(SumsSSHSigFile, sig.SSH)
			wantProblem(t, f.verify(t, fs.write(t)), c.problem)
		})
	}
}

// TestCoverage: the bundle's own claims are checked against the signed run manifests.
func TestCoverage(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 3, perRun: 3})
	cases := []struct {
		name    string
		opts    buildOptions
		problem string
	}{
		{"artefact left out", buildOptions{leaveOut: &[2]int{2, 1}}, "left out of the bundle"},
		{"run missing in the middle", buildOptions{skipRun: 2}, "the chain is broken"},
		{"anchor missing", buildOptions{noAnchor: true}, "does not include it as an anchor"},
		{"selection left out an artefact", buildOptions{selection: Selection{Connectors: []string{"aws-prod"}}, leaveOut: &[2]int{1, 0}}, "left out of the bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.noSelfCheck = true
			path, _ := f.build(t, c.opts)
			wantProblem(t, f.verify(t, path), c.problem)
		})
	}
	t.Run("selection", func(t *testing.T) {
		path, sum := f.build(t, buildOptions{selection: Selection{Connectors: []string{"aws-prod"}}})
		rep := f.verify(t, path)
		mustOK(t, rep)
		// 3 runs × (2 aws artefacts + 1 aws gap)
		if rep.Artefacts != 9 || sum.Manifest.Counts.Artefacts != 9 {
			t.Errorf("artefacts = %d, want 9", rep.Artefacts)
		}
	})
	t.Run("commit refuses a bundle that does not verify", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.zip")
		_, err := f.write(context.Background(), out, buildOptions{leaveOut: &[2]int{1, 0}})
		if err == nil || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("Commit: %v, want a verification failure", err)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
			t.Errorf("a failed commit left %d files behind", len(ents))
		}
	})
}

func sha256Sum(b []byte) evidence.Digest { return evidence.Sum(b) }
