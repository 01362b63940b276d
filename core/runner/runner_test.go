package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

func TestRunOutcomes(t *testing.T) {
	type want struct {
		outcome   manifest.Outcome
		artefacts int
		gaps      int
		instances map[string]manifest.Outcome
		gapKinds  map[string]evidence.Status // kind → status of the gaps expected
		gapError  string                     // substring of a gap's error
		// instanceError: instance → substring of its error
		instanceError map[string]string
	}
	tests := []struct {
		name      string
		instances func() []Instance
		want      want
	}{
		{
			name: "complete",
			instances: func() []Instance {
				return []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 5)}), instance("b", &testFactory{typ: "beta", collect: emitN("beta", 3)})}
			},
			want: want{outcome: manifest.OutcomeComplete, artefacts: 8, instances: map[string]manifest.Outcome{"a": "complete", "b": "complete"}},
		},
		{
			name: "connector error keeps what came before",
			instances: func() []Instance {
				return []Instance{
					instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
						emit(doc("alpha", 0))
						emit(doc("alpha", 1))
						return errors.New("could not list users: 500 Internal Server Error")
					}}),
					instance("b", &testFactory{typ: "beta", collect: emitN("beta", 2)}),
				}
			},
			want: want{outcome: manifest.OutcomePartial, artefacts: 5, gaps: 1,
				instances: map[string]manifest.Outcome{"a": "partial", "b": "complete"},
				gapKinds:  map[string]evidence.Status{"alpha.collection": evidence.StatusFailed}, gapError: "could not list users"},
		},
		{
			name: "throttled error becomes a throttled gap",
			instances: func() []Instance {
				return []Instance{instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
					return connector.AsGap(evidence.StatusThrottled, errors.New("rate limit did not clear"))
				}})}
			},
			want: want{outcome: manifest.OutcomeFailed, artefacts: 1, gaps: 1, instances: map[string]manifest.Outcome{"a": "failed"},
				gapKinds: map[string]evidence.Status{"alpha.collection": evidence.StatusThrottled}},
		},
		{
			name: "panic becomes a gap, not a crash",
			instances: func() []Instance {
				return []Instance{
					instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
						emit(doc("alpha", 0))
						var m map[string]int
						m["boom"]++ // assignment to entry in nil map
						return nil
					}}),
					instance("b", &testFactory{typ: "beta", collect: emitN("beta", 1)}),
				}
			},
			want: want{outcome: manifest.OutcomePartial, artefacts: 3, gaps: 1, instances: map[string]manifest.Outcome{"a": "partial", "b": "complete"},
				gapKinds: map[string]evidence.Status{"alpha.collection": evidence.StatusFailed}, gapError: "connector panicked: assignment to entry in nil map"},
		},
		{
			name: "timeout of one instance",
			instances: func() []Instance {
				slow := instance("slow", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
					emit(doc("alpha", 0))
					<-ctx.Done()
					return ctx.Err()
				}})
				slow.Timeout = 10 * time.Millisecond
				return []Instance{slow, instance("b", &testFactory{typ: "beta", collect: emitN("beta", 1)})}
			},
			want: want{outcome: manifest.OutcomePartial, artefacts: 3, gaps: 1, instances: map[string]manifest.Outcome{"slow": "partial", "b": "complete"},
				gapKinds: map[string]evidence.Status{"alpha.collection": evidence.StatusFailed}, gapError: "timed out after 10ms"},
		},
		{
			name: "connector that ignores its context is abandoned after the grace period",
			instances: func() []Instance {
				stuck := instance("stuck", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
					select {} // never returns
				}})
				stuck.Timeout = time.Millisecond
				return []Instance{stuck, instance("b", &testFactory{typ: "beta", collect: emitN("beta", 1)})}
			},
			want: want{outcome: manifest.OutcomePartial, artefacts: 2, gaps: 1, instances: map[string]manifest.Outcome{"stuck": "failed", "b": "complete"},
				gapKinds: map[string]evidence.Status{"alpha.collection": evidence.StatusFailed}, gapError: "did not stop within"},
		},
		{
			name: "invalid settings",
			instances: func() []Instance {
				return []Instance{instance("a", &testFactory{typ: "alpha", newErr: errors.New("config.yaml:7: connectors[0].settings.region: required")})}
			},
			want: want{outcome: manifest.OutcomeFailed, artefacts: 1, gaps: 1, instances: map[string]manifest.Outcome{"a": "failed"},
				gapKinds: map[string]evidence.Status{"alpha.collection": evidence.StatusFailed}, gapError: "config.yaml:7"},
		},
		{
			name: "invalid artefact becomes a gap and collection goes on",
			instances: func() []Instance {
				return []Instance{instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
					emit(evidence.Artefact{Kind: "Alpha Thing", Subject: "x", Document: []byte(`{}`)})
					emit(evidence.Artefact{Kind: "alpha.thing", Subject: "y", Document: []byte(`{not json`)})
					return emit(doc("alpha", 1))
				}})}
			},
			want: want{outcome: manifest.OutcomePartial, artefacts: 3, gaps: 2, instances: map[string]manifest.Outcome{"a": "partial"},
				gapKinds: map[string]evidence.Status{"alpha.collection": evidence.StatusFailed}, gapError: "invalid artefact"},
		},
		{
			name: "gaps emitted by the connector",
			instances: func() []Instance {
				return []Instance{instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
					emit(doc("alpha", 0))
					return emit(connector.NewGap("alpha.licensed_thing", "alpha:t1", evidence.StatusNotLicensed, errors.New("tenant lacks P2")))
				}})}
			},
			want: want{outcome: manifest.OutcomePartial, artefacts: 2, gaps: 1, instances: map[string]manifest.Outcome{"a": "partial"},
				gapKinds: map[string]evidence.Status{"alpha.licensed_thing": evidence.StatusNotLicensed}, gapError: "tenant lacks P2"},
		},
		{
			name: "an instance that emits nothing failed",
			instances: func() []Instance {
				return []Instance{instance("quiet", &testFactory{typ: "alpha", collect: emitN("alpha", 0)}),
					instance("b", &testFactory{typ: "beta", collect: emitN("beta", 2)})}
			},
			want: want{outcome: manifest.OutcomePartial, artefacts: 2, instances: map[string]manifest.Outcome{"quiet": "failed", "b": "complete"},
				instanceError: map[string]string{"quiet": "emitted neither artefacts nor gaps"}},
		},
		{
			name: "every instance emits nothing",
			instances: func() []Instance {
				return []Instance{instance("quiet", &testFactory{typ: "alpha", collect: emitN("alpha", 0)})}
			},
			want: want{outcome: manifest.OutcomeFailed, instances: map[string]manifest.Outcome{"quiet": "failed"},
				instanceError: map[string]string{"quiet": "emitted neither artefacts nor gaps"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := e.runner()
			// Generous, so a goroutine delayed on a loaded machine is not abandoned; only
			// the connector that ignores its context waits for it.
			r.Grace = 500 * time.Millisecond
			sum, err := r.Run(context.Background(), tc.instances())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Outcome != tc.want.outcome || sum.Artefacts != tc.want.artefacts || sum.Gaps != tc.want.gaps {
				t.Errorf("outcome %s, %d artefacts, %d gaps; want %s, %d, %d", sum.Outcome, sum.Artefacts, sum.Gaps, tc.want.outcome, tc.want.artefacts, tc.want.gaps)
			}
			for _, cr := range sum.Connectors {
				if w := tc.want.instances[cr.Instance]; cr.Outcome != w {
					t.Errorf("instance %s outcome %s, want %s (error %q)", cr.Instance, cr.Outcome, w, cr.Error)
				}
				if w := tc.want.instanceError[cr.Instance]; !strings.Contains(cr.Error, w) {
					t.Errorf("instance %s error %q, want it to say %q", cr.Instance, cr.Error, w)
				}
			}
			h, envs := e.manifestOf(t, sum.Manifest)
			if h.Outcome != tc.want.outcome || len(envs) != tc.want.artefacts {
				t.Errorf("manifest: outcome %s with %d envelopes", h.Outcome, len(envs))
			}
			foundErr := tc.want.gapError == ""
			for _, env := range envs {
				if env.Status.IsGap() {
					if st, ok := tc.want.gapKinds[env.Kind]; !ok || st != env.Status {
						t.Errorf("unexpected gap %s %s %s: %s", env.Kind, env.Subject, env.Status, env.Error)
					}
					if strings.Contains(env.Error, tc.want.gapError) {
						foundErr = true
					}
					continue
				}
				b, err := store.GetBytes(context.Background(), e.repo.Objects, env.Document.Digest)
				if err != nil || !strings.Contains(string(b), "thing-") {
					t.Errorf("document of %s: %q %v", env.Subject, b, err)
				}
			}
			if !foundErr {
				t.Errorf("no gap mentions %q: %+v", tc.want.gapError, sum.GapList)
			}
			// The index agrees with the manifest.
			run, crs, err := e.ix.Run(context.Background(), sum.RunID)
			if err != nil || run.Artefacts != tc.want.artefacts || run.Gaps != tc.want.gaps || run.Outcome != string(tc.want.outcome) || len(crs) != len(sum.Connectors) {
				t.Errorf("index: %+v %+v %v", run, crs, err)
			}
			e.check(t)
		})
	}
}

