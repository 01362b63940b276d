package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/exhibit-dev/exhibit/evidence"
)

// useTmpfile can be turned off by tests to exercise the named fallback.
var useTmpfile = true

// createTemp opens an unnamed O_TMPFILE inode in dir, or a named temporary file where the
// file system does not support it.
func createTemp(dir string, d evidence.Digest) (*tempFile, error) {
	if !useTmpfile {
		return createNamedTemp(dir, d)
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, objectMode)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		return createNamedTemp(dir, d)
	}
	if err != nil {
		return nil, &os.PathError{Op: "create temporary file in", Path: dir, Err: err}
	}
	// The name only appears in error messages.
	return &tempFile{f: os.NewFile(uintptr(fd), filepath.Join(dir, "(new object "+d.String()[:16]+"…)"))}, nil
}

// linkUnnamed links an O_TMPFILE inode into the directory tree under final; it fails with
// EEXIST if final exists. Through /proc/self/fd it needs no privilege; without /proc,
// AT_EMPTY_PATH (which needs CAP_DAC_READ_SEARCH) is the fallback.
func linkUnnamed(f *os.File, final string) error {
	fd := int(f.Fd())
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, final, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			err = unix.Linkat(fd, "", unix.AT_FDCWD, final, unix.AT_EMPTY_PATH)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: f.Name(), New: final, Err: err}
	}
	return nil
}
