package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

func TestEndpoints(t *testing.T) {
	reg, m := NewRegistry()
	t0 := time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)
	m.ObserveRun(&runner.Summary{Outcome: manifest.OutcomePartial, NewBytes: 2048, Connectors: []manifest.ConnectorRun{
		{Instance: "aws-prod", Outcome: manifest.OutcomePartial, StartedAt: t0, EndedAt: t0.Add(90 * time.Second), Artefacts: 40, Gaps: 2},
		{Instance: "github", Outcome: manifest.OutcomeFailed, StartedAt: t0, EndedAt: t0.Add(time.Second), Artefacts: 1, Gaps: 1},
	}})
	m.ObserveExchange("aws-prod", connector.ExchangeStats{Host: "iam.amazonaws.com", Status: 200})
	m.ObserveExchange("aws-prod", connector.ExchangeStats{Host: "iam.amazonaws.com", Status: 429, Throttled: true})
	m.Skipped("github")

	ready := errors.New("scheduler not started")
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, "127.0.0.1:0", Handler(Options{Gatherer: reg, Ready: func(context.Context) error { return ready }}), slog.New(slog.DiscardHandler), func(a net.Addr) { addrc <- a })
	}()
	base := "http://" + (<-addrc).String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	tests := []struct {
		name     string
		path     string
		code     int
		contains []string
	}{
		{"healthz", "/healthz", 200, []string{"ok"}},
		{"readyz before ready", "/readyz", 503, []string{"scheduler not started"}},
		{"metrics", "/metrics", 200, []string{
			`exhibit_runs_total{outcome="partial"} 1`,
			`exhibit_runs_total{outcome="complete"} 0`,
			`exhibit_artefacts_total{connector="aws-prod"} 40`,
			`exhibit_gaps_total{connector="github"} 1`,
			`exhibit_connector_run_duration_seconds_sum{connector="aws-prod",outcome="partial"} 90`,
			`exhibit_connector_last_success_timestamp_seconds{connector="aws-prod"} 1.7958312e+09`,
			`exhibit_upstream_requests_total{code="429",connector="aws-prod",host="iam.amazonaws.com"} 1`,
			`exhibit_upstream_throttles_total{connector="aws-prod",host="iam.amazonaws.com"} 1`,
			`exhibit_scheduled_runs_skipped_total{connector="github"} 1`,
			`exhibit_store_new_bytes_total 2048`,
			`go_goroutines`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(tc.path)
			if code != tc.code {
				t.Errorf("GET %s = %d, want %d: %s", tc.path, code, tc.code, body)
			}
			for _, want := range tc.contains {
				if !strings.Contains(body, want) {
					t.Errorf("GET %s does not contain %q", tc.path, want)
				}
			}
			if strings.Contains(body, `exhibit_connector_last_success_timestamp_seconds{connector="github"}`) {
				t.Error("a failed connector has a last success")
			}
		})
	}
	ready = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz after ready = %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after shutdown: %v", err)
	}
}
