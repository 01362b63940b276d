package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/s3/miniotest"
)

// fakeFactory is a test connector type ("fake"): it emits `count` small documents and,
// with `fail: true`, then fails (a gap for the instance). Not a mock of an upstream.
type fakeFactory struct{}

type fakeSettings struct {
	Count int    `yaml:"count"`
	Fail  string `yaml:"fail"`
	// Hang, after the documents, prints "emitted" and blocks until the process is killed.
	Hang bool `yaml:"hang"`
}

func (fakeFactory) Type() string                        { return "fake" }
func (fakeFactory) Version() string                     { return "1" }
func (fakeFactory) Kinds() []connector.Kind             { return []connector.Kind{{Name: "fake.thing"}} }
func (fakeFactory) Permissions() []connector.Permission { return nil }
func (fakeFactory) New(s connector.Settings, o connector.Options) (connector.Connector, error) {
	var fs fakeSettings
	if err := s.Decode(&fs); err != nil {
		return nil, err
	}
	if fs.Count < 0 {
		return nil, s.Errorf("count", "must not be negative")
	}
	return &fakeConnector{s: fs, instance: o.Instance}, nil
}

type fakeConnector struct {
	s        fakeSettings
	instance string
}

func (c *fakeConnector) Collect(ctx context.Context, emit func(evidence.Artefact) error) error {
	for i := 0; i < c.s.Count; i++ {
		doc := fmt.Sprintf(`{"instance":%q,"i":%d}`, c.instance, i)
		if err := emit(evidence.Artefact{Kind: "fake.thing", Subject: fmt.Sprintf("fake:%s:%d", c.instance, i), Document: []byte(doc)}); err != nil {
			return err
		}
	}
	if c.s.Hang {
		fmt.Println("emitted")
		<-ctx.Done()
		select {} // ignores its context, like a stuck SDK call: only kill -9 ends it
	}
	if c.s.Fail != "" {
		return errors.New(c.s.Fail)
	}
	return nil
}

// withFakeRegistry makes the commands know the fake connector type.
func withFakeRegistry(t *testing.T) {
	t.Helper()
	old := connectorRegistry
	connectorRegistry = func() *connector.Registry { return connector.NewRegistry(fakeFactory{}) }
	t.Cleanup(func() { connectorRegistry = old })
	anyRuleKinds(t) // the built-in rules judge kinds of connectors the fake registry lacks
}

// collectConfig writes a config with a fresh data directory and the given connectors YAML.
func collectConfig(t *testing.T, connectors string) (cfgFile, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfgFile = filepath.Join(dir, "exhibit.yaml")
	text := "data_dir: " + dataDir + "\nlog:\n  level: warn\n" + connectors
	if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgFile, dataDir
}

// execExhibit runs exhibit with args as main does, returning output and exit code.
func execExhibit(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			errb.WriteString("exhibit: " + ee.err.Error() + "\n")
		}
	default:
		code = 1
		errb.WriteString("exhibit: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), code
}

const twoConnectors = `connectors:
  - name: alpha
    type: fake
    settings:
      count: 3
  - name: beta
    type: fake
    settings:
      count: 2
`