func TestInterruptKeepsWhatWasEmitted(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Whichever instance starts first emits two artefacts and is interrupted (SIGINT);
	// the other waits for its slot and never starts.
	f := &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		emit(doc("alpha", 0))
		emit(doc("alpha", 1))
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}}
	r := e.runner()
	r.Concurrency = 1
	sum, err := r.Run(ctx, []Instance{instance("a", f), instance("b", f)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomeInterrupted || sum.Artefacts != 2 || sum.Gaps != 0 {
		t.Fatalf("outcome %s with %d artefacts, %d gaps; want interrupted with 2 and none", sum.Outcome, sum.Artefacts, sum.Gaps)
	}
	for _, cr := range sum.Connectors {
		if cr.Outcome != manifest.OutcomeInterrupted {
			t.Errorf("%s: %s", cr.Instance, cr.Outcome)
		}
	}
	if _, envs := e.manifestOf(t, sum.Manifest); len(envs) != 2 {
		t.Errorf("%d envelopes sealed, want 2", len(envs))
	}
	e.check(t)
}

func TestRunDeadline(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	r.RunDeadline = 300 * time.Millisecond
	sum, err := r.Run(context.Background(), []Instance{instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		emit(doc("alpha", 0))
		<-ctx.Done()
		return ctx.Err()
	}})})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomePartial || sum.Gaps != 1 || !strings.Contains(sum.GapList[0].Error, "run deadline of 300ms exceeded") {
		t.Fatalf("outcome %s, gaps %+v", sum.Outcome, sum.GapList)
	}
	// The manifest says the instance ran over the deadline, not that it started late.
	h, _ := e.manifestOf(t, sum.Manifest)
	if c := h.Connectors[0]; !c.OverDeadline || c.CatchUp {
		t.Errorf("connector run %+v", c)
	}
	_, crs, err := e.ix.Run(context.Background(), sum.RunID)
	if err != nil || len(crs) != 1 || !crs[0].OverDeadline {
		t.Errorf("index: %+v %v", crs, err)
	}
}

