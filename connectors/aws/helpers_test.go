package aws

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// testNow is the simulator's and the connector's clock in tests.
var testNow = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)

// simEnv is a simulator served on 127.0.0.1 and the pieces to point the real connector at it.
type simEnv struct {
	sim   *sim.Sim
	url   string
	store *mem.Store
	// tr is the transport of every client of the env; closing its idle connections before
	// the server closes spares the server's graceful shutdown its wait for them.
	tr *http.Transport
	// authCalls counts requests through the auth client (STS).
	authMu    sync.Mutex
	authCalls []string
}

func startSim(t testing.TB, opts sim.Options) *simEnv {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	s := sim.New(opts)
	srv, err := simkit.Serve(s.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &simEnv{sim: s, url: srv.URL, store: mem.New(), tr: testTransport()}
	t.Cleanup(e.tr.CloseIdleConnections) // runs before srv.Close (cleanups run last-in first-out)
	return e
}

// settingsYAML is a settings section for the simulator with extra lines appended.
func (e *simEnv) settingsYAML(extra string) string {
	return strings.Join([]string{
		"credentials:",
		"  access_key_id_env: " + sim.EnvAccessKeyID,
		"  secret_access_key_env: " + sim.EnvSecretAccessKey,
		"endpoint_url: " + e.url,
		extra,
	}, "\n")
}

type authCounter struct {
	e    *simEnv
	base http.RoundTripper
}

func (a authCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	a.e.authMu.Lock()
	a.e.authCalls = append(a.e.authCalls, r.Header.Get("Authorization"))
	a.e.authMu.Unlock()
	return a.base.RoundTrip(r)
}

func testTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return tr
}

// options returns connector options with a plain HTTP client; TestCaptureThroughTransport
// and TestDeterministicDocuments run through the capturing transport (see capture).
func (e *simEnv) options() connector.Options {
	return connector.Options{
		Instance:       "aws-test",
		HTTPClient:     &http.Client{Transport: e.tr},
		AuthHTTPClient: &http.Client{Transport: authCounter{e: e, base: e.tr}},
		Now:            func() time.Time { return testNow },
		Secrets: &config.Secrets{LookupEnv: func(k string) (string, bool) {
			v, ok := sim.DemoEnv()[k]
			return v, ok
		}},
		Limits: connector.DefaultLimits,
	}
}

// noBackoff retries at once: tests never sleep.
type noBackoff struct{}

func (noBackoff) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

var _ retry.BackoffDelayer = noBackoff{}

// newTestConnector builds the connector from YAML settings, without real sleeps.
func (e *simEnv) connector(t testing.TB, yamlText string, mod ...func(*connector.Options)) *Connector {
	t.Helper()
	st, err := config.NewSettings("test.yaml", yamlText)
	if err != nil {
		t.Fatal(err)
	}
	opts := e.options()
	for _, m := range mod {
		m(&opts)
	}
	c, err := newConnector(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = noBackoff{}
	c.wait = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return c
}

// collected is the result of one collection.
type collected struct {
	arts []evidence.Artefact
	err  error
}

func collect(ctx context.Context, c *Connector) collected {
	var out collected
	out.err = c.Collect(ctx, func(a evidence.Artefact) error {
		if err := a.Validate(); err != nil {
			return err
		}
		out.arts = append(out.arts, a)
		return nil
	})
	sort.Slice(out.arts, func(i, j int) bool {
		if out.arts[i].Kind != out.arts[j].Kind {
			return out.arts[i].Kind < out.arts[j].Kind
		}
		return out.arts[i].Subject < out.arts[j].Subject
	})
	return out
}

// find returns the artefact of kind and subject.
func (c collected) find(kind, subject string) *evidence.Artefact {
	for i := range c.arts {
		if c.arts[i].Kind == kind && c.arts[i].Subject == subject {
			return &c.arts[i]
		}
	}
	return nil
}

// gaps returns "kind subject status" for every gap.
func (c collected) gaps() []string {
	var out []string
	for _, a := range c.arts {
		if a.Status.IsGap() {
			out = append(out, a.Kind+" "+a.Subject+" "+string(a.Status)+": "+a.Error)
		}
	}
	return out
}

func decodeDoc(t testing.TB, a *evidence.Artefact) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.Document, &m); err != nil {
		t.Fatalf("%s %s: %v", a.Kind, a.Subject, err)
	}
	return m
}

func newSettingsForTest(yamlText string) (connector.Settings, error) {
	return config.NewSettings("test.yaml", yamlText)
}

// capture makes the connector's evidence client the framework's capturing transport,
// storing bodies in the env's store.
func (e *simEnv) capture(o *connector.Options) {
	o.HTTPClient = &http.Client{Transport: connector.NewTransport(e.tr, connector.TransportOptions{Sink: e.store})}
}
