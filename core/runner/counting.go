package runner

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// countingStore counts the bytes and objects a run adds to a store. It asks Stat before
// Put so that an object already stored is neither sent again nor counted: evidence that
// did not change since the last run costs no new bytes.
type countingStore struct {
	store.Store
	newBytes   atomic.Int64
	newObjects atomic.Int64
}

var _ store.Store = (*countingStore)(nil)

// Put implements store.Store.
func (c *countingStore) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if _, err := c.Store.Stat(ctx, d); err == nil {
		return nil
	}
	if err := c.Store.Put(ctx, d, r, size); err != nil {
		return err
	}
	c.newBytes.Add(size)
	c.newObjects.Add(1)
	return nil
}
