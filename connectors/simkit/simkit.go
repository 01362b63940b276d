// Package simkit is the shared harness of the upstream simulators in connectors/*/sim: it
// wraps a simulator's http.Handler with latency, injected faults and request counting, and
// serves it on 127.0.0.1 for tests, benchmarks and `exhibit demo`.
package simkit

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"
)

// FaultKind is what an injected fault does to a matching request.
type FaultKind string

// The faults a simulator can inject.
const (
	// Throttle answers 429 with Retry-After (RetryAfter, default 1s).
	Throttle FaultKind = "throttle"
	// ThrottleNoRetryAfter answers 429 without Retry-After.
	ThrottleNoRetryAfter FaultKind = "throttle_no_retry_after"
	// ServerError answers Status (default 500).
	ServerError FaultKind = "server_error"
	// Forbidden answers 403 with Body.
	Forbidden FaultKind = "forbidden"
	// Hang never answers until the client gives up (its context or timeout ends).
	Hang FaultKind = "hang"
	// Truncate sends the real response's headers and half its body, then cuts the connection.
	Truncate FaultKind = "truncate"
	// Custom answers Status with Header and Body, for upstream-specific fault shapes
	// (GitHub's secondary-rate-limit 403 body, AWS's Throttling XML).
	Custom FaultKind = "custom"
)

// Fault injects a failure into matching requests.
type Fault struct {
	// Method matches the request method; empty matches any.
	Method string
	// Path is a regular expression matched against the URL path (plus "?"+query when it
	// contains a '?'). Empty matches any path.
	Path string
	Kind FaultKind
	// Times is how many matching requests fail before the fault clears; 0 means always.
	Times int
	// RetryAfter for Throttle; Status for ServerError and Custom. Header and Body for
	// every kind but Hang and Truncate: a Content-Type in Header is kept (a JSON or XML
	// error body the SDK must parse), otherwise the body is sent as text/plain.
	RetryAfter time.Duration
	Status     int
	Header     http.Header
	Body       string
}

// Options configure the harness.
type Options struct {
	// Latency is added to every response (honouring the request's context).
	Latency time.Duration
	Faults  []Fault
}

// Harness wraps a simulator handler.
type Harness struct {
	next    http.Handler
	latency time.Duration

	mu     sync.Mutex
	faults []*activeFault
	calls  map[string]int
	total  int
}

type activeFault struct {
	Fault
	re   *regexp.Regexp
	used int
}

// Wrap returns a harness around h. Invalid fault patterns panic: they are test code.
func Wrap(h http.Handler, opts Options) *Harness {
	hs := &Harness{next: h, latency: opts.Latency, calls: map[string]int{}}
	hs.SetFaults(opts.Faults...)
	return hs
}

