// Package sim simulates the parts of the GitHub REST API the github connector reads, for a
// synthetic organisation, so tests, benchmarks and `exhibit demo` run the real go-github
// client against it over HTTP. It serves under a base path (default "/api/v3", as GitHub
// Enterprise Server does), paginates with Link headers honouring per_page (page numbers, and
// after= cursors where GitHub uses them), reports and enforces a primary rate limit,
// authenticates personal access tokens and GitHub App installation tokens (minted from an
// RS256 JWT), and injects latency and faults through simkit.
package sim

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// Demo defaults: `exhibit demo` points the connector at a sim with DemoSettings and must
// provide DemoToken in the environment variable DemoTokenEnv.
const (
	DemoOrgLogin = "acme"
	DemoTokenEnv = "EXHIBIT_GITHUB_DEMO_TOKEN"
	DemoToken    = "demo-token-not-a-secret"
	// DefaultBasePath is where the API is served, as on GitHub Enterprise Server.
	DefaultBasePath = "/api/v3"
	// AccessRead and AccessWrite are the caller's access to rulesets (Options.Access).
	AccessRead   = "read"
	AccessWrite  = "write"
	AccessMember = "member"
)

// Options configure a simulated organisation.
type Options struct {
	// Org is the organisation login (default DemoOrgLogin).
	Org string
	// Repos is the number of synthetic repositories; 0 serves the twelve-repository demo
	// organisation.
	Repos int
	// Seed varies which synthetic repositories get which configuration.
	Seed int64
	// WeakOrg gives a synthetic organisation weak organisation settings (see SyntheticOrg).
	WeakOrg bool
	// Plan is "free", "team" or "enterprise" (default). The audit log API exists on
	// enterprise only; on free, private repositories cannot be protected.
	Plan string
	// NoAdvancedSecurity makes the organisation's code scanning alerts answer 404 (the
	// status the description documents) and limits secret scanning to public repositories,
	// as without GitHub Advanced Security.
	NoAdvancedSecurity bool
	// Access is what the caller may see: AccessRead (default, the connector's documented
	// read-only App), AccessWrite (write access to rulesets: GitHub returns a ruleset's
	// bypass_actors only then) or AccessMember (a plain organisation member: no owner-only
	// organisation settings, no 2FA filters, no security_and_analysis in the listing).
	Access string
	// NoBranchRules answers 404 for GET /repos/{owner}/{repo}/rules/branches/{branch}, as a
	// GitHub Enterprise Server without that endpoint does.
	NoBranchRules bool
	// Latency and Faults are simkit's.
	Latency time.Duration
	Faults  []simkit.Fault
	// BasePath prefixes every API path (default DefaultBasePath; "/" for none).
	BasePath string
	// Token is the personal access token accepted. Empty accepts any bearer token that is
	// not an unknown installation token ("ghs_" prefix), so demos need no setup.
	Token string
	// App, if set, lets a GitHub App mint installation tokens.
	App *App
	// RateLimit is the primary limit per window (default 0: not enforced, reported as
	// 15,000 remaining); RateWindow its length (default one hour).
	RateLimit  int
	RateWindow time.Duration
	// Now is the simulator's clock (tokens, rate limit windows); default time.Now.
	Now func() time.Time
	// Epoch anchors every date of the organisation (pushes, alert ages); default the start
	// of the current UTC day, so documents are the same all day.
	Epoch time.Time
}

// App is a GitHub App the simulator knows.
type App struct {
	ID             int64
	InstallationID int64
	PublicKey      *rsa.PublicKey
	// TokenTTL is the installation token lifetime (default one hour, as GitHub's).
	TokenTTL time.Duration
}

// Sim is a simulated GitHub organisation.
type Sim struct {
	opts    Options
	org     *Org
	harness *simkit.Harness
	base    string

	mu          sync.Mutex
	tokens      map[string]time.Time // installation token → expiry
	minted      int
	windowStart time.Time
	used        int
	requestSeq  int
	queries     map[string][]string // path → raw queries seen, for tests
}

