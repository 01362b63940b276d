package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// custodyConfig writes a config whose data_dir is a fresh directory and returns its path
// and the data directory.
func custodyConfig(t *testing.T) (cfgFile, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfgFile = filepath.Join(dir, "exhibit.yaml")
	if err := os.WriteFile(cfgFile, []byte("data_dir: "+dataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgFile, dataDir
}

func TestKeysGenerateAndFingerprint(t *testing.T) {
	cfg, data := custodyConfig(t)
	keyDir := filepath.Join(data, "keys")

	out, errOut, code := execExhibit(t, "--config", cfg, "keys", "generate")
	if code != 0 {
		t.Fatalf("keys generate: exit %d: %s", code, errOut)
	}
	s, err := sign.Load(keyDir)
	if err != nil {
		t.Fatalf("the generated key does not load from %s: %v", keyDir, err)
	}
	for _, want := range []string{s.Fingerprint(), filepath.Join(keyDir, "signing.key"), filepath.Join(keyDir, "signing.pub"), filepath.Join(keyDir, "allowed_signers")} {
		if !strings.Contains(out, want) {
			t.Errorf("keys generate output lacks %q:\n%s", want, out)
		}
	}

	out, errOut, code = execExhibit(t, "--config", cfg, "keys", "fingerprint")
	if code != 0 || out != s.Fingerprint()+"\n" {
		t.Errorf("keys fingerprint: exit %d, %q (%s); want %s", code, out, errOut, s.Fingerprint())
	}

	// A second generate refuses, leaves the key alone and says how to rotate.
	before, _ := os.ReadFile(filepath.Join(keyDir, "signing.key"))
	_, errOut, code = execExhibit(t, "--config", cfg, "keys", "generate")
	if code == 0 || !strings.Contains(errOut, "already exists") || !strings.Contains(errOut, "--dir") || !strings.Contains(errOut, "signing.key_dir") {
		t.Errorf("second keys generate: exit %d, %q; want a refusal that says how to rotate", code, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(keyDir, "signing.key")); !bytes.Equal(before, after) {
		t.Error("second keys generate changed the key")
	}

	// --dir generates elsewhere, e.g. to rotate.
	other := filepath.Join(t.TempDir(), "new-keys")
	out, _, code = execExhibit(t, "--config", cfg, "keys", "generate", "--dir", other)
	if code != 0 || !strings.Contains(out, filepath.Join(other, "signing.key")) {
		t.Errorf("keys generate --dir: exit %d, %s", code, out)
	}
	out, _, _ = execExhibit(t, "keys", "fingerprint", "--dir", other)
	if strings.TrimSpace(out) == s.Fingerprint() || !strings.HasPrefix(out, "SHA256:") {
		t.Errorf("fingerprint of the new key: %q", out)
	}
}

func TestKeysFingerprintWithoutKey(t *testing.T) {
	cfg, _ := custodyConfig(t)
	_, errOut, code := execExhibit(t, "--config", cfg, "keys", "fingerprint")
	if code == 0 || !strings.Contains(errOut, "exhibit keys generate") {
		t.Errorf("keys fingerprint without a key: exit %d, %q", code, errOut)
	}
}
