package connectortest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// Harness is what a connector gives the conformance suite. Its test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		connectortest.Run(t, connectortest.Harness{Factory: Factory{}, Start: startForSuite, ...})
//	}
type Harness struct {
	// Factory is the connector's factory: its Type, Version, Kinds and Permissions are checked.
	Factory connector.Factory
	// Start serves one simulated organisation on 127.0.0.1 (cleaned up with t) whose
	// handler is passed through wrap first: wrap injects the suite's faults and plants its
	// canaries. Every call must simulate the same organisation (determinism is checked
	// across two). The returned Connect builds connectors for it.
	Start func(t *testing.T, wrap func(http.Handler) http.Handler) Connect
	// FaultStart, if set, is Start for the fault checks: an organisation whose collection
	// reaches every kind's own requests even when discovery would fail first (one AWS
	// account instead of the organisation's accounts). Nil uses Start.
	FaultStart func(t *testing.T, wrap func(http.Handler) http.Handler) Connect
	// SpareFromFaults, if set, names the requests the fault checks leave alone: the
	// identity and discovery calls without which no kind is attempted (AWS's
	// GetCallerIdentity). Their failures are checked by the connector's own tests.
	SpareFromFaults func(r *http.Request, body []byte) bool
	// Rules is the connector's rules.yaml; RuleCases the path of its truth table
	// (testdata/rule_cases.yaml), run by RuleCases.
	Rules     []byte
	RuleCases string
	// README is the connector's README.md; its kinds table must list every declared kind.
	README []byte
	// Permission returns the permissions (Permission.Name) one upstream request of the
	// evidence or the authentication client needs (several for a batch), worked out from
	// the platform's own documentation of that call — not from the connector's
	// declarations, or the check proves nothing. None means the call needs no permission;
	// an error means the request is not known.
	Permission func(r *http.Request, body []byte) ([]string, error)
	// DeployPermissions returns the permissions the generated files in deploy/ grant.
	DeployPermissions func() ([]string, error)
	// ExpectedFailures maps a check's name (a subtest of Run, e.g. "Faults/timeout") to why
	// it fails today. The check still runs: its findings are logged, and it is an error
	// when it passes, so the entry is removed once the connector is fixed.
	ExpectedFailures map[string]string
}

// Connect builds a connector for a simulated organisation. The suite fills opts
// (Instance, Logger, HTTPClient, AuthHTTPClient, Limits); Connect adds what the
// organisation needs (settings, Secrets, Now) and the connector's test hooks that keep it
// from sleeping, and must call the factory's New (or the function it wraps).
type Connect func(t *testing.T, opts connector.Options) connector.Connector

// VersionPattern is the Version convention every connector follows: MAJOR.MINOR.PATCH,
// the major bumped when documents change shape incompatibly (fields removed or renamed),
// the minor when they gain fields, the patch for changes that leave documents alone.
var VersionPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// The checks Run runs, by name.
const (
	CheckVersion       = "Version"
	CheckKinds         = "Kinds"
	CheckRuleCases     = "RuleCases"
	CheckDeterministic = "Deterministic"
	CheckPermissions   = "Permissions"
	CheckDeploy        = "Deploy"
	CheckCanaries      = "Canaries"
	CheckFaults        = "Faults"
)

// Run runs the conformance suite against the connector h describes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Factory == nil || h.Start == nil {
		t.Fatal("connectortest.Run: Harness.Factory and Harness.Start are required")
	}
	s := &suite{h: h, base: t.Name() + "/"}
	s.check(t, CheckVersion, s.version)
	s.check(t, CheckKinds, s.kinds)
	s.check(t, CheckRuleCases, func(t *testing.T, r *report) {
		if h.RuleCases == "" {
			r.errorf("Harness.RuleCases is empty: every connector keeps testdata/rule_cases.yaml")
			return
		}
		for _, m := range ruleCaseFindings(h.Rules, h.RuleCases) {
			r.errorf("%s", m)
		}
	})
	s.check(t, CheckDeterministic, s.deterministic)
	s.check(t, CheckPermissions, s.permissions)
	s.check(t, CheckDeploy, s.deploy)
	s.check(t, CheckCanaries, s.canaries)
	t.Run(CheckFaults, func(t *testing.T) {
		for _, f := range faultCases {
			s.check(t, f.name, func(t *testing.T, r *report) { s.fault(t, r, f) })
		}
	})
	t.Run("ExpectedFailuresKnown", func(t *testing.T) {
		known := map[string]bool{}
		for _, c := range []string{CheckVersion, CheckKinds, CheckRuleCases, CheckDeterministic, CheckPermissions, CheckDeploy, CheckCanaries} {
			known[c] = true
		}
		for _, f := range faultCases {
			known[CheckFaults+"/"+f.name] = true
		}
		for name := range h.ExpectedFailures {
			if !known[name] {
				t.Errorf("ExpectedFailures lists %q, which is no check of the suite", name)
			}
		}
	})
}

