//go:build !linux

package fs

import (
	"errors"
	"os"
)

// syncFS is Linux only; SyncDeferred then fsyncs each file and directory.
func syncFS(*os.File) error { return errors.ErrUnsupported }

// renameNoReplace gives old the name new without replacing an existing new.
func renameNoReplace(old, new string) error { return linkAndRemove(old, new) }
