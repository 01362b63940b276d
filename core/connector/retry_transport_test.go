package connector_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// fakeSleep records the waits asked for instead of sleeping.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return ctx.Err()
}

// TestRequestTimeout: a hung endpoint fails its own request quickly, as a failed gap
// naming the timeout, and the attempt is recorded; the next request is unaffected.
func TestRequestTimeout(t *testing.T) {
	h := simkit.Wrap(upstream(), simkit.Options{Faults: []simkit.Fault{{Path: "^/big$", Kind: simkit.Hang}}})
	srv, err := simkit.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: mem.New(), RequestTimeout: 200 * time.Millisecond})}
	ctx, rec := connector.Record(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/big?token=s3cr3t", nil)
	start := time.Now()
	_, err = client.Do(req)
	if err == nil {
		t.Fatal("hung request succeeded")
	}
	if !errors.Is(err, connector.ErrRequestTimeout) || connector.GapStatus(err) != evidence.StatusFailed {
		t.Errorf("error %v (gap status %s), want a failed gap wrapping ErrRequestTimeout", err, connector.GapStatus(err))
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the hung request took %s", d)
	}
	assertBodyless(t, rec.Exchanges(), 1)
	rec.Reset()

	// Unrecorded requests keep their body readable until it is closed.
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/json", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(body) == 0 {
		t.Errorf("unrecorded body: %q, %v", body, err)
	}
	// A cancelled caller is not a timeout.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	req, _ = http.NewRequestWithContext(cctx, http.MethodGet, srv.URL+"/json", nil)
	if _, err := client.Do(req); err == nil || errors.Is(err, connector.ErrRequestTimeout) {
		t.Errorf("cancelled request: %v, want the cancellation", err)
	}
}

// TestRetryIdempotent runs the retrier over the capturing transport against a simulator
// with injected faults: what is retried, how often, how long it waits, and that every
// attempt is recorded.
func TestRetryIdempotent(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		faults    []simkit.Fault
		statuses  []int
		wantCode  int   // 0: an error
		wantErr   error // when wantCode is 0
		wantWaits []time.Duration
		// wantAttempts are the recorded exchanges' statuses; 0 for one without a body.
		wantAttempts []int
	}{
		{
			name: "one 500 is retried", path: "/json", faults: []simkit.Fault{{Kind: simkit.ServerError, Times: 1}},
			wantCode: 200, wantWaits: []time.Duration{time.Second}, wantAttempts: []int{500, 200},
		},
		{
			name: "a persistent 502 ends after max attempts with backoff", path: "/json", faults: []simkit.Fault{{Kind: simkit.ServerError, Status: 502}},
			wantCode: 502, wantWaits: []time.Duration{time.Second, 2 * time.Second}, wantAttempts: []int{502, 502, 502},
		},
		{
			name: "a truncated body is retried", path: "/json", faults: []simkit.Fault{{Kind: simkit.Truncate, Times: 1}},
			wantCode: 200, wantWaits: []time.Duration{time.Second}, wantAttempts: []int{0, 200},
		},
		{
			name: "a hung request is retried once", path: "/json", faults: []simkit.Fault{{Kind: simkit.Hang, Times: 1}},
			wantCode: 200, wantWaits: []time.Duration{time.Second}, wantAttempts: []int{0, 200},
		},
		{
			name: "a request that keeps hanging is tried twice", path: "/json", faults: []simkit.Fault{{Kind: simkit.Hang}},
			wantErr: connector.ErrRequestTimeout, wantWaits: []time.Duration{time.Second}, wantAttempts: []int{0, 0},
		},
		{
			name: "Retry-After is honoured", path: "/json", faults: []simkit.Fault{{Kind: simkit.ServerError, Status: 503, Times: 1, Header: http.Header{"Retry-After": {"7"}}}},
			wantCode: 200, wantWaits: []time.Duration{7 * time.Second}, wantAttempts: []int{503, 200},
		},
		{
			name: "a wait beyond max_retry_after is not made", path: "/json", faults: []simkit.Fault{{Kind: simkit.ServerError, Status: 503, Header: http.Header{"Retry-After": {"3600"}}}},
			wantCode: 503, wantAttempts: []int{503},
		},
		{
			name: "statuses a layer above retries are left to it", path: "/json", statuses: []int{500}, faults: []simkit.Fault{{Kind: simkit.ServerError, Status: 503}},
			wantCode: 503, wantAttempts: []int{503},
		},
		{
			name: "POST is not idempotent", method: http.MethodPost, path: "/aws", faults: []simkit.Fault{{Kind: simkit.ServerError}},
			wantCode: 500, wantAttempts: []int{500},
		},
		{
			name: "client errors are not retried", path: "/nothing-here",
			wantCode: 404, wantAttempts: []int{404},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := simkit.Serve(simkit.Wrap(upstream(), simkit.Options{Faults: tt.faults}))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var fs fakeSleep
			capture := connector.NewTransport(nil, connector.TransportOptions{Sink: mem.New(), RequestTimeout: 200 * time.Millisecond})
			limits := connector.Limits{MaxAttempts: 3, MaxRetryAfter: time.Minute}
			client := &http.Client{Transport: connector.RetryIdempotent(capture, connector.RetryOptions{Limits: limits, Statuses: tt.statuses, Sleep: fs.sleep})}
			ctx, rec := connector.Record(context.Background())
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			req, _ := http.NewRequestWithContext(ctx, method, srv.URL+tt.path, nil)
			resp, err := client.Do(req)
			switch {
			case tt.wantCode == 0:
				if err == nil || !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("error %v, want status %d", err, tt.wantCode)
			default:
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantCode {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.wantCode)
				}
			}
			if !reflect.DeepEqual(fs.waits, tt.wantWaits) {
				t.Errorf("waited %v, want %v", fs.waits, tt.wantWaits)
			}
			var attempts []int
			for _, x := range rec.Exchanges() {
				if x.Body.Digest.IsZero() {
					attempts = append(attempts, 0)
				} else {
					attempts = append(attempts, x.Status)
				}
			}
			if !reflect.DeepEqual(attempts, tt.wantAttempts) {
				t.Errorf("recorded attempts %v, want %v", attempts, tt.wantAttempts)
			}
		})
	}
}
