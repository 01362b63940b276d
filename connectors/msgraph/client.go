package msgraph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	abs "github.com/microsoft/kiota-abstractions-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// client is the Graph SDK client wired to the runner's HTTP client:
//
//	Kiota request adapter (auth provider, URL templates, error mapping)
//	  → plainErrorTransport (non-JSON error bodies become gaps with their HTTP status)
//	  → retryTransport (Retry-After, MaxAttempts, MaxRetryAfter)
//	  → connector.RetryIdempotent (500, 502, cut connections, timeouts of GETs)
//	  → limitTransport (per endpoint class)
//	  → pseudonymTransport (personal-data requests get the pseudonymiser as exchange filter)
//	  → Options.HTTPClient's transport (capture, redaction, exchange filter, store)
type client struct {
	cfg     *tenantConfig
	graph   *msgraphsdk.GraphServiceClient
	adapter *msgraphsdk.GraphRequestAdapter
	limiter *limiter
	limits  connector.Limits
	pseud   *pseudonymiser
	clock   Clock
}

// absRequest is a request built by the SDK's request builders.
type absRequest = abs.RequestInformation

// errorMapping makes Kiota parse every error response as a Graph OData error, whose code
// tells licence problems from permission problems.
var errorMapping = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

func newClient(cfg *tenantConfig, opts connector.Options, auth interface {
	AuthenticateRequest(context.Context, *abs.RequestInformation, map[string]interface{}) error
}, clock Clock, pseud *pseudonymiser) (*client, error) {
	base := http.DefaultTransport
	hc := opts.HTTPClient
	if hc != nil && hc.Transport != nil {
		base = hc.Transport
	}
	lim := newLimiter(clock, cfg.limits)
	var rt http.RoundTripper = &pseudonymTransport{next: base, pseud: pseud}
	rt = &limitTransport{next: rt, limiter: lim}
	// 500, 502, cut connections and timed-out GETs; retryTransport has 429, 503 and 504.
	rt = connector.RetryIdempotent(rt, connector.RetryOptions{Limits: opts.Limits, Statuses: []int{http.StatusInternalServerError, http.StatusBadGateway}, Sleep: clock.Sleep, Now: clock.Now})
	rt = &retryTransport{next: rt, clock: clock, limits: opts.Limits}
	rt = &plainErrorTransport{next: rt}
	httpClient := &http.Client{Transport: rt}
	if hc != nil {
		httpClient.Timeout, httpClient.Jar = hc.Timeout, hc.Jar
	}
	// Graph never redirects the reads we make; following one would send the token along.
	httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("could not create the Graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(cfg.endpoint + "/v1.0")
	return &client{cfg: cfg, graph: msgraphsdk.NewGraphServiceClient(adapter), adapter: adapter, limiter: lim, limits: opts.Limits, pseud: pseud, clock: clock}, nil
}

// get sends a request built by the SDK and returns the raw JSON body. Documents are built
// from the raw bodies rather than from SDK models: the document keeps exactly what Graph
// said (also properties this SDK version does not know), and a page is decoded once.
func (c *client) get(ctx context.Context, ri *abs.RequestInformation) ([]byte, error) {
	ri.Headers.TryAdd("Accept", "application/json")
	res, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil {
		return nil, err
	}
	b, _ := res.([]byte)
	return b, nil
}

// getObject gets one entity and decodes it.
func (c *client) getObject(ctx context.Context, ri *abs.RequestInformation) (map[string]any, error) {
	b, err := c.get(ctx, ri)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := decodeJSON(b, &m); err != nil {
		return nil, err
	}
	stripAnnotations(m)
	return m, nil
}

// page is one page of a Graph collection.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// list follows @odata.nextLink from the first request, calling fn with each page's items,
// under a page guard (Limits.MaxPages, repeated links). Only one page is held at a time.
func (c *client) list(ctx context.Context, first *abs.RequestInformation, fn func([]json.RawMessage) error) error {
	guard := connector.NewPageGuard(c.limits)
	ri, link := first, ""
	for {
		if err := guard.Next(link); err != nil {
			return err
		}
		b, err := c.get(ctx, ri)
		if err != nil {
			return err
		}
		var p page
		if err := decodeJSON(b, &p); err != nil {
			return err
		}
		if err := fn(p.Value); err != nil {
			return err
		}
		if p.NextLink == "" {
			return nil
		}
		if ri, err = c.nextRequest(p.NextLink); err != nil {
			return err
		}
		link = p.NextLink
	}
}

// listAll collects every item of a (small) collection, annotations removed.
func (c *client) listAll(ctx context.Context, first *abs.RequestInformation) ([]map[string]any, error) {
	out := []map[string]any{}
	err := c.list(ctx, first, func(items []json.RawMessage) error {
		for _, raw := range items {
			var m map[string]any
			if err := decodeJSON(raw, &m); err != nil {
				return err
			}
			stripAnnotations(m)
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// listSorted builds a request, collects every item of the (small) collection and sorts
// the items by id: Graph promises no order, and documents must be deterministic so that
// unchanged evidence deduplicates.
func (c *client) listSorted(ctx context.Context, build func() (*absRequest, error)) ([]map[string]any, error) {
	ri, err := build()
	if err != nil {
		return nil, err
	}
	items, err := c.listAll(ctx, ri)
	if err != nil {
		return nil, err
	}
	sortByID(items)
	return items, nil
}

// nextRequest turns an @odata.nextLink into a request. The link must point at the Graph
// endpoint we were configured with: the request carries the bearer token.
func (c *client) nextRequest(link string) (*abs.RequestInformation, error) {
	u, err := url.Parse(link)
	if err != nil || !strings.EqualFold(u.Hostname(), c.cfg.graphHost) {
		return nil, connector.AsGap(evidence.StatusFailed, fmt.Errorf("Graph returned a next link to another host (%s); not following it", safeHost(u)))
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.GET
	ri.SetUri(*u)
	return ri, nil
}

func safeHost(u *url.URL) string {
	if u == nil {
		return "an invalid URL"
	}
	return u.Hostname()
}

func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return connector.AsGap(evidence.StatusFailed, fmt.Errorf("Graph returned a body that is not the expected JSON: %w", err))
	}
	return nil
}

// stripAnnotations removes OData control information that changes between requests or
// endpoints (@odata.context holds the request URL, @odata.nextLink a paging token,
// "property@odata.context" annotations), at every depth, but keeps @odata.type, which
// names the derived type (e.g. the platform of a compliance policy).
func stripAnnotations(m map[string]any) {
	for k, v := range m {
		if strings.Contains(k, "@odata.") && k != "@odata.type" {
			delete(m, k)
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			stripAnnotations(x)
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					stripAnnotations(em)
				}
			}
		}
	}
}

// licenceCodes are the Graph error codes of a missing licence, and messageHints phrases of
// messages that say so under generic codes (Intune answers "BadRequest" with "Request not
// applicable to target tenant." when the tenant has no Intune licence).
var (
	licenceCodes = map[string]bool{
		"Authentication_RequestFromNonPremiumTenantOrB2CTenant": true,
		"AadPremiumLicenseRequired":                             true,
		"RequestFromNonPremiumTenantOrB2CTenant":                true,
	}
	licenceHints = []string{
		"premium license", "premium licence", "p2 license", "p2 or microsoft entra id governance",
		"not applicable to target tenant", "tenant is not licensed", "license is required", "requires a license",
	}
)

// classify turns an SDK error into the gap it means, with an error that names the
// operation and Graph's answer (code and message, never headers or tokens).
func classify(op string, err error) (evidence.Status, error) {
	var ge *connector.GapError
	if errors.As(err, &ge) {
		return ge.Status, fmt.Errorf("could not %s: %w", op, ge.Err)
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) {
		code, msg := "", ""
		if main := oe.GetErrorEscaped(); main != nil {
			if p := main.GetCode(); p != nil {
				code = *p
			}
			if p := main.GetMessage(); p != nil {
				msg = *p
			}
		}
		status := oe.ResponseStatusCode
		e := fmt.Errorf("could not %s: Graph answered %d %s: %s", op, status, code, msg)
		if isLicenceError(code, msg) {
			return evidence.StatusNotLicensed, e
		}
		return connector.StatusForHTTP(status), e
	}
	var ae *abs.ApiError
	if errors.As(err, &ae) {
		return connector.StatusForHTTP(ae.ResponseStatusCode), fmt.Errorf("could not %s: Graph answered %d", op, ae.ResponseStatusCode)
	}
	return evidence.StatusFailed, fmt.Errorf("could not %s: %w", op, err)
}

func isLicenceError(code, msg string) bool {
	if licenceCodes[code] {
		return true
	}
	m := strings.ToLower(msg)
	for _, h := range licenceHints {
		if strings.Contains(m, h) {
			return true
		}
	}
	return false
}
