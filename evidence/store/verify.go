package store

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/exhibit-dev/exhibit/evidence"
)

// VerifyingReader wraps the reader of a stored object so that reaching its end checks the
// bytes against the digest they are stored under. Backends return it from Get.
type VerifyingReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want evidence.Digest
	name string
	n    int64
	err  error
}

// NewVerifyingReader returns a reader that yields rc's bytes and, instead of io.EOF,
// returns an error wrapping ErrDigestMismatch if they do not hash to want. name describes
// the object in that error (backend and key).
func NewVerifyingReader(rc io.ReadCloser, want evidence.Digest, name string) *VerifyingReader {
	return &VerifyingReader{rc: rc, h: sha256.New(), want: want, name: name}
}

// Read implements io.Reader.
func (v *VerifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		if got := evidence.DigestOf(v.h); got != v.want {
			v.err = fmt.Errorf("%s: %w (read %d bytes hashing to %s)", v.name, ErrDigestMismatch, v.n, got)
			return n, v.err
		}
		v.err = io.EOF
	} else if err != nil {
		v.err = err
	}
	return n, err
}

// Close closes the underlying reader.
func (v *VerifyingReader) Close() error { return v.rc.Close() }
