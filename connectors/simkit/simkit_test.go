package simkit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// body is what the simulated upstream answers on every path: 100 bytes of JSON.
var body = `{"items":[` + strings.Repeat(`1,`, 39) + `1]}` + "\n"

func inner() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
}

// serve serves h on 127.0.0.1; arrived receives once per request when it reaches the
// harness, done when the harness has returned, so tests can synchronise without sleeping.
func serve(t *testing.T, h *simkit.Harness) (url string, arrived, done chan struct{}) {
	t.Helper()
	arrived, done = make(chan struct{}, 16), make(chan struct{}, 16)
	srv, err := simkit.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		h.ServeHTTP(w, r)
		done <- struct{}{}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.URL, arrived, done
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp, string(b)
}

func TestFaultKinds(t *testing.T) {
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name        string
		fault       simkit.Fault
		status      int
		retryAfter  string
		contentType string
		body        string
	}{
		{name: "no fault", fault: simkit.Fault{Path: "^/other$", Kind: simkit.ServerError}, status: 200, contentType: "application/json", body: body},
		{name: "throttle default", fault: simkit.Fault{Kind: simkit.Throttle}, status: 429, retryAfter: "1", contentType: "text/plain; charset=utf-8", body: "Too Many Requests"},
		{name: "throttle rounds up", fault: simkit.Fault{Kind: simkit.Throttle, RetryAfter: 2500 * time.Millisecond}, status: 429, retryAfter: "3", contentType: "text/plain; charset=utf-8", body: "Too Many Requests"},
		{name: "throttle with a json body", fault: simkit.Fault{Kind: simkit.Throttle, Header: jsonHeader, Body: `{"message":"slow down"}`}, status: 429, retryAfter: "1", contentType: "application/json", body: `{"message":"slow down"}`},
		{name: "throttle without retry-after", fault: simkit.Fault{Kind: simkit.ThrottleNoRetryAfter}, status: 429, contentType: "text/plain; charset=utf-8", body: "Too Many Requests"},
		{name: "server error default", fault: simkit.Fault{Kind: simkit.ServerError}, status: 500, contentType: "text/plain; charset=utf-8", body: "internal error"},
		{name: "server error status", fault: simkit.Fault{Kind: simkit.ServerError, Status: 503, Body: "down"}, status: 503, contentType: "text/plain; charset=utf-8", body: "down"},
		{name: "forbidden keeps its content type", fault: simkit.Fault{Kind: simkit.Forbidden, Header: jsonHeader, Body: `{"message":"Resource not accessible by integration"}`}, status: 403, contentType: "application/json", body: `{"message":"Resource not accessible by integration"}`},
		{name: "forbidden default", fault: simkit.Fault{Kind: simkit.Forbidden}, status: 403, contentType: "text/plain; charset=utf-8", body: "Forbidden"},
		{name: "custom", fault: simkit.Fault{Kind: simkit.Custom, Status: 400, Header: http.Header{"Content-Type": {"text/xml"}}, Body: "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"}, status: 400, contentType: "text/xml", body: "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"},
		{name: "custom default status", fault: simkit.Fault{Kind: simkit.Custom}, status: 500, body: ""},
		{name: "method filter misses", fault: simkit.Fault{Method: "POST", Kind: simkit.ServerError}, status: 200, contentType: "application/json", body: body},
		{name: "path with query", fault: simkit.Fault{Path: `^/items\?page=2$`, Kind: simkit.ServerError}, status: 500, contentType: "text/plain; charset=utf-8", body: "internal error"},
		{name: "path without query ignores it", fault: simkit.Fault{Path: `^/items$`, Kind: simkit.ServerError}, status: 500, contentType: "text/plain; charset=utf-8", body: "internal error"},
		{name: "path query mismatch", fault: simkit.Fault{Path: `^/items\?page=3$`, Kind: simkit.ServerError}, status: 200, contentType: "application/json", body: body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _, _ := serve(t, simkit.Wrap(inner(), simkit.Options{Faults: []simkit.Fault{tt.fault}}))
			resp, got := get(t, url+"/items?page=2")
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if ra := resp.Header.Get("Retry-After"); ra != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", ra, tt.retryAfter)
			}
			if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.contentType)
			}
			if got != tt.body {
				t.Errorf("body %q, want %q", got, tt.body)
			}
		})
	}
}

