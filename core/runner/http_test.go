package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// httpFactory is a test connector that reads JSON endpoints of a simulator through the
// runner's capturing client: one artefact per endpoint, a gap per failed endpoint.
func httpFactory(baseURL string, endpoints ...string) *testFactory {
	return &testFactory{typ: "sim", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		for _, ep := range endpoints {
			kind := "sim." + strings.Trim(ep, "/")
			rctx, rec := connector.Record(ctx)
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, baseURL+ep, nil)
			req.Header.Set("Authorization", "Bearer canary-token-do-not-store")
			resp, err := o.HTTPClient.Do(req)
			if err != nil {
				if err := emit(connector.NewGap(kind, "sim:org", connector.GapStatus(err), err)); err != nil {
					return err
				}
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = connector.AsGap(connector.StatusForHTTP(resp.StatusCode), fmt.Errorf("GET %s: %s", ep, resp.Status))
			}
			if err != nil {
				if err := emit(connector.NewGap(kind, "sim:org", connector.GapStatus(err), err)); err != nil {
					return err
				}
				continue
			}
			if err := emit(evidence.Artefact{Kind: kind, Subject: "sim:org", Document: body, Exchanges: rec.Exchanges()}); err != nil {
				return err
			}
		}
		return nil
	}}
}

func TestUpstreamFaultsBecomeGapsPerEndpoint(t *testing.T) {
	mux := http.NewServeMux()
	for _, p := range []string{"/users", "/groups", "/policies", "/keys", "/roles", "/slow"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"path":%q,"items":[1,2,3]}`, r.URL.Path)
		})
	}
	h := simkit.Wrap(mux, simkit.Options{Faults: []simkit.Fault{
		{Path: "^/groups$", Kind: simkit.ServerError},
		{Path: "^/keys$", Kind: simkit.Forbidden},
		{Path: "^/roles$", Kind: simkit.Truncate},
		{Path: "^/slow$", Kind: simkit.Hang},
	}})
	srv, err := simkit.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	e := newEnv(t)
	r := e.runner()
	var mu sync.Mutex
	observed := 0
	r.Observe = func(instance string, st connector.ExchangeStats) { mu.Lock(); observed++; mu.Unlock() }
	// The instance hangs on /slow until its timeout: what it collected before is kept, the
	// endpoints it could not reach are its gaps, and the timeout is a gap of its own.
	in := instance("sim-org", httpFactory(srv.URL, "/users", "/groups", "/policies", "/keys", "/roles", "/slow", "/never"))
	in.Timeout = 2 * time.Second // generous: only /slow may reach it
	sum, err := r.Run(context.Background(), []Instance{in})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomePartial || sum.Artefacts != 8 || sum.Gaps != 6 {
		t.Fatalf("outcome %s, %d artefacts, %d gaps; want partial, 8, 6: %+v", sum.Outcome, sum.Artefacts, sum.Gaps, sum.GapList)
	}
	_, envs := e.manifestOf(t, sum.Manifest)
	want := map[string]evidence.Status{"sim.users": "ok", "sim.groups": "failed", "sim.policies": "ok", "sim.keys": "forbidden",
		"sim.roles": "failed", "sim.slow": "failed", "sim.never": "failed", "sim.collection": "failed"}
	for _, env := range envs {
		if want[env.Kind] != env.Status {
			t.Errorf("%s: status %s, want %s (%s)", env.Kind, env.Status, want[env.Kind], env.Error)
		}
		if env.Status != evidence.StatusOK {
			continue
		}
		if len(env.Exchanges) != 1 {
			t.Fatalf("%s: %d exchanges, want 1", env.Kind, len(env.Exchanges))
		}
		x := env.Exchanges[0]
		body, err := store.GetBytes(context.Background(), e.repo.Objects, x.Body.Digest)
		if err != nil || !strings.Contains(string(body), `"items"`) || x.Status != 200 {
			t.Errorf("%s: raw body %q %v (status %d)", env.Kind, body, err, x.Status)
		}
	}
	if observed < 5 || sum.Exchanges != 2 {
		t.Errorf("observed %d exchanges, summary %d; want at least 5 observed, 2 in artefacts", observed, sum.Exchanges)
	}
	// No object contains the credential the connector sent.
	err = e.repo.Objects.List(context.Background(), func(info store.Info) error {
		b, err := store.GetBytes(context.Background(), e.repo.Objects, info.Digest)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "canary-token") {
			t.Errorf("object %s contains the bearer token", info.Digest)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.check(t)
}
