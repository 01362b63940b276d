package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/core/lock"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store/fs"
)

// activeJournals are the journals of runs this process is running; every other journal
// in a data directory whose lock this process holds belongs to a process that died.
var activeJournals sync.Map // journal dir → struct{}

// Recover seals the runs of processes that died before sealing them (kill -9, power
// loss), each as interrupted with the artefacts its journal had recorded, and indexes
// them, so the chain stays whole and the next run chains onto them. Run does this itself
// before each run; `exhibit serve` calls it at start-up. It needs DataDir.
func (r *Runner) Recover(ctx context.Context) ([]*Summary, error) {
	if r.DataDir == "" {
		return nil, nil
	}
	lk, err := r.lockDataDir(ctx)
	if err != nil {
		return nil, err
	}
	defer lk.Release()
	return r.recover(ctx, lk)
}

func (r *Runner) recover(ctx context.Context, lk *lock.Lock) ([]*Summary, error) {
	if r.DataDir == "" {
		return nil, nil
	}
	// First the seal a dead process began: its run then counts as sealed below, and its
	// journal is only indexed and removed. Under the seal guard: another run of this
	// process may be sealing right now.
	var refs []manifest.RefInfo
	err := sealGuard(lk)(func() error {
		// Not ctx: a run cancelled at its start still starts (and is sealed interrupted).
		ctx := context.WithoutCancel(ctx)
		r.completePendingSeal(ctx)
		var err error
		if refs, err = manifest.ListRefs(ctx, r.Repo.Runs); err != nil {
			return fmt.Errorf("could not list the runs to recover: %w", err)
		}
		r.indexHead(ctx, refs)
		r.removeStaleStoreTemp(ctx)
		return nil
	})
	if err != nil {
		return nil, err
	}
	root := filepath.Join(r.DataDir, journalDir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not read the run journals: %w", err)
	}
	var out []*Summary
	sealedIDs := map[string]manifest.RefInfo{}
	for _, ri := range refs {
		sealedIDs[ri.Ref.ID] = ri
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() {
			continue
		}
		if _, mine := activeJournals.Load(dir); mine {
			continue
		}
		sum, err := r.recoverOne(ctx, lk, dir, sealedIDs)
		if err != nil {
			return out, fmt.Errorf("could not recover the interrupted run in %s: %w", dir, err)
		}
		if sum != nil {
			out = append(out, sum)
		}
	}
	return out, nil
}

// removeStaleStoreTemp removes the temporary files that writers killed mid-Put left in a
// store that keeps them (the fs store). Under the lock no other writer of the data
// directory is storing, and only files older than fs.StaleTempAge are touched.
func (r *Runner) removeStaleStoreTemp(ctx context.Context) {
	type staleTemp interface {
		RemoveStaleTemp(ctx context.Context, olderThan time.Duration) (int, error)
	}
	for _, s := range []any{r.Repo.Objects, r.Repo.Runs} {
		if st, ok := s.(staleTemp); ok {
			if n, err := st.RemoveStaleTemp(ctx, fs.StaleTempAge); err != nil {
				r.logger().Warn("could not remove stale temporary files of the store", "err", err)
			} else if n > 0 {
				r.logger().Info("removed temporary files that killed writers left in the store", "files", n)
			}
		}
	}
}

// indexHead indexes the newest run of the chain if the index does not record it: a writer
// killed after storing a run's ref and before indexing it leaves exactly that run out
// (writers are serialised by the lock, and each one runs this before sealing). refs are
// the store's refs, listed under the seal guard.
func (r *Runner) indexHead(ctx context.Context, refs []manifest.RefInfo) {
	if r.Index == nil || len(manifest.Forks(refs)) > 0 {
		return
	}
	head, err := manifest.HeadOf(refs)
	if err != nil || head == nil {
		return
	}
	for i := len(refs) - 1; i >= 0; i-- {
		ri := refs[i]
		if ri.Ref.Manifest.Digest != *head {
			continue
		}
		if run, _, err := r.Index.Run(ctx, ri.Ref.ID); err == nil && run.ID == ri.Ref.ID && run.Manifest != nil && *run.Manifest == *head {
			return
		}
		if _, err := index.IndexManifest(ctx, r.Index, r.Repo.Objects, ri); err != nil {
			r.logger().Error("index is behind the store; run `exhibit reindex`", "run", ri.Ref.ID, "err", err)
			return
		}
		r.logger().Info("indexed the newest run, which its process had sealed but not indexed", "run", ri.Ref.ID)
		return
	}
}

