package storetest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Pattern is a seekable reader of size deterministic pseudo-random bytes derived from a seed.
// It holds no data, so tests can offer a store objects of any size (gigabytes) without
// holding them in memory, and read them again after a Seek, as a store retrying an upload does.
type Pattern struct {
	seed uint64
	size int64
	off  int64
}

// NewPattern returns a reader positioned at the start of the pattern of seed and size.
func NewPattern(seed uint64, size int64) *Pattern { return &Pattern{seed: seed, size: size} }

// PatternDigest returns the digest of the whole pattern of seed and size, by streaming it.
func PatternDigest(seed uint64, size int64) evidence.Digest {
	d, _, err := evidence.SumReader(NewPattern(seed, size))
	if err != nil {
		panic(err) // a Pattern never fails
	}
	return d
}

// word returns the i-th 8-byte word of the pattern: splitmix64, so every word is independent
// of the others and Seek costs nothing.
func (p *Pattern) word(i int64) uint64 {
	z := p.seed + uint64(i)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Read implements io.Reader.
func (p *Pattern) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	if rem := p.size - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	n := 0
	for n < len(b) {
		if p.off%8 == 0 && len(b)-n >= 8 {
			binary.LittleEndian.PutUint64(b[n:], p.word(p.off/8))
			n += 8
			p.off += 8
			continue
		}
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], p.word(p.off/8))
		c := copy(b[n:], w[p.off%8:])
		n += c
		p.off += int64(c)
	}
	return n, nil
}

// Seek implements io.Seeker.
func (p *Pattern) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.off
	case io.SeekEnd:
		offset += p.size
	default:
		return p.off, fmt.Errorf("pattern: invalid whence %d", whence)
	}
	if offset < 0 {
		return p.off, errors.New("pattern: negative position")
	}
	p.off = offset
	return offset, nil
}

// Counting wraps a ReadSeeker and counts the bytes read through it, so a test can tell
// whether a store read its input (and how often).
type Counting struct {
	R io.ReadSeeker
	n atomic.Int64
}

// Read implements io.Reader.
func (c *Counting) Read(b []byte) (int, error) {
	n, err := c.R.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// Seek implements io.Seeker.
func (c *Counting) Seek(offset int64, whence int) (int64, error) { return c.R.Seek(offset, whence) }

// N returns the number of bytes read so far.
func (c *Counting) N() int64 { return c.n.Load() }
