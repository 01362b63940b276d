package bundle

import (
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// A Writer writes the bundle to a temporary file beside its output, .<output>.tmp-*, and
// holds an flock on it until it is moved into place or removed. A writer that is killed
// loses its flock with its process, so a temporary file whose lock can be taken is stale.

// lockTemp locks the temporary file at path; nil if it cannot (the file is then only
// found stale once its writer is gone and the lock can be taken, as for any other).
func lockTemp(path string) *flock.Flock {
	fl := flock.New(path)
	if ok, err := fl.TryLock(); err != nil || !ok {
		return nil
	}
	return fl
}

func unlockTemp(fl *flock.Flock) {
	if fl != nil {
		fl.Close()
	}
}

// RemoveStaleTemp removes the temporary files that killed writers of output left beside
// it, and returns their paths. A temporary file whose writer is alive (its lock is held)
// is left alone, as is every other file.
func RemoveStaleTemp(output string) []string {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(output), "."+globEscape(filepath.Base(output))+".tmp-*"))
	if err != nil {
		return nil
	}
	var removed []string
	for _, p := range matches {
		if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		fl := flock.New(p)
		if ok, err := fl.TryLock(); err != nil || !ok {
			continue
		}
		if os.Remove(p) == nil {
			removed = append(removed, p)
		}
		fl.Close()
	}
	return removed
}

// globEscape quotes the characters filepath.Match treats specially.
func globEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
