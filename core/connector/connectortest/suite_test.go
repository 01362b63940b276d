package connectortest_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/connector/connectortest"
	"github.com/exhibit-dev/exhibit/evidence"
)

// The example connector collects two kinds from a small JSON API, the way the guide in
// connectors/README.md says. Its variants each break one promise, and the suite must catch it.
type exampleFactory struct{ variant string }

const (
	good          = ""
	swallows5xx   = "turns a server error into an empty document"
	leaksHeader   = "logs a response header"
	copiesSecret  = "copies a response cookie into its document"
	shuffles      = "emits widgets in random order"
	oldVersion    = "has a version without minor and patch"
	undeclared    = "calls an endpoint no permission declares"
	noAnnouncedNA = "forgets a kind when the listing fails"
	undocumented  = "leaves a kind out of its README"
	staleDeploy   = "has a deploy policy that lacks a permission"
)

func (f exampleFactory) Type() string { return "example" }
func (f exampleFactory) Version() string {
	if f.variant == oldVersion {
		return "1"
	}
	return "1.0.0"
}
func (f exampleFactory) Kinds() []connector.Kind {
	return []connector.Kind{
		{Name: "example.settings", Title: "Organisation settings", Scope: "org"},
		{Name: "example.widgets", Title: "Widget inventory", Scope: "org"},
	}
}
func (f exampleFactory) Permissions() []connector.Permission {
	return []connector.Permission{
		{System: "example", Name: "settings:read", Kinds: []string{"example.settings"}},
		{System: "example", Name: "widgets:read", Kinds: []string{"example.widgets"}},
	}
}

type exampleSettings struct {
	BaseURL  string `yaml:"base_url"`
	TokenEnv string `yaml:"token_env"`
}

func (f exampleFactory) New(settings connector.Settings, opts connector.Options) (connector.Connector, error) {
	var st exampleSettings
	if err := settings.Decode(&st); err != nil {
		return nil, err
	}
	token, err := opts.Secrets.Secret("token", st.TokenEnv, "")
	if err != nil {
		return nil, err
	}
	return &example{f: f, st: st, opts: opts, token: string(token)}, nil
}

type example struct {
	f     exampleFactory
	st    exampleSettings
	opts  connector.Options
	token string
}

var shuffle atomic.Int64

func (c *example) Collect(ctx context.Context, emit func(evidence.Artefact) error) error {
	for _, k := range []struct{ kind, path string }{{"example.settings", "/api/settings"}, {"example.widgets", "/api/widgets"}} {
		if c.f.variant == undeclared && k.kind == "example.widgets" {
			c.get(ctx, "/api/audit")
		}
		doc, err := c.get(ctx, k.path)
		if err != nil {
			if c.f.variant == noAnnouncedNA && k.kind == "example.widgets" {
				continue
			}
			if c.f.variant == swallows5xx && connector.GapStatus(err) == evidence.StatusFailed && strings.Contains(err.Error(), "status 50") {
				doc = []byte(`{"widgets":[]}`)
				if k.kind == "example.settings" {
					doc = []byte(`{"mfa_required":true}`)
				}
			} else {
				if err := emit(connector.NewGap(k.kind, "acme", connector.GapStatus(err), err)); err != nil {
					return err
				}
				continue
			}
		}
		if err := emit(evidence.Artefact{Kind: k.kind, Subject: "acme", Document: doc}); err != nil {
			return err
		}
	}
	return nil
}

