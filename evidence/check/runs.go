package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/sign"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// chain indexes the refs that could be read, to name the neighbours of a problem.
type chain struct {
	refs       []manifest.RefInfo                 // sorted, every readable ref
	byManifest map[evidence.Digest]manifest.Ref   // manifest digest → (first) ref
	next       map[evidence.Digest][]manifest.Ref // manifest digest → refs naming it as previous
	unsigned   map[evidence.Digest]bool           // refs not signed by the pinned key
}

// checkRuns reads every ref, verifies it, decodes its manifest, and follows the chain.
func (c *checker) checkRuns(ctx context.Context) error {
	var digests []evidence.Digest
	if err := c.repo.Runs.List(ctx, func(i store.Info) error {
		digests = append(digests, i.Digest)
		return nil
	}); err != nil {
		return err
	}
	c.report.Runs = len(digests)
	c.progress = Progress{Phase: PhaseRuns, Total: int64(2 * len(digests)), BytesRead: c.progress.BytesRead}

	ch := &chain{byManifest: map[evidence.Digest]manifest.Ref{}, next: map[evidence.Digest][]manifest.Ref{}, unsigned: map[evidence.Digest]bool{}}
	for _, d := range digests {
		r, err := manifest.ReadRef(ctx, c.repo.Runs, d)
		c.step()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			msg := fmt.Sprintf("the run ref cannot be read: %v", err)
			if errors.Is(err, store.ErrDigestMismatch) {
				msg = "the run ref was altered: its content does not match its digest"
			}
			c.add(Problem{Kind: KindRefInvalid, Store: StoreRuns, Digest: d, Message: msg})
			c.step() // no manifest to read for it: its second step is done too
			continue
		}
		if err := r.Verify(c.verifier); err != nil {
			ch.unsigned[d] = true
			c.add(Problem{Kind: KindSignature, Store: StoreRuns, Digest: d, RunID: r.ID,
				Message: "the run is not signed by the pinned key: " + strings.TrimPrefix(unwrapRun(err, r), sign.ErrBadSignature.Error()+": ")})
		}
		ch.refs = append(ch.refs, manifest.RefInfo{Ref: r, Digest: d})
	}
	manifest.SortRefs(ch.refs)
	for _, ri := range ch.refs {
		if _, ok := ch.byManifest[ri.Ref.Manifest.Digest]; !ok {
			ch.byManifest[ri.Ref.Manifest.Digest] = ri.Ref
			if p := ri.Ref.Previous; p != nil {
				ch.next[*p] = append(ch.next[*p], ri.Ref)
			}
		}
	}
	for _, ri := range ch.refs {
		if err := c.checkManifest(ctx, ri, ch); err != nil {
			return err
		}
		c.step()
	}
	for _, e := range c.opts.Expected {
		if _, ok := ch.byManifest[e.Manifest]; !ok {
			c.add(Problem{Kind: KindRunLost, Store: StoreObjects, Digest: e.Manifest, RunID: e.ID,
				Message: fmt.Sprintf("%s records this run, but the store has no signed ref for its manifest: it was deleted (or this is not the store that sealed it)", e.Source)})
		}
	}
	if err := c.checkIndexed(ctx, ch); err != nil {
		return err
	}
	return c.checkChain(ctx, ch)
}

// checkIndexed reports the runs of the store that Options.Index does not record. Only refs
// signed by the pinned key count: an unsigned one is reported already and indexes nothing.
func (c *checker) checkIndexed(ctx context.Context, ch *chain) error {
	if c.opts.Index == nil {
		return nil
	}
	for _, ri := range ch.refs {
		if ch.unsigned[ri.Digest] {
			continue
		}
		d, ok, err := c.opts.Index.SealedRun(ctx, ri.Ref.ID)
		if err != nil {
			return fmt.Errorf("could not compare the store with %s: %w", c.opts.Index, err)
		}
		switch {
		case !ok:
			c.add(Problem{Kind: KindRunNotIndexed, Store: StoreRuns, Digest: ri.Digest, RunID: ri.Ref.ID,
				Message: fmt.Sprintf("the store holds this sealed run but %s does not record it: run exhibit reindex", c.opts.Index)})
		case d != ri.Ref.Manifest.Digest:
			c.add(Problem{Kind: KindRunNotIndexed, Store: StoreRuns, Digest: ri.Digest, RunID: ri.Ref.ID,
				Message: fmt.Sprintf("%s records manifest %s for this run, the store's signed ref names %s: run exhibit reindex", c.opts.Index, d, ri.Ref.Manifest.Digest)})
		}
	}
	return nil
}

