package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// killableExhibit runs exhibit with args (JSON) in this process, with the fake connectors,
// and stops it for good where at says, after saying so on stdout: "manifest" when a seal
// is about to store its ref (the manifest is stored), "ref" when the ref is stored (the run
// is not indexed yet).
func killableExhibit(at, args string) int {
	if at != "never" {
		wrapRepo = func(r *store.Repo) *store.Repo {
			return &store.Repo{Objects: r.Objects, Runs: stopAtRef{Store: r.Runs, after: at == "ref"}, Describe: r.Describe}
		}
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		fmt.Println("error", err)
		return 2
	}
	connectorRegistry = func() *connector.Registry { return connector.NewRegistry(fakeFactory{}) }
	controlsKnownKinds = nil
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM) // as main
	defer stop()
	return run(ctx, argv)
}

// startExhibit starts exhibit with args (and the fake connectors) as a process of its own.
func startExhibit(t *testing.T, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	argv, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_TEST_KILL_AT=never", "EXHIBIT_TEST_ARGS="+string(argv))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, stderr
}

// stopAtRef is a runs store whose Put says where it is and never returns, as a process
// killed at that point never goes on.
type stopAtRef struct {
	store.Store
	after bool
}

func (s stopAtRef) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if !s.after {
		fmt.Println("manifest stored")
		time.Sleep(time.Hour) // until killed
		return errors.New("not killed")
	}
	if err := s.Store.Put(ctx, d, r, size); err != nil {
		return err
	}
	fmt.Println("ref stored")
	time.Sleep(time.Hour) // until killed
	return errors.New("not killed")
}

// killAt starts exhibit with args as a process of its own, waits until it stops at point
// at and kills it (kill -9).
func killAt(t *testing.T, at string, args ...string) {
	t.Helper()
	argv, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXHIBIT_TEST_KILL_AT="+at, "EXHIBIT_TEST_ARGS="+string(argv))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	want := map[string]string{"manifest": "manifest stored", "ref": "ref stored"}[at]
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == want {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	cmd.Process.Kill()
	t.Fatalf("exhibit %s never stopped at %q", strings.Join(args, " "), want)
}

func TestKilledManualAndEvaluationSealsAreCompleted(t *testing.T) {
	withFakeRegistry(t)
	tests := []struct {
		name   string
		killed []string // the command killed, "RUN" standing for the first run's id
		at     string
		next   []string // the next writer, which must complete the killed seal
	}{
		{"evidence add killed after its manifest is stored", []string{"evidence", "add"}, "manifest", []string{"evidence", "add"}},
		{"evidence add killed after its ref is stored", []string{"evidence", "add"}, "ref", []string{"collect"}},
		{"controls evaluate killed after its manifest is stored", []string{"controls", "evaluate", "--run", "RUN"}, "manifest", []string{"controls", "evaluate", "--run", "RUN"}},
		{"controls evaluate killed after its ref is stored", []string{"controls", "evaluate", "--run", "RUN"}, "ref", []string{"collect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := controlsTestConfig(t, twoConnectors) // rules that judge the seeded run
			policy := filepath.Join(filepath.Dir(cfg), "policy.txt")
			os.WriteFile(policy, []byte("the information security policy\n"), 0o644)
			first := seedCollection(t, cfg, 8)
			args := func(a []string) []string {
				out := []string{"--config", cfg}
				for _, s := range a {
					out = append(out, strings.ReplaceAll(s, "RUN", first))
				}
				if a[0] == "evidence" {
					out = append(out, "--file", policy, "--kind", "policy", "--control", "A.5.1", "--effective-date", "2026-01-15")
				}
				return out
			}
			killAt(t, tt.at, args(tt.killed)...)
			out, _, code := execExhibit(t, "--config", cfg, "check")
			if code != checkExitProblems {
				t.Fatalf("check after the kill: exit %d, want %d (the killed seal is half done)\n%s", code, checkExitProblems, out)
			}
			if tt.at == "manifest" && (!strings.Contains(out, "ref-missing") || !strings.Contains(out, "seal-pending.json holds a seal that a killed process left half done")) {
				t.Errorf("check after a kill between manifest and ref does not say so:\n%s", out)
			}
			if tt.at == "ref" && !strings.Contains(out, "run-not-indexed") {
				t.Errorf("check after a kill before indexing does not say so:\n%s", out)
			}

			if out, errOut, code := execExhibit(t, args(tt.next)...); code != 0 {
				t.Fatalf("%s after the kill: exit %d\n%s%s", tt.next, code, out, errOut)
			}
			if out, errOut, code := execExhibit(t, "--config", cfg, "check"); code != 0 {
				t.Fatalf("check after the next writer: exit %d\n%s%s", code, out, errOut)
			}
			if runs := listRuns(t, cfg); len(runs) != 3 {
				t.Errorf("%d runs in the index, want 3 (the first, the killed one, the next): %+v", len(runs), runs)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "data", "seal-pending.json")); !os.IsNotExist(err) {
				t.Errorf("pending seal left: %v", err)
			}
		})
	}
}

// listRuns returns the runs the index records, newest first.
func listRuns(t *testing.T, cfg string) []runJSON {
	t.Helper()
	out, errOut, code := execExhibit(t, "--config", cfg, "runs", "list", "--format", "json")
	var runs []runJSON
	if err := json.Unmarshal([]byte(out), &runs); err != nil || code != 0 {
		t.Fatalf("runs list: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	return runs
}
