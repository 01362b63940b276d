package connector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Sink is where the capturing transport stores response bodies. A store.Store fits.
type Sink interface {
	// Put stores size bytes read from r under digest d (see store.Store.Put).
	Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error
}

// TransportOptions configure NewTransport.
type TransportOptions struct {
	// Sink stores the redacted response bodies of recorded requests. Required for them:
	// without it a recorded request fails rather than lose its evidence.
	Sink Sink
	// Redactor removes secrets from bodies before they are hashed; nil means DefaultRedactor().
	Redactor *Redactor
	// Logger gets one debug line per exchange (method, sanitised URL, status, request id,
	// duration, bytes, redaction count). Never headers, never bodies. Nil discards.
	Logger *slog.Logger
	// MaxBody bounds a response body (after gzip decoding); 0 means DefaultMaxBody. A larger
	// body fails the request (ErrBodyTooLarge): a truncated record would not be evidence.
	MaxBody int64
	// Observe, if set, is called once per exchange (also failed and unrecorded ones) for
	// metrics. It is called from the goroutine that made the request and must be fast.
	Observe func(ExchangeStats)
	// Now is the clock for exchange start times and durations; nil means time.Now.
	Now func() time.Time
	// RequestTimeout bounds each request from sending it to the end of its response body
	// (for unrecorded requests: until the caller closes the body); 0 means none. An
	// attempt that takes longer fails with an error that wraps ErrRequestTimeout.
	RequestTimeout time.Duration
}

// ExchangeStats describe one upstream exchange for metrics.
type ExchangeStats struct {
	Host   string
	Method string
	// Status is the HTTP status, 0 if no response arrived.
	Status   int
	Duration time.Duration
	// Throttled is true for 429, for 403/503 with Retry-After or an exhausted rate limit,
	// and for AWS throttling errors (Throttling, ThrottlingException, RequestLimitExceeded, ...).
	Throttled bool
	// Bytes is the size of the response body as received (after gzip decoding).
	Bytes int64
}

// DefaultMaxBody is the largest response body the transport accepts by default.
const DefaultMaxBody int64 = 256 << 20

// ErrBodyTooLarge is returned (wrapped, as a failed gap) when a response body exceeds MaxBody.
var ErrBodyTooLarge = errors.New("response body exceeds the size limit")

// ErrRequestTimeout is returned (wrapped, as a failed gap) when a request takes longer than
// TransportOptions.RequestTimeout. RetryIdempotent retries it once.
var ErrRequestTimeout = errors.New("no complete response within the request timeout")

// requestTimeout is the cause of a request's context ending at its timeout.
type requestTimeout struct{ d time.Duration }

func (e requestTimeout) Error() string { return fmt.Sprintf("request timeout of %s", e.d) }

// NewTransport returns a RoundTripper that captures the exchanges of recorded requests
// around base (nil means http.DefaultTransport).
//
// For a request whose context carries a Recorder (see Record), it reads the whole response
// body (at most MaxBody bytes, gzip decoded), redacts it, stores the REDACTED body in the
// Sink under its digest, appends an evidence.Exchange (method, sanitised URL, status,
// upstream request id, start, duration, body reference, redactions) to the Recorder, and
// hands the caller the redacted body, so no secret in a response reaches documents, logs
// or errors. If the body cannot be read or stored, the request fails with an error that
// names the object: the connector then records a gap, and evidence is never lost silently.
// Error responses (4xx, 5xx) are recorded like any other: they are the provenance of gaps.
//
// A request whose context carries an ExchangeFilter (see WithExchangeFilter) has its body
// passed through the filter after redaction and before hashing and storing: the stored
// body, the body handed to the caller, the exchange's redactions and URL, the transport's
// errors and its debug log all show the filtered form. A filter error fails the request.
//
// Requests without a Recorder pass through unrecorded and unredacted (token endpoints,
// downloads); they are still observed and logged without headers, with the sanitised URL
// (and filtered, if the request has a filter: its body is then read and filtered too).
//
// Request headers (Authorization, X-Amz-Security-Token, Cookie, ...) and request bodies are
// never recorded or logged. Response headers are not recorded except the request id.
// Errors the transport returns never contain secrets; note that http.Client wraps them in
// a *url.Error quoting the full request URL, so connectors never put secrets into URLs,
// and gap messages go through Redactor.RedactError.
func NewTransport(base http.RoundTripper, opts TransportOptions) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &transport{base: base, opts: opts}
	if t.opts.Redactor == nil {
		t.opts.Redactor = DefaultRedactor()
	}
	if t.opts.Logger == nil {
		t.opts.Logger = slog.New(slog.DiscardHandler)
	}
	if t.opts.MaxBody <= 0 {
		t.opts.MaxBody = DefaultMaxBody
	}
	if t.opts.Now == nil {
		t.opts.Now = time.Now
	}
	return t
}