func TestCollectExitCodesAndSummary(t *testing.T) {
	withFakeRegistry(t)
	tests := []struct {
		name       string
		connectors string
		args       []string
		code       int
		stdout     []string
		stderr     string
	}{
		{"complete", twoConnectors, nil, 0, []string{": complete — 5 artefacts, 0 gaps", "alpha", "beta"}, ""},
		{"one connector", twoConnectors, []string{"--connector", "beta"}, 0, []string{": complete — 2 artefacts"}, ""},
		{"partial", `connectors:
  - name: alpha
    type: fake
    settings: {count: 2, fail: "could not list widgets: 500"}
  - name: beta
    type: fake
    settings: {count: 1}
`, nil, 3, []string{": partial — 4 artefacts, 1 gap", "fake.collection", "could not list widgets: 500"}, ""},
		{"failed", `connectors:
  - name: alpha
    type: fake
    settings: {count: 0, fail: "401 Unauthorized"}
`, nil, 1, []string{": failed — 1 artefact, 1 gap"}, ""},
		{"invalid settings with file:line before the run", `connectors:
  - name: alpha
    type: fake
    settings:
      cuont: 2
`, nil, 1, nil, `exhibit.yaml:8: unknown key "cuont" in connectors[0].settings (did you mean "count"?)`},
		{"unknown connector type", `connectors:
  - name: alpha
    type: fakes
`, nil, 1, nil, `exhibit.yaml:6: connectors[0].type: unknown connector type "fakes" (known: fake)`},
		{"invalid cron", `connectors:
  - name: alpha
    type: fake
    schedule: "61 * * * *"
`, nil, 1, nil, `exhibit.yaml:7: connectors[0].schedule: invalid schedule "61 * * * *"`},
		{"bad rules file before the run", "controls:\n  rules: [/dev/zero]\n" + twoConnectors, nil, 1, nil,
			`exhibit.yaml:5: controls.rules[0]: could not read rules file: read /dev/zero: not a regular file (a character device)`},
		{"unknown --connector", twoConnectors, []string{"--connector", "gamma"}, 1, nil, "unknown connector gamma (configured: alpha, beta)"},
		{"no connectors", "", nil, 1, nil, "no connectors to run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, dataDir := collectConfig(t, tc.connectors)
			out, errOut, code := execExhibit(t, append([]string{"--config", cfg, "collect"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if tc.stdout == nil {
				// Refused before anything ran: no store, index or signing key left behind.
				if _, err := os.Stat(dataDir); err == nil {
					t.Errorf("%s was created by a collect that was refused", dataDir)
				}
			}
			for _, want := range tc.stdout {
				if !strings.Contains(out, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, out)
				}
			}
			if tc.stderr != "" && !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tc.stderr, errOut)
			}
		})
	}
}

func TestRunsListShowAndReindex(t *testing.T) {
	withFakeRegistry(t)
	cfg, _ := collectConfig(t, `connectors:
  - name: alpha
    type: fake
    settings: {count: 2, fail: "throttled by upstream"}
`)
	for i := 0; i < 2; i++ {
		if _, errOut, code := execExhibit(t, "--config", cfg, "collect"); code != 3 {
			t.Fatalf("collect %d: exit %d: %s", i, code, errOut)
		}
	}
	listJSON := func() []runJSON {
		t.Helper()
		out, errOut, code := execExhibit(t, "--config", cfg, "runs", "list", "--format", "json")
		if code != 0 {
			t.Fatalf("runs list: exit %d: %s", code, errOut)
		}
		var runs []runJSON
		if err := json.Unmarshal([]byte(out), &runs); err != nil {
			t.Fatalf("runs list json: %v\n%s", err, out)
		}
		return runs
	}
	runs := listJSON()
	if len(runs) != 2 || runs[0].Previous != runs[1].Manifest || runs[0].Outcome != "partial" || runs[0].Artefacts != 3 || runs[0].Gaps != 1 {
		t.Fatalf("runs list: %+v", runs)
	}
	out, _, code := execExhibit(t, "--config", cfg, "runs", "list")
	if code != 0 || !strings.Contains(out, runs[0].ID) || !strings.Contains(out, "partial") {
		t.Errorf("runs list text:\n%s", out)
	}
	out, errOut, code := execExhibit(t, "--config", cfg, "runs", "show", runs[1].ID)
	if code != 0 || !strings.Contains(out, "fake.collection") || !strings.Contains(out, "throttled by upstream") || !strings.Contains(out, runs[1].Manifest) {
		t.Errorf("runs show (exit %d):\n%s%s", code, out, errOut)
	}
	out, _, code = execExhibit(t, "--config", cfg, "runs", "show", runs[0].Manifest[:10], "--format", "json")
	var shown runJSON
	if code != 0 || json.Unmarshal([]byte(out), &shown) != nil || shown.ID != runs[0].ID || len(shown.GapList) != 1 || len(shown.Connectors) != 1 {
		t.Errorf("runs show by manifest prefix: %s", out)
	}
	if _, errOut, code := execExhibit(t, "--config", cfg, "runs", "show", "nope"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("runs show unknown: exit %d %s", code, errOut)
	}

	// Delete the index: reindex rebuilds the same runs from the store.
	_, data := filepath.Split(cfg)
	_ = data
	cfgDir := filepath.Dir(cfg)
	for _, f := range []string{"index.db", "index.db-wal", "index.db-shm"} {
		os.Remove(filepath.Join(cfgDir, "data", f))
	}
	if got := listJSON(); len(got) != 0 {
		t.Fatalf("%d runs in a fresh index", len(got))
	}
	out, errOut, code = execExhibit(t, "--config", cfg, "reindex")
	if code != 0 || !strings.Contains(out, "indexed 2 runs, 6 artefacts") {
		t.Fatalf("reindex: exit %d\n%s%s", code, out, errOut)
	}
	again := listJSON()
	if len(again) != 2 {
		t.Fatalf("runs after reindex: %+v", again)
	}
	for i := range runs {
		if again[i].ID != runs[i].ID || again[i].Manifest != runs[i].Manifest || again[i].Artefacts != runs[i].Artefacts || again[i].Gaps != runs[i].Gaps {
			t.Errorf("run %d after reindex %+v, before %+v", i, again[i], runs[i])
		}
	}
}

