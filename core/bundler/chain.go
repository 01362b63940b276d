package bundler

import (
	"context"
	"fmt"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// segment is the part of the run chain a bundle covers: the runs of the period and every
// run between them in chain order, plus the anchor (the run just before) when there is one.
type segment struct {
	anchor *manifest.RefInfo
	runs   []manifest.RefInfo // chain order, oldest first
	// byID holds every readable ref of the repository, for evaluation and attestation runs
	// outside the segment.
	byID map[string]manifest.RefInfo
}

// chainSegment finds the period's runs in the index and places them on the signed chain.
// It refuses, rather than bundle a period the chain cannot vouch for, when the chain is
// forked or broken between the period's runs, and when the index disagrees with the store
// about which runs the period has (run `exhibit reindex`).
func chainSegment(ctx context.Context, repo *store.Repo, ix *index.Index, from, to time.Time) (*segment, error) {
	refs, err := manifest.ListRefs(ctx, repo.Runs)
	if err != nil {
		return nil, err
	}
	if forks := manifest.Forks(refs); len(forks) > 0 {
		return nil, fmt.Errorf("cannot bundle: %w (run exhibit check)", forks[0])
	}
	seg := &segment{byID: map[string]manifest.RefInfo{}}
	byManifest := map[evidence.Digest]manifest.RefInfo{}
	for _, r := range refs {
		byManifest[r.Ref.Manifest.Digest] = r
		seg.byID[r.Ref.ID] = r
	}
	head, err := manifest.HeadOf(refs) // forks were refused above
	if err != nil {
		return nil, fmt.Errorf("cannot bundle: %w (run exhibit check)", err)
	}
	// Walk back from the head: the chain in reverse.
	var chain []manifest.RefInfo
	pos := map[evidence.Digest]int{}
	for d := head; d != nil; d = chain[len(chain)-1].Ref.Previous {
		r, ok := byManifest[*d]
		if _, seen := pos[*d]; !ok || seen {
			break // the chain is broken here (or, after tampering, a cycle)
		}
		pos[*d] = 0
		chain = append(chain, r)
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	for i, r := range chain {
		pos[r.Ref.Manifest.Digest] = i
	}

	runs, err := ix.Runs(ctx, index.RunFilter{Since: from, Until: to.Add(time.Nanosecond)})
	if err != nil {
		return nil, err
	}
	indexed := map[evidence.Digest]bool{}
	lo, hi := len(chain), -1
	for _, r := range runs {
		if r.Manifest == nil {
			continue // still running: not sealed, not evidence yet
		}
		indexed[*r.Manifest] = true
		if _, ok := byManifest[*r.Manifest]; !ok {
			return nil, fmt.Errorf("cannot bundle: the index lists run %s (manifest %s), which the store does not have (if it was sealed just now, try again; otherwise run exhibit check, then exhibit reindex)", r.ID, r.Manifest)
		}
		p, ok := pos[*r.Manifest]
		if !ok {
			return nil, fmt.Errorf("cannot bundle: run %s (manifest %s) is not on the chain that ends at the newest run: the chain is broken after it (run exhibit check to see where)", r.ID, r.Manifest)
		}
		lo, hi = min(lo, p), max(hi, p)
	}
	for _, r := range refs {
		at := r.Ref.StartedAt
		if !at.Before(from) && !at.After(to) && !indexed[r.Ref.Manifest.Digest] {
			return nil, fmt.Errorf("cannot bundle: run %s of the period is in the store but not in the index; run exhibit reindex", r.Ref.ID)
		}
	}
	if hi < 0 {
		return nil, fmt.Errorf("cannot bundle: no sealed run started between %s and %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if lo > 0 {
		a := chain[lo-1]
		seg.anchor = &a
	} else if chain[0].Ref.Previous != nil {
		return nil, fmt.Errorf("cannot bundle: the chain before run %s is broken (its previous manifest %s is missing); run exhibit check", chain[0].Ref.ID, chain[0].Ref.Previous)
	}
	seg.runs = chain[lo : hi+1]
	return seg, nil
}
