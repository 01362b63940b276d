package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// files is a bundle's content by path relative to its top folder, for tampering.
type files struct {
	top   string
	order []string
	data  map[string][]byte
}

func readBundle(t testing.TB, path string) *files {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	fs := &files{data: map[string][]byte{}}
	for _, zf := range zr.File {
		top, rel, _ := strings.Cut(zf.Name, "/")
		fs.top = top
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		fs.order = append(fs.order, rel)
		fs.data[rel] = b
	}
	return fs
}

// first returns the first path with the prefix and suffix, in SHA256SUMS order.
func (fs *files) first(t testing.TB, prefix, suffix string) string {
	t.Helper()
	var names []string
	for n := range fs.data {
		if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no file %s…%s in the bundle", prefix, suffix)
	}
	sort.Strings(names)
	return names[0]
}

func (fs *files) flip(t testing.TB, name string) {
	t.Helper()
	b := append([]byte(nil), fs.data[name]...)
	if len(b) == 0 {
		t.Fatalf("%s is empty", name)
	}
	b[len(b)/2] ^= 0x01
	fs.data[name] = b
}

func (fs *files) set(name string, b []byte) {
	if _, ok := fs.data[name]; !ok {
		fs.order = append(fs.order, name)
	}
	fs.data[name] = b
}

func (fs *files) remove(name string) {
	delete(fs.data, name)
	for i, n := range fs.order {
		if n == name {
			fs.order = append(fs.order[:i], fs.order[i+1:]...)
			break
		}
	}
}