func (c *checker) step() {
	c.mu.Lock()
	c.progress.Done++
	c.tick()
	c.mu.Unlock()
}

// unwrapRun drops the "run X (manifest Y): " prefix of Ref.Verify's errors, which the
// problem's location already gives.
func unwrapRun(err error, r manifest.Ref) string {
	return strings.TrimPrefix(err.Error(), fmt.Sprintf("run %s (manifest %s): ", r.ID, r.Manifest.Digest))
}

// checkManifest decodes the manifest of one ref, checks every object it references and
// compares its header with the ref.
func (c *checker) checkManifest(ctx context.Context, ri manifest.RefInfo, ch *chain) error {
	r := ri.Ref
	md := r.Manifest.Digest
	rc, err := c.repo.Objects.Get(ctx, md)
	if errors.Is(err, store.ErrNotFound) {
		c.add(Problem{Kind: KindManifestMissing, Store: StoreObjects, Digest: md, RunID: r.ID,
			Message: fmt.Sprintf("the manifest of run %s is missing; the chain is broken %s", r.ID, ch.between(r))})
		return nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.add(Problem{Kind: KindManifestInvalid, Store: StoreObjects, Digest: md, RunID: r.ID,
			Message: fmt.Sprintf("the manifest cannot be read: %v", err)})
		return nil
	}
	h, err := manifest.Decode(rc, func(e evidence.Envelope) error {
		c.report.Envelopes++
		subject := e.Kind + " " + e.Subject
		if e.Document != nil {
			c.checkReference(ctx, r.ID, subject, "document", *e.Document)
		}
		for i, x := range e.Exchanges {
			if !x.Body.Digest.IsZero() {
				c.checkReference(ctx, r.ID, subject, fmt.Sprintf("response body of exchange %d (%s %s)", i, x.Method, x.URL), x.Body)
			}
		}
		return nil
	})
	rc.Close()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := fmt.Sprintf("the manifest cannot be decoded: %v", err)
		if errors.Is(err, store.ErrDigestMismatch) {
			msg = "the manifest was altered: its content does not match its digest"
		}
		c.add(Problem{Kind: KindManifestInvalid, Store: StoreObjects, Digest: md, RunID: r.ID, Message: msg})
		if h.ID == "" {
			return nil // the header could not be read: nothing to compare
		}
	}
	if h.Results != nil {
		c.checkReference(ctx, h.ID, "", "evaluation results object", *h.Results)
	}
	if h.Evaluates != nil {
		if _, ok := ch.byManifest[*h.Evaluates]; !ok {
			c.add(Problem{Kind: KindObjectMissing, Store: StoreObjects, Digest: *h.Evaluates, RunID: h.ID,
				Message: "the run evaluates a manifest that no run ref names"})
		}
	}

	var diffs []string
	diff := func(field string, ref, man any) {
		diffs = append(diffs, fmt.Sprintf("%s (ref %v, manifest %v)", field, ref, man))
	}
	if r.ID != h.ID {
		diff("id", r.ID, h.ID)
	}
	if r.Type != h.Type {
		diff("type", r.Type, h.Type)
	}
	if !r.StartedAt.Equal(h.StartedAt) {
		diff("started_at", r.StartedAt.UTC().Format("2006-01-02T15:04:05.999999999Z"), h.StartedAt.UTC().Format("2006-01-02T15:04:05.999999999Z"))
	}
	if !evidence.SameDigest(r.Previous, h.Previous) {
		diff("previous", evidence.DigestOrNull(r.Previous), evidence.DigestOrNull(h.Previous))
	}
	if r.Signer != h.Signer {
		diff("signer", r.Signer, h.Signer)
	}
	if size, ok := c.size(ctx, md); ok && size != r.Manifest.Size {
		diff("size", r.Manifest.Size, size)
	}
	if len(diffs) > 0 {
		c.add(Problem{Kind: KindRefMismatch, Store: StoreRuns, Digest: ri.Digest, RunID: h.ID,
			Message: "the run ref disagrees with its manifest: " + strings.Join(diffs, "; ")})
	}
	return nil
}

// checkReference checks that an object a run references is stored with the size given.
func (c *checker) checkReference(ctx context.Context, runID, subject, what string, ref evidence.ObjectRef) {
	c.report.References++
	size, ok := c.size(ctx, ref.Digest)
	if !ok {
		c.add(Problem{Kind: KindObjectMissing, Store: StoreObjects, Digest: ref.Digest, RunID: runID, Subject: subject,
			Message: fmt.Sprintf("the %s is missing", what)})
		return
	}
	if size != ref.Size {
		c.add(Problem{Kind: KindObjectSize, Store: StoreObjects, Digest: ref.Digest, RunID: runID, Subject: subject,
			Message: fmt.Sprintf("the %s is stored with %d bytes, the manifest says %d", what, size, ref.Size)})
	}
}