// SetFaults replaces the injected faults.
func (h *Harness) SetFaults(faults ...Fault) {
	active := make([]*activeFault, 0, len(faults))
	for _, f := range faults {
		af := &activeFault{Fault: f}
		if f.Path != "" {
			af.re = regexp.MustCompile(f.Path)
		}
		active = append(active, af)
	}
	h.mu.Lock()
	h.faults = active
	h.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (h *Harness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		key += "?" + r.URL.RawQuery
	}
	h.mu.Lock()
	h.calls[key]++
	h.total++
	f := h.match(r, key)
	h.mu.Unlock()

	if h.latency > 0 {
		t := time.NewTimer(h.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f == nil {
		h.next.ServeHTTP(w, r)
		return
	}
	switch f.Kind {
	case Throttle:
		ra := f.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
		writeFault(w, http.StatusTooManyRequests, f.Header, orDefault(f.Body, "Too Many Requests"))
	case ThrottleNoRetryAfter:
		writeFault(w, http.StatusTooManyRequests, f.Header, orDefault(f.Body, "Too Many Requests"))
	case ServerError:
		writeFault(w, orStatus(f.Status, http.StatusInternalServerError), f.Header, orDefault(f.Body, "internal error"))
	case Forbidden:
		writeFault(w, http.StatusForbidden, f.Header, orDefault(f.Body, "Forbidden"))
	case Custom:
		copyHeader(w.Header(), f.Header)
		w.WriteHeader(orStatus(f.Status, http.StatusInternalServerError))
		fmt.Fprint(w, f.Body)
	case Hang:
		<-r.Context().Done()
	case Truncate:
		rec := &bufferedWriter{header: http.Header{}}
		h.next.ServeHTTP(rec, r)
		copyHeader(w.Header(), rec.header)
		w.Header().Set("Content-Length", strconv.Itoa(len(rec.body)))
		w.WriteHeader(orStatus(rec.status, http.StatusOK))
		w.Write(rec.body[:len(rec.body)/2])
		// Flush first: Hijack discards what is still buffered, and the client must get
		// the first half of the body, not just the headers.
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
	default:
		panic("simkit: unknown fault kind " + string(f.Kind))
	}
}

func (h *Harness) match(r *http.Request, key string) *activeFault {
	for _, f := range h.faults {
		if f.Times > 0 && f.used >= f.Times {
			continue
		}
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if f.re != nil {
			target := r.URL.Path
			if r.URL.RawQuery != "" && regexpWantsQuery(f.Path) {
				target += "?" + r.URL.RawQuery
			}
			if !f.re.MatchString(target) {
				continue
			}
		}
		f.used++
		return f
	}
	return nil
}

func regexpWantsQuery(p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' && (i == 0 || p[i-1] == '\\') {
			return true
		}
	}
	return false
}

// Calls returns how often each "METHOD /path?query" was requested.
func (h *Harness) Calls() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.calls))
	for k, v := range h.calls {
		out[k] = v
	}
	return out
}

// Total returns the number of requests served (faults included).
func (h *Harness) Total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// Repeated returns the requests made more than once, sorted, so tests and benchmarks can
// assert that no call was made twice.
func (h *Harness) Repeated() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for k, v := range h.calls {
		if v > 1 {
			out = append(out, fmt.Sprintf("%s (%d×)", k, v))
		}
	}
	sort.Strings(out)
	return out
}

// ResetCounts forgets the counted requests.
func (h *Harness) ResetCounts() {
	h.mu.Lock()
	h.calls = map[string]int{}
	h.total = 0
	h.mu.Unlock()
}

// Server is a simulator listening on 127.0.0.1.
type Server struct {
	URL string // e.g. http://127.0.0.1:41234
	srv *http.Server
	ln  net.Listener
}

// Serve starts h on 127.0.0.1 on a free port. Close it when done.
func Serve(h http.Handler) (*Server, error) {
	return ServePreferring(h, 0)
}

// ServePreferring starts h on 127.0.0.1:port when that port is free, else on a free port.
// `exhibit demo` uses it to keep its simulators' addresses stable across runs, so URLs in
// recorded responses stay the same and unchanged evidence deduplicates.
func ServePreferring(h http.Handler, port int) (*Server, error) {
	var ln net.Listener
	var err error
	if port > 0 {
		ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	}
	if ln == nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, fmt.Errorf("simulator: could not listen on 127.0.0.1: %w", err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server, cutting open connections.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	// Shutdown closes only listeners Serve has registered; if the serving goroutine has not
	// started yet, the port would stay bound until it does. Close it here, so the port is
	// free when Close returns (ServePreferring relies on that).
	s.ln.Close()
	return err
}

type bufferedWriter struct {
	header http.Header
	status int
	body   []byte
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}

// writeFault answers an injected error like http.Error does, but keeps the fault's own
// headers, Content-Type included (http.Error would replace it with text/plain).
func writeFault(w http.ResponseWriter, status int, header http.Header, body string) {
	copyHeader(w.Header(), header)
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orStatus(code, def int) int {
	if code == 0 {
		return def
	}
	return code
}