// New returns a simulator.
func New(opts Options) *Sim {
	if opts.Org == "" {
		opts.Org = DemoOrgLogin
	}
	if opts.Plan == "" {
		opts.Plan = "enterprise"
	}
	if opts.Access == "" {
		opts.Access = AccessRead
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = opts.Now().UTC().Truncate(24 * time.Hour)
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = time.Hour
	}
	if opts.App != nil && opts.App.TokenTTL <= 0 {
		opts.App.TokenTTL = time.Hour
	}
	base := opts.BasePath
	if base == "" {
		base = DefaultBasePath
	}
	base = "/" + strings.Trim(base, "/")
	if base == "/" {
		base = ""
	}
	var org *Org
	if opts.Repos > 0 {
		org = SyntheticOrg(opts.Org, opts.Repos, opts.Seed, opts.WeakOrg, opts.Epoch)
	} else {
		org = DemoOrg(opts.Org, opts.Epoch)
	}
	org.Plan = opts.Plan
	s := &Sim{opts: opts, org: org, base: base, tokens: map[string]time.Time{}, queries: map[string][]string{}}
	var h http.Handler = s.routes()
	if base != "" {
		h = http.StripPrefix(base, h)
	}
	s.harness = simkit.Wrap(h, simkit.Options{Latency: opts.Latency, Faults: opts.Faults})
	return s
}

// Handler returns the simulator wrapped in its simkit harness.
func (s *Sim) Handler() http.Handler { return s.harness }

// Harness exposes call counting and fault injection.
func (s *Sim) Harness() *simkit.Harness { return s.harness }

// Org returns the simulated organisation; change it only before serving requests.
func (s *Sim) Org() *Org { return s.org }

// BasePath returns the path prefix the API is served under ("" for none).
func (s *Sim) BasePath() string { return s.base }

// TokensMinted returns how many installation tokens were created.
func (s *Sim) TokensMinted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minted
}

// RevokeTokens invalidates every installation token (as when an App's key is rotated).
func (s *Sim) RevokeTokens() {
	s.mu.Lock()
	s.tokens = map[string]time.Time{}
	s.mu.Unlock()
}

// Queries returns the raw query strings requested for a path (without the base path).
func (s *Sim) Queries(path string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries[path]...)
}

// DemoEnv returns the environment the settings of DemoSettings refer to.
func DemoEnv() map[string]string { return map[string]string{DemoTokenEnv: DemoToken} }

// DemoSettings returns the connector settings YAML that points the real github connector at
// a simulator served at baseURL (e.g. "http://127.0.0.1:41234"). The token is read from
// DemoTokenEnv, which the demo sets to DemoToken (DemoEnv).
func DemoSettings(baseURL string) string {
	return fmt.Sprintf("orgs: [%s]\nbase_url: %s%s/\ntoken_env: %s\n",
		DemoOrgLogin, strings.TrimRight(baseURL, "/"), DefaultBasePath, DemoTokenEnv)
}

// The bodies GitHub sends with its secondary rate limits, for fault injection.
const (
	SecondaryLimitBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits","status":"403"}`
	AbuseBody          = `{"message":"You have triggered an abuse detection mechanism. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#abuse-rate-limits"}`
)

// SecondaryLimit is a fault answering 403 with GitHub's secondary-rate-limit body, with a
// Retry-After header if retryAfter > 0, for times matching requests of path (a regexp).
func SecondaryLimit(path string, retryAfter time.Duration, times int) simkit.Fault {
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	if retryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(int(retryAfter/time.Second)))
	}
	return simkit.Fault{Path: path, Kind: simkit.Custom, Status: http.StatusForbidden, Header: h, Body: SecondaryLimitBody, Times: times}
}

// Abuse is a fault answering 403 with the older abuse-detection body and no Retry-After.
func Abuse(path string, times int) simkit.Fault {
	return simkit.Fault{Path: path, Kind: simkit.Custom, Status: http.StatusForbidden,
		Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, Body: AbuseBody, Times: times}
}

// BadGateway is a fault answering 502 as GitHub's front end does under load.
func BadGateway(path string, times int) simkit.Fault {
	return simkit.Fault{Path: path, Kind: simkit.ServerError, Status: http.StatusBadGateway,
		Body: `{"message":"Server Error"}`, Times: times}
}

// NotAccessible is a fault answering 403 "Resource not accessible by integration", what a
// GitHub App without the needed permission gets.
func NotAccessible(path string, times int) simkit.Fault {
	return simkit.Fault{Path: path, Kind: simkit.Custom, Status: http.StatusForbidden,
		Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		Body:   `{"message":"Resource not accessible by integration","documentation_url":"https://docs.github.com/rest","status":"403"}`, Times: times}
}