// size returns an object's size from the listing, or from Stat for an object stored after
// the listing (a run sealed while the check ran).
func (c *checker) size(ctx context.Context, d evidence.Digest) (int64, bool) {
	if s, ok := c.sizes[d]; ok {
		return s, true
	}
	info, err := c.repo.Objects.Stat(ctx, d)
	if err != nil {
		return 0, false
	}
	return info.Size, true
}

// checkChain finds forks and breaks in the chain of runs.
func (c *checker) checkChain(ctx context.Context, ch *chain) error {
	for _, f := range manifest.Forks(ch.refs) {
		c.add(Problem{Kind: KindChainFork, Store: StoreObjects, Digest: f.B.Manifest.Digest, RunID: f.B.ID, Message: f.Error()})
	}
	explained := map[evidence.Digest]bool{}
	for _, ri := range ch.refs {
		r := ri.Ref
		if r.Previous == nil {
			continue
		}
		p := *r.Previous
		if _, ok := ch.byManifest[p]; ok || explained[p] {
			continue
		}
		explained[p] = true
		if _, ok := c.size(ctx, p); ok {
			if err := c.orphanManifest(ctx, p, ch, fmt.Sprintf("run %s names it as its previous", r.ID)); err != nil {
				return err
			}
			continue
		}
		c.add(Problem{Kind: KindChainBroken, Store: StoreObjects, Digest: p, RunID: r.ID,
			Message: fmt.Sprintf("run %s names previous manifest %s, which is missing (no ref, no object): the chain is broken between %s and run %s",
				r.ID, p, ch.danglingBefore(r), r.ID)})
	}
	for _, d := range c.candidates {
		if _, ok := ch.byManifest[d]; ok || explained[d] {
			continue
		}
		if err := c.orphanManifest(ctx, d, ch, "no run names it as its previous"); err != nil {
			return err
		}
	}
	return nil
}

// orphanManifest reports a stored manifest that no ref signs.
func (c *checker) orphanManifest(ctx context.Context, d evidence.Digest, ch *chain, why string) error {
	rc, err := c.repo.Objects.Get(ctx, d)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.add(Problem{Kind: KindRefMissing, Store: StoreObjects, Digest: d,
			Message: fmt.Sprintf("a run manifest has no run ref (%s), and cannot be read: %v", why, err)})
		return nil
	}
	defer rc.Close()
	h, err := manifest.DecodeHeader(rc)
	if err != nil {
		c.add(Problem{Kind: KindRefMissing, Store: StoreObjects, Digest: d,
			Message: fmt.Sprintf("a run manifest has no run ref (%s), and its header cannot be decoded: %v", why, err)})
		return nil
	}
	before := ch.before(h.Previous)
	after := "the end of the chain"
	if n := ch.next[d]; len(n) > 0 {
		after = "run " + n[0].ID
	}
	c.add(Problem{Kind: KindRefMissing, Store: StoreObjects, Digest: d, RunID: h.ID,
		Message: fmt.Sprintf("run %s has a manifest but no signed run ref (%s); it sits between %s and %s", h.ID, why, before, after)})
	return nil
}

// between names the runs on both sides of r in the chain.
func (ch *chain) between(r manifest.Ref) string {
	before := ch.before(r.Previous)
	after := "the end of the chain"
	if n := ch.next[r.Manifest.Digest]; len(n) > 0 {
		ids := make([]string, len(n))
		for i, x := range n {
			ids[i] = x.ID
		}
		after = "run " + strings.Join(ids, ", run ")
	}
	return fmt.Sprintf("between %s and %s", before, after)
}

// before names what comes before a manifest whose previous is prev: the run that signed
// prev, the bare manifest digest if no run did, or the start of the chain.
func (ch *chain) before(prev *evidence.Digest) string {
	if prev == nil {
		return "the start of the chain"
	}
	if p, ok := ch.byManifest[*prev]; ok {
		return "run " + p.ID
	}
	return "manifest " + prev.String()
}

// danglingBefore names the newest run older than r that no run names as its previous: the
// other side of a break in front of r.
func (ch *chain) danglingBefore(r manifest.Ref) string {
	for i := len(ch.refs) - 1; i >= 0; i-- {
		x := ch.refs[i].Ref
		if x.Manifest.Digest == r.Manifest.Digest || x.StartedAt.After(r.StartedAt) {
			continue
		}
		if len(ch.next[x.Manifest.Digest]) == 0 {
			return "run " + x.ID
		}
	}
	return "the start of the chain"
}
