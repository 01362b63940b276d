package runner

import (
	"context"
	"io"
	"sync"
	"sync/atomic"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// DeferredSyncer is an optional capability of an object store, found by type assertion:
// group commit. PutDeferred stores an object like Put (verified, atomic, idempotent) but
// may return before it is durable; SyncDeferred makes every object stored with
// PutDeferred so far durable. An fs store that fsyncs each object and its directory
// manages a few hundred objects a second on a busy disk; one syncfs per batch, thousands.
//
// The runner calls SyncDeferred before it writes envelopes that reference deferred objects
// to its journal or index, and before it evaluates and seals the run, so nothing durable
// ever references an object that is not. A store must not let a deferred object that a
// crash may have lost pass for stored (Stat, Put's idempotence) after a restart.
type DeferredSyncer interface {
	PutDeferred(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error
	SyncDeferred(ctx context.Context) error
}

// countingStore counts the bytes and objects a run adds to a store. It asks Stat before
// Put so that an object already stored is neither sent again nor counted: evidence that
// did not change since the last run costs no new bytes. While deferring, it stores through
// the store's DeferredSyncer (if any) until Sync.
type countingStore struct {
	store.Store
	newBytes   atomic.Int64
	newObjects atomic.Int64

	mu       sync.Mutex
	deferred DeferredSyncer // nil: every Put is durable when it returns
	dirty    bool
}

var _ store.Store = (*countingStore)(nil)

func newCountingStore(s store.Store, deferOK bool) *countingStore {
	c := &countingStore{Store: s}
	if ds, ok := s.(DeferredSyncer); ok && deferOK {
		c.deferred = ds
	}
	return c
}

// Put implements store.Store.
func (c *countingStore) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if _, err := c.Store.Stat(ctx, d); err == nil {
		return nil
	}
	c.mu.Lock()
	ds := c.deferred
	c.mu.Unlock()
	var err error
	if ds != nil {
		err = ds.PutDeferred(ctx, d, r, size)
	} else {
		err = c.Store.Put(ctx, d, r, size)
	}
	if err != nil {
		return err
	}
	if ds != nil {
		// Only now: a Sync that ran while PutDeferred was still writing cleared dirty
		// without this object in its batch, and the next Sync must not skip it.
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
	}
	c.newBytes.Add(size)
	c.newObjects.Add(1)
	return nil
}

// Sync makes the objects stored so far durable.
func (c *countingStore) Sync(ctx context.Context) error {
	c.mu.Lock()
	ds, dirty := c.deferred, c.dirty
	c.dirty = false
	c.mu.Unlock()
	if ds == nil || !dirty {
		return nil
	}
	if err := ds.SyncDeferred(ctx); err != nil {
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
		return err
	}
	return nil
}

// StopDeferring syncs and makes later Puts durable when they return (sealing needs that:
// the run ref must never name a manifest that is not durable).
func (c *countingStore) StopDeferring(ctx context.Context) error {
	c.mu.Lock()
	ds := c.deferred
	c.deferred, c.dirty = nil, false
	c.mu.Unlock()
	if ds == nil {
		return nil
	}
	// Unconditionally: whatever the dirty flag says, nothing may stay pending when the run
	// is sealed (a store's SyncDeferred with nothing pending returns at once).
	if err := ds.SyncDeferred(ctx); err != nil {
		c.mu.Lock()
		c.deferred, c.dirty = ds, true
		c.mu.Unlock()
		return err
	}
	return nil
}