func (r *Runner) recoverOne(ctx context.Context, lk *lock.Lock, dir string, sealed map[string]manifest.RefInfo) (*Summary, error) {
	log := r.logger()
	// Count first: a journal whose run was sealed (the process died between sealing and
	// removing the journal) only needs indexing.
	jr, _, err := readJournal(dir, func(evidence.Envelope) error { return nil })
	if err != nil {
		broken := filepath.Join(r.DataDir, "journal-broken", filepath.Base(dir))
		os.MkdirAll(filepath.Dir(broken), journalDirPerm)
		log.Error("unreadable run journal moved aside; its objects are in the store but the run cannot be sealed", "journal", dir, "moved_to", broken, "err", err)
		if rerr := os.Rename(dir, broken); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		if r.Index != nil { // the journal directory is named after its run
			if err := r.Index.DeleteRun(ctx, filepath.Base(dir)); err != nil {
				log.Warn("could not remove the unsealed run from the index", "run", filepath.Base(dir), "err", err)
			}
		}
		return nil, nil
	}
	if ri, ok := sealed[jr.ID]; ok {
		if r.Index != nil {
			if _, err := index.IndexManifest(ctx, r.Index, r.Repo.Objects, ri); err != nil {
				return nil, err
			}
		}
		log.Info("run journal of an already sealed run removed", "run", jr.ID)
		return nil, os.RemoveAll(dir)
	}

	b, err := manifest.NewBuilder(r.tempDir())
	if err != nil {
		return nil, err
	}
	defer b.Close()
	type counts struct {
		artefacts, gaps int
		last            evidence.Envelope
	}
	per := map[string]*counts{}
	exchanges := 0
	var last = jr.StartedAt
	var gapList []GapInfo
	_, torn, err := readJournal(dir, func(e evidence.Envelope) error {
		if err := b.Add(e); err != nil {
			return err
		}
		c := per[e.Connector.Instance]
		if c == nil {
			c = &counts{}
			per[e.Connector.Instance] = c
		}
		c.artefacts++
		if e.Status.IsGap() {
			c.gaps++
			if len(gapList) < MaxGapList {
				gapList = append(gapList, GapInfo{Instance: e.Connector.Instance, Kind: e.Kind, Subject: e.Subject, Status: e.Status, Error: e.Error})
			}
		}
		c.last = e
		exchanges += len(e.Exchanges)
		if e.CollectedAt.After(last) {
			last = e.CollectedAt
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := manifest.Header{
		ID:        jr.ID,
		Type:      jr.Type,
		StartedAt: jr.StartedAt,
		EndedAt:   last,
		Outcome:   manifest.OutcomeInterrupted,
		Host:      jr.Host,
		Version:   jr.Version,
		Note: fmt.Sprintf("recovered: the process (pid %d) ended before sealing this run; sealed from its journal with the %d artefacts it had recorded",
			jr.PID, b.Len()),
	}
	if h.Type == "" {
		h.Type = manifest.TypeCollection
	}
	names := make([]string, 0, len(jr.Instances))
	known := map[string]journalInstance{}
	for _, in := range jr.Instances {
		names = append(names, in.Name)
		known[in.Name] = in
	}
	for name, c := range per { // instances the journal header did not list (should not happen)
		if _, ok := known[name]; !ok {
			names = append(names, name)
			known[name] = journalInstance{Name: name, Type: c.last.Connector.Type, Version: c.last.Connector.Version}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		in := known[name]
		cr := manifest.ConnectorRun{Instance: name, Type: in.Type, Version: in.Version, Outcome: manifest.OutcomeInterrupted,
			StartedAt: jr.StartedAt, EndedAt: jr.StartedAt, CatchUp: in.Late, Error: "interrupted: the process ended"}
		if c := per[name]; c != nil {
			cr.Artefacts, cr.Gaps, cr.EndedAt = c.artefacts, c.gaps, c.last.CollectedAt
		}
		h.Connectors = append(h.Connectors, cr)
	}
	s, err := r.seal(context.WithoutCancel(ctx), lk, r.Repo, h, b)
	if err != nil {
		return nil, err
	}
	sum := &Summary{RunID: h.ID, Outcome: s.Header.Outcome, StartedAt: h.StartedAt, EndedAt: h.EndedAt, Manifest: s.Digest,
		ManifestSize: s.Size, Previous: s.Header.Previous, Connectors: s.Header.Connectors, Exchanges: exchanges, GapList: gapList}
	for _, cr := range h.Connectors {
		sum.Artefacts += cr.Artefacts
		sum.Gaps += cr.Gaps
	}
	if r.Index != nil {
		if _, err := index.IndexManifest(ctx, r.Index, r.Repo.Objects, manifest.RefInfo{Ref: s.Ref, Digest: s.RefDigest}); err != nil {
			sum.IndexError = err
			log.Error("index is behind the store; run `exhibit reindex`", "run", h.ID, "err", err)
		}
	}
	log.Warn("recovered a run interrupted by the end of its process", "run", h.ID, "artefacts", sum.Artefacts,
		"torn_lines", torn, "manifest", s.Digest.String())
	if err := os.RemoveAll(dir); err != nil {
		return sum, fmt.Errorf("run %s was sealed but its journal could not be removed: %w", h.ID, err)
	}
	return sum, nil
}
