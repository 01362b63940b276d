package index

import (
	"context"
	"errors"
	"fmt"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// BatchSize is how many envelopes go into one write transaction.
const BatchSize = 512

// ReindexStats says what Reindex did.
type ReindexStats struct {
	Runs      int
	Artefacts int
	// Failed are the runs that could not be read (each also in the returned error); the
	// rest of the store is indexed regardless.
	Failed []string
}

// Reindex rebuilds the index entirely from the store: it empties every table and records
// each sealed run manifest listed in repo.Runs, with its artefacts and (through
// indexResults) its results. A manifest that cannot be read is reported and skipped, so
// one damaged object never hides the rest; `exhibit check` says what is wrong with it.
func Reindex(ctx context.Context, ix *Index, repo *store.Repo) (ReindexStats, error) {
	var st ReindexStats
	refs, err := manifest.ListRefs(ctx, repo.Runs)
	if err != nil {
		return st, fmt.Errorf("could not list the runs of %s: %w", repo.Describe, err)
	}
	if err := ix.reset(ctx); err != nil {
		return st, fmt.Errorf("could not empty the index: %w", err)
	}
	var errs []error
	for _, ri := range refs {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n, err := IndexManifest(ctx, ix, repo.Objects, ri)
		if err != nil {
			st.Failed = append(st.Failed, ri.Ref.ID)
			errs = append(errs, err)
			continue
		}
		st.Runs++
		st.Artefacts += n
	}
	return st, errors.Join(errs...)
}

// IndexManifest records one sealed run from its stored manifest, replacing whatever the
// index held about it, and returns the number of artefacts. The runner uses it too, to
// index a run recovered after a crash.
func IndexManifest(ctx context.Context, ix *Index, objects store.Store, ri manifest.RefInfo) (int, error) {
	id := ri.Ref.ID
	if err := ix.DeleteRun(ctx, id); err != nil {
		return 0, err
	}
	rc, err := objects.Get(ctx, ri.Ref.Manifest.Digest)
	if err != nil {
		return 0, fmt.Errorf("could not read the manifest of run %s: %w", id, err)
	}
	defer rc.Close()
	batch := make([]evidence.Envelope, 0, BatchSize)
	n := 0
	flush := func() error {
		if err := ix.AddArtefacts(ctx, id, n-len(batch), batch); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	h, err := manifest.Decode(rc, func(e evidence.Envelope) error {
		batch = append(batch, e)
		n++
		if len(batch) == BatchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil && h.ID != id {
		err = fmt.Errorf("its reference names run %s but the manifest says %s", id, h.ID)
	}
	if err != nil {
		ix.DeleteRun(ctx, id)
		return 0, fmt.Errorf("could not index run %s (manifest %s): %w", id, ri.Ref.Manifest.Digest, err)
	}
	s := &manifest.Sealed{Header: h, Digest: ri.Ref.Manifest.Digest, Size: ri.Ref.Manifest.Size, Ref: ri.Ref, RefDigest: ri.Digest}
	if err := ix.RecordRun(ctx, objects, s); err != nil {
		return 0, err
	}
	return n, nil
}
