package fs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole file system that holds f: data, inodes and directories. Since
// Linux 5.8 it reports writeback errors (to descriptors opened before them).
func syncFS(f *os.File) error {
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: f.Name(), Err: err}
	}
	return nil
}

// renameNoReplace renames old to new atomically, failing with EEXIST if new exists. Where
// the file system lacks RENAME_NOREPLACE, it links and unlinks, which never replaces
// either.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return linkAndRemove(old, new)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}
