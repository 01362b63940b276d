package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Run runs the instances (at most Concurrency at once) and seals one run manifest with
// everything they emitted. It returns an error only when the run could not be recorded at
// all (lock, store or signing failures); connector failures are gaps in the Summary.
// When ctx is cancelled the connectors are stopped and the run is sealed as interrupted
// with what they had emitted.
func (r *Runner) Run(ctx context.Context, instances []Instance) (*Summary, error) {
	if r.Repo == nil || r.Signer == nil {
		return nil, errors.New("runner: Repo and Signer are required")
	}
	if len(instances) == 0 {
		return nil, ErrNoInstances
	}
	seen := map[string]bool{}
	for _, in := range instances {
		if in.Name == "" || in.Factory == nil {
			return nil, fmt.Errorf("runner: instance %q without a name or factory", in.Name)
		}
		if seen[in.Name] {
			return nil, fmt.Errorf("runner: instance %q listed twice", in.Name)
		}
		seen[in.Name] = true
	}
	lk, err := r.lockDataDir(ctx)
	if err != nil {
		return nil, err
	}
	if lk != nil {
		defer lk.Release()
	}
	recovered, err := r.recover(ctx, lk)
	if err != nil {
		return nil, err
	}

	log := r.logger()
	objects := newCountingStore(r.Repo.Objects, true)
	runs := newCountingStore(r.Repo.Runs, false)
	repo := &store.Repo{Objects: objects, Runs: runs, Describe: r.Repo.Describe}

	start := r.now()
	h := manifest.Header{
		ID:        manifest.NewRunID(start),
		Type:      manifest.TypeCollection,
		StartedAt: start,
		Host:      hostname(),
		Version:   r.Version,
	}
	b, err := manifest.NewBuilder(r.tempDir())
	if err != nil {
		return nil, fmt.Errorf("could not start run %s: %w", h.ID, err)
	}
	defer b.Close()

	c := &collector{r: r, runID: h.ID, builder: b, objects: objects, progressMu: &sync.Mutex{}}
	// However the run ends, nothing deferred stays unsynced.
	defer objects.StopDeferring(context.WithoutCancel(ctx))
	if r.DataDir != "" {
		j, err := createJournal(r.DataDir, h, instances)
		if err != nil {
			return nil, err
		}
		c.journal = j
		defer j.close()
	}
	if r.Index != nil {
		// Not ctx: a run cancelled right at its start is still sealed, so it must be indexed.
		if err := r.Index.StartRun(context.WithoutCancel(ctx), h); err != nil {
			c.indexErr = err
			log.Error("index: could not record the run start; run `exhibit reindex` after the run", "run", h.ID, "err", err)
		}
	}
	log.Info("run started", "run", h.ID, "instances", len(instances))

	// A burst of artefacts followed by a slow upstream call must not sit unjournaled: flush
	// what is pending at least every FlushInterval.
	stopFlusher := c.startFlusher(context.WithoutCancel(ctx))
	defer stopFlusher()

	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	if r.RunDeadline > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(runCtx, r.RunDeadline, errRunDeadline{r.RunDeadline})
		defer cancel()
	}

	conc := r.Concurrency
	if conc <= 0 {
		conc = 4
	}
	sem := make(chan struct{}, conc)
	results := make([]manifest.ConnectorRun, len(instances))
	var wg sync.WaitGroup
	for i, in := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-runCtx.Done():
			}
			if runCtx.Err() != nil {
				results[i] = c.notStarted(ctx, runCtx, in)
				return
			}
			results[i] = c.runInstance(ctx, runCtx, in)
		}()
	}
	wg.Wait()
	stopFlusher()
	if err := c.flush(context.WithoutCancel(ctx)); err != nil {
		log.Error("could not write the journal or index", "run", h.ID, "err", err)
	}
	c.mu.Lock()
	c.sealing = true // an abandoned connector's late emit must not touch the sealed builder
	c.mu.Unlock()

	interrupted := ctx.Err() != nil
	sealCtx := context.WithoutCancel(ctx)
	// Evaluation reads the objects and the seal references them: from here on every
	// object is durable when stored.
	if err := objects.StopDeferring(sealCtx); err != nil {
		return nil, fmt.Errorf("could not make the objects of run %s durable: %w", h.ID, err)
	}
	h.Connectors = results
	h.Outcome = runOutcome(interrupted, results)
	var evalErr string
	if r.Evaluator != nil && !interrupted {
		ref, err := r.Evaluator.Evaluate(sealCtx, objects, h.ID, b.Envelopes)
		if err != nil {
			// The evidence is sealed regardless, but the run did not deliver what it should:
			// it is partial, and `exhibit controls evaluate` can judge it later.
			evalErr = oneLine(err.Error())
			log.Error("evaluation failed; the run is sealed without results", "run", h.ID, "err", evalErr)
			h.Note = "evaluation failed: " + evalErr
			if h.Outcome == manifest.OutcomeComplete {
				h.Outcome = manifest.OutcomePartial
			}
		}
		h.Results = ref
	}
	h.EndedAt = r.now()
	sealed, err := r.seal(sealCtx, lk, repo, h, b)
	if err != nil {
		// The journal stays: the next writer recovers the run from it.
		return nil, err
	}
	sum := c.summary(sealed)
	sum.Recovered = recovered
	sum.EvaluationError = evalErr
	sum.NewBytes, sum.NewObjects = objects.newBytes.Load()+runs.newBytes.Load(), objects.newObjects.Load()+runs.newObjects.Load()
	if r.Index != nil && c.indexErr == nil {
		if err := r.Index.RecordRun(sealCtx, objects, sealed); err != nil {
			c.indexErr = err
		}
	}
	if r.Index != nil && c.indexErr != nil {
		// The index missed part of the run while it collected: record it once more, whole,
		// from its sealed manifest, so a passing index failure leaves no sealed run out.
		if _, err := index.IndexManifest(sealCtx, r.Index, objects, manifest.RefInfo{Ref: sealed.Ref, Digest: sealed.RefDigest}); err == nil {
			c.indexErr = nil
		} else {
			c.indexErr = errors.Join(c.indexErr, err)
		}
	}
	if c.indexErr != nil {
		sum.IndexError = c.indexErr
		log.Error("index is behind the store; run `exhibit reindex`", "run", h.ID, "err", c.indexErr)
	}
	if c.journal != nil {
		if err := c.journal.remove(); err != nil {
			log.Warn("could not remove the run journal; the next run will find the run already sealed", "run", h.ID, "err", err)
		}
	}
	c.event(Event{Type: EventSealed, Outcome: sealed.Header.Outcome, Artefacts: sum.Artefacts, Gaps: sum.Gaps, Exchanges: sum.Exchanges})
	log.Info("run sealed", "run", h.ID, "outcome", sealed.Header.Outcome, "artefacts", sum.Artefacts,
		"gaps", sum.Gaps, "manifest", sealed.Digest.String(), "new_bytes", sum.NewBytes)
	return sum, nil
}

