package msgraph

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Clock is the time source of rate limiting and retry waits. Tests use a fake one that
// records the waits instead of sleeping.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error { return connector.Sleep(ctx, d) }

// endpointClass says which throttling limit a Graph path falls under.
func endpointClass(path string) string {
	p := strings.TrimPrefix(path, "/v1.0")
	p = strings.TrimPrefix(p, "/beta")
	switch {
	case strings.HasPrefix(p, "/identity/conditionalAccess"), strings.HasPrefix(p, "/identityProtection"):
		return classConditionalAccess
	case strings.HasPrefix(p, "/reports/"), strings.HasPrefix(p, "/auditLogs/"):
		return classReports
	case strings.HasPrefix(p, "/deviceManagement/"):
		return classIntune
	}
	return classDirectory
}

type batchKey struct{}

// withBatch tells the rate limiter that a $batch request carries n sub-requests of class:
// Graph throttles the sub-requests one by one.
func withBatch(ctx context.Context, class string, n int) context.Context {
	return context.WithValue(ctx, batchKey{}, batchInfo{class, n})
}

type batchInfo struct {
	class string
	n     int
}

// limiter spaces requests per endpoint class so that the connector stays within Graph's
// limits instead of running into 429s. Burst is 1: requests are spread evenly, N per
// period, which is what the documented per-tenant limits allow.
type limiter struct {
	clock   Clock
	mu      sync.Mutex
	classes map[string]*rate.Limiter
	limits  map[string]rateLimit
	counts  map[string]int
}

func newLimiter(clock Clock, limits map[string]rateLimit) *limiter {
	l := &limiter{clock: clock, classes: map[string]*rate.Limiter{}, limits: limits, counts: map[string]int{}}
	for class, lim := range limits {
		l.classes[class] = rate.NewLimiter(rate.Every(lim.Interval()), 1)
	}
	return l
}

// wait blocks until n requests of class may be sent.
func (l *limiter) wait(ctx context.Context, class string, n int) error {
	l.mu.Lock()
	lim := l.classes[class]
	l.counts[class] += n
	l.mu.Unlock()
	if lim == nil {
		return nil
	}
	now := l.clock.Now()
	// ReserveN refuses n above the burst; a batch then takes its sub-requests' tokens one
	// after the other, which is the same spacing.
	var delay time.Duration
	for i := 0; i < n; i++ {
		r := lim.ReserveN(now, 1)
		if !r.OK() {
			return fmt.Errorf("rate limiter for %s refused a reservation", class)
		}
		delay = r.DelayFrom(now)
	}
	if err := l.clock.Sleep(ctx, delay); err != nil {
		return err
	}
	return nil
}

// Counts returns the requests (sub-requests of batches included) per class so far.
func (l *limiter) Counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
	}
	return out
}

// limitTransport waits for the rate limiter before each attempt of a request.
type limitTransport struct {
	next    http.RoundTripper
	limiter *limiter
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	class, n := endpointClass(req.URL.Path), 1
	if b, ok := req.Context().Value(batchKey{}).(batchInfo); ok {
		class, n = b.class, b.n
	}
	if err := t.limiter.wait(req.Context(), class, n); err != nil {
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// retryTransport retries throttled and unavailable responses (429, 503, 504), waiting as
// long as Retry-After (or retry-after-ms) asks, or backing off exponentially from 1 s when
// the service sends none (the conditional access service never does). A demanded wait
// longer than Limits.MaxRetryAfter, or one that would outlast ctx's deadline, is not waited
// for: the request fails at once as a throttled gap. At most Limits.MaxAttempts attempts.
//
// We do not use Kiota's RetryHandler: it sleeps on the wall clock (so neither tests nor the
// benchmark can control time), caps only the cumulative delay at 180 s regardless of our
// MaxRetryAfter, and retries below our rate limiter, so retries would not be spaced.
type retryTransport struct {
	next   http.RoundTripper
	clock  Clock
	limits connector.Limits
}

const maxBackoff = 30 * time.Second

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	attempts := t.limits.MaxAttempts
	if attempts <= 0 {
		attempts = connector.DefaultLimits.MaxAttempts
	}
	maxWait := t.limits.MaxRetryAfter
	if maxWait == 0 {
		maxWait = connector.DefaultLimits.MaxRetryAfter
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// Kiota does not set GetBody; keep the (small, $batch) body to send it again.
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("could not read the request body: %w", err)
		}
		req = req.Clone(ctx)
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			r = req.Clone(ctx)
			if req.GetBody != nil {
				b, err := req.GetBody()
				if err != nil {
					return nil, fmt.Errorf("could not rewind the request body for a retry: %w", err)
				}
				r.Body = b
			}
		}
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if !retryable(resp.StatusCode) || attempt >= attempts {
			return resp, nil
		}
		wait, asked := connector.RetryAfter(resp, t.clock.Now())
		if !asked {
			wait = min(time.Second<<(attempt-1), maxBackoff)
		}
		status := resp.StatusCode
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if wait > maxWait {
			return nil, connector.AsGap(evidence.StatusThrottled, fmt.Errorf("Graph answered %d and asked to wait %s, more than the allowed %s (limits.max_retry_after)", status, wait, maxWait))
		}
		if dl, ok := ctx.Deadline(); ok && dl.Sub(t.clock.Now()) < wait {
			return nil, connector.AsGap(evidence.StatusThrottled, fmt.Errorf("Graph answered %d and asked to wait %s, beyond the deadline of the collection", status, wait))
		}
		if err := t.clock.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// plainErrorTransport turns an error response whose body is not JSON (a gateway's or a
// throttler's text/plain or HTML page) into a gap carrying the HTTP status. Kiota would
// parse such a body as an OData error, fail with "text does not support structured data"
// and lose the status, so a 429 would become a plain failure. The capturing transport below
// has already stored the exchange; the body's text is not quoted (it may echo secrets).
type plainErrorTransport struct{ next http.RoundTripper }

func (t *plainErrorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 || isJSONContent(resp.Header.Get("Content-Type")) {
		return resp, err
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	return nil, connector.AsGap(connector.StatusForHTTP(resp.StatusCode),
		fmt.Errorf("Graph answered %d %s with a body that is not a Graph error (%s, %d bytes)", resp.StatusCode, http.StatusText(resp.StatusCode), ct, n))
}

func isJSONContent(ct string) bool {
	ct = strings.ToLower(ct)
	return strings.Contains(ct, "json")
}

func retryable(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}
