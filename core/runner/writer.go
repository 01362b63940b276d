package runner

import (
	"context"
	"time"
)

// flushWait makes every emit that triggers a flush wait until its envelope is written (the
// crash tests set it with flushEvery = 1, so that an emitted artefact is journaled when
// emit returns).
var flushWait = false

// batchWriter makes the run's envelopes durable in batches, in order, on a goroutine of its
// own: it syncs the batch's objects (one group commit on the fs store), appends the batch to
// the journal and indexes it, while the connectors go on collecting. It is the only taker
// of pending batches while it runs, which keeps batches in order.
type batchWriter struct {
	c      *collector
	ctx    context.Context
	kicks  chan struct{}   // a batch is full (capacity 1: kicks coalesce)
	flushs chan chan error // write everything pending now and answer
	done   chan struct{}   // stop
	ended  chan struct{}   // the loop has returned
}

func newBatchWriter(ctx context.Context, c *collector) *batchWriter {
	w := &batchWriter{c: c, ctx: ctx, kicks: make(chan struct{}, 1), flushs: make(chan chan error),
		done: make(chan struct{}), ended: make(chan struct{})}
	go w.loop()
	return w
}

func (w *batchWriter) loop() {
	defer close(w.ended)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-w.kicks:
			w.log(w.write(false))
		case <-t.C:
			// A burst of artefacts followed by a slow upstream call must not sit unjournaled.
			w.log(w.write(true))
		case answer := <-w.flushs:
			answer <- w.write(false)
		}
	}
}

// write takes what is pending and writes it; on a tick only if it has waited long enough.
func (w *batchWriter) write(tick bool) error {
	c := w.c
	c.mu.Lock()
	if tick && (len(c.pending) == 0 || time.Since(c.lastFlush) < FlushInterval/2) {
		c.mu.Unlock()
		return nil
	}
	batch, first := c.takeLocked()
	c.mu.Unlock()
	err := c.writeBatch(w.ctx, batch, first, false)
	c.mu.Lock()
	c.written = first + len(batch)
	c.drained.Broadcast()
	c.mu.Unlock()
	return err
}

func (w *batchWriter) log(err error) {
	if err != nil {
		w.c.r.logger().Error("could not write the journal or index", "run", w.c.runID, "err", err)
	}
}

// kick tells the writer a batch is full. The caller may hold c.mu: kick never blocks.
func (w *batchWriter) kick() {
	select {
	case w.kicks <- struct{}{}:
	default:
	}
}

// flush writes everything pending and waits for it; if the writer has stopped, the
// caller flushes inline.
func (w *batchWriter) flush() error {
	answer := make(chan error, 1)
	select {
	case w.flushs <- answer:
		return <-answer
	case <-w.ended:
		c := w.c
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.flushLocked(w.ctx)
	}
}

// stop ends the writer after the batch it is writing, if any.
func (w *batchWriter) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	<-w.ended
}
