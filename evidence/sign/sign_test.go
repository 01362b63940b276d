package sign

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

// fixedSigner returns the signer of testdata/fixed.key, a key that never changes so fuzz
// seeds and golden signatures stay valid. It is parsed directly: git does not keep mode 0600,
// so Load would (rightly) refuse the checked-out file.
func fixedSigner(t testing.TB) *Signer {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixed.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := parsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSigner(key, "testdata")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGenerateWritesKeyFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantMode := map[string]fs.FileMode{"": 0o700, KeyFile: 0o600, PublicKeyFile: 0o644, AllowedSignersFile: 0o644}
	for name, want := range wantMode {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		// The umask may only remove bits, never add them: the key must not gain any.
		if got := st.Mode().Perm(); got&^want != 0 || (name == KeyFile && got != want) {
			t.Errorf("%s: mode %04o, want %04o", filepath.Join(dir, name), got, want)
		}
	}
	key, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	if !bytes.HasPrefix(key, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("signing.key is not PKCS#8 PEM: %.40q", key)
	}
	pub, _ := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if !bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Errorf("signing.pub is not SPKI PEM: %.40q", pub)
	}
	allowed, _ := os.ReadFile(filepath.Join(dir, AllowedSignersFile))
	if want := `exhibit namespaces="exhibit-bundle,exhibit-run" ecdsa-sha2-nistp256 AAAA`; !strings.HasPrefix(string(allowed), want) {
		t.Errorf("allowed_signers = %q, want prefix %q", allowed, want)
	}
	if !strings.HasPrefix(s.Fingerprint(), "SHA256:") || len(s.Fingerprint()) != len("SHA256:")+43 {
		t.Errorf("fingerprint %q is not in OpenSSH form", s.Fingerprint())
	}
	for _, f := range [][]byte{pub, allowed} {
		v, err := ParsePublicKey(f)
		if err != nil {
			t.Fatal(err)
		}
		if v.Fingerprint() != s.Fingerprint() {
			t.Errorf("public file has fingerprint %s, key has %s", v.Fingerprint(), s.Fingerprint())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("key directory holds %d entries, want 3 (no temporary files left)", len(entries))
	}

	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Fingerprint() != s.Fingerprint() {
		t.Errorf("Load: fingerprint %s, want %s", loaded.Fingerprint(), s.Fingerprint())
	}
}

func TestGenerateNeverOverwrites(t *testing.T) {
	for _, name := range []string{KeyFile, PublicKeyFile, AllowedSignersFile} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Generate(dir)
			if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "new directory") {
				t.Fatalf("Generate over %s: err = %v, want a refusal that says how to rotate", name, err)
			}
			if got, _ := os.ReadFile(p); string(got) != "precious" {
				t.Errorf("%s was changed to %q", name, got)
			}
		})
	}
}

func TestLoadOrGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k")
	s1, created, err := LoadOrGenerate(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrGenerate: created=%v err=%v, want a new key", created, err)
	}
	s2, created, err := LoadOrGenerate(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrGenerate: created=%v err=%v, want the existing key", created, err)
	}
	if s1.Fingerprint() != s2.Fingerprint() {
		t.Errorf("fingerprints differ: %s then %s", s1.Fingerprint(), s2.Fingerprint())
	}
}

func TestLoadRefuses(t *testing.T) {
	other, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mangle  func(t *testing.T, dir string)
		wantErr string
	}{
		{"group readable key", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, KeyFile), 0o640)
		}, "chmod 600"},
		{"world readable key", func(t *testing.T, dir string) {
			chmod(t, filepath.Join(dir, KeyFile), 0o604)
		}, "accessible by group or others"},
		{"public key of another key", func(t *testing.T, dir string) {
			replace(t, filepath.Join(dir, PublicKeyFile), other.Verifier().PublicKeyPEM())
		}, "does not belong to"},
		{"not PEM", func(t *testing.T, dir string) {
			replace(t, filepath.Join(dir, KeyFile), []byte("hello"))
		}, "not a PEM file"},
		{"public key PEM instead of private", func(t *testing.T, dir string) {
			replace(t, filepath.Join(dir, KeyFile), other.Verifier().PublicKeyPEM())
		}, "want \"PRIVATE KEY\""},
		{"missing key", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Generate(dir); err != nil {
				t.Fatal(err)
			}
			tt.mangle(t, dir)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load: err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadRewritesLostPublicKey(t *testing.T) {
	dir := t.TempDir()
	s, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, PublicKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, s.Verifier().PublicKeyPEM()) {
		t.Errorf("rewritten signing.pub differs from the key's")
	}
}

