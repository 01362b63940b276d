package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// FlushEvery and FlushInterval bound what a killed process can lose: envelopes are
// written to the journal (fsynced) and the index once FlushEvery are pending or
// FlushInterval has passed since the last write, and whenever an instance finishes.
const (
	FlushEvery    = 512
	FlushInterval = time.Second
)

// flushEvery is FlushEvery; the crash test sets it to 1 so that every emitted artefact is
// in the journal when emit returns.
var flushEvery = FlushEvery

// collector turns the artefacts of every instance of one run into stored objects,
// envelopes in the builder, journal lines and index rows.
type collector struct {
	r       *Runner
	runID   string
	builder *manifest.Builder
	objects *countingStore
	journal *journal

	mu        sync.Mutex // guards everything below and the builder
	sealing   bool       // set before sealing: no more envelopes
	seq       int        // envelopes added to the builder
	pending   []evidence.Envelope
	lastFlush time.Time
	exchanges int
	gapList   []GapInfo
	indexErr  error
	// written counts the envelopes whose batch the writer has written (journal, index);
	// drained is signalled when the writer takes the pending batch and when it has written it.
	written int
	drained *sync.Cond
	// writer is the goroutine that makes batches durable, in order (see writer.go); nil
	// when no writer runs and flushes happen inline.
	writer *batchWriter

	progressMu *sync.Mutex
}

// instanceState is one running instance; emit after close is refused (a connector that
// ignored its context past the grace period). Its counts are atomic so that they can be
// read while an abandoned connector is stuck inside emit.
type instanceState struct {
	mu        sync.Mutex // serialises the connector's emits
	closed    atomic.Bool
	ref       evidence.ConnectorRef
	artefacts atomic.Int64
	gaps      atomic.Int64
	exchanges atomic.Int64
	// redactor knows the secret fields the connector declared; nil means the default.
	redactor *connector.Redactor
}

var errInstanceClosed = errors.New("the runner stopped accepting artefacts from this instance")

// runInstance collects one instance. parent is the run's caller context (cancelled on
// interrupt), runCtx adds the run deadline.
func (c *collector) runInstance(parent, runCtx context.Context, in Instance) manifest.ConnectorRun {
	log := c.r.logger().With("run", c.runID, "connector", in.Name, "type", in.Factory.Type())
	st := &instanceState{ref: evidence.ConnectorRef{Instance: in.Name, Type: in.Factory.Type(), Version: in.Factory.Version()}}
	cr := manifest.ConnectorRun{Instance: in.Name, Type: st.ref.Type, Version: st.ref.Version, StartedAt: c.r.now(), CatchUp: in.Late}
	c.event(Event{Type: EventStarted, Instance: in.Name, Connector: st.ref.Type})
	log.Info("collecting", "late", in.Late)

	ctx, cancel := runCtx, context.CancelFunc(func() {})
	if in.Timeout > 0 {
		ctx, cancel = context.WithTimeoutCause(runCtx, in.Timeout, errInstanceTimeout{in.Timeout})
	}
	defer cancel()

	abandoned, collectErr := c.collect(ctx, in, st, log)
	st.closed.Store(true)
	if !abandoned {
		// Wait for an emit still in flight (a connector emitting from a stray goroutine).
		st.mu.Lock()
		st.mu.Unlock()
	}

	interrupted := parent.Err() != nil
	if collectErr != nil && !interrupted {
		if ctx.Err() != nil && errors.Is(collectErr, ctx.Err()) {
			// The connector's error is the cancellation itself; say why it happened.
			collectErr = fmt.Errorf("%w: %v", context.Cause(ctx), collectErr)
		}
		cr.Error = oneLine(connector.DefaultRedactor().RedactString(collectErr.Error()))
		cr.OverDeadline = errors.As(context.Cause(ctx), new(errRunDeadline))
		gap := connector.NewGap(collectionKind(st.ref.Type), in.Name, connector.GapStatus(collectErr), errors.New(cr.Error))
		if err := c.store(context.WithoutCancel(parent), st, gap, true); err != nil {
			log.Error("could not record the collection gap", "err", err)
		}
		log.Warn("collection failed", "err", cr.Error)
	} else if collectErr != nil {
		cr.Error = "interrupted"
	}
	if err := c.flush(context.WithoutCancel(parent)); err != nil {
		log.Error("could not write the journal or index", "err", err)
	}
	cr.Artefacts, cr.Gaps = int(st.artefacts.Load()), int(st.gaps.Load())
	exchanges := int(st.exchanges.Load())
	cr.EndedAt = c.r.now()
	cr.Outcome = instanceOutcome(interrupted, cr.Artefacts, cr.Gaps)
	if cr.Outcome == manifest.OutcomeFailed && cr.Artefacts == 0 && cr.Error == "" {
		cr.Error = errNothingEmitted
	}
	c.event(Event{Type: EventFinished, Instance: in.Name, Connector: st.ref.Type, Artefacts: cr.Artefacts, Gaps: cr.Gaps, Exchanges: exchanges, Outcome: cr.Outcome, Error: cr.Error})
	log.Info("collected", "outcome", cr.Outcome, "artefacts", cr.Artefacts, "gaps", cr.Gaps)
	return cr
}

