package fs

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

const (
	// chunkSize is the unit of reading, hashing and writing. Large enough that syscalls
	// cost nothing next to hashing; small enough that a Put holds little memory.
	chunkSize = 256 << 10
	// pipelineDepth chunks are in flight in a pipelined copy: memory per large Put is
	// pipelineDepth × chunkSize, whatever the object's size.
	pipelineDepth = 4
	// writebackEvery: after this many bytes, ask the kernel to start writing them to disk,
	// so the final fsync finds little left to do and the disk works while we hash.
	writebackEvery = 8 << 20
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// copyVerified copies exactly size bytes from r to f and checks that they hash to d. Any
// difference (other bytes, fewer, more) is ErrDigestMismatch. It reads r to one byte past
// size, never further, so a reader longer than claimed is caught without reading it all.
func copyVerified(ctx context.Context, f *os.File, r io.Reader, d evidence.Digest, size int64) error {
	h := sha256.New()
	var err error
	if size <= chunkSize {
		err = copySerial(ctx, f, r, h, size)
	} else {
		err = copyPipelined(ctx, f, r, h, size)
	}
	if err != nil {
		return err
	}
	// One more byte would mean the content is longer than claimed.
	var extra [1]byte
	if n, err := io.ReadFull(r, extra[:]); n > 0 {
		return fmt.Errorf("content is longer than the %d bytes claimed: %w", size, store.ErrDigestMismatch)
	} else if err != io.EOF && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("could not read the content: %w", err)
	}
	if got := evidence.DigestOf(h); got != d {
		return fmt.Errorf("content hashes to %s: %w", got, store.ErrDigestMismatch)
	}
	return nil
}

// readChunk fills b from r; a short object is a mismatch, not an I/O error.
func readChunk(r io.Reader, b []byte, off, size int64) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("content ended before the %d bytes claimed: %w", size, store.ErrDigestMismatch)
		}
		return fmt.Errorf("could not read the content at offset %d: %w", off, err)
	}
	return nil
}

// copySerial is the path for small objects: one buffer, no goroutines.
func copySerial(ctx context.Context, f *os.File, r io.Reader, h io.Writer, size int64) error {
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	b := (*bp)[:size]
	if err := readChunk(r, b, 0, size); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h.Write(b)
	if _, err := f.Write(b); err != nil {
		return err
	}
	return nil
}

type chunk struct {
	buf *[]byte
	n   int
}

// copyPipelined reads and hashes in the calling goroutine while another goroutine writes
// the previous chunks, so hashing and the page-cache copy overlap on two cores.
func copyPipelined(ctx context.Context, f *os.File, r io.Reader, h io.Writer, size int64) error {
	free := make(chan *[]byte, pipelineDepth)
	for range pipelineDepth {
		free <- chunkPool.Get().(*[]byte)
	}
	full := make(chan chunk, pipelineDepth)
	failed := make(chan struct{}) // closed when the writer fails, so reading stops early
	writeErr := make(chan error, 1)

	go func() {
		var written, hinted int64
		var err error
		for c := range full {
			if err == nil {
				if _, err = f.Write((*c.buf)[:c.n]); err != nil {
					close(failed)
				} else if written += int64(c.n); written-hinted >= writebackEvery {
					startWriteback(f, hinted, written-hinted)
					hinted = written
				}
			}
			free <- c.buf
		}
		writeErr <- err
	}()

	var rerr error
read:
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			rerr = err
			break
		}
		var bp *[]byte
		select {
		case bp = <-free:
		case <-failed:
			break read
		}
		n := int(min(int64(chunkSize), size-off))
		if err := readChunk(r, (*bp)[:n], off, size); err != nil {
			free <- bp
			rerr = err
			break
		}
		h.Write((*bp)[:n])
		full <- chunk{buf: bp, n: n}
		off += int64(n)
	}
	close(full)
	werr := <-writeErr
	drain(free, pipelineDepth)
	if werr != nil {
		return werr
	}
	return rerr
}

// drain returns the pipeline's buffers to the pool once the writer is done with them.
func drain(free chan *[]byte, n int) {
	for range n {
		chunkPool.Put(<-free)
	}
}
