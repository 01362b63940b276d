package lock

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// Temporary directories: every process that spools into <data_dir>/tmp (run manifests,
// results, bundles) does so in a directory of its own, proc-<random>, whose file .lock it
// holds an flock on for as long as it lives. A killed process's flock is released by the
// kernel, so a proc- directory whose lock can be taken belongs to a dead process and is
// removed: provably stale, never a live process's file and never evidence (which lives in
// the store). The directory is prepared as new-<random> and renamed once locked, so another
// process never sees it unlocked.
const (
	tempProcPrefix = "proc-"
	tempNewPrefix  = "new-"
	tempLockFile   = ".lock"
	// LooseTempAge is how old a loose spool file directly in the temporary directory (left
	// by versions before per-process directories, or a half-prepared new- directory) must
	// be before it is taken for a dead process's. No spool is left alone that long by a live one.
	LooseTempAge = 24 * time.Hour
)

// looseTempPrefix starts the names of the spool files Exhibit creates (manifest, results,
// bundle and report spools).
const looseTempPrefix = "exhibit-"

var (
	tempMu   sync.Mutex
	tempDirs = map[string]string{} // parent → this process's directory
	// tempLocks keeps the flocks of tempDirs referenced: a collected Flock's file would be
	// closed by its finalizer, releasing the lock while the process lives.
	tempLocks []*flock.Flock
)

// TempDir returns this process's private directory under parent, creating parent and the
// directory on first use. Each call first removes what dead processes left there (a
// long-lived serve cleans up after a collect killed beside it). Later calls with the same
// parent return the same directory.
func TempDir(parent string) (string, error) {
	tempMu.Lock()
	defer tempMu.Unlock()
	RemoveStaleTemp(parent)
	if d, ok := tempDirs[parent]; ok {
		if _, err := os.Stat(d); err == nil {
			return d, nil
		}
		// Removed under the process's feet: make another.
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("could not create the temporary directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, tempNewPrefix)
	if err != nil {
		return "", fmt.Errorf("could not create the temporary directory: %w", err)
	}
	fl := flock.New(filepath.Join(tmp, tempLockFile), flock.SetPermissions(0o600))
	if ok, err := fl.TryLock(); err != nil || !ok {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("could not lock the temporary directory %s: %v", tmp, err)
	}
	final := filepath.Join(parent, tempProcPrefix+strings.TrimPrefix(filepath.Base(tmp), tempNewPrefix))
	if err := os.Rename(tmp, final); err != nil {
		fl.Close()
		os.RemoveAll(tmp)
		return "", fmt.Errorf("could not create the temporary directory: %w", err)
	}
	// The flock stays held (fl is never closed) until the process ends.
	tempDirs[parent] = final
	tempLocks = append(tempLocks, fl)
	return final, nil
}

// StaleTemp says what RemoveStaleTemp removed.
type StaleTemp struct {
	Entries int   // directories and files removed
	Bytes   int64 // their size
}

// RemoveStaleTemp removes from parent what dead processes left: proc- directories whose
// lock no process holds, and, older than LooseTempAge, new- directories and loose
// exhibit-* spool files. Anything else in parent is left alone. Errors are ignored: a
// leftover is tried again at the next start.
func RemoveStaleTemp(parent string) StaleTemp {
	var st StaleTemp
	entries, err := os.ReadDir(parent)
	if err != nil {
		return st
	}
	cutoff := time.Now().Add(-LooseTempAge)
	for _, e := range entries {
		p := filepath.Join(parent, e.Name())
		switch {
		case e.IsDir() && strings.HasPrefix(e.Name(), tempProcPrefix):
			if _, err := os.Stat(filepath.Join(p, tempLockFile)); err != nil {
				continue // not one of ours (we create the lock before the name)
			}
			fl := flock.New(filepath.Join(p, tempLockFile))
			if ok, err := fl.TryLock(); err != nil || !ok {
				continue // its process is alive
			}
			st.add(removeAll(p))
			fl.Close()
		case e.IsDir() && strings.HasPrefix(e.Name(), tempNewPrefix), e.Type().IsRegular() && strings.HasPrefix(e.Name(), looseTempPrefix):
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
				st.add(removeAll(p))
			}
		}
	}
	return st
}

func (st *StaleTemp) add(n int, b int64) {
	st.Entries += n
	st.Bytes += b
}

// removeAll removes p and returns 1 and the bytes it held, or 0 if it could not.
func removeAll(p string) (int, int64) {
	var size int64
	filepath.WalkDir(p, func(_ string, d iofs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	if err := os.RemoveAll(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return 0, 0
	}
	return 1, size
}
