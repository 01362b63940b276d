package connector_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// fakeClock advances by step on every reading, so durations are deterministic.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

var epoch = time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)

// statsLog collects ExchangeStats.
type statsLog struct {
	mu    sync.Mutex
	stats []connector.ExchangeStats
}

func (s *statsLog) observe(x connector.ExchangeStats) {
	s.mu.Lock()
	s.stats = append(s.stats, x)
	s.mu.Unlock()
}

func (s *statsLog) all() []connector.ExchangeStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]connector.ExchangeStats(nil), s.stats...)
}

// upstream is a small simulated API for the transport tests.
func upstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-GitHub-Request-Id", "GH:1234")
		w.Header().Set("Request-Id", "graph-5678")
		io.WriteString(w, `{"name":"acme","webhook":{"secret":"s3cr3t-value"}}`)
	})
	mux.HandleFunc("GET /gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		io.WriteString(gz, `{"password":"zipped-secret"}`)
		gz.Close()
	})
	mux.HandleFunc("GET /brotli", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "br")
		io.WriteString(w, "\x0b\x02\x80hello\x03")
	})
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("a"), 2048))
	})
	mux.HandleFunc("GET /chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 4 {
			w.Write(bytes.Repeat([]byte("b"), 600))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("GET /empty", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("HEAD /head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4096")
	})
	mux.HandleFunc("POST /aws", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("x-amzn-RequestId", "aws-req-1")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`)
	})
	return mux
}

type failingSink struct{ err error }

func (f failingSink) Put(context.Context, evidence.Digest, io.ReadSeeker, int64) error { return f.err }

func TestTransportRecordsExchange(t *testing.T) {
	srv := httptest.NewServer(upstream())
	defer srv.Close()
	objects := mem.New()
	clock := &fakeClock{t: epoch, step: 5 * time.Millisecond}
	var stats statsLog
	client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{
		Sink: objects, Now: clock.Now, Observe: stats.observe,
	})}

	ctx, outer := connector.Record(context.Background())
	ctx, rec := connector.Record(ctx)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/json?page=2&access_token=abc", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	wantBody := `{"name":"acme","webhook":{"secret":"[REDACTED:secret]"}}`
	if string(got) != wantBody {
		t.Errorf("caller got %s, want the redacted body %s", got, wantBody)
	}
	if resp.ContentLength != int64(len(wantBody)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(wantBody)) {
		t.Errorf("Content-Length %d / %q not updated to %d", resp.ContentLength, resp.Header.Get("Content-Length"), len(wantBody))
	}
	xs := rec.Exchanges()
	if len(xs) != 1 {
		t.Fatalf("recorded %d exchanges, want 1", len(xs))
	}
	want := evidence.Exchange{
		Method:     "GET",
		URL:        srv.URL + "/json?page=2&access_token=REDACTED",
		Status:     200,
		RequestID:  "GH:1234",
		StartedAt:  epoch,
		DurationMS: 5,
		Body:       evidence.ObjectRef{Digest: evidence.Sum([]byte(wantBody)), Size: int64(len(wantBody)), MediaType: "application/json; charset=utf-8"},
		Redactions: []evidence.Redaction{{Rule: "secret", Location: "$.webhook.secret", Count: 1}},
	}
	if !equalExchange(xs[0], want) {
		t.Errorf("exchange:\n got %+v\nwant %+v", xs[0], want)
	}
	if n := len(outer.Exchanges()); n != 1 {
		t.Errorf("enclosing recorder has %d exchanges, want 1", n)
	}
	stored, err := store.GetBytes(ctx, objects, xs[0].Body.Digest)
	if err != nil || string(stored) != wantBody {
		t.Errorf("stored body = %q, %v; want the redacted body", stored, err)
	}
	if s := stats.all(); len(s) != 1 || s[0].Status != 200 || s[0].Bytes != int64(len(`{"name":"acme","webhook":{"secret":"s3cr3t-value"}}`)) || s[0].Method != "GET" || s[0].Host != req.URL.Host {
		t.Errorf("observed %+v", s)
	}
}

func equalExchange(a, b evidence.Exchange) bool {
	if len(a.Redactions) != len(b.Redactions) {
		return false
	}
	for i := range a.Redactions {
		if a.Redactions[i] != b.Redactions[i] {
			return false
		}
	}
	a.Redactions, b.Redactions = nil, nil
	return a.StartedAt.Equal(b.StartedAt) && a.Method == b.Method && a.URL == b.URL && a.Status == b.Status &&
		a.RequestID == b.RequestID && a.DurationMS == b.DurationMS && a.Body == b.Body
}

func TestTransportCases(t *testing.T) {
	srv := httptest.NewServer(upstream())
	defer srv.Close()
	tests := []struct {
		name       string
		path       string
		method     string
		sink       connector.Sink
		maxBody    int64
		record     bool
		wantErr    error  // errors.Is
		wantErrMsg string // substring
		wantStatus evidence.Status
		wantBody   string
		wantStored bool
		throttled  bool
		wantLength int64 // resp.ContentLength; 0 means len(wantBody)
	}{
		{name: "gzip is decoded before redaction", path: "/gzip", record: true, wantBody: `{"password":"[REDACTED:password]"}`, wantStored: true},
		{name: "unknown content encoding is refused", path: "/brotli", record: true, wantErrMsg: `cannot redact a body with Content-Encoding "br"`},
		{name: "content length above the limit", path: "/big", maxBody: 1024, record: true, wantErr: connector.ErrBodyTooLarge, wantErrMsg: "Content-Length 2048, limit 1024", wantStatus: evidence.StatusFailed},
		{name: "chunked body above the limit", path: "/chunked", maxBody: 1024, record: true, wantErr: connector.ErrBodyTooLarge, wantErrMsg: "more than 1024 bytes", wantStatus: evidence.StatusFailed},
		{name: "body exactly at the limit", path: "/big", maxBody: 2048, record: true, wantBody: strings.Repeat("a", 2048), wantStored: true},
		{name: "empty body is stored too", path: "/empty", record: true, wantBody: "", wantStored: true},
		{name: "sink failure fails the request naming the object", path: "/json", record: true, sink: failingSink{errors.New("disk full")}, wantErrMsg: "could not store response body " + evidence.Sum([]byte(`{"name":"acme","webhook":{"secret":"[REDACTED:secret]"}}`)).String() + " of GET", wantStatus: evidence.StatusFailed},
		{name: "no sink fails recorded requests", path: "/json", record: true, sink: nilSink{}, wantErrMsg: "has no sink"},
		{name: "aws throttling is recorded and observed", path: "/aws", method: "POST", record: true, wantStored: true, throttled: true,
			wantBody: `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`},
		{name: "unrecorded requests pass through unredacted", path: "/json", record: false, wantBody: `{"name":"acme","webhook":{"secret":"s3cr3t-value"}}`},
		{name: "head keeps its content length", path: "/head", method: "HEAD", record: true, wantBody: "", wantStored: true, wantLength: 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := mem.New()
			var sink connector.Sink = objects
			switch tt.sink.(type) {
			case nil:
			case nilSink:
				sink = nil
			default:
				sink = tt.sink
			}
			var stats statsLog
			client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: sink, MaxBody: tt.maxBody, Observe: stats.observe})}
			ctx := context.Background()
			var rec *connector.Recorder
			if tt.record {
				ctx, rec = connector.Record(ctx)
			}
			m := tt.method
			if m == "" {
				m = http.MethodGet
			}
			req, _ := http.NewRequestWithContext(ctx, m, srv.URL+tt.path, nil)
			resp, err := client.Do(req)
			if tt.wantErr != nil || tt.wantErrMsg != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErrMsg) {
					t.Errorf("error %q does not contain %q", err, tt.wantErrMsg)
				}
				if tt.wantStatus != "" && connector.GapStatus(err) != tt.wantStatus {
					t.Errorf("gap status %s, want %s", connector.GapStatus(err), tt.wantStatus)
				}
				if rec != nil {
					assertBodyless(t, rec.Exchanges(), 1)
				}
				if s := stats.all(); len(s) != 1 {
					t.Errorf("failed exchange observed %d times, want once", len(s))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
			wantLength := tt.wantLength
			if wantLength == 0 {
				wantLength = int64(len(tt.wantBody))
			}
			if tt.record && resp.ContentLength != wantLength {
				t.Errorf("ContentLength %d, want %d", resp.ContentLength, wantLength)
			}
			var n int
			objects.List(ctx, func(store.Info) error { n++; return nil })
			if tt.wantStored {
				xs := rec.Exchanges()
				if len(xs) != 1 {
					t.Fatalf("%d exchanges recorded, want 1", len(xs))
				}
				if xs[0].Body.Digest != evidence.Sum([]byte(tt.wantBody)) || n != 1 {
					t.Errorf("stored %d objects, exchange body %+v; want the redacted body", n, xs[0].Body)
				}
			} else if n != 0 {
				t.Errorf("%d objects stored, want none", n)
			}
			s := stats.all()
			if len(s) != 1 || s[0].Throttled != tt.throttled || s[0].Status != resp.StatusCode {
				t.Errorf("observed %+v, want one exchange with status %d, throttled %v", s, resp.StatusCode, tt.throttled)
			}
		})
	}
}

// nilSink marks the case "no sink configured" in the table.
type nilSink struct{ connector.Sink }

func TestTransportTruncatedBody(t *testing.T) {
	h := simkit.Wrap(upstream(), simkit.Options{Faults: []simkit.Fault{{Path: "^/big$", Kind: simkit.Truncate}}})
	srv, err := simkit.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	objects := mem.New()
	client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: objects})}
	ctx, rec := connector.Record(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/big", nil)
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("truncated body accepted")
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "could not read the response body of GET") {
		t.Errorf("error = %v, want a read error wrapping io.ErrUnexpectedEOF", err)
	}
	// The attempt is provenance too, without a body: there is none to show.
	assertBodyless(t, rec.Exchanges(), 1)
}

// assertBodyless checks that the failed attempts are recorded as n exchanges without a
// body, and that nothing else was.
func assertBodyless(t *testing.T, xs []evidence.Exchange, n int) {
	t.Helper()
	if len(xs) != n {
		t.Fatalf("recorded %d exchanges, want %d failed attempts: %+v", len(xs), n, xs)
	}
	for _, x := range xs {
		if !x.Body.Digest.IsZero() || x.Body.Size != 0 || x.Method == "" || x.URL == "" || x.StartedAt.IsZero() {
			t.Errorf("failed attempt recorded as %+v, want method, URL and start without a body", x)
		}
	}
}

func TestUnrecorded(t *testing.T) {
	srv := httptest.NewServer(upstream())
	defer srv.Close()
	objects := mem.New()
	client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: objects})}
	ctx, rec := connector.Record(context.Background())
	if connector.Unrecorded(context.Background()) != context.Background() {
		t.Error("Unrecorded changed a context without a recorder")
	}
	req, _ := http.NewRequestWithContext(connector.Unrecorded(ctx), http.MethodGet, srv.URL+"/json", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "s3cr3t-value") || len(rec.Exchanges()) != 0 {
		t.Errorf("unrecorded request was captured: body %s, %d exchanges", body, len(rec.Exchanges()))
	}
	if connector.RecorderFrom(connector.Unrecorded(ctx)) != nil {
		t.Error("RecorderFrom(Unrecorded(ctx)) is not nil")
	}
}

func TestTransportConnectionError(t *testing.T) {
	srv := httptest.NewServer(upstream())
	u := srv.URL
	srv.Close()
	var stats statsLog
	client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: mem.New(), Observe: stats.observe})}
	ctx, rec := connector.Record(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u+"/json", nil)
	if _, err := client.Do(req); err == nil {
		t.Fatal("request to a closed server succeeded")
	}
	if s := stats.all(); len(s) != 1 || s[0].Status != 0 {
		t.Errorf("observed %+v, want one exchange with status 0", s)
	}
	assertBodyless(t, rec.Exchanges(), 1)
	if rec.Exchanges()[0].Status != 0 {
		t.Errorf("request without an answer recorded with status %d", rec.Exchanges()[0].Status)
	}
}

func TestSanitizeURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "https://api.github.com/orgs/acme/repos?per_page=100&page=2", "https://api.github.com/orgs/acme/repos?per_page=100&page=2"},
		{"userinfo and fragment", "https://user:pw@host/p?a=1#frag", "https://host/p?a=1"},
		{"presigned s3", "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026&X-Amz-Date=1&X-Amz-Security-Token=tok&X-Amz-Signature=abc", "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=1&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED"},
		{"azure sas", "https://a.blob.core.windows.net/c/f?sv=2022-11-02&ss=b&sp=r&se=2030-01-01&st=2026&spr=https&sig=abc%3D&comp=list", "https://a.blob.core.windows.net/c/f?sv=REDACTED&ss=REDACTED&sp=REDACTED&se=REDACTED&st=REDACTED&spr=REDACTED&sig=REDACTED&comp=list"},
		{"sas parts without sig are ordinary", "https://h/x?sp=1&se=2", "https://h/x?sp=1&se=2"},
		{"oauth", "https://login/cb?code=abc&state=xyz&client_secret=s&Token=t&api-key=k", "https://login/cb?code=REDACTED&state=xyz&client_secret=REDACTED&Token=REDACTED&api-key=REDACTED"},
		{"encoded names", "https://h/x?access%5Ftoken=abc", "https://h/x?access%5Ftoken=REDACTED"},
		{"secrets in the path", "https://hooks.slack.com/services/T0/B0/XXXX", "https://hooks.slack.com/services/[REDACTED:slack_webhook]"},
		{"pagination kept", "https://graph.microsoft.com/v1.0/users?$skiptoken=abc&$top=999", "https://graph.microsoft.com/v1.0/users?$skiptoken=abc&$top=999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := connector.SanitizeURL(u); got != tt.want {
				t.Errorf("SanitizeURL(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   string
	}{
		{"none", map[string]string{"X-Other": "1"}, ""},
		{"aws json", map[string]string{"x-amzn-RequestId": "a", "x-amz-request-id": "b", "Request-Id": "c"}, "a"},
		{"s3", map[string]string{"x-amz-request-id": "b", "X-GitHub-Request-Id": "g"}, "b"},
		{"github", map[string]string{"X-GitHub-Request-Id": "g", "request-id": "c"}, "g"},
		{"graph", map[string]string{"client-request-id": "d", "request-id": "c"}, "c"},
		{"graph client id", map[string]string{"client-request-id": "d"}, "d"},
		{"control characters", map[string]string{"request-id": "a\x01b"}, "a?b"},
		{"too long", map[string]string{"request-id": strings.Repeat("r", 300)}, strings.Repeat("r", 128)},
		{"secret-looking", map[string]string{"request-id": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"}, "[REDACTED:github_token]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := connector.RequestID(h); got != tt.want {
				t.Errorf("RequestID = %q, want %q", got, tt.want)
			}
		})
	}
}