type transport struct {
	base http.RoundTripper
	opts TransportOptions
}

var _ http.RoundTripper = (*transport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	filter := ExchangeFilterFrom(ctx)
	rec := RecorderFrom(ctx)
	cancel := context.CancelFunc(func() {})
	if d := t.opts.RequestTimeout; d > 0 {
		var tctx context.Context
		tctx, cancel = context.WithTimeoutCause(ctx, d, requestTimeout{d})
		req = req.WithContext(tctx)
	}
	start := t.opts.Now()
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		cancel()
		err = t.timedOut(ctx, req, err)
		t.failed(rec, req, filter, 0, "", start)
		err = t.opts.Redactor.RedactError(err)
		if t.opts.Logger.Enabled(ctx, slog.LevelDebug) {
			t.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "upstream request failed",
				slog.String("method", method(req)), slog.String("url", filteredURL(req.URL, filter)),
				slog.String("error", err.Error()))
		}
		return nil, err
	}
	if rec == nil && filter == nil {
		t.passThrough(ctx, req, resp, start, cancel)
		return resp, nil
	}
	defer cancel()
	return t.capture(ctx, rec, filter, req, resp, start)
}

// timedOut turns err into a failed gap wrapping ErrRequestTimeout if the request's own
// timeout ended it (rather than the caller's context).
func (t *transport) timedOut(parent context.Context, req *http.Request, err error) error {
	var rt requestTimeout
	if parent.Err() != nil || !errors.As(context.Cause(req.Context()), &rt) {
		return err
	}
	return AsGap(evidence.StatusFailed, fmt.Errorf("%s %s: %w (%s, limits.request_timeout): %v",
		method(req), SanitizeURL(req.URL), ErrRequestTimeout, rt.d, err))
}

// failed records an attempt that produced no complete response (no answer, a truncated or
// unreadable body, a body that could not be stored): its provenance has no body.
func (t *transport) failed(rec *Recorder, req *http.Request, filter ExchangeFilter, status int, requestID string, start time.Time) {
	end := t.opts.Now()
	t.observe(req, status, end.Sub(start), false, 0)
	if rec == nil {
		return
	}
	rec.Add(evidence.Exchange{Method: method(req), URL: filteredURL(req.URL, filter), Status: status, RequestID: requestID,
		StartedAt: start.UTC(), DurationMS: end.Sub(start).Milliseconds()})
}

func method(req *http.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return req.Method
}