type errRunDeadline struct{ d time.Duration }

func (e errRunDeadline) Error() string { return fmt.Sprintf("run deadline of %s exceeded", e.d) }

// runOutcome: interrupted if cancelled; failed if every instance failed (or there were
// none); partial if any instance did not complete; complete otherwise.
func runOutcome(interrupted bool, crs []manifest.ConnectorRun) manifest.Outcome {
	if interrupted {
		return manifest.OutcomeInterrupted
	}
	failed, incomplete := 0, 0
	for _, c := range crs {
		switch c.Outcome {
		case manifest.OutcomeComplete:
		case manifest.OutcomeFailed:
			failed++
		default:
			incomplete++
		}
	}
	switch {
	case failed == len(crs):
		return manifest.OutcomeFailed
	case failed+incomplete > 0:
		return manifest.OutcomePartial
	default:
		return manifest.OutcomeComplete
	}
}

// errNothingEmitted is the reason an instance that emitted neither artefacts nor gaps
// failed: a connector that finds nothing still says so with a gap or an empty document.
const errNothingEmitted = "the connector emitted neither artefacts nor gaps"

// instanceOutcome is the outcome of one instance: interrupted if cancelled; failed if it
// delivered no evidence (only gaps, or nothing at all); partial with gaps; complete
// otherwise.
func instanceOutcome(interrupted bool, artefacts, gaps int) manifest.Outcome {
	switch {
	case interrupted:
		return manifest.OutcomeInterrupted
	case artefacts-gaps == 0:
		return manifest.OutcomeFailed
	case gaps > 0:
		return manifest.OutcomePartial
	default:
		return manifest.OutcomeComplete
	}
}

func (c *collector) summary(s *manifest.Sealed) *Summary {
	sum := &Summary{
		RunID:        s.Header.ID,
		Outcome:      s.Header.Outcome,
		StartedAt:    s.Header.StartedAt,
		EndedAt:      s.Header.EndedAt,
		Manifest:     s.Digest,
		ManifestSize: s.Size,
		Previous:     s.Header.Previous,
		Connectors:   s.Header.Connectors,
		Results:      s.Header.Results,
	}
	for _, cr := range s.Header.Connectors {
		sum.Artefacts += cr.Artefacts
		sum.Gaps += cr.Gaps
	}
	c.mu.Lock()
	sum.Exchanges = c.exchanges
	sum.GapList = append([]GapInfo(nil), c.gapList...)
	c.mu.Unlock()
	return sum
}
