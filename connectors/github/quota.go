package github

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// rateResourceDoc is one quota of GET /rate_limit.
type rateResourceDoc struct {
	Limit     int    `json:"limit"`
	Used      int    `json:"used"`
	Remaining int    `json:"remaining"`
	Reset     string `json:"reset"`
}

// emitRateLimit records the quota left at the end of the run: the github.rate_limit
// artefact (GET /rate_limit, which does not count against the quota) and an Info log line
// with the same figures, for the run summary and metrics. If /rate_limit fails, the last
// quota GitHub reported in response headers is used; the limiter's counters (requests,
// retries, waits, throttled) are added either way.
func (col *collector) emitRateLimit(ctx context.Context, emit func(evidence.Artefact) error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	subject := "github:" + col.host
	rctx, rec := connector.Record(ctx)
	var body struct {
		Resources map[string]struct {
			Limit     int   `json:"limit"`
			Used      int   `json:"used"`
			Remaining int   `json:"remaining"`
			Reset     int64 `json:"reset"`
		} `json:"resources"`
	}
	_, err := col.getJSON(rctx, "rate_limit", &body)
	core, stats := col.lim.snapshot()
	doc := struct {
		Source    string                     `json:"source"`
		Resources map[string]rateResourceDoc `json:"resources"`
		Requests  limiterStats               `json:"requests"`
	}{Source: "rate_limit", Resources: map[string]rateResourceDoc{}, Requests: stats}
	switch {
	case err == nil:
		for name, r := range body.Resources {
			doc.Resources[name] = rateResourceDoc{r.Limit, r.Used, r.Remaining, time.Unix(r.Reset, 0).UTC().Format(time.RFC3339)}
		}
	case core.Known:
		doc.Source = "response_headers"
		doc.Resources["core"] = rateResourceDoc{core.Limit, core.Used, core.Remaining, core.Reset.UTC().Format(time.RFC3339)}
	default:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return emit(gap(kindRateLimit, subject, fmt.Errorf("could not read the remaining API quota: %w", err), rec.Exchanges()))
	}
	c := doc.Resources["core"]
	col.log.Info("github: API quota at end of collection",
		"host", col.host, "core_limit", c.Limit, "core_remaining", c.Remaining, "core_reset", c.Reset,
		"requests", stats.Requests, "retries", stats.Retries, "throttled", stats.Throttled, "waited", time.Duration(stats.WaitedMS)*time.Millisecond)
	b, _ := json.Marshal(doc)
	return emit(evidence.Artefact{Kind: kindRateLimit, Subject: subject, Status: evidence.StatusOK, Document: b, Exchanges: rec.Exchanges()})
}
