package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// testEpoch anchors the simulated organisation's dates: the start of today (UTC). The
// fake clock starts at the real time, so reset times the simulator hands out are in the
// real future too, as go-github's own rate-limit check (wall clock) would see them.
var (
	clockStart = time.Now().UTC().Truncate(time.Second)
	testEpoch  = clockStart.Truncate(24 * time.Hour)
)

// fakeClock is the connector's and the simulator's clock in tests: sleeping advances it
// and records the wait, so rate-limit waits are asserted without real sleeps.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: clockStart} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// envSecrets resolves *_env references from a map; files are not used in these tests.
type envSecrets map[string]string

func (s envSecrets) Secret(what, env, file string) ([]byte, error) {
	if v, ok := s[env]; ok && env != "" {
		return []byte(v), nil
	}
	return nil, fmt.Errorf("%s: environment variable %q is not set", what, env)
}

// testEnv is a simulator served on 127.0.0.1 with a fake clock and a real capturing
// transport writing into a memory store.
type testEnv struct {
	sim   *sim.Sim
	srv   *simkit.Server
	clock *fakeClock
	store *mem.Store
}

const testToken = "ghp_testtoken0123456789"

func startSim(t testing.TB, opts sim.Options) *testEnv {
	t.Helper()
	return startSimWrapped(t, opts, nil)
}

// startSimWrapped is startSim with the simulator's handler wrapped (nil: not wrapped), for
// tests that look at every response it serves.
func startSimWrapped(t testing.TB, opts sim.Options, wrap func(h http.Handler, basePath string) http.Handler) *testEnv {
	t.Helper()
	clock := newFakeClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	if opts.Epoch.IsZero() {
		opts.Epoch = testEpoch
	}
	if opts.Token == "" && opts.App == nil {
		opts.Token = testToken
	}
	s := sim.New(opts)
	var h http.Handler = s.Handler()
	if wrap != nil {
		h = wrap(h, s.BasePath())
	}
	srv, err := simkit.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &testEnv{sim: s, srv: srv, clock: clock, store: mem.New()}
}

// settings returns the YAML settings for the simulator, with extra lines appended.
func (e *testEnv) settings(extra ...string) string {
	y := fmt.Sprintf("orgs: [%s]\nbase_url: %s%s/\ntoken_env: GH_TOKEN\n", e.sim.Org().Login, e.srv.URL, e.sim.BasePath())
	for _, x := range extra {
		y += x + "\n"
	}
	return y
}

// connector builds the real connector through the factory, with the capturing transport.
func (e *testEnv) connector(t testing.TB, settingsYAML string, limits connector.Limits) connector.Connector {
	t.Helper()
	st, err := config.NewSettings("test.yaml", settingsYAML)
	if err != nil {
		t.Fatal(err)
	}
	transport := connector.NewTransport(http.DefaultTransport, connector.TransportOptions{Sink: e.store, Now: e.clock.Now})
	f := &Factory{sleep: e.clock.Sleep}
	c, err := f.New(st, connector.Options{
		Instance:       "github-test",
		HTTPClient:     &http.Client{Transport: transport},
		AuthHTTPClient: &http.Client{},
		Now:            e.clock.Now,
		Secrets:        envSecrets{"GH_TOKEN": testToken, "GH_APP_KEY": testAppKeyPEM(t)},
		Limits:         limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// collect runs Collect and returns the artefacts by "kind subject".
func collect(t testing.TB, c connector.Connector) (map[string]evidence.Artefact, []evidence.Artefact) {
	t.Helper()
	var arts []evidence.Artefact
	err := c.Collect(context.Background(), func(a evidence.Artefact) error {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("invalid artefact: %w", err)
		}
		arts = append(arts, a)
		return nil
	})
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return index(t, arts), arts
}

func index(t testing.TB, arts []evidence.Artefact) map[string]evidence.Artefact {
	t.Helper()
	m := map[string]evidence.Artefact{}
	for _, a := range arts {
		k := a.Kind + " " + a.Subject
		if _, dup := m[k]; dup {
			t.Errorf("artefact %s emitted twice", k)
		}
		m[k] = a
	}
	return m
}

// doc decodes an artefact's document, failing the test on a gap.
func doc(t testing.TB, arts map[string]evidence.Artefact, kind, subject string) map[string]any {
	t.Helper()
	a, ok := arts[kind+" "+subject]
	if !ok {
		t.Fatalf("no artefact %s %s", kind, subject)
	}
	if a.Status != evidence.StatusOK {
		t.Fatalf("%s %s is a gap (%s): %s", kind, subject, a.Status, a.Error)
	}
	var m map[string]any
	if err := json.Unmarshal(a.Document, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at walks a decoded document by dotted path ("effective.required_approving_review_count").
func at(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func gaps(arts []evidence.Artefact) []string {
	var out []string
	for _, a := range arts {
		if a.Status.IsGap() {
			out = append(out, fmt.Sprintf("%s %s (%s): %s", a.Kind, a.Subject, a.Status, a.Error))
		}
	}
	sort.Strings(out)
	return out
}

func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }

var (
	appKeyOnce sync.Once
	appKey     *rsa.PrivateKey
)

// testAppKey is one RSA key per test binary (generating one takes a while).
func testAppKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	appKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		appKey = k
	})
	return appKey
}

func testAppKeyPEM(t testing.TB) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testAppKey(t))}))
}
