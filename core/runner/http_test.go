package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
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

// TestHungEndpointIsAGapOfItsOwn: with a request timeout, an endpoint that never answers
// costs its own kind a failed gap after the timeout, and the instance goes on to the
// endpoints after it instead of hanging until its own timeout.
func TestHungEndpointIsAGapOfItsOwn(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	})
	srv, err := simkit.Serve(simkit.Wrap(mux, simkit.Options{Faults: []simkit.Fault{{Path: "^/slow$", Kind: simkit.Hang}}}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e := newEnv(t)
	in := instance("sim-org", httpFactory(srv.URL, "/users", "/slow", "/after"))
	in.Timeout = 20 * time.Second // without a request timeout, /slow would take all of it
	in.RequestTimeout = 300 * time.Millisecond
	sum, err := e.runner().Run(context.Background(), []Instance{in})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomePartial || sum.Artefacts != 3 || sum.Gaps != 1 {
		t.Fatalf("outcome %s, %d artefacts, %d gaps; want partial, 3, 1: %+v", sum.Outcome, sum.Artefacts, sum.Gaps, sum.GapList)
	}
	g := sum.GapList[0]
	if g.Kind != "sim.slow" || g.Status != evidence.StatusFailed || !strings.Contains(g.Error, "request timeout") {
		t.Errorf("gap %+v, want sim.slow failed naming the request timeout", g)
	}
	e.check(t)
}

// TestSecretInUpstreamErrorNeverStored: an upstream that quotes a secret in its error
// message (as an OAuth server does with a bad client secret) must not get it into the
// stored response, the gap message, the run summary or the index.
func TestSecretInUpstreamErrorNeverStored(t *testing.T) {
	const secret = "Zq7-CANARY-wPa2kLm9"
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"client_secret %s is invalid"}`, secret)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "client_secret %s is invalid", secret)
	})
	srv, err := simkit.Serve(mux)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	// The connector quotes the upstream's message in its gaps, as the SDKs' errors do.
	f := &testFactory{typ: "sim", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		for _, ep := range []string{"/json", "/text"} {
			rctx, rec := connector.Record(ctx)
			req, _ := http.NewRequestWithContext(rctx, http.MethodGet, srv.URL+ep, nil)
			resp, err := o.HTTPClient.Do(req)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			gap := connector.NewGap("sim"+strings.ReplaceAll(ep, "/", "."), "sim:org", evidence.StatusForbidden, fmt.Errorf("GET %s: %s: %s", ep, resp.Status, body))
			gap.Exchanges = rec.Exchanges()
			if err := emit(gap); err != nil {
				return err
			}
		}
		return fmt.Errorf("could not authenticate: client_secret %s is invalid", secret)
	}}
	e := newEnv(t)
	var events strings.Builder
	r := e.runner()
	r.Progress = func(ev Event) { fmt.Fprintf(&events, "%+v\n", ev) }
	sum, err := r.Run(context.Background(), []Instance{instance("sim-org", f)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Gaps != 3 {
		t.Fatalf("%d gaps, want 3 (two endpoints, the collection): %+v", sum.Gaps, sum.GapList)
	}
	places := map[string]string{"run summary": fmt.Sprintf("%+v", sum), "progress events": events.String()}
	e.repo.Objects.List(context.Background(), func(info store.Info) error {
		b, err := store.GetBytes(context.Background(), e.repo.Objects, info.Digest)
		if err != nil {
			t.Fatal(err)
		}
		places["object "+info.Digest.String()] = string(b)
		return nil
	})
	e.ix.Close()
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(e.ix.Path() + suffix)
		places["index"+suffix] = string(b)
	}
	for place, text := range places {
		if strings.Contains(text, "CANARY") {
			i := strings.Index(text, "CANARY")
			t.Errorf("the secret reached the %s: …%s…", place, text[max(0, i-60):min(len(text), i+30)])
		}
	}
	if !strings.Contains(places["run summary"], "client_secret [REDACTED") {
		t.Errorf("the gap no longer says what was wrong: %s", places["run summary"])
	}
}

// secretFieldsFactory is a test factory that declares secret fields.
type secretFieldsFactory struct {
	*testFactory
	fields []connector.SecretField
}

func (f secretFieldsFactory) SecretFields() []connector.SecretField { return f.fields }

// TestDeclaredSecretFields: what a connector declares secret is redacted in the stored
// response of its endpoint and in the document of its kind, although nothing about the
// value looks secret; an invalid declaration is a gap of the instance.
func TestDeclaredSecretFields(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/functions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"FunctionName":"f1","Environment":{"Variables":{"PIN":"plain-pin-canary"}}}`)
	})
	srv, err := simkit.Serve(mux)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	f := secretFieldsFactory{httpFactory(srv.URL, "/functions"), []connector.SecretField{
		{Endpoint: "/functions", Kind: "sim.functions", Path: "$.Environment.Variables.*"},
	}}
	e := newEnv(t)
	sum, err := e.runner().Run(context.Background(), []Instance{instance("sim-org", f.testFactory), {Name: "declared", Factory: f, Settings: nil}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Artefacts != 2 || sum.Gaps != 0 {
		t.Fatalf("%d artefacts, %d gaps; want 2, 0: %+v", sum.Artefacts, sum.Gaps, sum.GapList)
	}
	_, envs := e.manifestOf(t, sum.Manifest)
	for _, env := range envs {
		doc, err := store.GetBytes(context.Background(), e.repo.Objects, env.Document.Digest)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := store.GetBytes(context.Background(), e.repo.Objects, env.Exchanges[0].Body.Digest)
		if err != nil {
			t.Fatal(err)
		}
		declared := env.Connector.Instance == "declared"
		for what, b := range map[string][]byte{"document": doc, "response": raw} {
			if leaked := strings.Contains(string(b), "plain-pin-canary"); leaked == declared {
				t.Errorf("%s of %s: %s", what, env.Connector.Instance, b)
			}
		}
		if declared && (len(env.Exchanges[0].Redactions) != 1 || env.Exchanges[0].Redactions[0].Location != "$.Environment.Variables.PIN") {
			t.Errorf("redactions of the response: %+v", env.Exchanges[0].Redactions)
		}
	}

	bad := secretFieldsFactory{f.testFactory, []connector.SecretField{{Kind: "k", Path: "Environment"}}}
	sum, err = e.runner().Run(context.Background(), []Instance{{Name: "bad", Factory: bad}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Gaps != 1 || !strings.Contains(sum.GapList[0].Error, "invalid secret fields") {
		t.Errorf("invalid declaration: %+v", sum.GapList)
	}
}