type suite struct {
	h     Harness
	base  string      // the name of Run's test, cut from the checks' names
	clean *collection // the first clean collection, shared by the checks
}

// report collects a check's findings, so an expected failure can be logged instead.
type report struct {
	mu   sync.Mutex
	msgs []string
}

func (r *report) errorf(format string, args ...any) {
	r.mu.Lock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (s *suite) check(t *testing.T, name string, fn func(t *testing.T, r *report)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		full := strings.TrimPrefix(t.Name(), s.base)
		r := &report{}
		fn(t, r)
		reason, expected := s.h.ExpectedFailures[full]
		switch {
		case expected && len(r.msgs) > 0:
			t.Logf("expected failure (%s); %d findings:\n  %s", reason, len(r.msgs), strings.Join(r.msgs, "\n  "))
		case expected:
			t.Errorf("listed as an expected failure (%s), but it passes now: remove it from ExpectedFailures", reason)
		default:
			for _, m := range r.msgs {
				t.Error(m)
			}
		}
	})
}

func (s *suite) version(t *testing.T, r *report) {
	if v := s.h.Factory.Version(); !VersionPattern.MatchString(v) {
		r.errorf("Version() is %q; the convention is MAJOR.MINOR.PATCH (see connectortest.VersionPattern)", v)
	}
}

// kinds checks that every kind is declared once, named after the connector type, judged
// only by rules of declared kinds, documented in the README's kinds table and emitted
// from the simulated organisation.
func (s *suite) kinds(t *testing.T, r *report) {
	typ := s.h.Factory.Type()
	declared := map[string]bool{}
	for _, k := range s.h.Factory.Kinds() {
		if declared[k.Name] {
			r.errorf("kind %s is declared twice", k.Name)
		}
		declared[k.Name] = true
		if !strings.HasPrefix(k.Name, typ+".") {
			r.errorf("kind %s does not start with the connector type %q", k.Name, typ+".")
		}
		if k.Title == "" || k.Scope == "" {
			r.errorf("kind %s has no title or no scope", k.Name)
		}
	}
	if rs, err := controls.ParseRules(rulesFileName, s.h.Rules); err != nil {
		r.errorf("rules: %v", err)
	} else {
		for _, rule := range rs.Rules() {
			if !declared[rule.Kind] {
				r.errorf("%s:%d: rule %s judges kind %s, which the connector does not declare", rule.File, rule.Line, rule.ID, rule.Kind)
			}
		}
	}
	documented := readmeKinds(s.h.README, typ)
	for _, k := range sortedSet(declared) {
		if !documented[k] {
			r.errorf("kind %s is not in a table of the README (the kinds table lists every kind)", k)
		}
	}
	for _, k := range sortedSet(documented) {
		if !declared[k] {
			r.errorf("the README's tables name kind %s, which the connector does not declare", k)
		}
	}
	c := s.cleanCollection(t)
	emitted := map[string]bool{}
	for _, a := range c.arts {
		emitted[a.Kind] = true
		if !declared[a.Kind] {
			r.errorf("the connector emitted kind %s, which it does not declare", a.Kind)
		}
	}
	for _, k := range sortedSet(declared) {
		if !emitted[k] {
			r.errorf("declared kind %s was neither collected nor reported as a gap from the simulated organisation", k)
		}
	}
}

// kindRE finds a kind in a README table row: the connector type, a dot, dotted words.
var kindRE = regexp.MustCompile("[a-z0-9]+(?:\\.[a-z0-9_]+)+")

