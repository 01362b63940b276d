package sign

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

// These tests run the standard tools an auditor uses against our signatures, and our
// verifier against signatures made by those tools, so the two formats stay interoperable.

// requireTool returns the path of a command-line tool. Without it the test is skipped,
// unless EXHIBIT_REQUIRE_TOOLS is set (CI), where a missing tool is a failure:
// apt-get install openssh-client openssl.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("EXHIBIT_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (EXHIBIT_REQUIRE_TOOLS is set): %v; install openssh-client and openssl", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// runTool runs a command with stdin and returns its combined output and whether it exited 0.
func runTool(t *testing.T, stdin []byte, name string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("could not run %s: %v", name, err)
		}
		return string(out), false
	}
	return string(out), true
}

func writeFile(t *testing.T, p string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFingerprintMatchesSSHKeygen(t *testing.T) {
	sshKeygen := requireTool(t, "ssh-keygen")
	dir := t.TempDir()
	s, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	pubLine := writeFile(t, filepath.Join(t.TempDir(), "id.pub"), s.Verifier().AuthorizedKey())
	for name, file := range map[string]string{
		"private key (PKCS#8 PEM)": filepath.Join(dir, KeyFile),
		"OpenSSH public key line":  pubLine,
	} {
		t.Run(name, func(t *testing.T) {
			out, ok := runTool(t, nil, sshKeygen, "-l", "-E", "sha256", "-f", file)
			if !ok {
				t.Fatalf("ssh-keygen -l failed: %s", out)
			}
			// "256 SHA256:… comment (ECDSA)"
			fields := strings.Fields(out)
			if len(fields) < 2 || fields[1] != s.Fingerprint() {
				t.Errorf("ssh-keygen -l printed %q, our fingerprint is %s", out, s.Fingerprint())
			}
		})
	}
}

func TestStandardToolsVerifyOurSignatures(t *testing.T) {
	openssl := requireTool(t, "openssl")
	sshKeygen := requireTool(t, "ssh-keygen")
	dir := t.TempDir()
	s, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if _, err := Generate(otherDir); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	msg := []byte("3f9a…  artefacts/aws/iam/password_policy.json\n")
	msgFile := writeFile(t, filepath.Join(work, "SHA256SUMS"), msg)
	tamperedFile := writeFile(t, filepath.Join(work, "SHA256SUMS.tampered"), append([]byte("x"), msg...))
	sig, err := s.Sign(NamespaceBundle, evidence.Sum(msg))
	if err != nil {
		t.Fatal(err)
	}
	derFile := writeFile(t, filepath.Join(work, "SHA256SUMS.sig"), sig.DER)
	sshFile := writeFile(t, filepath.Join(work, "SHA256SUMS.sshsig"), sig.SSH)

	tests := []struct {
		name   string
		stdin  []byte
		tool   string
		args   []string
		wantOK bool
	}{
		{"openssl verifies", nil, openssl, []string{"dgst", "-sha256", "-verify", filepath.Join(dir, PublicKeyFile), "-signature", derFile, msgFile}, true},
		{"openssl rejects tampered data", nil, openssl, []string{"dgst", "-sha256", "-verify", filepath.Join(dir, PublicKeyFile), "-signature", derFile, tamperedFile}, false},
		{"openssl rejects other key", nil, openssl, []string{"dgst", "-sha256", "-verify", filepath.Join(otherDir, PublicKeyFile), "-signature", derFile, msgFile}, false},
		{"ssh-keygen verifies", msg, sshKeygen, []string{"-Y", "verify", "-f", filepath.Join(dir, AllowedSignersFile), "-I", Principal, "-n", NamespaceBundle, "-s", sshFile}, true},
		{"ssh-keygen rejects tampered data", append([]byte("x"), msg...), sshKeygen, []string{"-Y", "verify", "-f", filepath.Join(dir, AllowedSignersFile), "-I", Principal, "-n", NamespaceBundle, "-s", sshFile}, false},
		{"ssh-keygen rejects other key", msg, sshKeygen, []string{"-Y", "verify", "-f", filepath.Join(otherDir, AllowedSignersFile), "-I", Principal, "-n", NamespaceBundle, "-s", sshFile}, false},
		{"ssh-keygen rejects other namespace", msg, sshKeygen, []string{"-Y", "verify", "-f", filepath.Join(dir, AllowedSignersFile), "-I", Principal, "-n", NamespaceRun, "-s", sshFile}, false},
		{"ssh-keygen rejects other principal", msg, sshKeygen, []string{"-Y", "verify", "-f", filepath.Join(dir, AllowedSignersFile), "-I", "mallory", "-n", NamespaceBundle, "-s", sshFile}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, ok := runTool(t, tt.stdin, tt.tool, tt.args...)
			if ok != tt.wantOK {
				t.Fatalf("%s %s: ok=%v, want %v; output: %s", filepath.Base(tt.tool), strings.Join(tt.args, " "), ok, tt.wantOK, out)
			}
			if tt.wantOK && !strings.Contains(out, "Verified OK") && !strings.Contains(out, "Good \"exhibit-") {
				t.Errorf("unexpected success output: %s", out)
			}
		})
	}
}

