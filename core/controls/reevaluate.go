package controls

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Reevaluation says what Reevaluate did for one run.
type Reevaluation struct {
	// Run is the collection run judged again.
	Run string
	// Sealed is the new manifest of type evaluation (nil if the run had nothing to judge).
	Sealed *manifest.Sealed
}

// Reevaluate judges the evidence of an earlier collection run again with the engine's
// current rules. The old run's signed reference is verified with the signer's public key
// first, so only untampered evidence is judged. The new results go into a new signed
// manifest of type evaluation (Evaluates = the old manifest's digest); the old results stay
// in the store and the index (the newest evaluation is the current one for status).
// The caller must hold the data directory's lock, as for AddManual.
func (e *Engine) Reevaluate(ctx context.Context, repo *store.Repo, signer *sign.Signer, ix *index.Index, runID string) (*Reevaluation, error) {
	run, _, err := ix.Run(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("could not find run %s: %w", runID, err)
	}
	if run.Type != manifest.TypeCollection {
		return nil, fmt.Errorf("run %s is a %s run; only collection runs can be re-evaluated", run.ID, run.Type)
	}
	if run.Manifest == nil || run.Ref == nil {
		return nil, fmt.Errorf("run %s is not sealed", run.ID)
	}
	ref, err := manifest.ReadRef(ctx, repo.Runs, *run.Ref)
	if err != nil {
		return nil, fmt.Errorf("could not read the reference of run %s: %w", run.ID, err)
	}
	if err := ref.Verify(signer.Verifier()); err != nil {
		return nil, fmt.Errorf("run %s: signature check failed, not re-evaluating: %w", run.ID, err)
	}
	if ref.Manifest.Digest != *run.Manifest {
		return nil, fmt.Errorf("run %s: the index names manifest %s but the signed reference names %s", run.ID, run.Manifest, ref.Manifest.Digest)
	}
	digest := ref.Manifest.Digest
	envelopes := func(fn func(evidence.Envelope) error) error {
		rc, err := repo.Objects.Get(ctx, digest)
		if err != nil {
			return fmt.Errorf("could not read the manifest of run %s: %w", run.ID, err)
		}
		defer rc.Close()
		h, err := manifest.Decode(rc, fn)
		if err != nil {
			return fmt.Errorf("manifest of run %s: %w", run.ID, err)
		}
		if h.ID != run.ID {
			return fmt.Errorf("manifest %s names run %s, not %s", digest, h.ID, run.ID)
		}
		return nil
	}
	resRef, err := e.EvaluateRun(ctx, repo.Objects, RunInfo{ID: run.ID, StartedAt: run.StartedAt, Manifest: &digest}, envelopes)
	if err != nil {
		return nil, err
	}
	out := &Reevaluation{Run: run.ID}
	if resRef == nil {
		return out, nil
	}
	now := e.now()
	id := manifest.NewRunID(now)
	h := manifest.Header{ID: id, Type: manifest.TypeEvaluation, StartedAt: now, EndedAt: e.now(),
		Outcome: manifest.OutcomeComplete, Results: resRef, Evaluates: &digest,
		Note: "re-evaluation of run " + run.ID}
	sealed, err := manifest.SealWith(ctx, repo, signer, h, nil, manifest.SealOptions{Pending: e.PendingSeal})
	if err != nil {
		return nil, err
	}
	out.Sealed = sealed
	if err := ix.RecordRun(ctx, repo.Objects, sealed); err != nil {
		return out, err
	}
	return out, nil
}

// ReevaluatePeriod re-evaluates every collection run that started in [from, to).
func (e *Engine) ReevaluatePeriod(ctx context.Context, repo *store.Repo, signer *sign.Signer, ix *index.Index, from, to time.Time) ([]Reevaluation, error) {
	runs, err := ix.Runs(ctx, index.RunFilter{Since: from, Until: to, Type: manifest.TypeCollection})
	if err != nil {
		return nil, err
	}
	var out []Reevaluation
	var errs []error
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		if runs[i].Manifest == nil {
			continue
		}
		r, err := e.Reevaluate(ctx, repo, signer, ix, runs[i].ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, *r)
	}
	return out, errors.Join(errs...)
}