// readmeKinds returns the kinds of typ named in the README's table rows.
func readmeKinds(readme []byte, typ string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			continue
		}
		for _, m := range kindRE.FindAllString(line, -1) {
			if strings.HasPrefix(m, typ+".") && !strings.HasSuffix(m, ".go") && !strings.HasSuffix(m, ".yaml") {
				out[m] = true
			}
		}
	}
	return out
}

func (s *suite) deterministic(t *testing.T, r *report) {
	a := s.cleanCollection(t)
	b := s.collect(t, nil, s.limits(), 0)
	if a.err != nil || b.err != nil {
		r.errorf("Collect failed on the simulated organisation: %v / %v", a.err, b.err)
	}
	am, bm := a.byKey(), b.byKey()
	for _, k := range sortedSet(am) {
		x, y := am[k], bm[k]
		switch {
		case y == nil:
			r.errorf("%s: collected the first time only", k)
		case x.Status != y.Status || a.norm(x.Error) != b.norm(y.Error):
			r.errorf("%s: %s %q the first time, %s %q the second", k, x.Status, x.Error, y.Status, y.Error)
		case a.norm(string(x.Document)) != b.norm(string(y.Document)):
			r.errorf("%s: documents differ: %s", k, firstDifference([]byte(a.norm(string(x.Document))), []byte(b.norm(string(y.Document)))))
		}
	}
	for _, k := range sortedSet(bm) {
		if am[k] == nil {
			r.errorf("%s: collected the second time only", k)
		}
	}
}

// firstDifference shows where two documents part.
func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-40)
	return fmt.Sprintf("at byte %d: …%s… vs …%s…", i, a[from:min(len(a), i+40)], b[from:min(len(b), i+40)])
}

func (s *suite) permissions(t *testing.T, r *report) {
	if s.h.Permission == nil {
		r.errorf("Harness.Permission is nil: the calls cannot be checked against the declared permissions")
		return
	}
	declared := map[string]bool{}
	for _, p := range s.h.Factory.Permissions() {
		declared[p.Name] = true
	}
	c := s.cleanCollection(t)
	used := map[string]bool{}
	unknown := map[string]bool{}
	for _, q := range c.requests {
		names, err := s.h.Permission(q.req, q.body)
		if err != nil {
			unknown[fmt.Sprintf("%s %s: %v", q.req.Method, q.req.URL.RequestURI(), err)] = true
		}
		for _, name := range names {
			if !declared[name] {
				unknown[fmt.Sprintf("%s %s needs %s, which the connector does not declare", q.req.Method, q.req.URL.RequestURI(), name)] = true
			}
			used[name] = true
		}
	}
	for _, m := range sortedSet(unknown) {
		r.errorf("%s", m)
	}
	for _, p := range sortedSet(declared) {
		if !used[p] {
			r.errorf("declared permission %s was needed by no request of the simulated collection (least privilege: drop it, or make the simulator exercise it)", p)
		}
	}
}

func (s *suite) deploy(t *testing.T, r *report) {
	if s.h.DeployPermissions == nil {
		r.errorf("Harness.DeployPermissions is nil: the deploy/ files cannot be checked")
		return
	}
	granted, err := s.h.DeployPermissions()
	if err != nil {
		r.errorf("deploy files: %v", err)
		return
	}
	g := map[string]bool{}
	for _, p := range granted {
		g[p] = true
	}
	d := map[string]bool{}
	for _, p := range s.h.Factory.Permissions() {
		d[p.Name] = true
	}
	for _, p := range sortedSet(d) {
		if !g[p] {
			r.errorf("declared permission %s is not granted by the deploy files", p)
		}
	}
	for _, p := range sortedSet(g) {
		if !d[p] {
			r.errorf("the deploy files grant %s, which the connector does not declare", p)
		}
	}
}

// collection is what one Collect produced, and what it asked upstream.
type collection struct {
	arts     []evidence.Artefact
	err      error
	requests []*request
	hosts    []string // the simulator addresses requests went to
	logs     *syncBuffer
	store    *mem.Store
}

