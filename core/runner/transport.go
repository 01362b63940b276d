package runner

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

func (r *Runner) baseTransport() http.RoundTripper {
	if r.BaseTransport != nil {
		return r.BaseTransport
	}
	return http.DefaultTransport
}

// httpClient returns the client an instance must use for every upstream request: the
// capturing transport over BaseTransport, storing redacted bodies into objects (so they
// are deduplicated and counted like documents), redacting with redactor (nil: the
// default), bounding each request by requestTimeout and reporting each exchange to Observe.
func (r *Runner) httpClient(instance string, objects store.Store, log *slog.Logger, requestTimeout time.Duration, redactor *connector.Redactor) *http.Client {
	opts := connector.TransportOptions{Sink: objects, Logger: log, RequestTimeout: requestTimeout, Redactor: redactor}
	if r.Observe != nil {
		opts.Observe = func(st connector.ExchangeStats) { r.Observe(instance, st) }
	}
	return &http.Client{Transport: connector.NewTransport(r.baseTransport(), opts)}
}

// setAuthClient gives the instance a client for authentication flows that does not
// capture: token responses must never reach the store.
func (r *Runner) setAuthClient(opts *connector.Options) {
	opts.AuthHTTPClient = &http.Client{Transport: r.baseTransport()}
}
