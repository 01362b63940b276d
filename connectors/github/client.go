package github

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Connector collects one configured set of GitHub organisations.
type Connector struct {
	cfg   *Settings
	opts  connector.Options
	sleep sleeper
}

var _ connector.Connector = (*Connector)(nil)

func newConnector(cfg *Settings, opts connector.Options, sleep sleeper) *Connector {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	if opts.Limits == (connector.Limits{}) {
		opts.Limits = connector.DefaultLimits
	}
	if sleep == nil {
		sleep = connector.Sleep
	}
	return &Connector{cfg: cfg, opts: opts, sleep: sleep}
}

// collector is the state of one Collect call: a go-github client over the rate limiter,
// and the per-run caches.
type collector struct {
	cfg    *Settings
	log    *slog.Logger
	now    func() time.Time
	gh     *gh.Client
	lim    *limiter
	tokens tokenSource
	host   string
	limits connector.Limits

	rulesets *sharedCache[*ruleset]
	policies *sharedCache[string]
}

// newCollector resolves the secrets and builds the client chain:
// go-github → limiter → retry of idempotent requests → authTransport → Options.HTTPClient's
// transport (capture, redaction).
func (c *Connector) newCollector() (*collector, error) {
	base, err := url.Parse(c.cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("github: invalid base_url: %w", err)
	}
	var tokens tokenSource
	if a := c.cfg.App; a != nil {
		if c.opts.Secrets == nil {
			return nil, errors.New("github: no secret resolver to read the App private key")
		}
		pemBytes, err := c.opts.Secrets.Secret("app.private_key", a.PrivateKeyEnv, a.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("github: %w", err)
		}
		key, err := parsePrivateKey(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("github: %w", err)
		}
		tokens = &appTokens{
			appID: a.AppID, installationID: a.InstallationID, key: key,
			client: authHTTPClient(c.opts), baseURL: c.cfg.BaseURL, uploadURL: c.cfg.UploadURL, now: c.opts.Now,
		}
	} else {
		if c.opts.Secrets == nil {
			return nil, errors.New("github: no secret resolver to read the token")
		}
		tok, err := c.opts.Secrets.Secret("token", c.cfg.TokenEnv, c.cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("github: %w", err)
		}
		if len(tok) == 0 {
			return nil, errors.New("github: the token is empty")
		}
		tokens = staticToken(strings.TrimSpace(string(tok)))
	}

	hc := c.opts.HTTPClient
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	auth := &authTransport{next: next, tokens: tokens, host: base.Host}
	// Below the limiter (which retries 502-504 and rate limits), a transient 500, a cut
	// connection or a timed-out GET is retried; every attempt is captured.
	retry := connector.RetryIdempotent(auth, connector.RetryOptions{Limits: c.opts.Limits, Statuses: []int{http.StatusInternalServerError}, Sleep: c.sleep, Now: c.opts.Now, Logger: c.opts.Logger})
	lim := newLimiter(retry, c.cfg.Concurrency, c.opts.Limits, c.opts.Now, c.sleep, c.opts.Logger)
	client, err := gh.NewClient(&http.Client{Transport: lim, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar, Timeout: hc.Timeout}).
		WithEnterpriseURLs(c.cfg.BaseURL, c.cfg.UploadURL)
	if err != nil {
		return nil, fmt.Errorf("github: could not configure the client: %w", err)
	}
	return &collector{
		cfg: c.cfg, log: c.opts.Logger, now: c.opts.Now, gh: client, lim: lim, tokens: tokens,
		host: base.Host, limits: c.opts.Limits,
		rulesets: newSharedCache[*ruleset](), policies: newSharedCache[string](),
	}, nil
}

// notAvailableRe recognises answers that mean "this plan or edition has no such feature"
// rather than "you may not": GitHub Advanced Security / Code Security / Secret Protection
// not enabled, or a feature that needs a paid plan.
var notAvailableRe = regexp.MustCompile(`(?i)advanced security|code security must be enabled|secret protection|must be enabled|not enabled|is disabled|upgrade to github|not available|not supported`)

// statusOf classifies an error into the gap it means.
func statusOf(err error) evidence.Status {
	var ge *connector.GapError
	if errors.As(err, &ge) {
		return ge.Status
	}
	var rl *gh.RateLimitError
	var ab *gh.AbuseRateLimitError
	if errors.As(err, &rl) || errors.As(err, &ab) {
		return evidence.StatusThrottled
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		code := er.Response.StatusCode
		if (code == http.StatusForbidden || code == http.StatusNotFound) && notAvailableRe.MatchString(er.Message) {
			return evidence.StatusNotAvailable
		}
		if code == http.StatusUnprocessableEntity {
			// "Only owners can use this filter." and similar: the credentials lack a role.
			return evidence.StatusForbidden
		}
		return connector.StatusForHTTP(code)
	}
	return evidence.StatusFailed
}

// httpStatus returns the HTTP status of a go-github error, or 0.
func httpStatus(err error) int {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// errorMessage returns GitHub's message of an error response, or "".
func errorMessage(err error) string {
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		return er.Message
	}
	return ""
}

// gap returns the gap artefact for err, with the exchanges that failed.
func gap(kind, subject string, err error, exchanges []evidence.Exchange) evidence.Artefact {
	a := connector.NewGap(kind, subject, statusOf(err), err)
	a.Exchanges = exchanges
	return a
}

// gapWith returns a gap with an explicit status.
func gapWith(kind, subject string, status evidence.Status, err error, exchanges []evidence.Exchange) evidence.Artefact {
	a := connector.NewGap(kind, subject, status, err)
	a.Exchanges = exchanges
	return a
}

// document returns the artefact for a document value. encoding/json writes struct fields
// in declaration order and map keys sorted, so equal values give equal bytes.
func document(kind, subject string, v any, exchanges []evidence.Exchange) evidence.Artefact {
	b, err := json.Marshal(v)
	if err != nil {
		return gapWith(kind, subject, evidence.StatusFailed, fmt.Errorf("could not encode the document: %w", err), exchanges)
	}
	return evidence.Artefact{Kind: kind, Subject: subject, Status: evidence.StatusOK, Document: b, Exchanges: exchanges}
}

// ts formats a GitHub timestamp for documents: RFC 3339 UTC, or "" when absent, so rules
// can use timestamp(...) on it.
func ts(t *gh.Timestamp) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// orgSubject and repoSubject name the subjects of artefacts.
func orgSubject(org string) string       { return "github:" + org }
func repoSubject(fullName string) string { return "github:" + fullName }
func isNotFound(err error) bool          { return httpStatus(err) == http.StatusNotFound }
func ptr[T any](v T) *T                  { return &v }
