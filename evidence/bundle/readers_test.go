package bundle

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The rule these tests hold the verifier to: what `exhibit verify` accepts is exactly what
// unzip, Python's zipfile, Java's ZipInputStream and Go's archive/zip each extract — the
// same names and the same bytes, nothing more — and an archive any of them could read
// differently is refused. The readers are the ones an auditor has: Debian's unzip, python3
// and a JDK (scripts/tools.sh installs them); the Java reader is compiled at test time.

// zipFile is one file a reader extracted.
type zipFile struct {
	name string
	data []byte
}

// view is what a reader extracted, sorted by name, or why it stopped.
type view struct {
	files []zipFile
	err   string
}

func (v view) String() string {
	var b strings.Builder
	for _, f := range v.files {
		fmt.Fprintf(&b, "%s (%d bytes) ", printable(f.name), len(f.data))
	}
	if v.err != "" {
		fmt.Fprintf(&b, "error: %s", strings.TrimSpace(v.err))
	}
	return b.String()
}

// same reports whether two readers extracted the same names and bytes, and no error.
func (v view) same(o view) bool {
	if v.err != "" || o.err != "" || len(v.files) != len(o.files) {
		return false
	}
	for i := range v.files {
		if v.files[i].name != o.files[i].name || !bytes.Equal(v.files[i].data, o.files[i].data) {
			return false
		}
	}
	return true
}

func sortFiles(fs []zipFile) []zipFile {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].name < fs[j].name })
	return fs
}

// zipReader extracts an archive file the way one tool does.
type zipReader struct {
	name string
	read func(t *testing.T, path string) view
}

// zipReaders returns the four independent readers, compiling the Java one into dir.
func zipReaders(t *testing.T, dir string) []zipReader {
	t.Helper()
	for _, tool := range []string{"unzip", "python3", "javac", "java"} {
		requireTool(t, tool)
	}
	src := filepath.Join(dir, "ZipList.java")
	if err := os.WriteFile(src, []byte(javaZipList), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("javac", "-d", dir, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	py := filepath.Join(dir, "ziplist.py")
	if err := os.WriteFile(py, []byte(pythonZipList), 0o644); err != nil {
		t.Fatal(err)
	}
	return []zipReader{
		{"unzip", readWithUnzip},
		{"python zipfile", func(t *testing.T, path string) view { return listing(t, exec.Command("python3", py, path)) }},
		{"java ZipInputStream", func(t *testing.T, path string) view {
			return listing(t, exec.Command("java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", dir, "ZipList", path))
		}},
		{"go archive/zip", readWithGo},
	}
}

// javaZipList prints every entry a streaming ZipInputStream finds: the name and the bytes,
// base64, one entry a line.
const javaZipList = `import java.io.*;
import java.util.Base64;
import java.util.zip.*;

public class ZipList {
    public static void main(String[] args) throws Exception {
        Base64.Encoder b64 = Base64.getEncoder();
        try (ZipInputStream z = new ZipInputStream(new BufferedInputStream(new FileInputStream(args[0])))) {
            ZipEntry e;
            while ((e = z.getNextEntry()) != null) {
                byte[] data = z.readAllBytes();
                System.out.println(b64.encodeToString(e.getName().getBytes("UTF-8")) + " " + b64.encodeToString(data));
                System.out.flush();
            }
        }
    }
}
`

// pythonZipList does the same with Python's zipfile, which reads the central directory.
const pythonZipList = `import base64, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for info in z.infolist():
        data = z.read(info)
        print(base64.b64encode(info.filename.encode()).decode(), base64.b64encode(data).decode(), flush=True)
`

// listing runs a reader that prints "base64(name) base64(data)" lines.
func listing(t *testing.T, cmd *exec.Cmd) view {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var v view
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 256<<20)
	for sc.Scan() {
		name, data, _ := strings.Cut(sc.Text(), " ")
		n, err1 := base64.StdEncoding.DecodeString(name)
		d, err2 := base64.StdEncoding.DecodeString(data)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s printed %q", cmd.Args[0], sc.Text())
		}
		v.files = append(v.files, zipFile{string(n), d})
	}
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("could not run %s: %v", cmd.Args[0], err)
		}
		v.err = firstLine(stderr.String())
	}
	v.files = sortFiles(v.files)
	return v
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// readWithUnzip extracts with Info-ZIP's unzip into a new directory and lists the files it
// wrote. Exit status 1 is a warning (unzip extracted anyway); anything above is an error.
func readWithUnzip(t *testing.T, path string) view {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("unzip", "-qq", "-o", path, "-d", dir)
	out, err := cmd.CombinedOutput()
	var v view
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("could not run unzip: %v", err)
		}
		v.err = fmt.Sprintf("exit %d: %s", cmd.ProcessState.ExitCode(), lastLine(string(out)))
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		v.files = append(v.files, zipFile{filepath.ToSlash(rel), data})
		return nil
	})
	v.files = sortFiles(v.files)
	return v
}

func readWithGo(t *testing.T, path string) view {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		return view{err: err.Error()}
	}
	defer zr.Close()
	var v view
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			v.err = err.Error()
			break
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			v.err = err.Error()
			break
		}
		v.files = append(v.files, zipFile{f.Name, data})
	}
	v.files = sortFiles(v.files)
	return v
}

