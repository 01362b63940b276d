package msgraph

import (
	"net/http"
	"testing"
	"time"

	nethttplibrary "github.com/microsoft/kiota-http-go"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// TestKiotaRetryHandler pins what Kiota's own RetryHandler does, the reasons retryTransport
// replaces it (see its comment): MaxRetries counts retries, not attempts; its ShouldRetry
// callback sees the cumulative delay so far, not the wait Retry-After demands, so a cap on
// a single wait cannot be expressed without parsing the header again; and it waits on the
// wall clock (which is why this test only uses "Retry-After: 0").
func TestKiotaRetryHandler(t *testing.T) {
	throttle := func(retryAfter string) simkit.Fault {
		return simkit.Fault{Path: `^/v1\.0/domains$`, Kind: simkit.Custom, Status: http.StatusTooManyRequests,
			Header: http.Header{"Retry-After": {retryAfter}, "Content-Type": {"application/json"}}, Body: `{"error":{"code":"TooManyRequests","message":"x"}}`}
	}
	tests := []struct {
		name         string
		retryAfter   string
		maxRetries   int
		shouldRetry  bool
		wantRequests int
		wantDelays   []time.Duration // what ShouldRetry was shown
	}{
		{"MaxRetries 2 means 3 attempts", "0", 2, true, 3, []time.Duration{0, 0}},
		{"ShouldRetry sees the cumulative delay, not the demanded 300 s", "300", 2, false, 1, []time.Duration{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sim.New(sim.Options{Faults: []simkit.Fault{throttle(tt.retryAfter)}})
			srv, err := simkit.Serve(s.Handler())
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var shown []time.Duration
			rh := nethttplibrary.NewRetryHandlerWithOptions(nethttplibrary.RetryHandlerOptions{
				MaxRetries: tt.maxRetries,
				ShouldRetry: func(delay time.Duration, _ int, _ *http.Request, _ *http.Response) bool {
					shown = append(shown, delay)
					return tt.shouldRetry
				},
			})
			c := &http.Client{Transport: nethttplibrary.NewCustomTransportWithParentTransport(http.DefaultTransport, rh)}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/domains", nil)
			req.Header.Set("Authorization", "Bearer "+sim.DemoToken)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("final status %d, want the last 429", resp.StatusCode)
			}
			if n := s.Harness().Total(); n != tt.wantRequests {
				t.Errorf("%d requests, want %d", n, tt.wantRequests)
			}
			if len(shown) != len(tt.wantDelays) {
				t.Fatalf("ShouldRetry shown %v, want %v", shown, tt.wantDelays)
			}
			for i := range shown {
				if shown[i] != tt.wantDelays[i] {
					t.Errorf("ShouldRetry call %d shown %s, want %s", i, shown[i], tt.wantDelays[i])
				}
			}
		})
	}
}
