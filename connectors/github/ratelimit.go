package github

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// sleeper waits for d or until ctx ends. Tests replace it with one that advances a fake
// clock, so no test ever sleeps.
type sleeper func(ctx context.Context, d time.Duration) error

const (
	// secondaryBackoffStart is the first wait after a secondary rate limit that names no
	// Retry-After: GitHub asks to wait at least a minute, then exponentially longer.
	secondaryBackoffStart = time.Minute
	// serverBackoffStart is the first wait after a 502/503/504 (GitHub's front ends answer
	// those transiently under load).
	serverBackoffStart = time.Second
	// resetSkew is added to a primary reset time: GitHub's clock and ours differ slightly.
	resetSkew = time.Second
	// peekLimit bounds how much of an error body is read to recognise a secondary limit.
	peekLimit = 64 << 10
)

// secondaryRe recognises GitHub's secondary rate limit answers, old ("abuse detection")
// and new wording, in the message or its documentation URL.
var secondaryRe = regexp.MustCompile(`(?i)secondary rate limit|abuse detection|abuse-rate-limits|secondary-rate-limits`)

// limiter is the http.RoundTripper that keeps the connector within GitHub's rate limits.
// It sits between go-github and the authenticating, capturing transport:
//
//   - concurrency: at most cap(sem) requests in flight (GitHub asks integrators not to make
//     many concurrent requests; secondary limits punish it);
//   - primary limit: when a response reports x-ratelimit-remaining 0 for the core resource,
//     every request waits until x-ratelimit-reset; a 403/429 with remaining 0 is retried
//     after the reset;
//   - secondary limit: a 403/429 with Retry-After waits that long; without Retry-After but
//     with GitHub's secondary-limit message (or a bare 429) it backs off exponentially from
//     one minute. The pause applies to every request of the run, not just the one that hit it;
//   - transient 502/503/504 are retried with a short exponential backoff;
//   - a single wait longer than Limits.MaxRetryAfter is not waited: the request fails with a
//     throttled gap, and so do the requests behind it until the pause ends. The per-run
//     deadline is the request's context.
//
// It is the only rate-limit authority: go-github v60 refuses requests on its own, judged by
// the wall clock, once it has seen remaining 0 and a future reset, and offers no exported way
// to switch that off. The limiter therefore hides x-ratelimit-reset from go-github after
// reading it (the captured exchange keeps the original headers).
type limiter struct {
	next        http.RoundTripper
	sem         chan struct{}
	now         func() time.Time
	sleep       sleeper
	maxWait     time.Duration
	maxAttempts int
	log         *slog.Logger

	mu          sync.Mutex
	pausedUntil time.Time
	pauseWhy    string
	core        quota
	stats       limiterStats
}

// quota is the primary rate limit as GitHub last reported it for the core resource.
type quota struct {
	Known     bool
	Limit     int
	Remaining int
	Used      int
	Reset     time.Time
}

// limiterStats are the counters reported in the github.rate_limit artefact and the log.
type limiterStats struct {
	Requests       int   `json:"requests"`
	Retries        int   `json:"retries"`
	PrimaryWaits   int   `json:"primary_waits"`
	SecondaryWaits int   `json:"secondary_waits"`
	ServerRetries  int   `json:"server_error_retries"`
	Throttled      int   `json:"throttled"`
	WaitedMS       int64 `json:"waited_ms"`
}

var _ http.RoundTripper = (*limiter)(nil)

func newLimiter(next http.RoundTripper, concurrency int, limits connector.Limits, now func() time.Time, sleep sleeper, log *slog.Logger) *limiter {
	if concurrency < 1 {
		concurrency = 1
	}
	if limits.MaxAttempts < 1 {
		limits.MaxAttempts = connector.DefaultLimits.MaxAttempts
	}
	if limits.MaxRetryAfter <= 0 {
		limits.MaxRetryAfter = connector.DefaultLimits.MaxRetryAfter
	}
	return &limiter{
		next: next, sem: make(chan struct{}, concurrency), now: now, sleep: sleep,
		maxWait: limits.MaxRetryAfter, maxAttempts: limits.MaxAttempts, log: log,
	}
}