func TestTruncateSendsHalfTheBody(t *testing.T) {
	url, _, _ := serve(t, simkit.Wrap(inner(), simkit.Options{Faults: []simkit.Fault{{Kind: simkit.Truncate}}}))
	resp, err := http.Get(url + "/items")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(body)) {
		t.Errorf("status %d, Content-Length %d; want 200 and the full length %d", resp.StatusCode, resp.ContentLength, len(body))
	}
	got, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error %v, want io.ErrUnexpectedEOF", err)
	}
	if string(got) != body[:len(body)/2] {
		t.Errorf("got %d bytes %q, want the first half (%d bytes)", len(got), got, len(body)/2)
	}
}

// TestWaitsHonourCancellation checks that a hanging fault and injected latency both end
// when the client gives up, so a cancelled collection never leaves handlers behind.
func TestWaitsHonourCancellation(t *testing.T) {
	tests := []struct {
		name string
		opts simkit.Options
	}{
		{name: "hang", opts: simkit.Options{Faults: []simkit.Fault{{Kind: simkit.Hang}}}},
		{name: "latency", opts: simkit.Options{Latency: time.Hour}},
		{name: "latency before a fault", opts: simkit.Options{Latency: time.Hour, Faults: []simkit.Fault{{Kind: simkit.ServerError}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := simkit.Wrap(inner(), tt.opts)
			url, arrived, done := serve(t, h)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/items", nil)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			<-arrived
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client error %v, want context.Canceled", err)
			}
			// The handler returns once the client is gone; if it kept waiting, the
			// test would hang here until go test's timeout names it.
			<-done
			if h.Total() != 1 {
				t.Errorf("Total %d, want 1", h.Total())
			}
		})
	}
}

func TestTimesClearsTheFault(t *testing.T) {
	h := simkit.Wrap(inner(), simkit.Options{Faults: []simkit.Fault{
		{Path: "^/a$", Kind: simkit.Throttle, Times: 2},
		{Path: "^/a$", Kind: simkit.Forbidden, Times: 1},
		{Path: "^/b$", Kind: simkit.ServerError},
	}})
	url, _, _ := serve(t, h)
	var got []int
	for range 5 {
		resp, _ := get(t, url+"/a")
		got = append(got, resp.StatusCode)
	}
	if want := []int{429, 429, 403, 200, 200}; !reflect.DeepEqual(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for range 3 {
		if resp, _ := get(t, url+"/b"); resp.StatusCode != 500 {
			t.Errorf("fault without Times cleared: status %d", resp.StatusCode)
		}
	}
	h.SetFaults()
	if resp, _ := get(t, url+"/b"); resp.StatusCode != 200 {
		t.Errorf("SetFaults() did not clear the faults: status %d", resp.StatusCode)
	}
}

func TestCallCounting(t *testing.T) {
	h := simkit.Wrap(inner(), simkit.Options{Faults: []simkit.Fault{{Path: "^/fail$", Kind: simkit.ServerError}}})
	url, _, _ := serve(t, h)
	for _, p := range []string{"/a", "/b?page=2", "/a", "/fail", "/b?page=2", "/a"} {
		get(t, url+p)
	}
	if h.Total() != 6 {
		t.Errorf("Total %d, want 6 (faults included)", h.Total())
	}
	want := map[string]int{"GET /a": 3, "GET /b?page=2": 2, "GET /fail": 1}
	if got := h.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("Calls %v, want %v", got, want)
	}
	if got, want := h.Repeated(), []string{"GET /a (3×)", "GET /b?page=2 (2×)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Repeated %q, want %q", got, want)
	}
	h.ResetCounts()
	if h.Total() != 0 || len(h.Calls()) != 0 || h.Repeated() != nil {
		t.Errorf("ResetCounts left Total %d, Calls %v, Repeated %v", h.Total(), h.Calls(), h.Repeated())
	}
}

func TestServePreferringReusesAFreePortAndFallsBack(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	first, err := simkit.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(first.URL)
	port, _ := strconv.Atoi(u.Port())
	// Taken: a different free port.
	second, err := simkit.ServePreferring(h, port)
	if err != nil {
		t.Fatal(err)
	}
	if second.URL == first.URL {
		t.Fatalf("second server got the taken address %s", second.URL)
	}
	second.Close()
	first.Close()
	// Free again: the same port.
	third, err := simkit.ServePreferring(h, port)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if third.URL != first.URL {
		t.Errorf("ServePreferring(%d) = %s, want %s", port, third.URL, first.URL)
	}
}
