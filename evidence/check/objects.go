package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// manifestPrefix is how every run manifest begins (the header is written schema first), so
// re-hashing can spot manifests among the objects for free.
// Both schemas a manifest may have are of the same length.
var (
	manifestPrefix   = []byte(`{"schema":"` + manifest.Schema + `"`)
	manifestPrefixV1 = []byte(`{"schema":"` + manifest.SchemaV1 + `"`)
)

// hashBuffer is the read size while re-hashing: large reads keep the hashing, not the
// system calls, the bottleneck.
const hashBuffer = 1 << 20

// checkObjects lists repo.Objects into c.sizes and, with ReadData, re-hashes every object
// on c.opts.Workers goroutines while the listing goes on.
func (c *checker) checkObjects(ctx context.Context) error {
	c.progress = Progress{Phase: PhaseObjects}
	if !c.opts.ReadData {
		return c.repo.Objects.List(ctx, func(i store.Info) error {
			c.listed(i)
			return nil
		})
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan store.Info, 4*c.opts.Workers)
	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, hashBuffer)
			for info := range work {
				c.hash(ctx, info, buf)
			}
		}()
	}
	err := c.repo.Objects.List(ctx, func(i store.Info) error {
		c.listed(i)
		select {
		case work <- i:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// listed records a listed object; it runs in List's goroutine, the only writer of c.sizes.
func (c *checker) listed(i store.Info) {
	c.sizes[i.Digest] = i.Size
	c.mu.Lock()
	c.report.Objects++
	c.report.ObjectBytes += i.Size
	c.progress.Total++
	if !c.opts.ReadData {
		c.progress.Done++
	}
	c.tick()
	c.mu.Unlock()
}

// hash reads one object to its end, which makes the store's verifying reader re-hash it.
func (c *checker) hash(ctx context.Context, info store.Info, buf []byte) {
	var n int64
	looksLikeManifest, err := func() (bool, error) {
		rc, err := c.repo.Objects.Get(ctx, info.Digest)
		if err != nil {
			return false, err
		}
		defer rc.Close()
		head := buf[:len(manifestPrefix)]
		m, err := io.ReadFull(rc, head)
		n += int64(m)
		c.mu.Lock()
		c.progress.BytesRead += int64(m)
		c.mu.Unlock()
		isManifest := m == len(head) && (bytes.Equal(head, manifestPrefix) || bytes.Equal(head, manifestPrefixV1))
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, nil // the whole (short) object was read and verified
		}
		if err != nil {
			return false, err
		}
		for {
			m, err := rc.Read(buf)
			n += int64(m)
			if m > 0 {
				c.mu.Lock()
				c.progress.BytesRead += int64(m)
				c.mu.Unlock()
			}
			if err == io.EOF {
				return isManifest, nil
			}
			if err != nil {
				return false, err
			}
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report.BytesRead += n
	c.progress.Done++
	c.tick()
	switch {
	case err == nil:
		if looksLikeManifest {
			c.candidates = append(c.candidates, info.Digest)
		}
	case ctx.Err() != nil:
		// Cancelled: Run returns ctx's error, not a problem.
	case errors.Is(err, store.ErrDigestMismatch):
		c.report.Problems = append(c.report.Problems, Problem{Kind: KindObjectCorrupt, Store: StoreObjects, Digest: info.Digest,
			Message: fmt.Sprintf("content does not match its digest (%d bytes read): the object was altered or damaged", n)})
	case errors.Is(err, store.ErrNotFound):
		c.report.Problems = append(c.report.Problems, Problem{Kind: KindObjectUnreadable, Store: StoreObjects, Digest: info.Digest,
			Message: "the object was listed but has vanished"})
	default:
		c.report.Problems = append(c.report.Problems, Problem{Kind: KindObjectUnreadable, Store: StoreObjects, Digest: info.Digest,
			Message: fmt.Sprintf("could not read the object: %v", err)})
	}
}
