package controls

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls/results"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// RunInfo identifies the run whose artefacts are judged.
type RunInfo struct {
	ID        string
	StartedAt time.Time        // zero if unknown (collection runs: the index knows it)
	Manifest  *evidence.Digest // the sealed manifest judged again; nil before sealing
}

// Evaluate implements the runner's Evaluator: it judges every envelope of run runID with
// the engine's rules, stores the results object in objects and returns its reference (also
// when nothing had rules: an empty results object says the run was judged). Gap envelopes yield no_evidence for every rule of their kind;
// a document that cannot be read or parsed yields error results, never silence.
func (e *Engine) Evaluate(ctx context.Context, objects store.Store, runID string, envelopes func(fn func(evidence.Envelope) error) error) (*evidence.ObjectRef, error) {
	return e.EvaluateRun(ctx, objects, RunInfo{ID: runID}, envelopes)
}

// evalJob is one envelope on its way through the worker pool.
type evalJob struct {
	seq     int
	env     evidence.Envelope
	results []Result
}

// evalBatch is how many envelopes are judged in parallel before their results are written
// in manifest order.
const evalBatch = 512

// EvaluateRun is Evaluate with the run's start and manifest recorded in the header, as
// re-evaluation needs.
func (e *Engine) EvaluateRun(ctx context.Context, objects store.Store, run RunInfo, envelopes func(fn func(evidence.Envelope) error) error) (*evidence.ObjectRef, error) {
	now := e.now()
	spool, err := os.CreateTemp(e.TempDir, "exhibit-results-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("could not create the results spool: %w", err)
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()
	rw := results.NewWriter(spool)
	workers := max(1, runtime.GOMAXPROCS(0))

	batch := make([]*evalJob, 0, evalBatch)
	flush := func() error {
		if err := e.judgeBatch(ctx, objects, batch, now, workers); err != nil {
			return err
		}
		for _, j := range batch {
			for i := range j.results {
				r := &j.results[i]
				r.Connector, r.CollectedAt = j.env.Connector.Instance, j.env.CollectedAt
				if err := rw.Write(j.seq, r); err != nil {
					return err
				}
			}
		}
		batch = batch[:0]
		return nil
	}
	seq := 0
	err = envelopes(func(env evidence.Envelope) error {
		defer func() { seq++ }()
		if !e.Rules.judges(env.Kind) {
			return nil // no enabled rule: the document is not even read
		}
		batch = append(batch, &evalJob{seq: seq, env: env})
		if len(batch) == evalBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = rw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("could not evaluate run %s: %w", run.ID, err)
	}
	// A run with nothing to judge still gets its (empty) results object: status tells a run
	// that was judged and delivered nothing apart from one whose evaluation failed or was
	// skipped.
	h := ResultsHeader{Run: run.ID, RunStartedAt: run.StartedAt, Manifest: run.Manifest, EvaluatedAt: now,
		Rules: e.ruleInfos(), Counts: rw.Counts()}
	return e.storeResults(ctx, objects, h, spool)
}

// Info describes the rule as it is applied now.
func (r *Rule) Info() RuleInfo {
	ri := RuleInfo{ID: r.ID, Version: r.Version, Kind: r.Kind, Title: r.Title, Severity: r.Severity,
		Expr: r.Expr, Overridden: r.Overridden, Disabled: r.Disabled, Justification: r.Justification,
		Controls: r.Controls, Source: r.File}
	if len(r.Params) > 0 {
		ri.Params = make(map[string]any, len(r.Params))
		for k, v := range r.Params {
			ri.Params[k] = normalizeYAML(v)
		}
	}
	for fw := range r.Derived {
		ri.Derived = append(ri.Derived, fw)
	}
	sort.Strings(ri.Derived)
	return ri
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) ruleInfos() []RuleInfo {
	out := make([]RuleInfo, 0, len(e.Rules.rules))
	for _, r := range e.Rules.rules {
		out = append(out, r.Info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// storeResults writes header + spooled lines into one object and stores it.
func (e *Engine) storeResults(ctx context.Context, objects store.Store, h ResultsHeader, spool *os.File) (*evidence.ObjectRef, error) {
	head, err := results.EncodeHeader(h)
	if err != nil {
		return nil, err
	}
	out, err := os.CreateTemp(e.TempDir, "exhibit-results-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("could not create the results object: %w", err)
	}
	defer func() { out.Close(); os.Remove(out.Name()) }()
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	// Hashed as it is written, so the object is read once more only by Put.
	hash := sha256.New()
	w := io.MultiWriter(out, hash)
	if _, err := w.Write(head); err != nil {
		return nil, fmt.Errorf("could not write the results object: %w", err)
	}
	n, err := io.Copy(w, spool)
	if err != nil {
		return nil, fmt.Errorf("could not write the results object: %w", err)
	}
	d, size := evidence.DigestOf(hash), int64(len(head))+n
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := objects.Put(ctx, d, out, size); err != nil {
		return nil, fmt.Errorf("could not store the results object: %w", err)
	}
	return &evidence.ObjectRef{Digest: d, Size: size, MediaType: ResultsMediaType}, nil
}

// judgeBatch loads, parses and judges the batch's documents on workers goroutines.
func (e *Engine) judgeBatch(ctx context.Context, objects store.Store, batch []*evalJob, now time.Time, workers int) error {
	if len(batch) == 0 {
		return nil
	}
	var wg sync.WaitGroup
	next := make(chan *evalJob)
	for range min(workers, len(batch)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				j.results = e.judge(ctx, objects, j.env, now)
			}
		}()
	}
	var err error
	for _, j := range batch {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	return err
}

// judge returns the results of one envelope.
func (e *Engine) judge(ctx context.Context, objects store.Store, env evidence.Envelope, now time.Time) []Result {
	if env.Status.IsGap() {
		return e.Rules.Gap(env.Kind, env.Subject, env.Status, env.Error, nil)
	}
	if env.Document == nil {
		return e.errorResults(env, evidence.Digest{}, errors.New("envelope has status ok but no document"))
	}
	data, err := store.GetBytes(ctx, objects, env.Document.Digest)
	if err != nil {
		return e.errorResults(env, env.Document.Digest, fmt.Errorf("could not read the document: %w", err))
	}
	return e.Rules.EvaluateDocument(env.Kind, env.Subject, parseDocument(data, env.Document.Digest), now, nil)
}

func (e *Engine) errorResults(env evidence.Envelope, d evidence.Digest, err error) []Result {
	var out []Result
	for _, r := range e.Rules.byKind[env.Kind] {
		if r.Disabled {
			continue
		}
		out = append(out, Result{Rule: r.ID, Version: r.Version, Kind: env.Kind, Subject: env.Subject,
			Outcome: Error, Message: strings.TrimSpace(err.Error()), Document: d})
	}
	return out
}
