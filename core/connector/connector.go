// Package connector defines what a connector is: a plugin that collects evidence from one
// upstream system (AWS, GitHub, Microsoft Graph) through that system's SDK, and nothing else.
// See connectors/README.md for what a connector may and may not do.
package connector

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Connector collects evidence from one upstream system.
type Connector interface {
	// Collect calls emit once per artefact, in the calling goroutine (emit is not safe for
	// concurrent use; a connector that works concurrently funnels its artefacts back to the
	// goroutine that called Collect). It returns promptly after ctx is cancelled, and returns
	// emit's error if emit fails. A failed endpoint does not end the collection: it is
	// emitted as a gap artefact (see NewGap) and the rest goes on. Collect returns an error
	// only when it could not collect at all (e.g. invalid credentials for every target) or
	// emit failed; the runner records that as a gap for the whole instance.
	Collect(ctx context.Context, emit func(evidence.Artefact) error) error
}

// Factory creates connectors of one type. Factories are listed explicitly in
// connectors/all; there is no registration by init().
type Factory interface {
	// Type is the connector type used in the config ("aws", "github", "msgraph").
	Type() string
	// Version is recorded in every envelope; bump it when documents change shape.
	Version() string
	// Kinds lists every artefact kind the connector can emit, so rules for unknown kinds
	// are reported at start-up.
	Kinds() []Kind
	// Permissions lists every permission the connector needs; deploy/ derives the
	// least-privilege policies from it.
	Permissions() []Permission
	// New validates the settings and returns a connector. It must not do network I/O:
	// credentials are checked when Collect runs. Invalid settings are errors that name
	// the setting and, through Settings.Decode, the file and line.
	New(settings Settings, opts Options) (Connector, error)
}

// Kind describes one artefact kind a connector emits.
type Kind struct {
	Name  string // e.g. "aws.iam.password_policy"
	Title string // one line, e.g. "IAM account password policy"
	// Scope says per what the kind is collected: "account", "region", "org", "repo", "tenant".
	Scope string
}

// Permission is one read permission a connector needs.
type Permission struct {
	// System is where the permission is granted: "aws-iam", "github-app", "msgraph-application".
	System string
	// Name is the permission: an IAM action ("iam:GetAccountPasswordPolicy"), a GitHub App
	// permission with its level ("administration:read"), a Graph application permission
	// ("Policy.Read.All").
	Name string
	// Kinds lists the artefact kinds that need it.
	Kinds []string
}

// Settings is a connector instance's own section of the config.
type Settings interface {
	// Decode decodes the section strictly into v (a pointer to the connector's settings
	// struct, with yaml tags): unknown keys, duplicate keys and type errors are errors
	// naming the file and line.
	Decode(v any) error
	// Errorf returns an error for an invalid value of the named setting (a yaml key path
	// relative to the section, e.g. "accounts[2].role_arn"), prefixed with its file:line
	// when known, so validation errors point where decoding errors do.
	Errorf(key, format string, args ...any) error
}

// Secrets resolves secret references from the config. Connectors never read environment
// variables or files themselves; they get their secrets through this.
type Secrets interface {
	// Secret returns the secret named by exactly one of env (an environment variable) or
	// file (a path). what names the setting for error messages (e.g. "token"). The error
	// never contains the secret.
	Secret(what, env, file string) ([]byte, error)
}

// Options are what the runner gives every connector instance.
type Options struct {
	// Instance is the instance name from the config, e.g. "aws-prod".
	Instance string
	// Logger is the instance's logger. Never log secrets or document contents.
	Logger *slog.Logger
	// HTTPClient must be used for every upstream request: its transport records the
	// exchanges (see Recorder), stores raw bodies, redacts secrets and enforces rate limits.
	// Configure each SDK to use it (and its own retryer with bounded attempts).
	HTTPClient *http.Client
	// AuthHTTPClient is for authentication flows only: STS AssumeRole, the Entra token
	// endpoint, GitHub App installation tokens. It does not capture: token responses are
	// credentials, not evidence, and are never stored. It shares HTTPClient's base transport
	// (proxies, CA bundles). Never use it for evidence requests. Nil (tests) means a plain
	// http.Client.
	AuthHTTPClient *http.Client
	// Now is the clock; documents and gaps use it for collected-at and ages.
	Now func() time.Time
	// Secrets resolves secret references from the settings.
	Secrets Secrets
	// Limits bound what one run may cost.
	Limits Limits
}

// Limits bound pagination and waiting.
type Limits struct {
	// MaxPages is the most pages a paginator follows for one listing; beyond it the
	// artefact becomes a gap (the listing is incomplete, so it is not evidence).
	MaxPages int
	// MaxAttempts is the most attempts per request (first try included) for SDK retryers.
	MaxAttempts int
	// MaxRetryAfter caps a single wait demanded by Retry-After or a rate-limit reset;
	// a longer demand turns the request into a throttled gap.
	MaxRetryAfter time.Duration
	// RequestTimeout bounds one attempt of one request, from sending it to the end of its
	// response body. The capturing transport in Options.HTTPClient enforces it: an attempt
	// that takes longer fails with ErrRequestTimeout (a failed gap unless retried), so a
	// hung endpoint costs its own kind, not the whole instance's timeout.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout is the per-request timeout where the config sets none: far above
// what a page of any of our upstreams takes, far below an instance's timeout.
const DefaultRequestTimeout = time.Minute

// DefaultLimits are used where the config sets none.
var DefaultLimits = Limits{MaxPages: 1000, MaxAttempts: 5, MaxRetryAfter: 2 * time.Minute, RequestTimeout: DefaultRequestTimeout}
