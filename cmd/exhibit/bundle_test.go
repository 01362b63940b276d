package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/evidence/sign"
)

// bundleFixture seeds two evaluated runs in a fresh data directory and returns the config,
// the key directory and the period flags covering them.
func bundleFixture(t *testing.T) (cfgFile, keyDir string, period []string) {
	t.Helper()
	cfgFile = controlsTestConfig(t, "")
	seedCollection(t, cfgFile, 14)
	seedCollection(t, cfgFile, 8)
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	return cfgFile, cfg.KeyDir(), []string{"--from", now.Add(-3 * time.Hour).Format(time.RFC3339), "--to", now.Format(time.RFC3339)}
}

func TestBundleAndVerifyCommands(t *testing.T) {
	cfgFile, keyDir, period := bundleFixture(t)
	out := filepath.Join(t.TempDir(), "bundle.zip")
	signer, err := sign.Load(keyDir)
	if err != nil {
		t.Fatal(err)
	}
	// A bundle of the same output killed before: its temporary file, no longer locked by
	// its writer, is removed; another output's is not.
	killed := filepath.Join(filepath.Dir(out), ".bundle.zip.tmp-123456")
	otherTemp := filepath.Join(filepath.Dir(out), ".other.zip.tmp-123456")
	for _, p := range []string{killed, otherTemp} {
		os.WriteFile(p, []byte("PK half a bundle"), 0o600)
	}
	stdout, stderr, code := execExhibit(t, append([]string{"--config", cfgFile, "bundle", "--framework", "iso27001-2022", "-o", out}, period...)...)
	if code != 0 {
		t.Fatalf("bundle: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) || !strings.Contains(stderr, "removed "+killed+", left by a bundle that was killed") {
		t.Errorf("the killed bundle's temporary file: %v; stderr: %s", err, stderr)
	}
	if _, err := os.Stat(otherTemp); err != nil {
		t.Errorf("another output's temporary file: %v", err)
	}
	for _, want := range []string{"2 artefacts", "signed by " + signer.Fingerprint(), "verified"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("bundle output lacks %q:\n%s", want, stdout)
		}
	}

	tampered := filepath.Join(t.TempDir(), "tampered.zip")
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tampered, append(data, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	other, err := sign.Generate(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(keyDir, sign.PublicKeyFile)
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"pinned key", []string{out, "--key", pub}, 0, "valid", ""},
		{"pinned allowed_signers", []string{out, "--key", filepath.Join(keyDir, sign.AllowedSignersFile)}, 0, "(pinned)", ""},
		{"pinned fingerprint", []string{out, "--fingerprint", signer.Fingerprint()}, 0, "signed by " + signer.Fingerprint(), ""},
		{"not pinned", []string{out}, 2, "", "--key"},
		{"unsafe trust", []string{out, "--unsafe-trust-bundle-key"}, 0, "NOT PINNED", "WARNING: TRUST WAS NOT PINNED"},
		{"another key", []string{out, "--key", filepath.Join(other.Dir(), sign.PublicKeyFile)}, 1, "INVALID", ""},
		{"another fingerprint", []string{out, "--fingerprint", other.Fingerprint()}, 1, "not the pinned", ""},
		{"tampered", []string{tampered, "--key", pub}, 1, "INVALID", ""},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.zip"), "--key", pub}, 2, "", "could not open the bundle"},
		{"unreadable key", []string{out, "--key", filepath.Join(t.TempDir(), "nope.pub")}, 2, "", "could not read the key"},
		{"conflicting trust", []string{out, "--key", pub, "--unsafe-trust-bundle-key"}, 2, "", "cannot be combined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := execExhibit(t, append([]string{"verify"}, c.args...)...)
			if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout %q, stderr %q", code, c.code, stdout, stderr, c.stdout, c.stderr)
			}
		})
	}

	t.Run("bundle refuses", func(t *testing.T) {
		for _, c := range []struct {
			name string
			args []string
			want string
		}{
			{"existing output", []string{"--framework", "iso27001-2022", "-o", out}, "already exists"},
			{"unknown framework", []string{"--framework", "nist", "-o", filepath.Join(t.TempDir(), "x.zip")}, "nist"},
			{"empty period", []string{"--framework", "iso27001-2022", "-o", filepath.Join(t.TempDir(), "x.zip"), "--from", "2001-01-01", "--to", "2001-01-02"}, "no sealed run"},
		} {
			t.Run(c.name, func(t *testing.T) {
				args := append([]string{"--config", cfgFile, "bundle"}, append(period, c.args...)...)
				_, stderr, code := execExhibit(t, args...)
				if code != 1 || !strings.Contains(stderr, c.want) {
					t.Errorf("exit %d, stderr %s; want 1 and %q", code, stderr, c.want)
				}
			})
		}
		if after, _ := os.ReadFile(out); string(after) != string(data) {
			t.Error("a refused bundle changed the existing file")
		}
	})
}

func TestBundleWithoutKey(t *testing.T) {
	cfgFile := controlsTestConfig(t, "")
	_, stderr, code := execExhibit(t, "--config", cfgFile, "bundle", "--framework", "iso27001-2022",
		"--from", "2026-11-01", "--to", "2026-11-30", "-o", filepath.Join(t.TempDir(), "b.zip"))
	if code != 1 || !strings.Contains(stderr, "signing key") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

func TestVerifyHelpDocumentsExitCodes(t *testing.T) {
	for _, c := range [][]string{{"verify", "--help"}, {"bundle", "--help"}} {
		stdout, _, code := execExhibit(t, c...)
		if code != 0 || !strings.Contains(stdout, "Exit codes:") || !strings.Contains(stdout, "  1  ") {
			t.Errorf("%s --help does not document exit codes:\n%s", c[0], stdout)
		}
	}
}
