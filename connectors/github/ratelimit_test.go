package github

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// TestRateLimits drives the real go-github client into GitHub's primary and secondary
// rate limits and checks that the waits are honoured (on a fake clock), capped, and that
// what cannot wait becomes a throttled gap.
func TestRateLimits(t *testing.T) {
	const workflow = `/orgs/acme/actions/permissions/workflow$`
	const workflowKey = kindWorkflowPermissions + " github:acme"
	caps := connector.Limits{MaxAttempts: 5, MaxRetryAfter: 2 * time.Minute}
	tests := []struct {
		name      string
		opts      sim.Options
		limits    connector.Limits
		wantWaits []time.Duration // exactly these waits, in order (nil: none)
		minWait   time.Duration   // or: at least one wait this long
		want      evidence.Status // status of the workflow permissions artefact
		check     func(t *testing.T, e *testEnv, arts map[string]evidence.Artefact, list []evidence.Artefact)
	}{
		{
			name: "secondary limit with Retry-After", opts: sim.Options{Faults: []simkit.Fault{sim.SecondaryLimit(workflow, 30*time.Second, 2)}},
			limits: caps, wantWaits: []time.Duration{30 * time.Second, 30 * time.Second}, want: evidence.StatusOK,
		},
		{
			name: "secondary limit without Retry-After backs off from a minute", opts: sim.Options{Faults: []simkit.Fault{sim.SecondaryLimit(workflow, 0, 2)}},
			limits: caps, wantWaits: []time.Duration{time.Minute, 2 * time.Minute}, want: evidence.StatusOK,
		},
		{
			name: "abuse detection message", opts: sim.Options{Faults: []simkit.Fault{sim.Abuse(workflow, 1)}},
			limits: caps, wantWaits: []time.Duration{time.Minute}, want: evidence.StatusOK,
		},
		{
			name: "429 with Retry-After", opts: sim.Options{Faults: []simkit.Fault{{Path: workflow, Kind: simkit.Throttle, RetryAfter: 5 * time.Second, Times: 1}}},
			limits: caps, wantWaits: []time.Duration{5 * time.Second}, want: evidence.StatusOK,
		},
		{
			name: "429 without Retry-After", opts: sim.Options{Faults: []simkit.Fault{{Path: workflow, Kind: simkit.ThrottleNoRetryAfter, Times: 1}}},
			limits: caps, wantWaits: []time.Duration{time.Minute}, want: evidence.StatusOK,
		},
		{
			name: "backoff beyond the cap is a throttled gap", opts: sim.Options{Faults: []simkit.Fault{sim.SecondaryLimit(workflow, 0, 0)}},
			limits: caps, wantWaits: []time.Duration{time.Minute, 2 * time.Minute}, want: evidence.StatusThrottled,
		},
		{
			name: "still limited after the last attempt", opts: sim.Options{Faults: []simkit.Fault{sim.SecondaryLimit(workflow, time.Second, 0)}},
			limits: connector.Limits{MaxAttempts: 3, MaxRetryAfter: time.Minute}, want: evidence.StatusThrottled,
			// Two waits between three attempts; the next request then honours the last Retry-After.
			wantWaits: []time.Duration{time.Second, time.Second, time.Second},
		},
		{
			name: "Retry-After beyond the cap stops every request until it ends",
			// The fault hits the first request (the organisation's settings, read before
			// anything else), so every later request falls into the pause whatever the
			// scheduling of the concurrent reads.
			opts:   sim.Options{Faults: []simkit.Fault{sim.SecondaryLimit(`/orgs/acme$`, 10*time.Minute, 0)}},
			limits: caps, want: evidence.StatusThrottled,
			check: func(t *testing.T, e *testEnv, arts map[string]evidence.Artefact, list []evidence.Artefact) {
				// GitHub said when requests may resume; nothing may be sent before, so what
				// follows is throttled without reaching the server, and nothing is silent.
				for _, k := range []string{kindRepositories, kindDependabotAlerts, kindCodeScanningAlerts, kindSecretScanAlerts} {
					if a := arts[k+" github:acme"]; a.Status != evidence.StatusThrottled {
						t.Errorf("%s during the pause: %s", k, a.Status)
					}
				}
				for _, a := range list {
					if a.Status.IsGap() && a.Status != evidence.StatusThrottled {
						t.Errorf("%s %s: %s gap, want throttled", a.Kind, a.Subject, a.Status)
					}
				}
				if n := e.sim.Harness().Calls()["GET /api/v3/orgs/acme/dependabot/alerts?per_page=100&state=open"]; n != 0 {
					t.Errorf("request sent during the pause")
				}
			},
		},
		{
			name: "502 is retried", opts: sim.Options{Faults: []simkit.Fault{sim.BadGateway(workflow, 2)}},
			limits: caps, wantWaits: []time.Duration{time.Second, 2 * time.Second}, want: evidence.StatusOK,
		},
		{
			name: "persistent 502 is a failed gap", opts: sim.Options{Faults: []simkit.Fault{sim.BadGateway(workflow, 0)}},
			limits: connector.Limits{MaxAttempts: 3, MaxRetryAfter: time.Minute}, wantWaits: []time.Duration{time.Second, 2 * time.Second}, want: evidence.StatusFailed,
		},
		{
			name: "primary limit: wait until the reset",
			opts: sim.Options{Repos: 12, RateLimit: 25},
			// The reset is an hour away; allow waiting that long.
			limits: connector.Limits{MaxAttempts: 5, MaxRetryAfter: 2 * time.Hour}, minWait: 59 * time.Minute, want: evidence.StatusOK,
			check: func(t *testing.T, e *testEnv, arts map[string]evidence.Artefact, list []evidence.Artefact) {
				if g := gaps(list); len(g) > 0 {
					t.Errorf("gaps although the reset was waited for:\n%s", strings.Join(g, "\n"))
				}
				rl := doc(t, arts, kindRateLimit, "github:"+strings.TrimPrefix(e.srv.URL, "http://"))
				if at(rl, "requests.primary_waits") == 0.0 && len(e.clock.Waits()) == 0 {
					t.Error("no primary wait reported")
				}
			},
		},
		{
			name: "primary limit: reset beyond the cap",
			opts: sim.Options{Repos: 12, RateLimit: 25}, limits: caps, want: evidence.StatusOK,
			check: func(t *testing.T, e *testEnv, arts map[string]evidence.Artefact, list []evidence.Artefact) {
				n := 0
				for _, a := range list {
					if a.Status == evidence.StatusThrottled {
						n++
						if !strings.Contains(a.Error, "primary rate limit") {
							t.Errorf("throttled gap does not name the primary limit: %s", a.Error)
						}
					}
				}
				if n == 0 {
					t.Error("no throttled gaps although the quota ran out")
				}
				if len(e.clock.Waits()) != 0 {
					t.Errorf("waited %v beyond the cap", e.clock.Waits())
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startSim(t, tc.opts)
			arts, list := collect(t, e.connector(t, e.settings("concurrency: 1"), tc.limits))
			if a := arts[workflowKey]; a.Status != tc.want {
				t.Errorf("workflow permissions: status %s (%s), want %s", a.Status, a.Error, tc.want)
			}
			waits := e.clock.Waits()
			switch {
			case tc.minWait > 0:
				if !slices.ContainsFunc(waits, func(d time.Duration) bool { return d >= tc.minWait }) {
					t.Errorf("waits %v, want one of at least %s", waits, tc.minWait)
				}
			case !slices.Equal(waits, tc.wantWaits):
				t.Errorf("waits %v, want %v", waits, tc.wantWaits)
			}
			if tc.check != nil {
				tc.check(t, e, arts, list)
			}
		})
	}
}

// TestLimiterConcurrency: the limiter never has more requests in flight than configured.
func TestLimiterConcurrency(t *testing.T) {
	var mu = make(chan struct{}, 1)
	inFlight, peak := 0, 0
	release := make(chan struct{})
	next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu <- struct{}{}
		inFlight++
		peak = max(peak, inFlight)
		<-mu
		<-release
		mu <- struct{}{}
		inFlight--
		<-mu
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	clock := newFakeClock()
	l := newLimiter(next, 3, connector.Limits{}, clock.Now, clock.Sleep, nil)
	done := make(chan struct{})
	for i := 0; i < 10; i++ {
		go func() {
			req, _ := http.NewRequest("GET", "http://example.invalid/x", nil)
			l.RoundTrip(req)
			done <- struct{}{}
		}()
	}
	for i := 0; i < 10; i++ {
		release <- struct{}{}
		<-done
	}
	if peak > 3 {
		t.Fatalf("%d requests in flight, want at most 3", peak)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
