package manifest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Builder collects a run's envelopes until the run is sealed. It spools them to a temporary
// file, one JSON line each, so a run with millions of artefacts needs no more memory than a
// run with ten. A Builder is used by one goroutine at a time; Close removes the spool file.
type Builder struct {
	dir  string
	f    *os.File
	w    *bufio.Writer
	n    int
	size int64
	err  error // a failed write poisons the builder: the spool may hold half a line
}

// NewBuilder creates a Builder spooling to a new file in tmpDir ("" = the system's
// temporary directory).
func NewBuilder(tmpDir string) (*Builder, error) {
	f, err := os.CreateTemp(tmpDir, "exhibit-envelopes-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("could not create the envelope spool: %w", err)
	}
	return &Builder{dir: tmpDir, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// Add validates e and appends it to the run.
func (b *Builder) Add(e evidence.Envelope) error {
	if b.err != nil {
		return b.err
	}
	if b.f == nil {
		return errors.New("could not add an envelope: the builder is closed")
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("could not add an envelope: %w", err)
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("could not add envelope %s %s: %w", e.Kind, e.Subject, err)
	}
	line = append(line, '\n')
	if _, err := b.w.Write(line); err != nil {
		b.err = fmt.Errorf("could not spool envelopes to %s: %w", b.f.Name(), err)
		return b.err
	}
	b.n++
	b.size += int64(len(line))
	return nil
}

// Len returns the number of envelopes added.
func (b *Builder) Len() int { return b.n }

// Envelopes calls fn with each envelope added so far, in order (for evaluation before
// sealing). It stops at fn's first error and returns it.
func (b *Builder) Envelopes(fn func(evidence.Envelope) error) error {
	return b.lines(func(line []byte) error {
		e, err := DecodeEnvelope(line)
		if err != nil {
			return fmt.Errorf("envelope spool %s is damaged: %w", b.f.Name(), err)
		}
		return fn(e)
	})
}

// lines calls fn with each spooled line, including its newline. fn must not keep line.
func (b *Builder) lines(fn func(line []byte) error) error {
	if b.err != nil {
		return b.err
	}
	if b.f == nil {
		return errors.New("could not read envelopes: the builder is closed")
	}
	if err := b.w.Flush(); err != nil {
		b.err = fmt.Errorf("could not spool envelopes to %s: %w", b.f.Name(), err)
		return b.err
	}
	r := bufio.NewReaderSize(io.NewSectionReader(b.f, 0, b.size), 256<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if err := fn(line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("could not read the envelope spool %s: %w", b.f.Name(), err)
		}
	}
}

// Close removes the spool. It is safe to call more than once.
func (b *Builder) Close() error {
	if b.f == nil {
		return nil
	}
	name := b.f.Name()
	err := b.f.Close()
	b.f = nil
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("could not remove the envelope spool: %w", err)
	}
	return nil
}
