package connectortest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// BaseURLPlaceholder in a replayed body or header is replaced by the replay server's own
// URL (scheme and host), so documented pagination links such as Graph's @odata.nextLink or
// GitHub's Link header lead back to the replay server.
const BaseURLPlaceholder = "{{base_url}}"

// Response is one recorded or documented upstream answer the replay server gives.
type Response struct {
	// Method and Path match the request exactly (Path without the query).
	Method string
	Path   string
	// Query lists parameters the request must carry with exactly these values; parameters
	// not listed are ignored. Among the responses that match a request, those with more
	// Query parameters win, so a page-2 response beats the first page's.
	Query url.Values
	// Status defaults to 200. Header is sent as is; without a Content-Type one is chosen
	// from the body's first character ({ or [ JSON, < XML, else text).
	Status int
	Header http.Header
	Body   []byte
	// Source says where the response comes from (a docs page, an OpenAPI example, a
	// recording). It is not served; it names the response in reports.
	Source string

	line int // in the replay file, 0 when built in code
	used int
}

// Request is one request the replay server received.
type Request struct {
	Method, Path, RawQuery string
	// Answered is false when no response matched: the server answered 501 and the request
	// is listed by Unanswered.
	Answered bool
}

func (r Request) String() string {
	s := r.Method + " " + r.Path
	if r.RawQuery != "" {
		s += "?" + r.RawQuery
	}
	return s
}

// Replay is an http.Handler that answers requests with recorded or documented responses
// and records what it was asked. A request that matches several responses of the same
// specificity gets them in order, the last one repeating (a 429 then a 200; the pages of
// a listing). A request nothing matches is answered 501 with a text saying so, and listed
// by Unanswered: a connector test must fail on it rather than take the 501 as evidence.
type Replay struct {
	mu        sync.Mutex
	responses []*Response
	requests  []Request
}

// NewReplay returns a replay handler for the responses.
func NewReplay(responses ...Response) *Replay {
	rp := &Replay{}
	for i := range responses {
		r := responses[i]
		rp.responses = append(rp.responses, &r)
	}
	return rp
}

// ServeHTTP implements http.Handler.
func (rp *Replay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rp.mu.Lock()
	resp := rp.match(r)
	rp.requests = append(rp.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Answered: resp != nil})
	if resp != nil {
		resp.used++
	}
	rp.mu.Unlock()
	if resp == nil {
		http.Error(w, fmt.Sprintf("replay: no recorded response for %s %s", r.Method, r.URL.RequestURI()), http.StatusNotImplemented)
		return
	}
	base := "http://" + r.Host
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, strings.ReplaceAll(v, BaseURLPlaceholder, base))
		}
	}
	body := bytes.ReplaceAll(resp.Body, []byte(BaseURLPlaceholder), []byte(base))
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", contentType(body))
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(body)
}

func contentType(body []byte) string {
	b := bytes.TrimSpace(body)
	switch {
	case len(b) == 0:
		return "text/plain; charset=utf-8"
	case b[0] == '{' || b[0] == '[':
		return "application/json"
	case b[0] == '<':
		return "text/xml"
	}
	return "text/plain; charset=utf-8"
}

// match returns the response for r, or nil. rp.mu is held.
func (rp *Replay) match(r *http.Request) *Response {
	q := r.URL.Query()
	best, bestN := []*Response(nil), -1
	for _, resp := range rp.responses {
		if resp.Method != r.Method || resp.Path != r.URL.Path || !queryMatches(resp.Query, q) {
			continue
		}
		switch n := len(resp.Query); {
		case n > bestN:
			best, bestN = []*Response{resp}, n
		case n == bestN:
			best = append(best, resp)
		}
	}
	for _, resp := range best {
		if resp.used == 0 {
			return resp
		}
	}
	if len(best) > 0 {
		return best[len(best)-1]
	}
	return nil
}

func queryMatches(want, got url.Values) bool {
	for k, vs := range want {
		g := got[k]
		if len(g) != len(vs) {
			return false
		}
		for i := range vs {
			if g[i] != vs[i] {
				return false
			}
		}
	}
	return true
}

// Requests returns every request received, in order.
func (rp *Replay) Requests() []Request {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]Request(nil), rp.requests...)
}

// Unanswered returns the requests no response matched, sorted and without repeats.
func (rp *Replay) Unanswered() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, r := range rp.requests {
		if !r.Answered && !seen[r.String()] {
			seen[r.String()] = true
			out = append(out, r.String())
		}
	}
	sort.Strings(out)
	return out
}

// Unused returns the responses no request asked for ("METHOD /path (source)"), so a test
// can insist that the connector read every documented example it was given.
func (rp *Replay) Unused() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	var out []string
	for _, r := range rp.responses {
		if r.used == 0 {
			s := r.Method + " " + r.Path
			if len(r.Query) > 0 {
				s += "?" + r.Query.Encode()
			}
			if r.Source != "" {
				s += " (" + r.Source + ")"
			}
			out = append(out, s)
		}
	}
	return out
}

