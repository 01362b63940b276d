package config

import (
	"os"
	"path/filepath"
	"strings"
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
	s := &Secrets{
		LookupEnv: func(k string) (string, bool) { v, ok := map[string]string{"TOKEN": "env-canary"}[k]; return v, ok },
		Resolve:   func(p string) string { return filepath.Join(dir, p) },
	}
	for _, tc := range []struct {
		name, env, file, want, wantErr string
	}{
		{name: "env", env: "TOKEN", want: "env-canary"},
		{name: "file", file: "tok", want: "s3cr3t-canary"},
		{name: "missing env", env: "NOPE", wantErr: "environment variable NOPE is not set"},
		{name: "missing file", file: "nope", wantErr: "could not read " + filepath.Join(dir, "nope")},
		{name: "both", env: "TOKEN", file: "tok", wantErr: "not both"},
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
