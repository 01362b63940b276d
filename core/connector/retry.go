package connector

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// RetryAfter returns how long a response asks the caller to wait before trying again,
// from Retry-After (delta seconds or an HTTP date, relative to now) or, for Azure and
// Microsoft Graph, retry-after-ms / x-ms-retry-after-ms. The second result is false if the
// response asks for nothing or the header is invalid. A date in the past means 0.
//
// Do not use it to build a retrier where the SDK has one (AWS standard retryer, Kiota's
// retry handler): it is for connectors whose SDK does not honour Retry-After.
func RetryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	for _, h := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := strings.TrimSpace(resp.Header.Get(h)); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms >= 0 && ms <= int64(maxWait/time.Millisecond) {
				return time.Duration(ms) * time.Millisecond, true
			}
		}
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > int64(maxWait/time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// maxWait bounds parsed waits so that arithmetic on them cannot overflow; anything near
// it is far beyond any MaxRetryAfter.
const maxWait = 1000 * time.Hour

// Wait waits d, as demanded by Retry-After or a rate-limit reset. It returns a throttled
// GapError at once, without waiting, if d exceeds limits.MaxRetryAfter (DefaultLimits'
// if not set; a negative MaxRetryAfter allows no wait at all) or if ctx's deadline comes
// before the wait would end: the request would fail anyway, and its artefact becomes a
// throttled gap rather than a timeout. It returns ctx.Err() if ctx ends while waiting.
func Wait(ctx context.Context, d time.Duration, limits Limits) error {
	if err := mayWait(ctx, d, limits); err != nil {
		return err
	}
	return Sleep(ctx, d)
}

// mayWait returns Wait's error for a wait of d that is not allowed, or nil (also for d <= 0).
func mayWait(ctx context.Context, d time.Duration, limits Limits) error {
	if d <= 0 {
		return ctx.Err()
	}
	maxRA := limits.MaxRetryAfter
	if maxRA == 0 {
		maxRA = DefaultLimits.MaxRetryAfter
	}
	if d > maxRA {
		return AsGap(evidence.StatusThrottled, fmt.Errorf("the upstream asked to wait %s, more than the allowed %s (limits.max_retry_after)", d, max(maxRA, 0)))
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return AsGap(evidence.StatusThrottled, fmt.Errorf("the upstream asked to wait %s, beyond the deadline of the collection", d))
	}
	return nil
}

// Sleep waits d or until ctx ends, whichever comes first; it returns ctx.Err() in the
// second case. A d of zero or less returns ctx.Err() at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