func TestChainDedupAndNewBytes(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	insts := []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 50)})}
	first, err := r.Run(context.Background(), insts)
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Run(context.Background(), insts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Previous != nil {
		t.Errorf("first run has a previous: %s", first.Previous)
	}
	if second.Previous == nil || *second.Previous != first.Manifest {
		t.Fatalf("second run's previous %v, want %s", second.Previous, first.Manifest)
	}
	if first.NewObjects != 50+2 {
		t.Errorf("first run stored %d new objects, want 50 documents + manifest + ref", first.NewObjects)
	}
	// Unchanged evidence: only the new manifest and its ref are new.
	if second.NewObjects != 2 {
		t.Errorf("second run stored %d new objects, want 2 (manifest + ref)", second.NewObjects)
	}
	refInfo, _ := e.repo.Runs.Stat(context.Background(), evidence.Digest{})
	_ = refInfo
	if max := second.ManifestSize + 4096; second.NewBytes > max {
		t.Errorf("second run wrote %d new bytes, want ≤ manifest (%d) + a ref", second.NewBytes, second.ManifestSize)
	}
	e.check(t)
	runs, err := e.ix.Runs(context.Background(), index.RunFilter{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("index has %d runs: %v", len(runs), err)
	}
}

// evaluatorFunc adapts a function to Evaluator.
type evaluatorFunc func(ctx context.Context, objects store.Store, runID string, envelopes func(fn func(evidence.Envelope) error) error) (*evidence.ObjectRef, error)

func (f evaluatorFunc) Evaluate(ctx context.Context, objects store.Store, runID string, envelopes func(fn func(evidence.Envelope) error) error) (*evidence.ObjectRef, error) {
	return f(ctx, objects, runID, envelopes)
}

func TestEvaluatorSeesEveryEnvelopeBeforeSealing(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	var seen int
	r.Evaluator = evaluatorFunc(func(ctx context.Context, objects store.Store, runID string, envelopes func(fn func(evidence.Envelope) error) error) (*evidence.ObjectRef, error) {
		err := envelopes(func(evidence.Envelope) error { seen++; return nil })
		if err != nil {
			return nil, err
		}
		ref, err := store.PutBytes(ctx, objects, []byte(fmt.Sprintf(`{"run":%q,"evaluated":%d}`, runID, seen)), "application/json")
		return &ref, err
	})
	sum, err := r.Run(context.Background(), []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 7)})})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 7 || sum.Results == nil {
		t.Fatalf("evaluator saw %d envelopes, results %v", seen, sum.Results)
	}
	h, _ := e.manifestOf(t, sum.Manifest)
	if h.Results == nil || h.Results.Digest != sum.Results.Digest {
		t.Errorf("manifest results %v, want %v", h.Results, sum.Results)
	}
	// The run row names its results even if the controls engine cannot index this
	// made-up results object.
	run, _, _ := e.ix.Run(context.Background(), sum.RunID)
	if run.Results == nil || *run.Results != sum.Results.Digest || run.Outcome != string(manifest.OutcomeComplete) {
		t.Errorf("index: results %v, outcome %s", run.Results, run.Outcome)
	}
}

