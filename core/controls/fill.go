package controls

import (
	"context"
	"errors"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// EvaluateMissing judges the sealed collection runs started in [from, to] that have no
// evaluation results yet (their evaluation failed, was skipped with --no-evaluate, or the
// run was recovered after its process ended), oldest first, as Reevaluate does. Runs that
// already have results are left alone. Status counts such runs as gaps until they are
// judged. The caller must hold the data directory's lock.
func (e *Engine) EvaluateMissing(ctx context.Context, repo *store.Repo, signer *sign.Signer, ix *index.Index, from, to time.Time) ([]Reevaluation, error) {
	runs, err := ix.PeriodRuns(ctx, index.Period{From: from, To: to})
	if err != nil {
		return nil, err
	}
	var out []Reevaluation
	var errs []error
	for _, r := range runs {
		if r.Results != "" {
			continue
		}
		re, err := e.Reevaluate(ctx, repo, signer, ix, r.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, *re)
	}
	return out, errors.Join(errs...)
}
