package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

	"github.com/exhibit-dev/exhibit/evidence"
)

// tempFile is an object being written. It has no name in the store until publish: on Linux
// an O_TMPFILE inode, which disappears by itself if the process dies; elsewhere (or where the
// file system lacks O_TMPFILE) a file named .tmp-…, which List skips and RemoveStaleTemp
// removes. Either way it is created read-only (0444): the descriptor is writable, the file
// never is.
type tempFile struct {
	f    *os.File
	name string // the temporary name; empty for an unnamed (O_TMPFILE) file
	done bool
}

// createNamedTemp creates a named temporary file in dir.
func createNamedTemp(dir string, d evidence.Digest) (*tempFile, error) {
	f, err := os.CreateTemp(dir, tempPrefix+d.String()[:16]+"-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(objectMode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &tempFile{f: f, name: f.Name()}, nil
}

// publish gives the complete, synced file its final name, never replacing an existing
// object: linking fails if the name exists, and then a concurrent Put of the same bytes won.
// It closes the file.
func (t *tempFile) publish(final string) error {
	var err error
	if t.name == "" {
		err = linkUnnamed(t.f, final)
	} else {
		err = os.Link(t.name, final)
		if err != nil && !errors.Is(err, iofs.ErrExist) {
			// A file system without hard links: an atomic rename, which could only replace
			// an identical, verified object.
			if rerr := os.Rename(t.name, final); rerr == nil {
				err = nil
			}
		}
	}
	if err != nil && !errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("could not give the object its name %s: %w", final, err)
	}
	t.done = true
	cerr := t.f.Close()
	if t.name != "" {
		os.Remove(t.name) // only a second name of the object now
	}
	return cerr
}

// discard removes an unpublished temporary file.
func (t *tempFile) discard() {
	if t.done {
		return
	}
	t.f.Close()
	if t.name != "" {
		os.Remove(t.name)
	}
}
