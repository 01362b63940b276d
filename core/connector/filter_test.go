package connector_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// person is the personal value the filter tests hide; pseudonym replaces it.
const (
	person    = "alice.person@example.com"
	pseudonym = "psn:0123"
)

// peopleUpstream answers lookups of people by name, with a secret beside the name, so that
// a test sees the filter working on the redacted body.
func peopleUpstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /people/{upn}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req-1")
		if r.PathValue("upn") != person {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"message":"no user `+r.PathValue("upn")+`"}}`)
			return
		}
		io.WriteString(w, `{"value":[{"userPrincipalName":"`+person+`","password":"s3cr3t-value"},{"userPrincipalName":"`+person+`"}]}`)
	})
	return mux
}

// testFilter replaces person by pseudonym in bodies and URL paths. It records the body it
// was given, so a test can check that it saw the redacted body.
type testFilter struct {
	fail error
	seen []byte
}

func (f *testFilter) FilterBody(status int, contentType string, body []byte) ([]byte, []evidence.Redaction, error) {
	f.seen = append([]byte(nil), body...)
	if f.fail != nil {
		return nil, nil, f.fail
	}
	n := bytes.Count(body, []byte(person))
	if n == 0 {
		return body, nil, nil
	}
	return bytes.ReplaceAll(body, []byte(person), []byte(pseudonym)),
		[]evidence.Redaction{{Rule: "pseudonym", Location: "$.value[*].userPrincipalName", Count: n}}, nil
}

func (f *testFilter) FilterURL(u *url.URL) {
	u.Path, u.RawPath = strings.ReplaceAll(u.Path, person, pseudonym), ""
}

func TestExchangeFilter(t *testing.T) {
	srv := httptest.NewServer(peopleUpstream())
	defer srv.Close()
	const redactedBody = `{"value":[{"userPrincipalName":"` + person + `","password":"[REDACTED:password]"},{"userPrincipalName":"` + person + `"}]}`
	filteredBody := strings.ReplaceAll(redactedBody, person, pseudonym)
	tests := []struct {
		name       string
		who        string
		filter     *testFilter
		record     bool
		wantBody   string // returned to the caller (and stored if recorded)
		wantSeen   string // what the filter was given
		wantURL    string // recorded path
		wantReds   []evidence.Redaction
		wantErrMsg string
	}{
		{name: "recorded and filtered", who: person, filter: &testFilter{}, record: true,
			wantBody: filteredBody, wantSeen: redactedBody, wantURL: "/people/" + pseudonym,
			wantReds: []evidence.Redaction{{Rule: "password", Location: "$.value[0].password", Count: 1}, {Rule: "pseudonym", Location: "$.value[*].userPrincipalName", Count: 2}}},
		{name: "recorded without filter is unchanged", who: person, record: true,
			wantBody: redactedBody, wantURL: "/people/" + person,
			wantReds: []evidence.Redaction{{Rule: "password", Location: "$.value[0].password", Count: 1}}},
		{name: "error response is filtered with its status", who: "bob@example.com", filter: &testFilter{}, record: true,
			wantBody: `{"error":{"message":"no user bob@example.com"}}`, wantSeen: `{"error":{"message":"no user bob@example.com"}}`, wantURL: "/people/bob@example.com"},
		{name: "unrecorded and filtered: caller gets the filtered, unredacted body", who: person, filter: &testFilter{},
			wantBody: strings.ReplaceAll(`{"value":[{"userPrincipalName":"`+person+`","password":"s3cr3t-value"},{"userPrincipalName":"`+person+`"}]}`, person, pseudonym),
			wantSeen: `{"value":[{"userPrincipalName":"` + person + `","password":"s3cr3t-value"},{"userPrincipalName":"` + person + `"}]}`},
		{name: "filter error fails a recorded request", who: person, filter: &testFilter{fail: errors.New("not JSON at offset 3")}, record: true,
			wantSeen: redactedBody, wantErrMsg: "could not filter the response body of GET " + srv.URL + "/people/" + pseudonym + " (status 200): not JSON at offset 3"},
		{name: "filter error fails an unrecorded request", who: person, filter: &testFilter{fail: errors.New("bad body")},
			wantSeen:   `{"value":[{"userPrincipalName":"` + person + `","password":"s3cr3t-value"},{"userPrincipalName":"` + person + `"}]}`,
			wantErrMsg: "could not filter the response body of GET " + srv.URL + "/people/" + pseudonym + " (status 200): bad body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects := mem.New()
			var logs bytes.Buffer
			var stats statsLog
			tr := connector.NewTransport(nil, connector.TransportOptions{Sink: objects, Observe: stats.observe,
				Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			ctx := context.Background()
			var rec *connector.Recorder
			if tt.record {
				ctx, rec = connector.Record(ctx)
			}
			if tt.filter != nil {
				ctx = connector.WithExchangeFilter(ctx, tt.filter)
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/people/"+tt.who, nil)
			// RoundTrip, not http.Client.Do: the client's *url.Error would quote the request
			// URL, and the transport's own error is what is tested here.
			resp, err := tr.RoundTrip(req)
			if tt.filter != nil && string(tt.filter.seen) != tt.wantSeen {
				t.Errorf("filter was given %s, want %s", tt.filter.seen, tt.wantSeen)
			}
			if req.URL.Path != "/people/"+tt.who {
				t.Errorf("the filter changed the request's own URL: %s", req.URL)
			}
			if s := stats.all(); len(s) != 1 {
				t.Errorf("observed %d times, want once", len(s))
			}
			if tt.filter != nil && strings.Contains(logs.String(), person) {
				t.Errorf("debug log names the person of a filtered request:\n%s", logs.String())
			}
			var n int
			objects.List(ctx, func(store.Info) error { n++; return nil })
			if tt.wantErrMsg != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded, want the filter's error")
				}
				if !strings.HasSuffix(err.Error(), tt.wantErrMsg) || connector.GapStatus(err) != evidence.StatusFailed || !errors.Is(err, tt.filter.fail) {
					t.Errorf("error %q (gap status %s), want %q as a failed gap wrapping the filter's error", err, connector.GapStatus(err), tt.wantErrMsg)
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), person) {
					t.Errorf("error quotes the body or the person: %v", err)
				}
				if n != 0 {
					t.Errorf("a failed exchange was stored (%d objects)", n)
				}
				if rec != nil {
					assertBodyless(t, rec.Exchanges(), 1)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != tt.wantBody || resp.ContentLength != int64(len(tt.wantBody)) {
				t.Errorf("caller got %s (length %d), want %s", body, resp.ContentLength, tt.wantBody)
			}
			if rec == nil {
				if n != 0 {
					t.Errorf("%d objects stored for an unrecorded request", n)
				}
				return
			}
			xs := rec.Exchanges()
			if len(xs) != 1 {
				t.Fatalf("%d exchanges, want 1", len(xs))
			}
			x := xs[0]
			stored, err := store.GetBytes(ctx, objects, x.Body.Digest)
			if err != nil || string(stored) != tt.wantBody || n != 1 || x.Body.Size != int64(len(tt.wantBody)) {
				t.Errorf("stored %s (%v, %d objects, size %d), want %s", stored, err, n, x.Body.Size, tt.wantBody)
			}
			if x.URL != srv.URL+tt.wantURL {
				t.Errorf("recorded URL %s, want %s", x.URL, srv.URL+tt.wantURL)
			}
			if !equalRedactions(x.Redactions, tt.wantReds) {
				t.Errorf("redactions %+v, want %+v", x.Redactions, tt.wantReds)
			}
		})
	}
}

func equalRedactions(a, b []evidence.Redaction) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestExchangeFilterDebugLog checks every debug line of a filtered request: recorded,
// unrecorded, failed upstream, failed filter. None may print the unfiltered URL; each
// prints the filtered one.
func TestExchangeFilterDebugLog(t *testing.T) {
	srv := httptest.NewServer(peopleUpstream())
	defer srv.Close()
	closed := httptest.NewServer(peopleUpstream())
	closed.Close()
	tests := []struct {
		name   string
		base   string
		record bool
		filter *testFilter
		want   string // message of the log line
	}{
		{"recorded", srv.URL, true, &testFilter{}, "upstream exchange"},
		{"unrecorded", srv.URL, false, &testFilter{}, "upstream exchange (filtered, not recorded)"},
		{"upstream unreachable", closed.URL, true, &testFilter{}, "upstream request failed"},
		{"filter fails", srv.URL, true, &testFilter{fail: errors.New("bad body")}, "upstream exchange not recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: mem.New(),
				Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})}
			ctx := context.Background()
			if tt.record {
				ctx, _ = connector.Record(ctx)
			}
			req, _ := http.NewRequestWithContext(connector.WithExchangeFilter(ctx, tt.filter), http.MethodGet, tt.base+"/people/"+person+"?q=1", nil)
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			line := logs.String()
			if !strings.Contains(line, `"msg":"`+strings.ReplaceAll(tt.want, `"`, `\"`)+`"`) {
				t.Errorf("no %q line in the debug log:\n%s", tt.want, line)
			}
			if strings.Contains(line, person) || !strings.Contains(line, tt.base+"/people/"+pseudonym+"?q=1") {
				t.Errorf("debug log does not show exactly the filtered URL:\n%s", line)
			}
		})
	}
}

// TestUnfilteredDebugLog pins that a request without a filter is logged with its sanitised
// URL (the filter is the only rewrite).
func TestUnfilteredDebugLog(t *testing.T) {
	srv := httptest.NewServer(peopleUpstream())
	defer srv.Close()
	for _, record := range []bool{true, false} {
		var logs bytes.Buffer
		client := &http.Client{Transport: connector.NewTransport(nil, connector.TransportOptions{Sink: mem.New(),
			Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})}
		ctx := context.Background()
		if record {
			ctx, _ = connector.Record(ctx)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/people/"+person+"?access_token=tok-Q7zX", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := srv.URL + "/people/" + person + "?access_token=REDACTED"; !strings.Contains(logs.String(), want) || strings.Contains(logs.String(), "Q7zX") {
			t.Errorf("recorded %v: debug log does not show the sanitised URL %s:\n%s", record, want, logs.String())
		}
	}
}
