package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

// stillClock is a scheduler clock whose time never advances: only the catch-up at
// start-up runs.
type stillClock struct{ now time.Time }

func (c stillClock) Now() time.Time                         { return c.now }
func (c stillClock) After(d time.Duration) <-chan time.Time { return make(chan time.Time) }

func TestServeCatchesUpAndServesMetrics(t *testing.T) {
	withFakeRegistry(t)
	cfg, _ := collectConfig(t, `connectors:
  - name: alpha
    type: fake
    settings: {count: 2}
  - name: beta
    type: fake
    schedule: "@every 6h"
    settings: {count: 1}
`)
	g := &globals{configFile: cfg}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	runs := make(chan *runner.Summary, 4)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- runServe(ctx, g, serveOptions{
			listen:   "127.0.0.1:0",
			onListen: func(a net.Addr) { addrc <- a },
			onRun:    func(s *runner.Summary) { runs <- s },
			clock:    stillClock{now: time.Now()},
		}, &lockedWriter{w: &stderr})
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	}
	// Nothing ever ran: both instances are caught up at start-up, as one late run.
	sum := <-runs
	if sum.Outcome != manifest.OutcomeComplete || len(sum.Connectors) != 2 || !sum.Connectors[0].CatchUp || !sum.Connectors[1].CatchUp {
		t.Fatalf("catch-up run: %+v", sum)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Errorf("healthz %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("readyz %d %s", code, body)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{`exhibit_runs_total{outcome="complete"} 1`, `exhibit_artefacts_total{connector="alpha"} 2`,
		`exhibit_connector_last_success_timestamp_seconds{connector="beta"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel() // SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	out, _, _ := execExhibit(t, "--config", cfg, "runs", "show", sum.RunID)
	if !strings.Contains(out, "complete (catch-up)") {
		t.Errorf("runs show does not mark the catch-up:\n%s", out)
	}
}

// lockedWriter serialises writes of concurrent loggers in tests.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestCollectRunsWhileServeRuns(t *testing.T) {
	// A real exhibit serve process: after its catch-up run it holds the data directory only
	// while it writes, so exhibit collect runs; a second serve is refused.
	withFakeRegistry(t)
	cfg, _ := collectConfig(t, twoConnectors)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), "level: warn", "level: info", 1)), 0o644)
	serve, logs := startExhibit(t, "--config", cfg, "serve", "--listen", "127.0.0.1:0")
	sealed := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"run sealed"`) {
				sealed <- true
			}
		}
		close(sealed)
	}()
	if !<-sealed {
		t.Fatal("serve ended before its catch-up run was sealed")
	}

	// The lock timeout covers serve's last moments of its run (it logs the seal, then
	// releases the data directory).
	out, errOut, code := execExhibit(t, "--config", cfg, "collect", "--lock-timeout", "1m")
	if code != 0 || !strings.Contains(out, ": complete — 5 artefacts") {
		t.Fatalf("collect while serve runs: exit %d\n%s%s", code, out, errOut)
	}
	second, _ := startExhibit(t, "--config", cfg, "serve", "--listen", "127.0.0.1:0")
	var ee *exec.ExitError
	if err := second.Wait(); !errors.As(err, &ee) {
		t.Errorf("a second serve on the same data directory: %v, want it refused", err)
	}

	if err := serve.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := serve.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	if runs := listRuns(t, cfg); len(runs) != 2 || runs[0].Previous != runs[1].Manifest {
		t.Errorf("runs: %+v; want the catch-up and the collect, chained", runs)
	}
	if out, errOut, code := execExhibit(t, "--config", cfg, "check"); code != 0 {
		t.Errorf("check: exit %d\n%s%s", code, out, errOut)
	}
}
