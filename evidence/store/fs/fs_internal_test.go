package fs

import (
	"path/filepath"
	"testing"

	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/storetest"
)

// TestConformanceNamedTemp runs the suite with named temporary files, the path taken where
// O_TMPFILE is missing (other systems, some file systems).
func TestConformanceNamedTemp(t *testing.T) {
	useTmpfile = false
	t.Cleanup(func() { useTmpfile = true })
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := New(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