// notStarted records an instance the run ended before it could start.
func (c *collector) notStarted(parent, runCtx context.Context, in Instance) manifest.ConnectorRun {
	now := c.r.now()
	cr := manifest.ConnectorRun{Instance: in.Name, Type: in.Factory.Type(), Version: in.Factory.Version(), StartedAt: now, EndedAt: now, CatchUp: in.Late}
	if parent.Err() != nil {
		cr.Outcome, cr.Error = manifest.OutcomeInterrupted, "interrupted before it started"
		return cr
	}
	st := &instanceState{ref: evidence.ConnectorRef{Instance: in.Name, Type: cr.Type, Version: cr.Version}}
	cr.Error = "not started: " + context.Cause(runCtx).Error()
	cr.OverDeadline = errors.As(context.Cause(runCtx), new(errRunDeadline))
	gap := connector.NewGap(collectionKind(cr.Type), in.Name, evidence.StatusFailed, errors.New(cr.Error))
	if err := c.store(context.WithoutCancel(parent), st, gap, true); err != nil {
		c.r.logger().Error("could not record the collection gap", "run", c.runID, "connector", in.Name, "err", err)
	}
	cr.Artefacts, cr.Gaps, cr.Outcome = int(st.artefacts.Load()), int(st.gaps.Load()), manifest.OutcomeFailed
	return cr
}

// collect creates the connector and runs Collect, turning a panic into an error and
// giving up on a connector that does not return within the grace period after ctx ends.
func (c *collector) collect(ctx context.Context, in Instance, st *instanceState, log *slog.Logger) (abandoned bool, err error) {
	limits := c.r.limits()
	if in.RequestTimeout > 0 {
		limits.RequestTimeout = in.RequestTimeout
	}
	if sf, ok := in.Factory.(connector.SecretFielder); ok {
		red, err := connector.DefaultRedactor().WithSecretFields(sf.SecretFields())
		if err != nil {
			return false, fmt.Errorf("the connector declares invalid secret fields: %w", err)
		}
		st.redactor = red
	}
	opts := connector.Options{
		Instance:   in.Name,
		Logger:     log,
		HTTPClient: c.r.httpClient(in.Name, c.objects, log, limits.RequestTimeout, st.redactor),
		Now:        c.r.now,
		Secrets:    c.r.Secrets,
		Limits:     limits,
	}
	c.r.setAuthClient(&opts)
	emit := func(a evidence.Artefact) error {
		return c.store(context.WithoutCancel(ctx), st, a, false)
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				log.Error("connector panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				done <- fmt.Errorf("connector panicked: %v", p)
			}
		}()
		conn, err := in.Factory.New(in.Settings, opts)
		if err != nil {
			done <- fmt.Errorf("invalid settings: %w", err)
			return
		}
		done <- conn.Collect(ctx, emit)
	}()
	select {
	case err := <-done:
		return false, err
	case <-ctx.Done():
	}
	t := time.NewTimer(c.r.grace())
	defer t.Stop()
	select {
	case err := <-done:
		if err == nil && ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.Canceled) {
			// Returned nil after its deadline: what it did not collect is still missing.
			return false, context.Cause(ctx)
		}
		return false, err
	case <-t.C:
		log.Error("connector did not return after its context ended; abandoning it", "grace", c.r.grace())
		return true, fmt.Errorf("%w (the connector did not stop within %s)", context.Cause(ctx), c.r.grace())
	}
}