// ServeReplay loads a replay file (see LoadReplay), serves it on 127.0.0.1 and returns the
// handler and the server's URL. When the test ends, every request the server had no answer
// for is a test error, and so is every response no request asked for: a documented example
// the connector never read proves nothing.
func ServeReplay(t testing.TB, path string) (*Replay, string) {
	t.Helper()
	rp, err := LoadReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	return rp, serveReplay(t, rp)
}

func serveReplay(t testing.TB, rp *Replay) string {
	t.Helper()
	srv, err := simkit.Serve(rp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		for _, r := range rp.Unanswered() {
			t.Errorf("replay: the connector asked %s, which the replay has no response for", r)
		}
		for _, r := range rp.Unused() {
			t.Errorf("replay: nobody asked for %s", r)
		}
	})
	return srv.URL
}

var (
	replayFileKeys = []string{"responses"}
	responseKeys   = []string{"method", "path", "query", "status", "headers", "body", "body_file", "source"}
)

// LoadReplay reads a replay file: a mapping with `responses:`, a list of
//
//	method:    GET, POST, … (required)
//	path:      the URL path, exactly (required)
//	query:     optional mapping of parameter to value (or list of values) the request must carry
//	status:    optional, default 200
//	headers:   optional mapping of header to value
//	body:      the body as text, or
//	body_file: a file holding it, relative to the replay file (documented examples kept
//	           byte for byte)
//	source:    where the response comes from (required: a docs page, an OpenAPI example,
//	           a recording)
//
// Bodies and headers may contain BaseURLPlaceholder. The file is decoded strictly: unknown
// and duplicate keys are errors naming file:line.
func LoadReplay(path string) (*Replay, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping with responses:", path)
	}
	top := root.Content[0]
	if err := checkKeys(path, top, replayFileKeys, "the replay file"); err != nil {
		return nil, err
	}
	list := mappingValue(top, "responses")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: responses must be a list", path, top.Line)
	}
	rp := &Replay{}
	for i, n := range list.Content {
		r, err := parseResponse(path, n, i)
		if err != nil {
			return nil, err
		}
		rp.responses = append(rp.responses, r)
	}
	return rp, nil
}

func parseResponse(path string, n *yaml.Node, i int) (*Response, error) {
	where := fmt.Sprintf("responses[%d]", i)
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %s must be a mapping", path, n.Line, where)
	}
	if err := checkKeys(path, n, responseKeys, where); err != nil {
		return nil, err
	}
	var raw struct {
		Method   string            `yaml:"method"`
		Path     string            `yaml:"path"`
		Query    map[string]any    `yaml:"query"`
		Status   int               `yaml:"status"`
		Headers  map[string]string `yaml:"headers"`
		Body     *string           `yaml:"body"`
		BodyFile string            `yaml:"body_file"`
		Source   string            `yaml:"source"`
	}
	if err := n.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s:%d: %s: %s", path, n.Line, where, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	r := &Response{Method: raw.Method, Path: raw.Path, Status: raw.Status, Source: raw.Source, line: n.Line}
	switch {
	case r.Method == "" || strings.ToUpper(r.Method) != r.Method:
		return nil, fmt.Errorf("%s:%d: %s.method must be an upper-case HTTP method", path, n.Line, where)
	case !strings.HasPrefix(r.Path, "/") || strings.Contains(r.Path, "?"):
		return nil, fmt.Errorf("%s:%d: %s.path must start with / and hold no query (use query:)", path, n.Line, where)
	case r.Source == "":
		return nil, fmt.Errorf("%s:%d: %s has no source (where the response comes from)", path, n.Line, where)
	case r.Status != 0 && (r.Status < 100 || r.Status > 599):
		return nil, fmt.Errorf("%s:%d: %s.status %d is not an HTTP status", path, n.Line, where, r.Status)
	case raw.Body != nil && raw.BodyFile != "":
		return nil, fmt.Errorf("%s:%d: %s has both body and body_file", path, n.Line, where)
	}
	if len(raw.Query) > 0 {
		r.Query = url.Values{}
		for k, v := range raw.Query {
			switch x := v.(type) {
			case []any:
				for _, e := range x {
					r.Query.Add(k, fmt.Sprint(e))
				}
			case map[string]any, nil:
				return nil, fmt.Errorf("%s:%d: %s.query.%s must be a value or a list of values", path, n.Line, where, k)
			default:
				r.Query.Add(k, fmt.Sprint(x))
			}
		}
	}
	if len(raw.Headers) > 0 {
		r.Header = http.Header{}
		for k, v := range raw.Headers {
			r.Header.Set(k, v)
		}
	}
	switch {
	case raw.Body != nil:
		r.Body = []byte(*raw.Body)
	case raw.BodyFile != "":
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), raw.BodyFile))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s.body_file: %w", path, n.Line, where, err)
		}
		r.Body = b
	}
	return r, nil
}
