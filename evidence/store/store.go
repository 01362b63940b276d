// Package store defines where evidence objects live: a content-addressed store of immutable
// objects named by their SHA-256 digest.
//
// Implementations: mem (tests), fs (the embedded default) and s3 (minio-go, with Object Lock).
// Every implementation passes the conformance suite in storetest.
package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Errors every Store returns, wrapped with the object and backend they concern.
// Test with errors.Is.
var (
	// ErrNotFound: no object has that digest.
	ErrNotFound = errors.New("object not found")
	// ErrDigestMismatch: bytes do not hash to the digest they were stored or offered under.
	// Get returns it when stored data has been altered; Put when the offered data is not
	// what the caller claimed.
	ErrDigestMismatch = errors.New("content does not match its digest")
)

// Info describes a stored object.
type Info struct {
	Digest evidence.Digest
	Size   int64
	// ModTime is when the object was first stored, where the backend knows it.
	ModTime time.Time
	// RetainUntil is the end of the object's retention (Object Lock), zero if none.
	RetainUntil time.Time
}

// Store is a content-addressed store of immutable objects. There is no Delete: evidence is
// never removed through this interface (retention is an optional capability of a backend,
// found by type assertion).
//
// All methods are safe for concurrent use by multiple goroutines.
type Store interface {
	// Put stores size bytes read from r under digest d. It reads r from its current
	// position; it may seek r back to that position and read again (e.g. to retry an upload),
	// so r must not be shared while Put runs.
	//
	// Put verifies that the bytes hash to d and fails with ErrDigestMismatch otherwise,
	// storing nothing. It is idempotent: if d is already stored, Put returns nil (it may
	// skip reading r). It is atomic: a concurrent or later reader sees the complete object
	// or nothing, even if the process dies mid-write. Concurrent Puts of the same digest
	// are allowed and all succeed.
	Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error

	// Get returns a reader of the object's bytes. The caller must close it. The reader
	// re-hashes what it yields: if the stored bytes do not match d, the Read that reaches
	// the end returns ErrDigestMismatch (never io.EOF), so a caller that reads to EOF never
	// accepts altered data. Missing objects: ErrNotFound (from Get itself).
	Get(ctx context.Context, d evidence.Digest) (io.ReadCloser, error)

	// Stat returns the object's metadata without reading it; ErrNotFound if missing.
	Stat(ctx context.Context, d evidence.Digest) (Info, error)

	// List calls fn exactly once per stored object, in no particular order, in the calling
	// goroutine. It stops and returns fn's error if fn fails, or ctx.Err() when cancelled.
	// Objects added while List runs may or may not be listed.
	List(ctx context.Context, fn func(Info) error) error
}

// Repo is one installation's evidence: the objects (documents, raw response bodies,
// results, run manifests, manual evidence) and the signed run references that say which
// manifests exist. Both are content-addressed stores; they are kept apart so that finding
// all runs never means listing every object.
type Repo struct {
	Objects Store
	Runs    Store
	// Describe names the backend and its location for messages, e.g. "fs /var/lib/exhibit"
	// or "s3 http://127.0.0.1:9000/evidence".
	Describe string
}

// PutBytes stores b under its own digest and returns a reference to it.
func PutBytes(ctx context.Context, s Store, b []byte, mediaType string) (evidence.ObjectRef, error) {
	d := evidence.Sum(b)
	if err := s.Put(ctx, d, bytes.NewReader(b), int64(len(b))); err != nil {
		return evidence.ObjectRef{}, err
	}
	return evidence.ObjectRef{Digest: d, Size: int64(len(b)), MediaType: mediaType}, nil
}

// GetBytes reads a whole object, verified, into memory. Use only for objects known to be
// small (documents, manifests); stream the rest.
func GetBytes(ctx context.Context, s Store, d evidence.Digest) ([]byte, error) {
	rc, err := s.Get(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