func chmod(t *testing.T, p string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func replace(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParsePublicKey(t *testing.T) {
	s := fixedSigner(t)
	other, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := s.Verifier()
	tests := []struct {
		name    string
		in      []byte
		wantErr string // empty: must parse to the fixed key
	}{
		{"SPKI PEM", v.PublicKeyPEM(), ""},
		{"authorized key line", v.AuthorizedKey(), ""},
		{"allowed_signers line", v.AllowedSigners(), ""},
		{"allowed_signers with comments and spaces in quotes", append([]byte("# auditors: pin this\n\n"),
			bytes.Replace(v.AllowedSigners(), []byte(`"exhibit-bundle,exhibit-run"`), []byte(`"exhibit-bundle, exhibit-run"`), 1)...), ""},
		{"same key twice", append(v.AuthorizedKey(), v.AllowedSigners()...), ""},
		{"CRLF line endings", bytes.ReplaceAll(v.PublicKeyPEM(), []byte("\n"), []byte("\r\n")), ""},
		{"two different keys", append(v.AuthorizedKey(), other.Verifier().AuthorizedKey()...), "second key"},
		{"empty", nil, "no key found"},
		{"only comments", []byte("# nothing\n"), "no key found"},
		{"private key PEM", mustRead(t, "testdata/fixed.key"), "want \"PUBLIC KEY\""},
		{"trailing data after PEM", append(v.PublicKeyPEM(), "junk"...), "unexpected data"},
		{"ed25519 line", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh1p0Q4n4J0gNsc8qD5bN2l7pYj0X5mFq2y8iD6zq8P x\n"), "only ECDSA P-256"},
		{"key type without data", []byte("ecdsa-sha2-nistp256\n"), "without key data"},
		{"bad base64", []byte("ecdsa-sha2-nistp256 !!!!\n"), "not base64"},
		{"truncated wire key", []byte("ecdsa-sha2-nistp256 AAAAE2VjZHNh\n"), "invalid SSH public key"},
		{"too large", bytes.Repeat([]byte("#"), maxPublicKeyInput+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKey(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(v) || got.Fingerprint() != v.Fingerprint() {
				t.Errorf("parsed key %s, want %s", got.Fingerprint(), v.Fingerprint())
			}
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify(t *testing.T) {
	s := fixedSigner(t)
	other, err := Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	digest := evidence.Sum([]byte("SHA256SUMS content"))
	sig, err := s.Sign(NamespaceRun, digest)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, err := other.Sign(NamespaceRun, digest)
	if err != nil {
		t.Fatal(err)
	}
	bundleSig, err := s.Sign(NamespaceBundle, digest)
	if err != nil {
		t.Fatal(err)
	}
	tampered := digest
	tampered[0] ^= 1
	flipDER := append([]byte(nil), sig.DER...)
	flipDER[len(flipDER)-1] ^= 1

	// An SSHSIG whose signature bytes are altered inside an otherwise valid blob.
	blob, err := unarmorSSHSig(sig.SSH)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parseSSHSig(blob)
	if err != nil {
		t.Fatal(err)
	}
	flippedSig := append([]byte(nil), parsed.signature...)
	flippedSig[len(flippedSig)-1] ^= 1
	flipSSH := armorSSHSig(marshalSSHSig(parsed.publicKey, NamespaceRun, flippedSig))
	sha512Blob := bytes.Replace(blob, []byte("\x00\x00\x00\x06sha256"), []byte("\x00\x00\x00\x06sha512"), 1)

	tests := []struct {
		name    string
		digest  evidence.Digest
		der     []byte
		ssh     []byte
		ns      string
		wantErr string // empty: both verify
	}{
		{"good", digest, sig.DER, sig.SSH, NamespaceRun, ""},
		{"good with CRLF armor", digest, sig.DER, bytes.ReplaceAll(sig.SSH, []byte("\n"), []byte("\r\n")), NamespaceRun, ""},
		{"tampered data", tampered, sig.DER, sig.SSH, NamespaceRun, "does not verify"},
		{"other key", digest, otherSig.DER, otherSig.SSH, NamespaceRun, "not by key"},
		{"wrong namespace", digest, sig.DER, bundleSig.SSH, NamespaceRun, "namespace \"exhibit-bundle\""},
		{"flipped DER", digest, flipDER, sig.SSH, NamespaceRun, "not by key"},
		{"empty DER", digest, nil, sig.SSH, NamespaceRun, "empty DER"},
		{"flipped SSHSIG signature", digest, sig.DER, flipSSH, NamespaceRun, "does not verify"},
		{"sha512 SSHSIG", digest, sig.DER, armorSSHSig(sha512Blob), NamespaceRun, "hashalg=sha256"},
		{"no armor", digest, sig.DER, blob, NamespaceRun, "not an armored"},
		{"truncated armor", digest, sig.DER, sig.SSH[:len(sig.SSH)-40], NamespaceRun, "not an armored"},
		{"truncated blob", digest, sig.DER, armorSSHSig(blob[:len(blob)-5]), NamespaceRun, "truncated"},
		{"trailing blob data", digest, sig.DER, armorSSHSig(append(append([]byte(nil), blob...), 0)), NamespaceRun, "unexpected data"},
		{"version 2", digest, sig.DER, armorSSHSig(bytes.Replace(blob, []byte("SSHSIG\x00\x00\x00\x01"), []byte("SSHSIG\x00\x00\x00\x02"), 1)), NamespaceRun, "version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := s.Verifier()
			errDER := v.VerifyDER(tt.digest, tt.der)
			errSSH := v.VerifySSH(tt.ns, tt.digest, tt.ssh)
			if tt.wantErr == "" {
				if errDER != nil || errSSH != nil {
					t.Fatalf("DER: %v; SSH: %v; want both to verify", errDER, errSSH)
				}
				return
			}
			err := errors.Join(errDER, errSSH)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			for _, e := range []error{errDER, errSSH} {
				if e != nil && !errors.Is(e, ErrBadSignature) {
					t.Errorf("%v does not wrap ErrBadSignature", e)
				}
			}
		})
	}
}

func TestSignRejectsEmptyNamespace(t *testing.T) {
	if _, err := fixedSigner(t).Sign("", evidence.Sum(nil)); err == nil {
		t.Fatal("Sign with an empty namespace succeeded")
	}
}
