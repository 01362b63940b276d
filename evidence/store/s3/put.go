package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// maxSinglePut is the largest object S3 accepts in one PUT. Larger objects would need a
// multipart upload, whose checksums are per part: the server could no longer check the
// whole object against its digest, so this store refuses them rather than weaken that.
const maxSinglePut = 5 << 30

// Put implements store.Store with a single PUT whose payload hash the server verifies.
//
// Concurrent Puts of one digest through this Store share one upload, and the upload is
// conditional (If-None-Match: *), so that Puts from other processes do not add a second
// version either: under Object Lock every version is kept for the whole retention.
func (s *Store) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if err := ctx.Err(); err != nil {
		return s.errorf("put", d, err)
	}
	for {
		call, leader := s.inflight.join(d)
		if leader {
			err := s.put(ctx, d, r, size)
			s.inflight.done(d, call, err)
			return err
		}
		select {
		case <-call.done:
		case <-ctx.Done():
			return s.errorf("put", d, ctx.Err())
		}
		if call.err == nil {
			return nil // the object is stored; its size was checked by the leader's Stat or upload
		}
		// The other upload failed (maybe for its own reasons: a cancelled context, a bad
		// reader): try with ours.
	}
}

func (s *Store) put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if size < 0 || size > maxSinglePut {
		return s.errorf("put", d, fmt.Errorf("size %d out of range: the s3 store takes objects of up to 5 GiB", size))
	}
	// Idempotent without a second version: under Object Lock an overwrite would not
	// replace the object but add a version, each locked for years.
	info, err := s.stat(ctx, "put", d)
	switch {
	case err == nil && info.Size == size:
		return nil
	case err == nil:
		return s.damaged(d, info.Size, size)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	b, err := newBody(r)
	if err != nil {
		return s.errorf("put", d, err)
	}
	// The claimed size must be the reader's length, checked before any byte is sent: if the
	// reader were longer, the server would receive exactly size bytes, and a correct prefix
	// would be stored although the caller's content is not what it claimed.
	if b.length != size {
		return s.errorf("put", d, fmt.Errorf("content is %d bytes, not the %d claimed: %w", b.length, size, store.ErrDigestMismatch))
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		// Sign the payload with its SHA-256 instead of streaming chunk signatures: the
		// server hashes the body and refuses it unless it matches (XAmzContentSHA256Mismatch).
		DisableContentSha256: true,
		// And store it as the object's checksum, which the server verifies too (BadDigest)
		// and which AWS requires for uploads under Object Lock.
		UserMetadata: map[string]string{"x-amz-checksum-sha256": checksumOf(d)},
	}
	if !s.noConditional.Load() {
		opts.SetMatchETagExcept("*")
	}
	if s.lock != nil {
		opts.Mode = minio.RetentionMode(s.lock.Mode)
		opts.RetainUntilDate = s.now().Add(time.Duration(s.lock.RetainDays) * 24 * time.Hour).UTC()
		if s.lock.LegalHold {
			opts.LegalHold = minio.LegalHoldEnabled
		}
	}
	_, err = s.core.PutObject(ctx, s.bucket, s.key(d), b, size, "", d.String(), opts)
	if code := minio.ToErrorResponse(err).Code; code == "NotImplemented" && !s.noConditional.Load() {
		// A server without conditional writes: fall back to the HEAD check alone.
		s.noConditional.Store(true)
		return s.put(ctx, d, r, size)
	} else if code == "PreconditionFailed" {
		// Another writer stored the key since our HEAD; the server refused to add a version.
		info, serr := s.stat(ctx, "put", d)
		if serr != nil {
			return serr
		}
		if info.Size != size {
			return s.damaged(d, info.Size, size)
		}
		return nil
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return s.errorf("put", d, cerr)
		}
		if b.readErr != nil {
			return s.errorf("put", d, fmt.Errorf("could not read the content: %w", b.readErr))
		}
		if b.n != size {
			return s.errorf("put", d, fmt.Errorf("content ended after %d of the %d bytes claimed: %w", b.n, size, store.ErrDigestMismatch))
		}
		switch code := minio.ToErrorResponse(err).Code; code {
		case "XAmzContentSHA256Mismatch", "BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest":
			return s.errorf("put", d, fmt.Errorf("the server refused the content (%s), it hashes to %s: %w", code, evidence.DigestOf(b.h), store.ErrDigestMismatch))
		}
		return s.errorf("put", d, explain(err))
	}
	// The server verified the body; this only guards against a server that ignores the
	// payload hash, which must be reported loudly since it stored the wrong bytes.
	if got := evidence.DigestOf(b.h); got != d || b.n != size {
		return s.errorf("put", d, fmt.Errorf("the server accepted content hashing to %s without checking x-amz-content-sha256; the object at %s is wrong and the server cannot be trusted to verify uploads: %w", got, s.key(d), store.ErrDigestMismatch))
	}
	return nil
}

// flights lets concurrent Puts of one digest share one upload.
type flights struct {
	mu    sync.Mutex
	calls map[evidence.Digest]*flight
}

type flight struct {
	done chan struct{}
	err  error
}

// join returns the flight for d and whether the caller leads it (and must call done).
func (f *flights) join(d evidence.Digest) (*flight, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.calls[d]; ok {
		return c, false
	}
	if f.calls == nil {
		f.calls = map[evidence.Digest]*flight{}
	}
	c := &flight{done: make(chan struct{})}
	f.calls[d] = c
	return c, true
}

func (f *flights) done(d evidence.Digest, c *flight, err error) {
	f.mu.Lock()
	delete(f.calls, d)
	f.mu.Unlock()
	c.err = err
	close(c.done)
}

// checksumOf is the x-amz-checksum-sha256 form of a digest: base64, not hex.
func checksumOf(d evidence.Digest) string { return base64.StdEncoding.EncodeToString(d[:]) }

// body is the upload body: it hashes and counts what the client sends, and makes minio-go's
// Seek(0, 0) before a retry mean the caller's start position, not the start of the reader.
type body struct {
	r      io.ReadSeeker
	base   int64
	length int64 // bytes from base to the reader's end
	h      hash.Hash
	n      int64
	// readErr is the caller's reader failing, which the HTTP client would report as a
	// transport error.
	readErr error
}

func newBody(r io.ReadSeeker) (*body, error) {
	base, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("could not find the reader's position: %w", err)
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("could not find the reader's length: %w", err)
	}
	if _, err := r.Seek(base, io.SeekStart); err != nil {
		return nil, fmt.Errorf("could not rewind the reader: %w", err)
	}
	return &body{r: r, base: base, length: end - base, h: sha256.New()}, nil
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.readErr = err
	}
	return n, err
}

// Seek supports what minio-go does with an upload body: rewind before a retry, or ask the
// current position.
func (b *body) Seek(off int64, whence int) (int64, error) {
	switch {
	case whence == io.SeekStart && off == 0:
		if _, err := b.r.Seek(b.base, io.SeekStart); err != nil {
			return 0, err
		}
		b.h.Reset()
		b.n = 0
		b.readErr = nil
		return 0, nil
	case whence == io.SeekCurrent && off == 0:
		return b.n, nil
	}
	return b.n, fmt.Errorf("upload body: unsupported seek (%d, %d)", off, whence)
}

// damaged is Put's error when an object of another size is already stored under d.
func (s *Store) damaged(d evidence.Digest, stored, size int64) error {
	return s.errorf("put", d, fmt.Errorf("an object of %d bytes, not %d, is already stored under this digest: the stored object is damaged (run exhibit check)", stored, size))
}
