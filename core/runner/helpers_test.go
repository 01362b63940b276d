package runner

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/check"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// testFactory is a connector type for tests: its connectors run collect. It is a test
// connector, not a mock of an upstream; tests that need HTTP use simkit.
type testFactory struct {
	typ     string
	collect func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error
	newErr  error
}

func (f *testFactory) Type() string                        { return f.typ }
func (f *testFactory) Version() string                     { return "1.0" }
func (f *testFactory) Kinds() []connector.Kind             { return nil }
func (f *testFactory) Permissions() []connector.Permission { return nil }
func (f *testFactory) New(s connector.Settings, o connector.Options) (connector.Connector, error) {
	if f.newErr != nil {
		return nil, f.newErr
	}
	return &testConnector{f: f, o: o}, nil
}

type testConnector struct {
	f *testFactory
	o connector.Options
}

func (c *testConnector) Collect(ctx context.Context, emit func(evidence.Artefact) error) error {
	return c.f.collect(ctx, c.o, emit)
}

// emitN is a collect func emitting n small documents of kind <typ>.thing.
func emitN(typ string, n int) func(context.Context, connector.Options, func(evidence.Artefact) error) error {
	return func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		for i := 0; i < n; i++ {
			if err := emit(doc(typ, i)); err != nil {
				return err
			}
		}
		return nil
	}
}

func doc(typ string, i int) evidence.Artefact {
	return evidence.Artefact{
		Kind:     typ + ".thing",
		Subject:  fmt.Sprintf("%s:subject-%d", typ, i),
		Document: []byte(fmt.Sprintf(`{"name":"thing-%d","enabled":true}`, i)),
	}
}

func instance(name string, f *testFactory) Instance {
	return Instance{Name: name, Factory: f}
}

// env is a data directory with an fs store, a signing key and an index.
type env struct {
	dir    string
	repo   *store.Repo
	signer *sign.Signer
	ix     *index.Index
	clock  *stepClock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	return openEnv(t, dir)
}

func openEnv(t testing.TB, dir string) *env {
	t.Helper()
	repo, err := fs.OpenRepo(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := sign.LoadOrGenerate(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(context.Background(), filepath.Join(dir, "index.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return &env{dir: dir, repo: repo, signer: signer, ix: ix, clock: &stepClock{t: time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)}}
}

func (e *env) runner() *Runner {
	return &Runner{
		Repo:    e.repo,
		Signer:  e.signer,
		Index:   e.ix,
		Logger:  slog.New(slog.DiscardHandler),
		Now:     e.clock.Now,
		TempDir: e.dir,
		DataDir: e.dir,
		Grace:   time.Second,
	}
}

// check runs the integrity check of the whole store and fails the test on any problem.
func (e *env) check(t testing.TB) *check.Report {
	t.Helper()
	rep, err := check.Run(context.Background(), e.repo, e.signer.Verifier(), check.Options{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("check: %s", p)
	}
	return rep
}

// manifestOf reads a sealed run back from the store.
func (e *env) manifestOf(t testing.TB, d evidence.Digest) (manifest.Header, []evidence.Envelope) {
	t.Helper()
	rc, err := e.repo.Objects.Get(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var envs []evidence.Envelope
	h, err := manifest.Decode(rc, func(e evidence.Envelope) error { envs = append(envs, e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return h, envs
}

// stepClock advances a millisecond per reading, so times are distinct and ordered.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}