// RoundTrip implements http.RoundTripper.
func (l *limiter) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.sem }()

	secondary := secondaryBackoffStart
	server := serverBackoffStart
	for attempt := 1; ; attempt++ {
		if err := l.waitPaused(ctx); err != nil {
			return nil, err
		}
		r := req
		if attempt > 1 {
			var ok bool
			if r, ok = rewind(req); !ok {
				return nil, fmt.Errorf("could not retry %s %s: the request body cannot be replayed", req.Method, req.URL.Path)
			}
		}
		resp, err := l.next.RoundTrip(r)
		l.count(func(s *limiterStats) { s.Requests++ })
		if err != nil {
			return nil, err
		}
		l.observe(resp)
		d := l.decide(resp, &secondary, &server)
		if !d.retry {
			return hideReset(resp), nil
		}
		if d.wait > l.maxWait || attempt >= l.maxAttempts {
			drain(resp)
			if d.server {
				return nil, fmt.Errorf("%s %s: HTTP %d after %d attempts", req.Method, req.URL.Path, resp.StatusCode, attempt)
			}
			l.count(func(s *limiterStats) { s.Throttled++ })
			if d.explicit {
				// GitHub named the end of the limit: the other requests must not run into it.
				l.pause(l.now().Add(d.wait), d.reason)
			}
			why := fmt.Sprintf("wait of %s exceeds the %s cap", d.wait.Round(time.Second), l.maxWait)
			if attempt >= l.maxAttempts && d.wait <= l.maxWait {
				why = fmt.Sprintf("still limited after %d attempts", attempt)
			}
			return nil, connector.AsGap(evidence.StatusThrottled,
				fmt.Errorf("GitHub %s on %s %s (HTTP %d): %s", d.reason, req.Method, req.URL.Path, resp.StatusCode, why))
		}
		drain(resp)
		l.count(func(s *limiterStats) {
			s.Retries++
			switch {
			case d.server:
				s.ServerRetries++
			case d.reason == "primary rate limit":
				s.PrimaryWaits++
			default:
				s.SecondaryWaits++
			}
		})
		if d.server {
			// A server error is this request's problem, not a reason to stop the others.
			if l.log != nil {
				l.log.Warn("github: retrying after server error", "status", resp.StatusCode, "path", req.URL.Path, "wait", d.wait)
			}
			if err := l.wait(ctx, d.wait); err != nil {
				return nil, err
			}
			continue
		}
		l.pause(l.now().Add(d.wait), d.reason)
	}
}

// decision says whether and how long to wait before retrying a response.
type decision struct {
	retry  bool
	server bool
	// explicit is true when GitHub named the wait (reset time or Retry-After) rather than
	// the limiter guessing it by backing off.
	explicit bool
	wait     time.Duration
	reason   string
}

func (l *limiter) decide(resp *http.Response, secondary, server *time.Duration) decision {
	switch resp.StatusCode {
	case http.StatusForbidden, http.StatusTooManyRequests:
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		w := *server
		*server *= 2
		return decision{retry: true, server: true, wait: w, reason: "server error"}
	default:
		return decision{}
	}
	h := resp.Header
	if h.Get("X-Ratelimit-Remaining") == "0" {
		if reset, ok := parseEpoch(h.Get("X-Ratelimit-Reset")); ok {
			w := reset.Add(resetSkew).Sub(l.now())
			if w < 0 {
				w = 0
			}
			return decision{retry: true, explicit: true, wait: w, reason: "primary rate limit"}
		}
	}
	if ra, ok := connector.RetryAfter(resp, l.now()); ok {
		return decision{retry: true, explicit: true, wait: ra, reason: "secondary rate limit"}
	}
	body := peekBody(resp, peekLimit)
	if resp.StatusCode == http.StatusTooManyRequests || secondaryRe.Match(body) {
		w := *secondary
		*secondary *= 2
		return decision{retry: true, wait: w, reason: "secondary rate limit"}
	}
	return decision{} // a real 403: permissions, plan, SSO; the caller turns it into a gap
}

