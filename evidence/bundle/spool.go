package bundle

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool holds one entry's payload between compressing it and writing it to the archive:
// in memory up to memLimit bytes, then in a temporary file, so a worker's memory is bounded
// whatever the size of the object it compresses.
type spool struct {
	buf      bytes.Buffer
	f        *os.File
	n        int64
	memLimit int
	dir      string
}

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && s.buf.Len()+len(p) > s.memLimit {
		f, err := os.CreateTemp(s.dir, "exhibit-bundle-entry-*")
		if err != nil {
			return 0, fmt.Errorf("could not spool a bundle entry: %w", err)
		}
		if _, err := f.Write(s.buf.Bytes()); err != nil {
			f.Close()
			os.Remove(f.Name())
			return 0, fmt.Errorf("could not spool a bundle entry: %w", err)
		}
		s.buf.Reset()
		s.f = f
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
	} else {
		n, err = s.buf.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// reader returns the spooled bytes from the start.
func (s *spool) reader() (io.Reader, error) {
	if s.f == nil {
		return bytes.NewReader(s.buf.Bytes()), nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.LimitReader(s.f, s.n), nil
}

// reset empties the spool, removing its file; the memory buffer is kept for reuse unless
// it grew large.
func (s *spool) reset() {
	if s.f != nil {
		name := s.f.Name()
		s.f.Close()
		os.Remove(name)
		s.f = nil
	}
	if s.buf.Cap() > 2*s.memLimit {
		s.buf = bytes.Buffer{}
	}
	s.buf.Reset()
	s.n = 0
}