// store validates, redacts and stores one artefact and adds its envelope to the run.
// Problems with the artefact itself become a gap for the instance rather than an error,
// so one malformed artefact does not end a collection. force bypasses the closed check
// for the runner's own gaps.
func (c *collector) store(ctx context.Context, st *instanceState, a evidence.Artefact, force bool) error {
	if !force {
		// Held for the whole artefact: closing the instance waits for an emit in flight,
		// so the counts read after closing match what was added to the run. The runner's
		// own gaps (force) never wait: an abandoned connector may be stuck in here.
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.closed.Load() {
			return errInstanceClosed
		}
	}
	if a.Status == "" {
		a.Status = evidence.StatusOK
	}
	if err := a.Validate(); err != nil {
		a = connector.NewGap(collectionKind(st.ref.Type), st.ref.Instance, evidence.StatusFailed,
			fmt.Errorf("connector emitted an invalid artefact: %s", oneLine(err.Error())))
	}
	env := evidence.Envelope{
		Kind:          a.Kind,
		Subject:       a.Subject,
		Connector:     st.ref,
		CollectedAt:   c.r.now(),
		Status:        a.Status,
		Error:         a.Error,
		Exchanges:     a.Exchanges,
		Pseudonymised: a.Pseudonymised,
	}
	if env.Error != "" {
		env.Error = connector.DefaultRedactor().RedactString(env.Error)
	}
	if len(a.Document) > 0 {
		red := st.redactor
		if red == nil {
			red = connector.DefaultRedactor()
		}
		doc, reds, err := red.RedactDocument(a.Kind, a.Document)
		if err != nil {
			env.Status, env.Error = evidence.StatusFailed, "could not redact the document: "+oneLine(err.Error())
		} else {
			ref, err := store.PutBytes(ctx, c.objects, doc, "application/json")
			if err != nil {
				return fmt.Errorf("could not store the %s document of %s: %w", a.Kind, a.Subject, err)
			}
			env.Document, env.Redactions = &ref, reds
		}
	}
	if env.Status == evidence.StatusOK && env.Document == nil {
		env.Status, env.Error = evidence.StatusFailed, "no document"
	}
	return c.add(ctx, st, env)
}

// add appends env to the builder and the pending batch.
func (c *collector) add(ctx context.Context, st *instanceState, env evidence.Envelope) error {
	gap := env.Status.IsGap()
	c.mu.Lock()
	if c.sealing {
		c.mu.Unlock()
		return errInstanceClosed
	}
	if err := c.builder.Add(env); err != nil {
		c.mu.Unlock()
		return fmt.Errorf("could not add the %s envelope of %s to the run: %w", env.Kind, env.Subject, err)
	}
	c.seq++
	c.pending = append(c.pending, env)
	c.exchanges += len(env.Exchanges)
	if gap && len(c.gapList) < MaxGapList {
		c.gapList = append(c.gapList, GapInfo{Instance: st.ref.Instance, Kind: env.Kind, Subject: env.Subject, Status: env.Status, Error: env.Error})
	}
	var flushErr error
	if len(c.pending) >= flushEvery || time.Since(c.lastFlush) >= FlushInterval {
		if c.writer != nil {
			// The writer syncs, journals and indexes this batch while the connector goes on;
			// a connector that outruns it waits here, so at most two batches are in memory.
			c.writer.kick()
			mine := c.seq
			for c.writer != nil && (len(c.pending) >= 2*flushEvery || (flushWait && c.written < mine)) {
				c.drained.Wait()
			}
		}
		if c.writer == nil && (len(c.pending) >= flushEvery || flushWait) {
			// No writer (any more): every batch it took is written, so flushing here keeps order.
			flushErr = c.flushLocked(ctx)
		}
	}
	c.mu.Unlock()
	if flushErr != nil {
		c.r.logger().Error("could not write the journal or index", "run", c.runID, "err", flushErr)
	}

	arts, gaps := st.artefacts.Add(1), st.gaps.Load()
	if gap {
		gaps = st.gaps.Add(1)
	}
	xs := st.exchanges.Add(int64(len(env.Exchanges)))
	ev := Event{Type: EventArtefact, Instance: st.ref.Instance, Connector: st.ref.Type, Kind: env.Kind, Subject: env.Subject,
		Status: env.Status, Error: env.Error, Artefacts: int(arts), Gaps: int(gaps), Exchanges: int(xs)}
	if gap {
		ev.Type = EventGap
	}
	c.event(ev)
	return nil
}