func TestVerifierAcceptsStandardToolSignatures(t *testing.T) {
	openssl := requireTool(t, "openssl")
	sshKeygen := requireTool(t, "ssh-keygen")
	work := t.TempDir()
	msg := []byte("run manifest bytes\n")
	digest := evidence.Sum(msg)
	msgFile := writeFile(t, filepath.Join(work, "manifest.json"), msg)

	// An ECDSA key made by ssh-keygen, signing with sha256 (and, separately, its default).
	sshKey := filepath.Join(work, "id_ecdsa")
	if out, ok := runTool(t, nil, sshKeygen, "-q", "-t", "ecdsa", "-b", "256", "-N", "", "-C", "auditor", "-f", sshKey); !ok {
		t.Fatalf("ssh-keygen -t ecdsa: %s", out)
	}
	sshVerifier, err := ParsePublicKey(mustRead(t, sshKey+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(hashalg string) []byte {
		args := []string{"-Y", "sign", "-f", sshKey, "-n", NamespaceRun}
		if hashalg != "" {
			args = append(args, "-O", "hashalg="+hashalg)
		}
		out, ok := runTool(t, nil, sshKeygen, append(args, msgFile)...)
		if !ok {
			t.Fatalf("ssh-keygen -Y sign: %s", out)
		}
		sig := mustRead(t, msgFile+".sig")
		if err := os.Remove(msgFile + ".sig"); err != nil {
			t.Fatal(err)
		}
		return sig
	}
	sha256Sig := sign("sha256")
	defaultSig := sign("")

	// A P-256 key made by openssl, signing with openssl dgst.
	pemKey := filepath.Join(work, "openssl.key")
	if out, ok := runTool(t, nil, openssl, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pemKey); !ok {
		t.Fatalf("openssl genpkey: %s", out)
	}
	pemPub := filepath.Join(work, "openssl.pub")
	if out, ok := runTool(t, nil, openssl, "pkey", "-in", pemKey, "-pubout", "-out", pemPub); !ok {
		t.Fatalf("openssl pkey: %s", out)
	}
	derSig := filepath.Join(work, "manifest.sig")
	if out, ok := runTool(t, nil, openssl, "dgst", "-sha256", "-sign", pemKey, "-out", derSig, msgFile); !ok {
		t.Fatalf("openssl dgst -sign: %s", out)
	}
	opensslVerifier, err := ParsePublicKey(mustRead(t, pemPub))
	if err != nil {
		t.Fatal(err)
	}
	tampered := digest
	tampered[31] ^= 0x80

	tests := []struct {
		name    string
		verify  func() error
		wantErr string
	}{
		{"ssh-keygen sha256 SSHSIG", func() error { return sshVerifier.VerifySSH(NamespaceRun, digest, sha256Sig) }, ""},
		{"ssh-keygen SSHSIG, tampered data", func() error { return sshVerifier.VerifySSH(NamespaceRun, tampered, sha256Sig) }, "does not verify"},
		{"ssh-keygen SSHSIG, other namespace", func() error { return sshVerifier.VerifySSH(NamespaceBundle, digest, sha256Sig) }, "namespace"},
		{"ssh-keygen SSHSIG, other key", func() error { return opensslVerifier.VerifySSH(NamespaceRun, digest, sha256Sig) }, "made by key"},
		{"ssh-keygen default sha512 is refused clearly", func() error { return sshVerifier.VerifySSH(NamespaceRun, digest, defaultSig) }, "hashalg=sha256"},
		{"openssl DER", func() error { return opensslVerifier.VerifyDER(digest, mustRead(t, derSig)) }, ""},
		{"openssl DER, tampered data", func() error { return opensslVerifier.VerifyDER(tampered, mustRead(t, derSig)) }, "not by key"},
		{"openssl DER, other key", func() error { return sshVerifier.VerifyDER(digest, mustRead(t, derSig)) }, "not by key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.verify()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	// A key generated by openssl is a valid key directory for Exhibit, with the same fingerprint
	// ssh-keygen computes from it.
	keyDir := t.TempDir()
	writeFile(t, filepath.Join(keyDir, KeyFile), mustRead(t, pemKey))
	s, err := Load(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Verifier().Equal(opensslVerifier) {
		t.Errorf("loaded key %s, want %s", s.Fingerprint(), opensslVerifier.Fingerprint())
	}
}
