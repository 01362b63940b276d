// Package lock is the data-directory lock: one writer per data directory at a time, across
// processes (an flock(2) on <data_dir>/lock) and within a process (sealing is serialised).
//
// Writers — `exhibit collect`, `exhibit serve` (during recovery and each scheduled run),
// `exhibit reindex`, `evidence add`, `controls evaluate` — hold it while they write. Because the lock is held by every live writer, a run journal found by a process
// that holds the lock belongs to a process that died: the runner recovers it.
package lock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// FileName is the lock file inside the data directory.
const FileName = "lock"

// ServeFileName is the lock file `exhibit serve` holds for as long as it runs, so that one
// data directory has one scheduler. serve holds FileName only while it writes (recovery at
// start, each scheduled run), so that `exhibit collect` can run between its runs.
const ServeFileName = "serve.lock"

// ErrLocked is wrapped by the error Acquire returns when another process holds the lock.
var ErrLocked = errors.New("data directory is in use by another process")

// Holder is who holds a lock; it is written into the lock file so that a refused process
// can say whom it waited for.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host,omitempty"`
	Command string    `json:"command,omitempty"`
	Since   time.Time `json:"since"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "an unknown process"
	}
	s := fmt.Sprintf("pid %d", h.PID)
	if h.Command != "" {
		s = fmt.Sprintf("%q (%s", h.Command, s)
		if h.Host != "" {
			s += " on " + h.Host
		}
		s += ")"
	}
	if !h.Since.IsZero() {
		s += " since " + h.Since.UTC().Format(time.RFC3339)
	}
	return s
}

// LockedError says that the data directory is locked and by whom.
type LockedError struct {
	Path   string
	Holder Holder
	Waited time.Duration
}

func (e *LockedError) Error() string {
	msg := fmt.Sprintf("%s: held by %s", e.Path, e.Holder)
	if e.Waited > 0 {
		msg += fmt.Sprintf("; gave up after waiting %s", e.Waited)
	} else {
		msg += "; use --lock-timeout to wait for it"
	}
	return fmt.Sprintf("%v: %s", ErrLocked, msg)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// shared is the one flock a process holds per lock file; Acquire in the same process
// shares it, so `serve` can hold the directory while its scheduled runs acquire it too.
type shared struct {
	fl   *flock.Flock
	refs int
	seal sync.Mutex
}

var (
	mu   sync.Mutex
	held = map[string]*shared{}
)

// Lock is one holder's handle on a data-directory lock.
type Lock struct {
	path string
	sh   *shared
	once sync.Once
}

// Acquire locks dir (creating it if needed). If another process holds the lock it retries
// until timeout has passed (0: fail at once) or ctx ends, then returns a *LockedError that
// names the holder. Within one process Acquire always succeeds at once: holders share the
// process's flock and Seal serialises them.
func Acquire(ctx context.Context, dir string, timeout time.Duration, command string) (*Lock, error) {
	return AcquireFile(ctx, dir, FileName, timeout, command)
}

// AcquireFile is Acquire of another lock file of dir, e.g. ServeFileName.
func AcquireFile(ctx context.Context, dir, file string, timeout time.Duration, command string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("could not create data directory %s: %w", dir, err)
	}
	abs, err := filepath.Abs(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	if sh, ok := held[abs]; ok {
		sh.refs++
		return &Lock{path: abs, sh: sh}, nil
	}
	fl := flock.New(abs, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err == nil && !ok && timeout > 0 {
		// Waiting happens with mu held: other goroutines of this process that want the same
		// lock would wait for it anyway, and a different lock file is rare enough.
		wctx, cancel := context.WithTimeout(ctx, timeout)
		ok, err = fl.TryLockContext(wctx, 100*time.Millisecond)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("could not lock %s: %w", abs, err)
	}
	if !ok {
		return nil, &LockedError{Path: abs, Holder: readHolder(abs), Waited: timeout}
	}
	host, _ := os.Hostname()
	h := Holder{PID: os.Getpid(), Host: host, Command: command, Since: time.Now().UTC()}
	if err := writeHolder(abs, h); err != nil {
		fl.Unlock()
		return nil, err
	}
	sh := &shared{fl: fl, refs: 1}
	held[abs] = sh
	return &Lock{path: abs, sh: sh}, nil
}

// Path returns the lock file.
func (l *Lock) Path() string { return l.path }

// Seal runs fn while no other holder in this process runs Seal; other processes are
// already excluded by the flock. The runner reads the chain head and seals inside it, so
// runs never fork the chain.
func (l *Lock) Seal(fn func() error) error {
	l.sh.seal.Lock()
	defer l.sh.seal.Unlock()
	return fn()
}

// Release gives up this handle; the flock is released with the process's last handle.
// Releasing twice is harmless.
func (l *Lock) Release() error {
	var err error
	l.once.Do(func() {
		mu.Lock()
		defer mu.Unlock()
		l.sh.refs--
		if l.sh.refs > 0 {
			return
		}
		delete(held, l.path)
		// The holder record stays in the file: it is only read while the file is locked.
		err = l.sh.fl.Unlock()
		if err == nil {
			err = l.sh.fl.Close()
		}
	})
	if err != nil {
		return fmt.Errorf("could not unlock %s: %w", l.path, err)
	}
	return nil
}

func writeHolder(path string, h Holder) error {
	b, _ := json.Marshal(h)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("could not write the holder of %s: %w", path, err)
	}
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("could not write the holder of %s: %w", path, err)
	}
	return nil
}

func readHolder(path string) Holder {
	var h Holder
	b, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal([]byte(strings.TrimSpace(string(b))), &h)
	}
	return h
}
