package connector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"syscall"
	"time"
)

// RetryOptions configure RetryIdempotent.
type RetryOptions struct {
	// Limits: MaxAttempts bounds the attempts per request (the first included),
	// MaxRetryAfter a single wait (DefaultLimits' where unset).
	Limits Limits
	// Statuses are the response statuses retried; nil means DefaultRetryStatuses. Leave
	// out those a layer above already retries (an SDK's retry handler, a rate limiter), so
	// that attempts never multiply.
	Statuses []int
	// Sleep waits between attempts; nil means Sleep. Tests pass their fake clock's.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock Retry-After dates are read against; nil means time.Now.
	Now func() time.Time
	// Logger gets one warning per retry; nil discards.
	Logger *slog.Logger
}

// DefaultRetryStatuses are the transient server errors RetryIdempotent retries by default.
var DefaultRetryStatuses = []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

const (
	// retryBackoff is the first wait before a retry; it doubles up to retryBackoffMax.
	retryBackoff    = time.Second
	retryBackoffMax = 30 * time.Second
	// maxTimeoutAttempts bounds the attempts of a request that timed out: an endpoint that
	// hung once mostly hangs again, and each attempt costs a whole request timeout.
	maxTimeoutAttempts = 2
)

// RetryIdempotent returns a RoundTripper that retries idempotent requests (GET, HEAD,
// OPTIONS) that failed in a way that may pass: an answer with one of opts.Statuses, a
// connection reset or a body cut short (io.ErrUnexpectedEOF), and a request that took
// longer than its request timeout (ErrRequestTimeout, tried at most twice). It waits as
// long as Retry-After asks, else backs off exponentially from one second, within the
// rules of Wait: a wait longer than Limits.MaxRetryAfter or past the context's deadline
// is not made, and the last answer or error is returned instead. Other requests and other
// errors pass through untouched.
//
// Connectors opt in by putting it above Options.HTTPClient's transport, so that every
// attempt passes through the capturing transport and is recorded as provenance of the
// artefact (an attempt without a complete response is recorded without a body). Where
// the SDK retries some statuses itself (the AWS SDK's standard retryer retries 500-504
// and broken connections: AWS connectors need nothing from here; Kiota's retry handler
// 429, 503 and 504), pass only the others in Statuses.
func RetryIdempotent(next http.RoundTripper, opts RetryOptions) http.RoundTripper {
	t := &retrier{next: next, opts: opts, statuses: map[int]bool{}}
	if opts.Statuses == nil {
		opts.Statuses = DefaultRetryStatuses
	}
	for _, s := range opts.Statuses {
		t.statuses[s] = true
	}
	if t.opts.Limits.MaxAttempts <= 0 {
		t.opts.Limits.MaxAttempts = DefaultLimits.MaxAttempts
	}
	if t.opts.Sleep == nil {
		t.opts.Sleep = Sleep
	}
	if t.opts.Now == nil {
		t.opts.Now = time.Now
	}
	if t.opts.Logger == nil {
		t.opts.Logger = slog.New(slog.DiscardHandler)
	}
	return t
}

type retrier struct {
	next     http.RoundTripper
	opts     RetryOptions
	statuses map[int]bool
}

// RoundTrip implements http.RoundTripper.
func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	backoff, timeouts := retryBackoff, 0
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			r = req.Clone(ctx)
		}
		resp, err := t.next.RoundTrip(r)
		last := attempt >= t.opts.Limits.MaxAttempts
		var wait time.Duration
		var why string
		switch {
		case err != nil:
			if errors.Is(err, ErrRequestTimeout) {
				timeouts++
				last = last || timeouts >= maxTimeoutAttempts
			}
			if last || ctx.Err() != nil || !transient(err) || mayWait(ctx, backoff, t.opts.Limits) != nil {
				return nil, err
			}
			wait, why = backoff, err.Error()
		case t.statuses[resp.StatusCode] && !last:
			var asked bool
			if wait, asked = RetryAfter(resp, t.opts.Now()); !asked {
				wait = backoff
			}
			if mayWait(ctx, wait, t.opts.Limits) != nil {
				return resp, nil
			}
			why = resp.Status
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		default:
			return resp, nil
		}
		t.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "retrying an upstream request",
			slog.String("method", method(req)), slog.String("url", SanitizeURL(req.URL)),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("reason", why))
		if err := t.opts.Sleep(ctx, wait); err != nil {
			return nil, err
		}
		backoff = min(backoff*2, retryBackoffMax)
	}
}

// transient reports whether a failed attempt may succeed when tried again: it timed out,
// or the connection broke (reset, or closed before the whole body arrived).
func transient(err error) bool {
	return errors.Is(err, ErrRequestTimeout) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF)
}
