package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLoadFixtures(t *testing.T) {
	// Each bad fixture's error must name the file and line and say what is wrong.
	wantErr := map[string]string{
		"unknown-key.bad.yaml":         `unknown-key.bad.yaml:6: unknown key "regoin" in store.s3 (did you mean "region"?)`,
		"inline-secret.bad.yaml":       `inline-secret.bad.yaml:5: unknown key "secret_key" in store.s3`,
		"bad-store-type.bad.yaml":      `bad-store-type.bad.yaml:2: store.type: unknown store type "ftp"`,
		"object-lock.bad.yaml":         `object-lock.bad.yaml:6: store.s3.object_lock.mode: "compliance" is not an Object Lock mode`,
		"cron.bad.yaml":                `cron.bad.yaml:4: connectors[0].schedule: invalid schedule "61 2 * * *"`,
		"duplicate-connector.bad.yaml": `duplicate-connector.bad.yaml:4: connectors[1].name: "aws" is already used by connectors[0]`,
		"duplicate-key.bad.yaml":       `duplicate-key.bad.yaml:2: mapping key "data_dir" already defined at line 1`,
		"type-error.bad.yaml":          `type-error.bad.yaml:2: cannot unmarshal !!str ` + "`many`" + ` into int`,
		"syntax.bad.yaml":              `syntax.bad.yaml:2: did not find expected key`,
		"disabled-no-reason.bad.yaml":  `disabled-no-reason.bad.yaml:3: controls.disabled[0].justification: is required`,
		"timezone.bad.yaml":            `timezone.bad.yaml:2: schedule.time_zone: unknown time zone "Mars/Olympus"`,
		"every-negative.bad.yaml":      `every-negative.bad.yaml:2: schedule.default: invalid schedule "@every -1h": the interval must be at least 1m0s`,
		"every-zero.bad.yaml":          `every-zero.bad.yaml:4: connectors[0].schedule: invalid schedule "@every 0s": the interval must be at least 1m0s`,
		"every-1ns.bad.yaml":           `every-1ns.bad.yaml:2: schedule.default: invalid schedule "@every 1ns": the interval must be at least 1m0s`,
		"jitter.bad.yaml":              `jitter.bad.yaml:2: schedule.jitter: must be between 0 and 24h0m0s, got 1000000h0m0s`,
		"python-tag.bad.yaml":          `python-tag.bad.yaml:5: YAML tag !!python/object/apply:os.system is not allowed in a config`,
		"local-tag.bad.yaml":           `local-tag.bad.yaml:1: YAML tag !secret is not allowed in a config`,
		"request-timeout.bad.yaml":     `request-timeout.bad.yaml:4: connectors[0].request_timeout: must be between 1s and the instance's timeout (30m0s), got 1ms`,
	}
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			_, err := Load(f)
			switch {
			case strings.HasSuffix(name, ".good.yaml"):
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
			case strings.HasSuffix(name, ".bad.yaml"):
				seen++
				want, ok := wantErr[name]
				if !ok {
					t.Fatalf("no expected error listed for %s", name)
				}
				if err == nil {
					t.Fatalf("Load succeeded, want error %q", want)
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error\n  %v\nwant it to contain\n  %s", err, want)
				}
			}
		})
	}
	if seen != len(wantErr) {
		t.Errorf("ran %d bad fixtures, %d expected errors listed", seen, len(wantErr))
	}
}

func TestLoadRefusesWhatIsNotAConfigFile(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.yaml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("data_dir: data\n")
	f.Truncate(MaxConfigSize + 1) // a sparse file: no need to write it
	f.Close()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var many strings.Builder
	many.WriteString("connectors:\n")
	for i := 0; i <= MaxConnectors; i++ {
		fmt.Fprintf(&many, "  - {name: c%d, type: aws}\n", i)
	}
	manyFile := filepath.Join(dir, "many.yaml")
	os.WriteFile(manyFile, []byte(many.String()), 0o644)
	for _, tc := range []struct{ path, want string }{
		{"/dev/zero", "could not read config: read /dev/zero: not a regular file (a character device)"},
		{fifo, "could not read config: read " + fifo + ": not a regular file (a FIFO)"},
		{dir, "could not read config: read " + dir + ": not a regular file (a directory)"},
		{huge, fmt.Sprintf("could not read config: read %s: %d bytes, more than the %d", huge, MaxConfigSize+1, MaxConfigSize)},
		{manyFile, fmt.Sprintf("many.yaml:1: connectors: %d connector instances, more than the %d a config may have", MaxConnectors+1, MaxConnectors)},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			_, err := Load(tc.path) // returns at once: a FIFO without a writer must not block
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDefaultNeedsNoFile(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Type != "fs" || c.DataDir != DefaultDataDir {
		t.Errorf("default store %q in %q, want fs in %q", c.Store.Type, c.DataDir, DefaultDataDir)
	}
	wd, _ := os.Getwd()
	if got, want := c.StoreDir(), filepath.Join(wd, "exhibit-data", "store"); got != want {
		t.Errorf("StoreDir = %s, want %s", got, want)
	}
}

func TestRelativePathsFollowTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "exhibit.yaml")
	if err := os.WriteFile(f, []byte("data_dir: data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.KeyDir(), filepath.Join(dir, "data", "keys"); got != want {
		t.Errorf("KeyDir = %s, want %s", got, want)
	}
}

func TestSettingsDecodeStrict(t *testing.T) {
	c, err := Parse("cfg.yaml", []byte(`connectors:
  - name: gh
    type: github
    settings:
      orgs: [acme]
      repos:
        include: ["*"]
        exlude: [tmp-*]
`))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Orgs  []string `yaml:"orgs"`
		Repos struct {
			Include []string `yaml:"include"`
			Exclude []string `yaml:"exclude"`
		} `yaml:"repos"`
	}
	err = c.SettingsFor(0).Decode(&s)
	want := `cfg.yaml:8: unknown key "exlude" in connectors[0].settings.repos (did you mean "exclude"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("Decode error = %v, want %s", err, want)
	}
	err = c.SettingsFor(0).Errorf("orgs[0]", "organisation %q not found", "acme")
	if want := `cfg.yaml:5: connectors[0].settings.orgs[0]: organisation "acme" not found`; err.Error() != want {
		t.Errorf("Errorf = %v, want %s", err, want)
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tok"), []byte("s3cr3t-canary\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, MaxSecretSize+1), 0o600)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Secrets{
		LookupEnv: func(k string) (string, bool) { v, ok := map[string]string{"TOKEN": "env-canary"}[k]; return v, ok },
		Resolve: func(p string) string {
			if filepath.IsAbs(p) {
				return p
			}
			return filepath.Join(dir, p)
		},
	}
	for _, tc := range []struct {
		name, env, file, want, wantErr string
	}{
		{name: "env", env: "TOKEN", want: "env-canary"},
		{name: "file", file: "tok", want: "s3cr3t-canary"},
		{name: "missing env", env: "NOPE", wantErr: "environment variable NOPE is not set"},
		{name: "missing file", file: "nope", wantErr: "could not read " + filepath.Join(dir, "nope")},
		{name: "both", env: "TOKEN", file: "tok", wantErr: "not both"},
		{name: "device", file: "/dev/zero", wantErr: "token: could not read /dev/zero: not a regular file (a character device)"},
		{name: "fifo", file: "fifo", wantErr: "fifo: not a regular file (a FIFO)"},
		{name: "too large", file: "big", wantErr: fmt.Sprintf("more than the %d a file here may have", MaxSecretSize)},
		{name: "none", wantErr: "not configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Secret("token", tc.env, tc.file)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "canary") {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