// observe records the primary quota and pauses everyone when the core quota is used up.
func (l *limiter) observe(resp *http.Response) {
	h := resp.Header
	rem := h.Get("X-Ratelimit-Remaining")
	if rem == "" {
		return
	}
	if res := h.Get("X-Ratelimit-Resource"); res != "" && res != "core" {
		return // search, audit_log, ... have their own quotas; their 403s are retried per request
	}
	q := quota{Known: true}
	q.Remaining, _ = strconv.Atoi(rem)
	q.Limit, _ = strconv.Atoi(h.Get("X-Ratelimit-Limit"))
	q.Used, _ = strconv.Atoi(h.Get("X-Ratelimit-Used"))
	reset, hasReset := parseEpoch(h.Get("X-Ratelimit-Reset"))
	q.Reset = reset
	l.mu.Lock()
	l.core = q
	l.mu.Unlock()
	if q.Remaining == 0 && hasReset {
		l.pause(reset.Add(resetSkew), "primary rate limit")
	}
}

// pause stops every request until t (extending, never shortening, a pause in force).
func (l *limiter) pause(t time.Time, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.pausedUntil) {
		l.pausedUntil, l.pauseWhy = t, why
	}
}

// waitPaused waits out a pause in force, or fails with a throttled gap when it is longer
// than the cap.
func (l *limiter) waitPaused(ctx context.Context) error {
	for {
		l.mu.Lock()
		until, why := l.pausedUntil, l.pauseWhy
		l.mu.Unlock()
		d := until.Sub(l.now())
		if d <= 0 {
			return nil
		}
		if d > l.maxWait {
			l.count(func(s *limiterStats) { s.Throttled++ })
			return connector.AsGap(evidence.StatusThrottled, fmt.Errorf(
				"GitHub %s: requests are paused until %s, longer than the %s wait cap",
				why, until.UTC().Format(time.RFC3339), l.maxWait))
		}
		if l.log != nil {
			l.log.Info("github: waiting for rate limit", "reason", why, "wait", d.Round(time.Second))
		}
		if err := l.wait(ctx, d); err != nil {
			return err
		}
	}
}

// wait sleeps d, unless the run's deadline comes first: then the request would fail anyway,
// and it fails now as throttled rather than later as a timeout.
func (l *limiter) wait(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		l.count(func(s *limiterStats) { s.Throttled++ })
		return connector.AsGap(evidence.StatusThrottled, fmt.Errorf("GitHub asked to wait %s, beyond the deadline of the collection", d.Round(time.Second)))
	}
	l.count(func(s *limiterStats) { s.WaitedMS += d.Milliseconds() })
	return l.sleep(ctx, d)
}

func (l *limiter) count(fn func(*limiterStats)) {
	l.mu.Lock()
	fn(&l.stats)
	l.mu.Unlock()
}

// snapshot returns the last core quota and the counters.
func (l *limiter) snapshot() (quota, limiterStats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.core, l.stats
}

// hideReset removes x-ratelimit-reset from what go-github sees (see limiter).
func hideReset(resp *http.Response) *http.Response {
	if resp.Header.Get("X-Ratelimit-Reset") == "" {
		return resp
	}
	resp.Header = resp.Header.Clone()
	resp.Header.Del("X-Ratelimit-Reset")
	return resp
}

// rewind returns a copy of req that can be sent again.
func rewind(req *http.Request) (*http.Request, bool) {
	r := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return r, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	r.Body = b
	return r, true
}

// peekBody reads up to max bytes of the body and puts them back in front of the rest.
func peekBody(resp *http.Response, max int64) []byte {
	if resp.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, max))
	rest := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), rest), rest}
	return b
}

// drain reads a little of the body (so the connection can be reused) and closes it.
func drain(resp *http.Response) {
	if resp.Body != nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, peekLimit))
		resp.Body.Close()
	}
}

func parseEpoch(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s <= 0 {
		return time.Time{}, false
	}
	return time.Unix(s, 0), true
}