// A run whose evaluation fails keeps its evidence but is partial, and says why in the
// summary, the manifest and the index.
func TestEvaluationFailureMakesTheRunPartial(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	r.Evaluator = evaluatorFunc(func(ctx context.Context, objects store.Store, runID string, envelopes func(fn func(evidence.Envelope) error) error) (*evidence.ObjectRef, error) {
		return nil, errors.New("could not evaluate run: rule x: no such attribute")
	})
	sum, err := r.Run(context.Background(), []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 3)})})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomePartial || !strings.Contains(sum.EvaluationError, "no such attribute") || sum.Results != nil {
		t.Errorf("outcome %s, evaluation error %q, results %v", sum.Outcome, sum.EvaluationError, sum.Results)
	}
	h, envs := e.manifestOf(t, sum.Manifest)
	if h.Outcome != manifest.OutcomePartial || !strings.Contains(h.Note, "evaluation failed: could not evaluate run") || len(envs) != 3 {
		t.Errorf("manifest: outcome %s, note %q, %d envelopes", h.Outcome, h.Note, len(envs))
	}
	run, _, err := e.ix.Run(context.Background(), sum.RunID)
	if err != nil || run.Outcome != string(manifest.OutcomePartial) || !strings.Contains(run.Note, "evaluation failed") {
		t.Errorf("index: %+v %v", run, err)
	}
	e.check(t)
}

func TestProgressEvents(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	var mu sync.Mutex
	var events []Event
	r.Progress = func(ev Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }
	_, err := r.Run(context.Background(), []Instance{instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		emit(doc("alpha", 0))
		return emit(connector.NewGap("alpha.other", "alpha:x", evidence.StatusForbidden, errors.New("403")))
	}})})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		types = append(types, string(ev.Type))
	}
	if got := strings.Join(types, ","); got != "started,artefact,gap,finished,sealed" {
		t.Fatalf("events %s", got)
	}
	fin := events[3]
	if fin.Artefacts != 2 || fin.Gaps != 1 || fin.Outcome != manifest.OutcomePartial {
		t.Errorf("finished event %+v", fin)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	r.Concurrency = 2
	var mu sync.Mutex
	running, peak := 0, 0
	gate := make(chan struct{})
	var openGate sync.Once
	var insts []Instance
	for i := 0; i < 6; i++ {
		insts = append(insts, instance(fmt.Sprintf("i%d", i), &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
			mu.Lock()
			running++
			if running > peak {
				peak = running
			}
			n := running
			mu.Unlock()
			if n == 2 {
				openGate.Do(func() { close(gate) }) // two run at once: let everyone go on
			}
			<-gate
			mu.Lock()
			running--
			mu.Unlock()
			return emit(doc("alpha", 0))
		}}))
	}
	sum, err := r.Run(context.Background(), insts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomeComplete {
		t.Errorf("outcome %s: %+v", sum.Outcome, sum.GapList)
	}
	if peak != 2 {
		t.Errorf("peak concurrency %d, want 2", peak)
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	r := e.runner()
	f := &testFactory{typ: "alpha", collect: emitN("alpha", 1)}
	if _, err := r.Run(context.Background(), nil); !errors.Is(err, ErrNoInstances) {
		t.Errorf("no instances: %v", err)
	}
	if _, err := r.Run(context.Background(), []Instance{instance("a", f), instance("a", f)}); err == nil {
		t.Error("duplicate instance names accepted")
	}
}

func TestRunInterruptedAtItsStartIsIndexed(t *testing.T) {
	// SIGINT within moments of the start: the run is sealed as interrupted, and it must be
	// in the index too, or bundles of its period fail until a reindex.
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum, err := e.runner().Run(ctx, []Instance{instance("a", &testFactory{typ: "alpha", collect: emitN("alpha", 1)})})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomeInterrupted || sum.IndexError != nil {
		t.Fatalf("outcome %s, index error %v; want interrupted and indexed", sum.Outcome, sum.IndexError)
	}
	run, _, err := e.ix.Run(context.Background(), sum.RunID)
	if err != nil || run.Manifest == nil || *run.Manifest != sum.Manifest || run.Outcome != string(manifest.OutcomeInterrupted) {
		t.Fatalf("index: %+v, %v; want the sealed interrupted run", run, err)
	}
	e.check(t)
}