func (c *example) get(ctx context.Context, path string) ([]byte, error) {
	ctx, _ = connector.Record(ctx)
	req, err := http.NewRequestWithContext(ctx, "GET", c.st.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, connector.AsGap(evidence.StatusFailed, fmt.Errorf("GET %s: %w", path, errors.Unwrap(err)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, connector.AsGap(evidence.StatusFailed, fmt.Errorf("GET %s: %w", path, err))
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("GET %s: status %d", path, resp.StatusCode)
		if c.f.variant == leaksHeader {
			c.opts.Logger.Info("request denied", "challenge", resp.Header.Get("Www-Authenticate"))
		}
		return nil, connector.AsGap(connector.StatusForHTTP(resp.StatusCode), errors.New(msg))
	}
	var v struct {
		Secret  string `json:"client_secret"`
		Note    string `json:"owner_note,omitempty"`
		MFA     *bool  `json:"mfa_required,omitempty"`
		Widgets []struct {
			ID          int    `json:"id"`
			Description string `json:"description"`
		} `json:"widgets,omitempty"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, connector.AsGap(evidence.StatusFailed, fmt.Errorf("GET %s: %w", path, err))
	}
	if c.f.variant == copiesSecret {
		v.Note = resp.Header.Get("Set-Cookie")
	}
	v.Secret = ""
	sort.Slice(v.Widgets, func(i, j int) bool { return v.Widgets[i].ID < v.Widgets[j].ID })
	if c.f.variant == shuffles && len(v.Widgets) > 1 && shuffle.Add(1)%2 == 0 {
		v.Widgets[0], v.Widgets[1] = v.Widgets[1], v.Widgets[0]
	}
	return json.Marshal(v)
}

// exampleUpstream is the simulated organisation.
func exampleUpstream() http.Handler {
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer t0ken" {
				http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/settings", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"mfa_required":true}`)
	}))
	mux.HandleFunc("GET /api/widgets", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"widgets":[{"id":2,"description":"blue"},{"id":1,"description":"red"}]}`)
	}))
	mux.HandleFunc("GET /api/audit", auth(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{}`)
	}))
	return mux
}

// examplePermission is what the example API's documentation says each call needs.
func examplePermission(r *http.Request, _ []byte) ([]string, error) {
	switch r.URL.Path {
	case "/api/settings":
		return []string{"settings:read"}, nil
	case "/api/widgets":
		return []string{"widgets:read"}, nil
	case "/api/audit":
		return []string{"audit:read"}, nil
	}
	return nil, fmt.Errorf("no documented permission")
}

func harness(t *testing.T, variant string) connectortest.Harness {
	rules, err := os.ReadFile("testdata/example/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("testdata/example/README.md")
	if err != nil {
		t.Fatal(err)
	}
	if variant == undocumented {
		readme = []byte(strings.ReplaceAll(string(readme), "`example.widgets`", "widgets"))
	}
	deployed := []string{"settings:read", "widgets:read"}
	if variant == staleDeploy {
		deployed = deployed[:1]
	}
	f := exampleFactory{variant: variant}
	return connectortest.Harness{
		Factory: f,
		Start: func(t *testing.T, wrap func(http.Handler) http.Handler) connectortest.Connect {
			srv, err := simkit.Serve(wrap(exampleUpstream()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			return func(t *testing.T, opts connector.Options) connector.Connector {
				st, err := config.NewSettings("example.yaml", "base_url: "+srv.URL+"\ntoken_env: EXAMPLE_TOKEN\n")
				if err != nil {
					t.Fatal(err)
				}
				opts.Secrets = &config.Secrets{LookupEnv: func(string) (string, bool) { return "t0ken", true }}
				c, err := f.New(st, opts)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
		},
		Rules:      rules,
		RuleCases:  "testdata/example/rule_cases.yaml",
		README:     readme,
		Permission: examplePermission,
		DeployPermissions: func() ([]string, error) {
			return deployed, nil
		},
	}
}

// TestSuite runs the suite on a connector that keeps every promise.
func TestSuite(t *testing.T) {
	connectortest.Run(t, harness(t, good))
}

// TestSuiteCatches runs the suite on connectors that each break a promise: the check that
// must catch it is listed as an expected failure, so the run fails if the check passes.
func TestSuiteCatches(t *testing.T) {
	for variant, checks := range map[string][]string{
		swallows5xx:   {"Faults/server_error", "Faults/unavailable"},
		leaksHeader:   {"Canaries"},
		copiesSecret:  {"Canaries"},
		shuffles:      {"Deterministic"},
		oldVersion:    {"Version"},
		undeclared:    {"Permissions"},
		undocumented:  {"Kinds"},
		staleDeploy:   {"Deploy"},
		noAnnouncedNA: {"Faults/forbidden", "Faults/not_found", "Faults/throttled", "Faults/throttled_without_retry_after", "Faults/server_error", "Faults/unavailable", "Faults/timeout", "Faults/truncated"},
	} {
		t.Run(variant, func(t *testing.T) {
			h := harness(t, variant)
			h.ExpectedFailures = map[string]string{}
			for _, c := range checks {
				h.ExpectedFailures[c] = "the example " + variant
			}
			connectortest.Run(t, h)
		})
	}
}