// byKey returns the artefacts by "kind subject", the simulator's address replaced.
func (c *collection) byKey() map[string]*evidence.Artefact {
	out := map[string]*evidence.Artefact{}
	for i := range c.arts {
		a := &c.arts[i]
		out[a.Kind+" "+c.norm(a.Subject)] = a
	}
	return out
}

// norm replaces the simulator's address (host:port, different for every simulator the
// suite starts) by "{sim}", so that two collections of the same organisation compare.
func (c *collection) norm(s string) string {
	for _, h := range c.hosts {
		s = strings.ReplaceAll(s, h, "{sim}")
	}
	return s
}

// request is one upstream request as sent.
type request struct {
	req  *http.Request
	body []byte
}

// requestLog records every request below the capturing transport.
type requestLog struct {
	mu   sync.Mutex
	reqs []*request
	base http.RoundTripper
}

func (l *requestLog) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, &request{req: r.Clone(context.Background()), body: body})
	l.mu.Unlock()
	return l.base.RoundTrip(r)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// limits are the suite's limits for clean collections.
func (s *suite) limits() connector.Limits { return connector.DefaultLimits }

// collectTimeout bounds one collection; a connector that has not returned by then hangs.
const collectTimeout = 2 * time.Minute

// collect starts a simulated organisation behind wrap and collects from it once, with
// every piece the suite inspects recorded: requests, logs, stored bodies.
func (s *suite) collect(t *testing.T, wrap func(http.Handler) http.Handler, limits connector.Limits, requestTimeout time.Duration) *collection {
	t.Helper()
	return s.collectFrom(t, s.h.Start, wrap, limits, requestTimeout)
}

func (s *suite) collectFrom(t *testing.T, start func(*testing.T, func(http.Handler) http.Handler) Connect, wrap func(http.Handler) http.Handler, limits connector.Limits, requestTimeout time.Duration) *collection {
	t.Helper()
	if wrap == nil {
		wrap = func(h http.Handler) http.Handler { return h }
	}
	connect := start(t, wrap)
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	c := &collection{logs: &syncBuffer{}, store: mem.New()}
	evidenceLog := &requestLog{base: base}
	authLog := &requestLog{base: base}
	logger := slog.New(slog.NewJSONHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := connector.Options{
		Instance: s.h.Factory.Type() + "-conformance",
		Logger:   logger,
		HTTPClient: &http.Client{Timeout: requestTimeout, Transport: connector.NewTransport(evidenceLog,
			connector.TransportOptions{Sink: c.store, Logger: logger})},
		AuthHTTPClient: &http.Client{Timeout: requestTimeout, Transport: authLog},
		Limits:         limits,
	}
	conn := connect(t, opts)
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	c.err = conn.Collect(ctx, func(a evidence.Artefact) error {
		if err := a.Validate(); err != nil {
			t.Errorf("invalid artefact %s %s: %v", a.Kind, a.Subject, err)
		}
		if a.Status == "" {
			a.Status = evidence.StatusOK // the zero value means OK
		}
		c.arts = append(c.arts, a)
		return nil
	})
	if ctx.Err() != nil {
		t.Fatalf("Collect did not return within %s", collectTimeout)
	}
	sort.SliceStable(c.arts, func(i, j int) bool {
		if c.arts[i].Kind != c.arts[j].Kind {
			return c.arts[i].Kind < c.arts[j].Kind
		}
		return c.arts[i].Subject < c.arts[j].Subject
	})
	c.requests = append(evidenceLog.reqs, authLog.reqs...)
	hosts := map[string]bool{}
	for _, q := range c.requests {
		hosts[q.req.URL.Host] = true
	}
	delete(hosts, "")
	c.hosts = sortedSet(hosts)
	return c
}

// cleanCollection is one collection from the simulated organisation without faults,
// collected once and shared by the checks.
func (s *suite) cleanCollection(t *testing.T) *collection {
	t.Helper()
	if s.clean == nil {
		s.clean = s.collect(t, nil, s.limits(), 0)
		if s.clean.err != nil {
			t.Fatalf("Collect failed on the simulated organisation: %v", s.clean.err)
		}
		if len(s.clean.arts) == 0 {
			t.Fatal("Collect emitted nothing from the simulated organisation")
		}
	}
	return s.clean
}

func sortedSet[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
