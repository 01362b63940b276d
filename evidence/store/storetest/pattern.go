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
// It holds 64 KiB, whatever its size, so tests can offer a store objects of any size
// (gigabytes) without holding them in memory, and read them again after a Seek, as a store
// retrying an upload does.
//
// The bytes are a 64 KiB pseudo-random block repeated, with each repetition's first 8 bytes
// replaced by a value derived from its index: no two blocks are equal, so a store that
// reorders, repeats or drops chunks produces other bytes, and reading costs one copy.
type Pattern struct {
	seed  uint64
	size  int64
	off   int64
	block []byte
}

const patternBlock = 64 << 10

// NewPattern returns a reader positioned at the start of the pattern of seed and size.
func NewPattern(seed uint64, size int64) *Pattern {
	p := &Pattern{seed: seed, size: size, block: make([]byte, patternBlock)}
	for i := 0; i < patternBlock; i += 8 {
		binary.LittleEndian.PutUint64(p.block[i:], mix(seed^0xa0761d6478bd642f, uint64(i)))
	}
	return p
}

// PatternDigest returns the digest of the whole pattern of seed and size, by streaming it.
func PatternDigest(seed uint64, size int64) evidence.Digest {
	d, _, err := evidence.SumReader(NewPattern(seed, size))
	if err != nil {
		panic(err) // a Pattern never fails
	}
	return d
}

// mix is splitmix64 of seed and i.
func mix(seed, i uint64) uint64 {
	z := seed + i*0x9e3779b97f4a7c15
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
		in := int(p.off % patternBlock)
		var c int
		if in < 8 {
			var head [8]byte
			binary.LittleEndian.PutUint64(head[:], mix(p.seed, uint64(p.off/patternBlock)))
			c = copy(b[n:], head[in:])
		} else {
			c = copy(b[n:], p.block[in:])
		}
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