// TestMain lets the test binary hold a data directory's lock as another process would.
func TestMain(m *testing.M) {
	if cfg := os.Getenv("EXHIBIT_TEST_COLLECT"); cfg != "" {
		// exhibit collect with the fake connectors, as a process of its own.
		connectorRegistry = func() *connector.Registry { return connector.NewRegistry(fakeFactory{}) }
		controlsKnownKinds = nil
		os.Exit(run(context.Background(), []string{"--config", cfg, "collect"}))
	}
	if at := os.Getenv("EXHIBIT_TEST_KILL_AT"); at != "" {
		os.Exit(killableExhibit(at, os.Getenv("EXHIBIT_TEST_ARGS")))
	}
	if dir := os.Getenv("EXHIBIT_TEST_HOLD_LOCK"); dir != "" {
		l, err := lock.Acquire(context.Background(), dir, 0, "exhibit serve")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		bufio.NewReader(os.Stdin).ReadString('\n')
		l.Release()
		os.Exit(0)
	}
	code := m.Run()
	miniotest.Stop()
	os.Exit(code)
}

func TestSecondCollectIsRefused(t *testing.T) {
	withFakeRegistry(t)
	cfg, data := collectConfig(t, twoConnectors)
	os.MkdirAll(data, 0o700)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_TEST_HOLD_LOCK="+data)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper: %q", line)
	}
	_, errOut, code := execExhibit(t, "--config", cfg, "collect")
	if code != collectExitLocked || !strings.Contains(errOut, fmt.Sprintf("pid %d", cmd.Process.Pid)) || !strings.Contains(errOut, "exhibit serve") {
		t.Fatalf("exit %d, want %d naming the holder: %s", code, collectExitLocked, errOut)
	}
	// Nothing was written: no run in the index.
	out, _, _ := execExhibit(t, "--config", cfg, "runs", "list", "--format", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("runs after a refused collect: %s", out)
	}
}

func TestKilledCollectIsRecoveredAndCheckStaysClean(t *testing.T) {
	withFakeRegistry(t)
	cfg, data := collectConfig(t, twoConnectors)
	if _, errOut, code := execExhibit(t, "--config", cfg, "collect"); code != 0 {
		t.Fatalf("first collect: exit %d: %s", code, errOut)
	}
	// A second collect is killed (kill -9) in the middle of its run.
	hanging, _ := collectConfig(t, "")
	os.Remove(hanging)
	text, _ := os.ReadFile(cfg)
	if err := os.WriteFile(hanging, []byte(strings.Replace(string(text), "count: 3", "count: 3\n      hang: true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_TEST_COLLECT="+hanging)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "emitted" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("collect process said %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// The next collect seals the killed run as interrupted, then chains onto it.
	out, errOut, code := execExhibit(t, "--config", cfg, "collect")
	if code != 0 || !strings.Contains(out, "recovered run") || !strings.Contains(out, "sealed as interrupted") {
		t.Fatalf("collect after the kill: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = execExhibit(t, "--config", cfg, "runs", "list", "--format", "json")
	var runs []runJSON
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 3 {
		t.Fatalf("runs: %v\n%s", err, out)
	}
	if runs[1].Outcome != "interrupted" || runs[0].Previous != runs[1].Manifest || runs[1].Previous != runs[2].Manifest {
		t.Errorf("chain after recovery: %+v", runs)
	}
	if out, errOut, code := execExhibit(t, "--config", cfg, "check"); code != 0 {
		t.Errorf("exhibit check after the kill: exit %d\n%s%s", code, out, errOut)
	}
	// The killed process's spool directory is gone; this (live) process's stays.
	if tmp, _ := os.ReadDir(filepath.Join(data, "tmp")); len(tmp) != 1 || !tmp[0].IsDir() || !strings.HasPrefix(tmp[0].Name(), "proc-") {
		t.Errorf("data/tmp after recovery holds %v, want this process's directory only", tmp)
	}
}