// capture reads the body of a recorded or filtered exchange; a recorded one's body is
// redacted and stored, a filtered one's passed through the filter (after redaction). An
// unrecorded filtered exchange is neither redacted nor stored, like any unrecorded one.
func (t *transport) capture(ctx context.Context, rec *Recorder, filter ExchangeFilter, req *http.Request, resp *http.Response, start time.Time) (*http.Response, error) {
	m, u := method(req), filteredURL(req.URL, filter)
	body, err := t.readBody(resp)
	resp.Body.Close()
	if err != nil {
		t.failed(rec, req, filter, resp.StatusCode, RequestID(resp.Header), start)
		if te := t.timedOut(ctx, req, err); te != err {
			err = te
		} else {
			err = fmt.Errorf("could not read the response body of %s %s (status %d): %w", m, u, resp.StatusCode, t.opts.Redactor.RedactError(err))
			if errors.Is(err, ErrBodyTooLarge) {
				err = AsGap(evidence.StatusFailed, err)
			}
		}
		err = t.opts.Redactor.RedactError(err)
		t.logFailure(ctx, m, u, err)
		return nil, err
	}
	contentType := resp.Header.Get("Content-Type")
	redacted, reds := body, []evidence.Redaction(nil)
	if rec != nil {
		redacted, reds = t.opts.Redactor.RedactResponse(req.URL.Path, contentType, body)
	}
	if filter != nil {
		out, freds, err := filter.FilterBody(resp.StatusCode, contentType, redacted)
		if err != nil {
			err = AsGap(evidence.StatusFailed, fmt.Errorf("could not filter the response body of %s %s (status %d): %w", m, u, resp.StatusCode, t.opts.Redactor.RedactError(err)))
			t.failed(rec, req, filter, resp.StatusCode, RequestID(resp.Header), start)
			t.logFailure(ctx, m, u, err)
			return nil, err
		}
		redacted = out
		reds = append(reds, freds...)
	}
	var x evidence.Exchange
	if rec != nil {
		d := evidence.Sum(redacted)
		if err := t.opts.putBody(ctx, d, redacted); err != nil {
			err = AsGap(evidence.StatusFailed, fmt.Errorf("could not store response body %s of %s %s: %w", d, m, u, t.opts.Redactor.RedactError(err)))
			t.failed(rec, req, filter, resp.StatusCode, RequestID(resp.Header), start)
			t.logFailure(ctx, m, u, err)
			return nil, err
		}
		x.Body = evidence.ObjectRef{Digest: d, Size: int64(len(redacted)), MediaType: mediaTypeOf(contentType)}
	}
	end := t.opts.Now()
	x.Method, x.URL, x.Status, x.RequestID = m, u, resp.StatusCode, RequestID(resp.Header)
	x.StartedAt, x.DurationMS, x.Redactions = start.UTC(), end.Sub(start).Milliseconds(), reds
	if rec != nil {
		rec.Add(x)
	}

	resp.Body = io.NopCloser(bytes.NewReader(redacted))
	// A HEAD response's Content-Length describes the body a GET would return; keep it.
	if m != http.MethodHead {
		resp.ContentLength = int64(len(redacted))
		resp.TransferEncoding = nil
		if resp.Header.Get("Content-Length") != "" {
			resp.Header.Set("Content-Length", strconv.Itoa(len(redacted)))
		}
	}
	throttled := isThrottled(resp.StatusCode, resp.Header, body)
	t.observe(req, resp.StatusCode, end.Sub(start), throttled, int64(len(body)))
	if t.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		n := 0
		for _, r := range reds {
			n += r.Count
		}
		msg, body := "upstream exchange", x.Body.Digest.String()
		if rec == nil {
			msg, body = "upstream exchange (filtered, not recorded)", ""
		}
		t.opts.Logger.LogAttrs(ctx, slog.LevelDebug, msg,
			slog.String("method", m), slog.String("url", u), slog.Int("status", resp.StatusCode),
			slog.String("request_id", x.RequestID), slog.Duration("duration", end.Sub(start)),
			slog.Int64("bytes", int64(len(redacted))), slog.String("body", body),
			slog.Int("redactions", n), slog.Bool("throttled", throttled))
	}
	return resp, nil
}

func (o *TransportOptions) putBody(ctx context.Context, d evidence.Digest, b []byte) error {
	if o.Sink == nil {
		return errors.New("the capturing transport has no sink")
	}
	return o.Sink.Put(ctx, d, bytes.NewReader(b), int64(len(b)))
}

func (t *transport) logFailure(ctx context.Context, m, u string, err error) {
	if t.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		t.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "upstream exchange not recorded",
			slog.String("method", m), slog.String("url", u), slog.String("error", err.Error()))
	}
}