// resign rewrites SHA256SUMS for the current files and signs it with s, replacing the key
// files too: what an attacker with their own key does.
func (fs *files) resign(t testing.TB, s *sign.Signer) {
	t.Helper()
	fs.set(PublicKeyFile, s.Verifier().PublicKeyPEM())
	fs.set(AllowedSignersFile, s.Verifier().AllowedSigners())
	var names []string
	for n := range fs.data {
		if !unsigned[n] {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var sums []byte
	for _, n := range names {
		sums = appendSumLine(sums, sha256.Sum256(fs.data[n]), n)
	}
	sig, err := s.Sign(sign.NamespaceBundle, evidence.Sum(sums))
	if err != nil {
		t.Fatal(err)
	}
	fs.set(SumsFile, sums)
	fs.set(SumsSigFile, sig.DER)
	fs.set(SumsSSHSigFile, sig.SSH)
}

// write zips the files as a tamperer would, with archive/zip.
func (fs *files) write(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tampered.zip")
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(out)
	for _, n := range fs.order {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: fs.top + "/" + n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(fs.data[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return p
}

// unpack extracts a (trusted, test-made) bundle into a new directory and returns the
// bundle folder.
func unpack(t testing.TB, fs *files) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), fs.top)
	for n, b := range fs.data {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// requireTool returns a tool's path, skipping the test if it is missing unless
// EXHIBIT_REQUIRE_TOOLS is set (CI), where a missing tool fails it.
func requireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("EXHIBIT_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (EXHIBIT_REQUIRE_TOOLS is set): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
}

// shell runs a VERIFY.md command in dir with bash and reports its output and success.
func shell(t testing.TB, dir, command string) (string, bool) {
	t.Helper()
	cmd := exec.Command("bash", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("could not run %q: %v", command, err)
		}
		return string(out), false
	}
	return string(out), true
}

// toolResults says which VERIFY.md checks pass on a bundle folder.
type toolResults struct {
	fingerprint string // what the fingerprint command prints
	sshsig      bool
	openssl     bool
	sums        bool // sha256sum
	shasum      bool
	fileList    bool
	runs        bool // every run manifest's signatures, both tools
	chain       bool // each run manifest names the digest of the one before it
}

func runTools(t testing.TB, dir string) toolResults {
	t.Helper()
	var r toolResults
	out, ok := shell(t, dir, VerifyCommands.Fingerprint)
	if ok {
		if fields := strings.Fields(out); len(fields) > 1 {
			r.fingerprint = fields[1]
		}
	}
	_, r.sshsig = shell(t, dir, VerifyCommands.SSHSig)
	_, r.openssl = shell(t, dir, VerifyCommands.OpenSSL)
	_, r.sums = shell(t, dir, VerifyCommands.SumsLinux)
	if _, err := exec.LookPath("shasum"); err == nil {
		_, r.shasum = shell(t, dir, VerifyCommands.SumsMacOS)
	} else {
		r.shasum = r.sums
	}
	out, ok = shell(t, dir, VerifyCommands.FileList)
	r.fileList = ok && strings.Contains(out, "file list matches")
	if out, ok := shell(t, dir, VerifyCommands.NoLinks); !ok || !strings.Contains(out, "only regular files") {
		r.fileList = false
	}
	o1, ok1 := shell(t, dir, VerifyCommands.RunSSHSig)
	o2, ok2 := shell(t, dir, VerifyCommands.RunOpenSSL)
	r.runs = ok1 && ok2 && !strings.Contains(o1+o2, "BAD:")
	out, ok = shell(t, dir, VerifyCommands.Chain)
	r.chain = ok && chainLinked(out)
	return r
}

// chainLinked reads the output of the chain command: each line's previous must be the digest
// on the line before.
func chainLinked(out string) bool {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := 1; i < len(lines); i++ {
		prev, cur := strings.Fields(lines[i-1]), strings.Fields(lines[i])
		if len(prev) != 3 || len(cur) != 3 || cur[2] != `"previous":"`+prev[1]+`"` {
			return false
		}
	}
	return len(lines) > 1
}

func TestTampering(t *testing.T) {
	for _, tool := range []string{"bash", "sha256sum", "openssl", "ssh-keygen", "diff", "find"} {
		requireTool(t, tool)
	}
	f := newFixture(t, fixtureOptions{runs: 2, perRun: 3})
	attacker := newFixture(t, fixtureOptions{runs: 1, perRun: 1}).signer
	path, _ := f.build(t, buildOptions{})
	// An older bundle of the same store and key: a shorter period.
	older := *f
	older.runs = f.runs[:2]
	olderPath, _ := older.build(t, buildOptions{})
	good := f.signer.Fingerprint()

	// What every check says about the genuine bundle.
	want := toolResults{fingerprint: good, sshsig: true, openssl: true, sums: true, shasum: true, fileList: true, runs: true, chain: true}
	if got := runTools(t, unpack(t, readBundle(t, path))); got != want {
		t.Fatalf("standard tools on the genuine bundle: %+v, want %+v", got, want)
	}

	cases := []struct {
		name    string
		tamper  func(t *testing.T, fs *files)
		problem string // a substring of a problem exhibit verify must report
		tools   toolResults
	}{
		{"artefact document byte", func(t *testing.T, fs *files) { fs.flip(t, fs.first(t, "artefacts/", ".json")) },
			"content does not match SHA256SUMS", toolResults{fingerprint: good, sshsig: true, openssl: true, fileList: true, runs: true, chain: true}},
		{"raw body byte", func(t *testing.T, fs *files) { fs.flip(t, fs.first(t, "raw/", "")) },
			"content does not match SHA256SUMS", toolResults{fingerprint: good, sshsig: true, openssl: true, fileList: true, runs: true, chain: true}},
		{"run manifest byte", func(t *testing.T, fs *files) { fs.flip(t, fs.first(t, "runs/", ".json")) },
			"content does not match SHA256SUMS", toolResults{fingerprint: good, sshsig: true, openssl: true, fileList: true}},
		{"run signature replaced", func(t *testing.T, fs *files) {
			name := fs.first(t, "runs/", ".json")
			sig, err := attacker.Sign(sign.NamespaceRun, evidence.Sum(fs.data[name]))
			if err != nil {
				t.Fatal(err)
			}
			fs.set(name+".sig", sig.DER)
		}, "content does not match SHA256SUMS", toolResults{fingerprint: good, sshsig: true, openssl: true, fileList: true, chain: true}},
		{"manifest.json byte", func(t *testing.T, fs *files) { fs.flip(t, ManifestFile) },
			"manifest.json: content does not match", toolResults{fingerprint: good, sshsig: true, openssl: true, fileList: true, runs: true, chain: true}},
		{"report byte", func(t *testing.T, fs *files) { fs.flip(t, "report/index.html") },
			"report/index.html: content does not match", toolResults{fingerprint: good, sshsig: true, openssl: true, fileList: true, runs: true, chain: true}},
		{"VERIFY.md byte", func(t *testing.T, fs *files) { fs.flip(t, VerifyMDFile) },
			"VERIFY.md: content does not match", toolResults{fingerprint: good, sshsig: true, openssl: true, fileList: true, runs: true, chain: true}},
		{"SHA256SUMS byte", func(t *testing.T, fs *files) {
			b := append([]byte(nil), fs.data[SumsFile]...)
			b[0] ^= 0x01 // still hex: '0'↔'1', 'a'↔'`' would not be; pick the first digit
			if b[0] < '0' || b[0] > '9' {
				b[0] = '7'
			}
			fs.set(SumsFile, b)
		}, "SHA256SUMS.sig: does not verify", toolResults{fingerprint: good, fileList: true, runs: true, chain: true}},
		{"SHA256SUMS.sig replaced", func(t *testing.T, fs *files) {
			sig, err := attacker.Sign(sign.NamespaceBundle, evidence.Sum(fs.data[SumsFile]))
			if err != nil {
				t.Fatal(err)
			}
			fs.set(SumsSigFile, sig.DER)
		}, "SHA256SUMS.sig: does not verify", toolResults{fingerprint: good, sshsig: true, sums: true, shasum: true, fileList: true, runs: true, chain: true}},
		{"SHA256SUMS.sshsig replaced", func(t *testing.T, fs *files) {
			sig, err := attacker.Sign(sign.NamespaceBundle, evidence.Sum(fs.data[SumsFile]))
			if err != nil {
				t.Fatal(err)
			}
			fs.set(SumsSSHSigFile, sig.SSH)
		}, "SHA256SUMS.sshsig: does not verify", toolResults{fingerprint: good, openssl: true, sums: true, shasum: true, fileList: true, runs: true, chain: true}},
		{"signing.pub replaced", func(t *testing.T, fs *files) { fs.set(PublicKeyFile, attacker.Verifier().PublicKeyPEM()) },
			"signing.pub: content does not match", toolResults{fingerprint: good, sshsig: true, fileList: true, chain: true}},
		{"file removed", func(t *testing.T, fs *files) { fs.remove(fs.first(t, "artefacts/", ".json")) },
			"missing from the bundle", toolResults{fingerprint: good, sshsig: true, openssl: true, runs: true, chain: true}},
		{"file added", func(t *testing.T, fs *files) { fs.set("artefacts/extra.json", []byte(`{"planted":true}`)) },
			"artefacts/extra.json: not listed in SHA256SUMS", toolResults{fingerprint: good, sshsig: true, openssl: true, sums: true, shasum: true, runs: true, chain: true}},
		{"attacker's key and signatures swapped in together", func(t *testing.T, fs *files) {
			fs.set(fs.first(t, "artefacts/", ".json"), []byte(`{"MinimumPasswordLength":14,"forged":true}`))
			fs.resign(t, attacker)
		}, "not the pinned key", toolResults{fingerprint: attacker.Fingerprint(), sshsig: true, openssl: true, sums: true, shasum: true, fileList: true, chain: true}},
		{"older bundle's signed SHA256SUMS swapped in", func(t *testing.T, fs *files) {
			old := readBundle(t, olderPath)
			for _, n := range []string{SumsFile, SumsSigFile, SumsSSHSigFile} {
				fs.set(n, old.data[n])
			}
		}, "content does not match SHA256SUMS", toolResults{fingerprint: good, sshsig: true, openssl: true, runs: true, chain: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := readBundle(t, path)
			c.tamper(t, fs)
			rep := f.verify(t, fs.write(t))
			wantProblem(t, rep, c.problem)
			if got := runTools(t, unpack(t, fs)); got != c.tools {
				t.Errorf("standard tools: %+v, want %+v", got, c.tools)
			}
		})
	}

	t.Run("archive byte", func(t *testing.T) {
		// Damage the compressed data in place, without re-zipping.
		data := readFile(t, path)
		fs := readBundle(t, path)
		i := bytes.Index(data, []byte(fs.first(t, "artefacts/", ".json")))
		if i < 0 {
			t.Fatal("entry name not found")
		}
		data[i+len(fs.first(t, "artefacts/", ".json"))+20] ^= 0xff
		p := filepath.Join(t.TempDir(), "damaged.zip")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rep := f.verify(t, p)
		if rep.OK() {
			t.Fatal("a damaged archive verified")
		}
		t.Logf("reported: %s", rep.Problems[0])
	})
}

// TestVerifyMarkdown checks VERIFY.md gives the commands the tools tests run and the facts
// the auditor compares.
func TestVerifyMarkdown(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 1})
	path, sum := f.build(t, buildOptions{})
	md := string(readBundle(t, path).data[VerifyMDFile])
	for _, want := range []string{VerifyCommands.Fingerprint, VerifyCommands.SSHSig, VerifyCommands.OpenSSL,
		VerifyCommands.SumsLinux, VerifyCommands.SumsMacOS, VerifyCommands.FileList, VerifyCommands.NoLinks,
		VerifyCommands.RunSSHSig, VerifyCommands.RunOpenSSL, VerifyCommands.Chain,
		f.signer.Fingerprint(), sum.Manifest.LastRun.Manifest.String(), "cd " + sum.Top, "out of band"} {
		if !strings.Contains(md, want) {
			t.Errorf("VERIFY.md lacks %q", want)
		}
	}
	if strings.Contains(md, "&lt;") || strings.Contains(md, "&#") {
		t.Error("VERIFY.md contains HTML escapes")
	}
	fmt.Fprint(io.Discard, md)
}

// TestHashPaths: entries are hashed from runs read whole or, when larger than hashSpan,
// streamed; both find an altered file and accept the genuine ones.
func TestHashPaths(t *testing.T) {
	f := newFixture(t, fixtureOptions{runs: 1, perRun: 3})
	path, _ := f.build(t, buildOptions{})
	fs := readBundle(t, path)
	fs.flip(t, fs.first(t, "raw/", ""))
	tampered := fs.write(t)
	for _, span := range []uint64{1 << 20, 300, 1} {
		t.Run(fmt.Sprint(span), func(t *testing.T) {
			defer func(old uint64) { hashSpan = old }(hashSpan)
			hashSpan = span
			mustOK(t, f.verify(t, path))
			wantProblem(t, f.verify(t, tampered), "content does not match SHA256SUMS")
		})
	}
}
