//go:build !linux

package fs

import (
	"errors"
	"os"

	"github.com/exhibit-dev/exhibit/evidence"
)

// useTmpfile is false: O_TMPFILE is Linux only.
var useTmpfile = false

// createTemp creates a named temporary file in dir (O_TMPFILE is Linux only).
func createTemp(dir string, d evidence.Digest) (*tempFile, error) { return createNamedTemp(dir, d) }

func linkUnnamed(*os.File, string) error { return errors.New("unnamed temporary files are Linux only") }