// readBody reads the whole body, gzip decoded, refusing more than MaxBody bytes. It holds
// one copy of the body; the caller gets the redacted bytes (the same slice when nothing was
// redacted), so a recorded exchange costs at most two copies of a body, briefly.
func (t *transport) readBody(resp *http.Response) ([]byte, error) {
	var r io.Reader = resp.Body
	hint := int64(-1)
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); {
	case enc == "" || enc == "identity" || resp.Uncompressed:
		hint = resp.ContentLength
	case enc == "gzip" || enc == "x-gzip":
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("could not decode gzip: %w", err)
		}
		defer gz.Close()
		r = gz
		// The caller gets the decoded body.
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.Uncompressed = true
	default:
		// Secrets inside an encoding we cannot read could not be redacted.
		return nil, fmt.Errorf("cannot redact a body with Content-Encoding %q", enc)
	}
	limit := t.opts.MaxBody
	if hint > limit {
		return nil, fmt.Errorf("%w: Content-Length %d, limit %d", ErrBodyTooLarge, hint, limit)
	}
	size := 4096
	if hint >= 0 {
		size = int(hint) + 1 // +1: reaching EOF must not grow the buffer
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// passThrough wraps an unrecorded response's body so that the exchange is observed and
// logged, and its request timeout released, when the caller has read or closed it.
func (t *transport) passThrough(ctx context.Context, req *http.Request, resp *http.Response, start time.Time, cancel context.CancelFunc) {
	if t.opts.Observe == nil && !t.opts.Logger.Enabled(ctx, slog.LevelDebug) {
		if t.opts.RequestTimeout > 0 {
			resp.Body = &observedBody{rc: resp.Body, done: func(int64) { cancel() }}
		}
		return
	}
	status, header := resp.StatusCode, resp.Header
	resp.Body = &observedBody{rc: resp.Body, done: func(n int64) {
		defer cancel()
		d := t.opts.Now().Sub(start)
		throttled := isThrottled(status, header, nil)
		t.observe(req, status, d, throttled, n)
		if t.opts.Logger.Enabled(ctx, slog.LevelDebug) {
			t.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "upstream exchange (not recorded)",
				slog.String("method", method(req)), slog.String("url", SanitizeURL(req.URL)),
				slog.Int("status", status), slog.String("request_id", RequestID(header)),
				slog.Duration("duration", d), slog.Int64("bytes", n), slog.Bool("throttled", throttled))
		}
	}}
}

func (t *transport) observe(req *http.Request, status int, d time.Duration, throttled bool, n int64) {
	if t.opts.Observe == nil {
		return
	}
	t.opts.Observe(ExchangeStats{Host: req.URL.Host, Method: method(req), Status: status, Duration: d, Throttled: throttled, Bytes: n})
}

// observedBody calls done once, at the first EOF, error or Close.
type observedBody struct {
	rc   io.ReadCloser
	n    int64
	once sync.Once
	done func(n int64)
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil {
		b.once.Do(func() { b.done(b.n) })
	}
	return n, err
}

func (b *observedBody) Close() error {
	b.once.Do(func() { b.done(b.n) })
	return b.rc.Close()
}

// awsThrottleCodes are the error codes AWS APIs answer throttling with (often as HTTP 400).
var awsThrottleCodes = [][]byte{
	[]byte("Throttling"), []byte("ThrottlingException"), []byte("ThrottledException"),
	[]byte("RequestLimitExceeded"), []byte("TooManyRequestsException"), []byte("RequestThrottled"),
	[]byte("SlowDown"), []byte("ProvisionedThroughputExceededException"),
}

// isThrottled reports whether a response says the caller is being rate limited.
func isThrottled(status int, h http.Header, body []byte) bool {
	switch status {
	case http.StatusTooManyRequests:
		return true
	case http.StatusForbidden:
		return h.Get("Retry-After") != "" || h.Get("X-Ratelimit-Remaining") == "0"
	case http.StatusServiceUnavailable, http.StatusBadRequest:
		if status == http.StatusServiceUnavailable && h.Get("Retry-After") != "" {
			return true
		}
		if len(body) > 0 && len(body) < 64<<10 {
			for _, c := range awsThrottleCodes {
				if bytes.Contains(body, c) {
					return true
				}
			}
		}
	}
	return false
}
