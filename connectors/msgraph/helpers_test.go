package msgraph

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// testNow is the simulated tenant's and the rules' "now".
var testNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeClock records the waits of rate limiting and retries instead of sleeping.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
		c.sleeps = append(c.sleeps, d)
	}
	return nil
}

// waitsOver returns the recorded waits longer than d (rate-limiter spacing is shorter).
func (c *fakeClock) waitsOver(d time.Duration) []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, s := range c.sleeps {
		if s > d {
			out = append(out, s)
		}
	}
	return out
}

// harness runs the real connector (real SDK client, real capturing transport into a memory
// store) against a simulated tenant on 127.0.0.1.
type harness struct {
	sim   *sim.Sim
	srv   *simkit.Server
	store *mem.Store
	clock *fakeClock
	conn  *Connector
	env   map[string]string
}

func newHarness(t testing.TB, so sim.Options, extraSettings string, env map[string]string) *harness {
	t.Helper()
	if so.Now == nil {
		so.Now = func() time.Time { return testNow }
	}
	s := sim.New(so)
	srv, err := simkit.Serve(s.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	h := &harness{sim: s, srv: srv, store: mem.New(), clock: &fakeClock{now: testNow}, env: env}
	settings := sim.DemoSettings(srv.URL) + extraSettings
	h.conn = h.newConnector(t, settings)
	return h
}

func (h *harness) options() connector.Options {
	return connector.Options{
		Instance:   "entra-test",
		HTTPClient: &http.Client{Transport: connector.NewTransport(http.DefaultTransport, connector.TransportOptions{Sink: h.store})},
		Now:        func() time.Time { return testNow },
		Secrets: &config.Secrets{LookupEnv: func(k string) (string, bool) {
			v, ok := h.env[k]
			return v, ok
		}},
		Limits: connector.DefaultLimits,
	}
}

func (h *harness) newConnector(t testing.TB, settingsYAML string) *Connector {
	t.Helper()
	return h.newConnectorWith(t, settingsYAML, h.options())
}

func (h *harness) newConnectorWith(t testing.TB, settingsYAML string, opts connector.Options) *Connector {
	t.Helper()
	st, err := config.NewSettings("test.yaml", settingsYAML)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Factory{}.New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	conn := c.(*Connector)
	conn.clock = h.clock
	return conn
}

// collect runs Collect and returns the artefacts by kind, validated as the runner would.
func (h *harness) collect(t testing.TB, ctx context.Context) (map[string]evidence.Artefact, error) {
	t.Helper()
	return h.collectFrom(t, ctx, h.conn)
}

// collectWith runs another connector (other settings) against the same tenant and store.
func (h *harness) collectWith(t testing.TB, c *Connector) (map[string]evidence.Artefact, error) {
	t.Helper()
	return h.collectFrom(t, context.Background(), c)
}

func (h *harness) collectFrom(t testing.TB, ctx context.Context, c *Connector) (map[string]evidence.Artefact, error) {
	t.Helper()
	out := map[string]evidence.Artefact{}
	err := c.Collect(ctx, func(a evidence.Artefact) error {
		if err := a.Validate(); err != nil {
			t.Errorf("invalid artefact: %v", err)
		}
		if _, dup := out[a.Kind]; dup {
			t.Errorf("kind %s emitted twice", a.Kind)
		}
		out[a.Kind] = a
		return nil
	})
	return out, err
}

func decodeDoc(t testing.TB, a evidence.Artefact) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.Document, &m); err != nil {
		t.Fatalf("%s: document is not JSON: %v", a.Kind, err)
	}
	return m
}

func status(a evidence.Artefact) evidence.Status {
	if a.Status == "" {
		return evidence.StatusOK
	}
	return a.Status
}
