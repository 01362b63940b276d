package fs

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StaleTempAge is how old a temporary file must be before RemoveStaleTemp treats it as the
// leftover of a Put that died. No Put takes that long to write one object.
const StaleTempAge = time.Hour

// RemoveStaleTemp removes temporary files older than olderThan (left behind by processes
// killed mid-Put) and returns how many it removed. It never touches an object: temporary
// files have names no object can have. Removing the temporary file of a Put that is
// still running, however slow, is safe too: that Put then fails to link its file and
// returns an error, storing nothing.
//
// The staging files of this Store's pending PutDeferred objects are never removed; those of
// other processes (dead or alive) are, like their temporary files.
//
// Nothing calls it implicitly; `exhibit check` or an operator may.
func (s *Store) RemoveStaleTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	pending := s.pendingStaging()
	err := s.walk(ctx, func(shard string, e iofs.DirEntry) error {
		if !strings.HasPrefix(e.Name(), tempPrefix) || !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, iofs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: remove stale temporary files: %w", s.name, err)
		}
		if fi.ModTime().After(cutoff) {
			return nil
		}
		p := filepath.Join(s.dir, algoDir, shard, e.Name())
		if pending[p] {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("%s: remove stale temporary file: %w", s.name, err)
		}
		removed++
		return nil
	})
	return removed, err
}