// verifierView is what the verifier reads from an archive it accepts: every entry's name
// and bytes as readArchive and open find them.
func verifierView(t *testing.T, archive []byte) view {
	t.Helper()
	var problems []string
	a, err := readArchive(bytes.NewReader(archive), int64(len(archive)), DefaultLimits, func(path, msg string) {
		problems = append(problems, path+": "+msg)
	})
	if err != nil || len(problems) > 0 {
		return view{err: fmt.Sprintf("%v %s", err, strings.Join(problems, "; "))}
	}
	var v view
	for i := range a.entries {
		rc := a.open(&a.entries[i])
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return view{files: v.files, err: err.Error()}
		}
		v.files = append(v.files, zipFile{a.entries[i].name, data})
	}
	return v
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "archive.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// zipPart is one entry of an archive taken apart for surgery: what the central directory
// says of it, its local header and what follows the header up to the next one.
type zipPart struct {
	h         zipHeader
	tm, dt    uint16
	local     []byte
	data      []byte // the compressed bytes, and whatever a case appends
	after     []byte // bytes between the data and the next local header
	cdExtra   []byte // replaces the central record's extra field when set
	cdFlags   uint16
	cdComment []byte
}

// takeApart splits an archive the writer wrote into its entries, in archive order.
func takeApart(t testing.TB, archive []byte) []zipPart {
	t.Helper()
	a, err := readArchive(bytes.NewReader(archive), int64(len(archive)), DefaultLimits, func(path, msg string) {
		t.Fatalf("takeApart: %s: %s", path, msg)
	})
	if err != nil {
		t.Fatal(err)
	}
	es := append([]entry(nil), a.entries...)
	sort.Slice(es, func(i, j int) bool { return es[i].header < es[j].header })
	var parts []zipPart
	for _, e := range es {
		parts = append(parts, zipPart{h: e.zipHeader(), tm: e.dosTime, dt: e.dosDate,
			local: append([]byte(nil), archive[e.header:e.data]...),
			data:  append([]byte(nil), archive[e.data:e.data+e.comp]...)})
	}
	return parts
}

// part returns the index of the entry whose name ends in suffix.
func part(t testing.TB, parts []zipPart, suffix string) int {
	t.Helper()
	for i, p := range parts {
		if strings.HasSuffix(p.h.name, suffix) {
			return i
		}
	}
	t.Fatalf("no entry …%s", suffix)
	return -1
}

// assemble lays the parts out after prefix, each local header at the offset its central
// record gives, then the central directory and the end records end returns (endRecords
// when nil).
func assemble(prefix []byte, parts []zipPart, end func(n, cdSize, cdOff uint64, cd []byte) []byte) []byte {
	out := append([]byte(nil), prefix...)
	var cd leBuf
	for _, p := range parts {
		off := uint64(len(out))
		out = append(append(append(out, p.local...), p.data...), p.after...)
		rec := centralRecord(nil, p.h, off, p.tm, p.dt)
		if p.cdFlags != 0 {
			rec[8] |= byte(p.cdFlags)
			rec[9] |= byte(p.cdFlags >> 8)
		}
		if p.cdExtra != nil || p.cdComment != nil {
			n := len(p.h.name)
			rec = append(rec[:centralLen+n], p.cdExtra...)
			rec = append(rec, p.cdComment...)
			rec[30], rec[31] = byte(len(p.cdExtra)), byte(len(p.cdExtra)>>8)
			rec[32], rec[33] = byte(len(p.cdComment)), byte(len(p.cdComment)>>8)
		}
		cd = append(cd, rec...)
	}
	cdOff := uint64(len(out))
	out = append(out, cd...)
	if end == nil {
		return endRecords(out, uint64(len(parts)), uint64(len(cd)), cdOff)
	}
	return append(out, end(uint64(len(parts)), uint64(len(cd)), cdOff, cd)...)
}

// storedPart makes a stored entry the writer would write.
func storedPart(name string, data []byte, like zipPart) zipPart {
	h := zipHeader{name: name, method: methodStore, crc: crc32.ChecksumIEEE(data), size: uint64(len(data)), comp: uint64(len(data))}
	return zipPart{h: h, tm: like.tm, dt: like.dt, local: localHeader(nil, h, 0, like.tm, like.dt), data: data}
}

// TestReadersAgree: on bundles as the writer writes them (deflated and stored, and an
// archive with zip64 end records), the four readers extract exactly the files, names and
// bytes, that the verifier reads, and nothing else.
func TestReadersAgree(t *testing.T) {
	readers := zipReaders(t, t.TempDir())
	f := newFixture(t, fixtureOptions{runs: 2, perRun: 3})
	archives := map[string]string{}
	for name, comp := range map[string]Compression{"deflate": Deflate, "store": Store} {
		path, _ := f.build(t, buildOptions{compression: comp})
		mustOK(t, f.verify(t, path))
		archives[name] = path
	}
	archives["golden"] = goldenPath
	if !testing.Short() {
		archives["zip64"] = manyEntries(t, 70_000)
	}
	for name, path := range archives {
		t.Run(name, func(t *testing.T) {
			want := verifierView(t, readFile(t, path))
			if want.err != "" || len(want.files) == 0 {
				t.Fatalf("the verifier does not read the archive: %s", want.err)
			}
			for _, r := range readers {
				if got := r.read(t, path); !got.same(want) {
					t.Errorf("%s: %d files (beyond the verifier's %q), error %q; the verifier reads %d", r.name, len(got.files), got.beyond(want), got.err, len(want.files))
				}
			}
		})
	}
}