// flush writes the pending envelopes to the journal (fsynced) and the index, and returns
// when they and every batch before them are written.
func (c *collector) flush(ctx context.Context) error {
	c.mu.Lock()
	w := c.writer
	if w == nil {
		defer c.mu.Unlock()
		return c.flushLocked(ctx)
	}
	c.mu.Unlock()
	return w.flush()
}

// flushLocked takes the pending batch and writes it; the caller holds c.mu and no writer
// runs (or the caller is the writer's replacement at the end of the run).
func (c *collector) flushLocked(ctx context.Context) error {
	batch, first := c.takeLocked()
	err := c.writeBatch(ctx, batch, first, true)
	c.written = c.seq
	return err
}

// takeLocked takes the pending envelopes as a batch and the sequence number of its first.
func (c *collector) takeLocked() ([]evidence.Envelope, int) {
	c.lastFlush = time.Now()
	if len(c.pending) == 0 {
		return nil, c.seq
	}
	batch, first := c.pending, c.seq-len(c.pending)
	c.pending = make([]evidence.Envelope, 0, flushEvery)
	if c.drained != nil {
		c.drained.Broadcast()
	}
	return batch, first
}

// writeBatch makes a batch durable: its objects synced, then its envelopes journaled and
// indexed. Batches are written one at a time, in order: by the writer, or under c.mu
// (holdsMu) when no writer runs.
func (c *collector) writeBatch(ctx context.Context, batch []evidence.Envelope, first int, holdsMu bool) error {
	if len(batch) == 0 {
		return nil
	}
	// The batch's objects must be durable before anything durable names them.
	if err := c.objects.Sync(ctx); err != nil {
		return fmt.Errorf("could not make stored objects durable: %w", err)
	}
	var errs []error
	if c.journal != nil {
		if err := c.journal.append(batch); err != nil {
			errs = append(errs, err)
		}
	}
	if c.r.Index != nil && c.indexOK(holdsMu) {
		if err := c.r.Index.AddArtefacts(ctx, c.runID, first, batch); err != nil {
			c.setIndexErr(holdsMu, err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *collector) indexOK(holdsMu bool) bool {
	if !holdsMu {
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	return c.indexErr == nil
}

func (c *collector) setIndexErr(holdsMu bool, err error) {
	if !holdsMu {
		c.mu.Lock()
		defer c.mu.Unlock()
	}
	c.indexErr = err
}

// startFlusher starts the batch writer (see writer.go), which also writes what is pending
// every FlushInterval, until the returned stop function is called (idempotent; it waits
// for every batch taken to be written, then flushes inline from then on).
func (c *collector) startFlusher(ctx context.Context) (stop func()) {
	c.mu.Lock()
	c.drained = sync.NewCond(&c.mu)
	w := newBatchWriter(ctx, c)
	c.writer = w
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.stop()
			c.mu.Lock()
			c.writer = nil
			c.drained.Broadcast()
			c.mu.Unlock()
		})
	}
}

func (c *collector) event(e Event) {
	if c.r.Progress == nil {
		return
	}
	e.RunID = c.runID
	c.progressMu.Lock()
	defer c.progressMu.Unlock()
	c.r.Progress(e)
}

type errInstanceTimeout struct{ d time.Duration }

func (e errInstanceTimeout) Error() string { return fmt.Sprintf("timed out after %s", e.d) }

// collectionKind is the kind of the gap that records a whole instance's failure:
// "<type>.collection".
func collectionKind(typ string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(typ) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("connector")
	}
	return b.String() + ".collection"
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}
