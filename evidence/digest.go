package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// Digest is the SHA-256 of an object's bytes. It is the object's name in every store and
// bundle, so two equal documents are stored once.
type Digest [32]byte

// Sum returns the digest of b.
func Sum(b []byte) Digest { return Digest(sha256.Sum256(b)) }

// SumReader hashes everything r yields and returns the digest and the number of bytes read.
func SumReader(r io.Reader) (Digest, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Digest{}, n, err
	}
	return DigestOf(h), n, nil
}

// DigestOf returns the current sum of a SHA-256 hash as a Digest.
func DigestOf(h hash.Hash) Digest {
	var d Digest
	h.Sum(d[:0])
	return d
}

// String returns the digest as 64 lower-case hex characters, the form used in keys,
// SHA256SUMS files and JSON.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is the zero value, which never names a real object.
func (d Digest) IsZero() bool { return d == Digest{} }

// ParseDigest parses 64 hex characters (lower or upper case).
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*len(d) {
		return d, fmt.Errorf("invalid digest %q: want %d hex characters, got %d", truncate(s, 80), 2*len(d), len(s))
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return Digest{}, fmt.Errorf("invalid digest %q: %v", truncate(s, 80), err)
	}
	return d, nil
}

// MustParseDigest is ParseDigest for constants in tests; it panics on invalid input.
func MustParseDigest(s string) Digest {
	d, err := ParseDigest(s)
	if err != nil {
		panic(err)
	}
	return d
}

// MarshalText implements encoding.TextMarshaler (hex form).
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex form).
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// SameDigest reports whether two optional digests (a previous manifest, a results object)
// are equal: both absent, or both present and the same.
func SameDigest(a, b *Digest) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// DigestOrNull is d in hex, or "null" when it is absent, as the JSON formats write it.
func DigestOrNull(d *Digest) string {
	if d == nil {
		return "null"
	}
	return d.String()
}
