package connectortest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

func TestReplay(t *testing.T) {
	rp, err := LoadReplay("testdata/replay/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := simkit.Serve(rp)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}

	code, h, body := get("/v1.0/users?$top=10")
	if code != 200 || h.Get("Content-Type") != "application/json" || !strings.Contains(body, `"@odata.nextLink":"`+srv.URL+`/v1.0/users?$skiptoken=page2"`) {
		t.Errorf("first page: %d %s %s", code, h.Get("Content-Type"), body)
	}
	// The more specific response wins, whatever the other parameters.
	if code, _, body = get("/v1.0/users?$top=10&$skiptoken=page2"); code != 200 || body != `{"value":[{"id":"2"}]}` {
		t.Errorf("second page: %d %s", code, body)
	}
	// A sequence: the 429 once, then the answer, which repeats.
	for i, want := range []int{429, 200, 200} {
		code, h, body := get("/limited")
		if code != want {
			t.Errorf("attempt %d: %d, want %d", i, code, want)
		}
		if code == 429 && h.Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q", h.Get("Retry-After"))
		}
		if code == 200 && (body != "<ok/>" || h.Get("Content-Type") != "text/xml") {
			t.Errorf("attempt %d: %s %s", i, h.Get("Content-Type"), body)
		}
	}
	if code, _, body = get("/v1.0/groups?x=1"); code != http.StatusNotImplemented || !strings.Contains(body, "no recorded response for GET /v1.0/groups?x=1") {
		t.Errorf("unknown request: %d %s", code, body)
	}
	get("/v1.0/groups?x=1")
	if u := rp.Unanswered(); !slices.Equal(u, []string{"GET /v1.0/groups?x=1"}) {
		t.Errorf("unanswered %q", u)
	}
	if u := rp.Unused(); len(u) != 0 {
		t.Errorf("unused %q", u)
	}
	if n := len(rp.Requests()); n != 7 {
		t.Errorf("%d requests recorded, want 7", n)
	}
}

func TestReplayUnused(t *testing.T) {
	rp := NewReplay(Response{Method: "GET", Path: "/a", Source: "docs"}, Response{Method: "GET", Path: "/b", Source: "docs"})
	rp.ServeHTTP(discard{}, must(http.NewRequest("GET", "http://x/a", nil)))
	if u := rp.Unused(); !slices.Equal(u, []string{"GET /b (docs)"}) {
		t.Errorf("unused %q", u)
	}
}

func TestLoadReplayErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"not a mapping", "- 1\n", "r.yaml: want a mapping"},
		{"unknown key", "responses: []\nrequests: []\n", `r.yaml:2: unknown key "requests"`},
		{"not a list", "responses: {}\n", "r.yaml:1: responses must be a list"},
		{"unknown response key", "responses:\n  - {method: GET, path: /, source: s, code: 200}\n", `r.yaml:2: unknown key "code" in responses[0]`},
		{"lower-case method", "responses:\n  - {method: get, path: /, source: s}\n", "r.yaml:2: responses[0].method must be an upper-case HTTP method"},
		{"query in path", "responses:\n  - {method: GET, path: '/a?b=1', source: s}\n", "responses[0].path must start with / and hold no query"},
		{"no source", "responses:\n  - {method: GET, path: /}\n", "r.yaml:2: responses[0] has no source"},
		{"bad status", "responses:\n  - {method: GET, path: /, source: s, status: 42}\n", "status 42 is not an HTTP status"},
		{"status not a number", "responses:\n  - {method: GET, path: /, source: s, status: ok}\n", "cannot unmarshal !!str `ok` into int"},
		{"both bodies", "responses:\n  - {method: GET, path: /, source: s, body: x, body_file: f}\n", "has both body and body_file"},
		{"missing body file", "responses:\n  - {method: GET, path: /, source: s, body_file: nope.json}\n", "r.yaml:2: responses[0].body_file: open"},
		{"nested query", "responses:\n  - {method: GET, path: /, source: s, query: {a: {b: 1}}}\n", "responses[0].query.a must be a value or a list"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "r.yaml")
			os.WriteFile(p, []byte(tt.file), 0o644)
			_, err := LoadReplay(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
