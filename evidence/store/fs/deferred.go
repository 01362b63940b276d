package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Group commit. Put makes every object durable on its own: two fsyncs (file and directory),
// a few hundred objects a second on a busy disk. PutDeferred writes a verified object into
// a staging file without any fsync and only remembers it; SyncDeferred then makes a whole
// batch durable with one syncfs(2) for the data, gives each object its final name, and
// makes the names durable with one more syncfs.
//
// What may be lost, and how it stays invisible:
//   - A staging file is named ".tmp-<digest>-<random>" in its shard directory: List skips
//     it, Stat and Get after a restart look only at the final name, and RemoveStaleTemp
//     removes it. So a crash before SyncDeferred loses the pending objects and nothing
//     claims they are stored; Put and PutDeferred store them anew.
//   - A staging file gets its final name only after its data is on disk (first syncfs), by
//     an atomic rename that never replaces an existing object. A name a crash keeps always
//     points at complete, durable bytes; one it loses is simply absent.
//   - Within the process, a pending object passes for stored (Stat, Get, PutDeferred's
//     idempotence) because its bytes are verified and readable; nothing durable may name
//     it until SyncDeferred has returned, which is the runner's contract.
//
// Writeback errors: the syncfs runs on a descriptor opened before the first staging file
// was written, so any writeback error on the file system since then is reported to it
// (errseq). An error there may be another program's: each staging file is then fsynced
// on its own, which reports the error to whoever fsyncs first, here us. An object whose
// bytes did not reach the disk is lost: it stops passing for stored, and only storing it
// again (Put or PutDeferred) brings it back.

// pendingObject is an object PutDeferred has written and verified but not yet named.
type pendingObject struct {
	staging string
	size    int64
	modTime time.Time
	// lost: its staging file vanished or its bytes did not reach the disk. It no longer
	// passes for stored, and SyncDeferred fails until it is stored again. Only SyncDeferred
	// sets it, under mu; others read it under mu.
	lost bool
	// named: SyncDeferred gave it its final name, but the name may not be durable yet.
	// Only SyncDeferred (serialised by syncMu) reads or writes it.
	named bool
}

// deferredState is the Store's group-commit state.
type deferredState struct {
	mu      sync.Mutex
	pending map[evidence.Digest]*pendingObject

	syncMu sync.Mutex // one SyncDeferred at a time

	fdOnce sync.Once
	fd     *os.File // the store directory, kept open for syncfs (see errseq above)
	fdErr  error
}

// syncHook, when set by tests, runs at each step of SyncDeferred: "data" after the data is
// durable, "named" after each object is named (n counts them), "names" after the names are
// durable. An error it returns is what that step returns, standing in for a failing disk.
var syncHook func(step string, n int) error

// dirFD returns the descriptor syncfs runs on, opening it the first time. PutDeferred calls
// it before writing its staging file, so the descriptor predates every pending object.
func (s *Store) dirFD() (*os.File, error) {
	ds := &s.deferred
	ds.fdOnce.Do(func() { ds.fd, ds.fdErr = os.Open(s.dir) })
	if ds.fdErr != nil {
		return nil, fmt.Errorf("could not open the store directory to sync it: %w", ds.fdErr)
	}
	return ds.fd, nil
}

// pendingObj returns the pending (not lost) object d, if any.
func (s *Store) pendingObj(d evidence.Digest) (pendingObject, bool) {
	ds := &s.deferred
	ds.mu.Lock()
	defer ds.mu.Unlock()
	p, ok := ds.pending[d]
	if !ok || p.lost {
		return pendingObject{}, false
	}
	return pendingObject{staging: p.staging, size: p.size, modTime: p.modTime}, true
}

// PutDeferred stores an object like Put (verified while written, never partially visible,
// idempotent), but returns before it is durable: the object passes for stored in this
// process at once (Stat, Get), and becomes durable and visible to List and to other
// processes only when SyncDeferred returns. A crash before then loses it without trace.
// Nothing durable may name the object before SyncDeferred has returned.
func (s *Store) PutDeferred(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	const op = "put deferred"
	if err := ctx.Err(); err != nil {
		return s.errorf(op, d, err)
	}
	if size < 0 {
		return s.errorf(op, d, fmt.Errorf("invalid size %d", size))
	}
	if _, ok := s.pendingObj(d); ok {
		return nil
	}
	final := s.Path(d)
	shard := filepath.Dir(final)
	if done, err := s.present(final, size); err != nil || done {
		if err != nil {
			return s.errorf(op, d, err)
		}
		// Linked by a concurrent Put of ours that has not synced the directory yet.
		if s.isUnsynced(d) {
			if err := syncDir(shard); err != nil {
				return s.errorf(op, d, err)
			}
		}
		return nil
	}
	if _, err := s.dirFD(); err != nil {
		return s.errorf(op, d, err)
	}
	if err := s.ensureShard(shard); err != nil {
		return s.errorf(op, d, err)
	}
	f, err := createStaging(shard, d)
	if err != nil {
		return s.errorf(op, d, err)
	}
	err = copyVerified(ctx, f, r, d, size)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("could not write %s: %w", f.Name(), cerr)
	}
	if err != nil {
		os.Remove(f.Name())
		return s.errorf(op, d, err)
	}
	if !s.addPending(d, &pendingObject{staging: f.Name(), size: size, modTime: time.Now()}) {
		os.Remove(f.Name()) // a concurrent PutDeferred of the same bytes was first
	}
	return nil
}

// createStaging creates a read-only staging file for d in shard; the descriptor is writable,
// the file never is. Its name cannot be an object's, and the random part keeps processes
// sharing the store (and leftovers of dead ones) apart.
func createStaging(shard string, d evidence.Digest) (*os.File, error) {
	for {
		name := filepath.Join(shard, tempPrefix+d.String()+"-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, objectMode)
		if errors.Is(err, iofs.ErrExist) {
			continue
		}
		return f, err
	}
}

// addPending records p as the pending object d unless another one (not lost) already is.
func (s *Store) addPending(d evidence.Digest, p *pendingObject) bool {
	ds := &s.deferred
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if q, ok := ds.pending[d]; ok && !q.lost {
		return false
	}
	if ds.pending == nil {
		ds.pending = map[evidence.Digest]*pendingObject{}
	}
	ds.pending[d] = p
	return true
}

// SyncDeferred makes every object PutDeferred has stored so far durable and gives it its
// final name: the data of all of them is flushed with one syncfs(2) (an fsync per file where
// syncfs is missing), then each is renamed to its name (never replacing an object), then
// the names are flushed. Objects deferred while it runs wait for the next call.
//
// On error, nothing is visible that is not complete, and the objects not yet durable under
// their names stay pending, so a retry can finish the job. An object whose bytes were lost
// (a writeback error, its staging file removed) stops passing for stored and fails every
// call until it is stored again; the others are synced all the same.
func (s *Store) SyncDeferred(ctx context.Context) error {
	ds := &s.deferred
	ds.syncMu.Lock()
	defer ds.syncMu.Unlock()
	batch := s.pendingBatch()
	if len(batch) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return s.batchErr(batch, "sync deferred", err)
	}
	if err := s.syncData(batch); err != nil {
		return err
	}
	if err := runHook("data", 0); err != nil {
		return s.batchErr(batch, "sync deferred", err)
	}
	shards := map[string]struct{}{}
	named := 0
	for _, b := range batch {
		if b.p.lost {
			continue
		}
		if !b.p.named {
			if err := s.giveName(b.d, b.p); err != nil {
				return err
			}
			if b.p.lost {
				continue
			}
			b.p.named = true
		}
		shards[filepath.Dir(s.Path(b.d))] = struct{}{}
		named++
		if err := runHook("named", named); err != nil {
			return s.batchErr(batch, "sync deferred", err)
		}
	}
	if err := s.syncNames(shards); err != nil {
		return s.batchErr(batch, "sync deferred: make the names durable", err)
	}
	if err := runHook("names", named); err != nil {
		return s.batchErr(batch, "sync deferred", err)
	}
	var lost []pendingEntry
	ds.mu.Lock()
	for _, b := range batch {
		if b.p.lost {
			lost = append(lost, b)
		} else if ds.pending[b.d] == b.p {
			delete(ds.pending, b.d)
		}
	}
	ds.mu.Unlock()
	if len(lost) > 0 {
		return s.batchErr(lost, "sync deferred", errLost)
	}
	return nil
}

func runHook(step string, n int) error {
	if syncHook == nil {
		return nil
	}
	return syncHook(step, n)
}

type pendingEntry struct {
	d evidence.Digest
	p *pendingObject
}

// pendingBatch returns what is pending now, lost objects included.
func (s *Store) pendingBatch() []pendingEntry {
	ds := &s.deferred
	ds.mu.Lock()
	defer ds.mu.Unlock()
	batch := make([]pendingEntry, 0, len(ds.pending))
	for d, p := range ds.pending {
		batch = append(batch, pendingEntry{d, p})
	}
	return batch
}

// batchErr is an error about a whole batch: it names the first object and how many more.
func (s *Store) batchErr(batch []pendingEntry, op string, err error) error {
	if len(batch) == 1 {
		return s.errorf(op, batch[0].d, err)
	}
	return fmt.Errorf("%s: %s %s and %d more objects: %w", s.name, op, batch[0].d, len(batch)-1, err)
}

// syncData makes the bytes of every staging file of the batch durable. An object whose
// bytes did not make it is marked lost.
func (s *Store) syncData(batch []pendingEntry) error {
	fd, err := s.dirFD()
	if err != nil {
		return s.batchErr(batch, "sync deferred", err)
	}
	if syncFS(fd) == nil {
		return nil
	}
	// No syncfs here, or a writeback error somewhere on the file system since the last
	// call, maybe not ours: fsync each file, which tells.
	for _, b := range batch {
		if b.p.named || b.p.lost {
			continue // named: its data was durable before it was named
		}
		if err := fsyncFile(b.p.staging); err != nil {
			if !errors.Is(err, iofs.ErrNotExist) && !errors.As(err, new(*fsyncError)) {
				return s.errorf("sync deferred", b.d, err)
			}
			s.markLost(b.p) // reported when the others are done
		}
	}
	return nil
}

// errLost says an object must be stored again.
var errLost = errors.New("the object was lost before it was durable (its staging file vanished or could not be written to disk): store it again")

// markLost makes a pending object stop passing for stored.
func (s *Store) markLost(p *pendingObject) {
	s.deferred.mu.Lock()
	p.lost = true
	s.deferred.mu.Unlock()
	os.Remove(p.staging)
}

// fsyncError is an fsync that failed: the file's bytes may not be on disk.
type fsyncError struct{ err error }

func (e *fsyncError) Error() string { return e.err.Error() }
func (e *fsyncError) Unwrap() error { return e.err }

func fsyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("could not open %s to flush it to disk: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return &fsyncError{fmt.Errorf("could not flush %s to disk: %w", path, err)}
	}
	return nil
}

// giveName gives a durable staging file its final name without ever replacing an object.
// A staging file that vanished marks the object lost.
func (s *Store) giveName(d evidence.Digest, p *pendingObject) error {
	final := s.Path(d)
	err := renameNoReplace(p.staging, final)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, iofs.ErrExist):
		// Stored meanwhile by a Put (or another process); ours is a spare copy. An object
		// of another size is damage, which must stay visible (and fail the sync).
		if _, perr := s.present(final, p.size); perr != nil {
			return s.errorf("sync deferred", d, perr)
		}
		os.Remove(p.staging)
		return nil
	case errors.Is(err, iofs.ErrNotExist):
		if ok, _ := s.present(final, p.size); !ok {
			s.markLost(p)
		}
		return nil
	}
	return s.errorf("sync deferred", d, fmt.Errorf("could not give the object its name: %w", err))
}

// syncNames makes the names given in shards durable: one syncfs where there is one (cheaper
// than an fsync per shard directory when a batch touches many of the 256), else an fsync
// per directory.
func (s *Store) syncNames(shards map[string]struct{}) error {
	fd, err := s.dirFD()
	if err != nil {
		return err
	}
	if syncFS(fd) == nil {
		return nil
	}
	for shard := range shards {
		if err := syncDir(shard); err != nil {
			return err
		}
	}
	return nil
}

// getPending opens a pending object for reading, or reports that d is not pending. If
// SyncDeferred named it meanwhile, the caller finds it under its final name.
func (s *Store) getPending(d evidence.Digest) (io.ReadCloser, bool, error) {
	p, ok := s.pendingObj(d)
	if !ok {
		return nil, false, nil
	}
	f, err := os.Open(p.staging)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	return store.NewVerifyingReader(f, d, s.name+": pending object "+d.String()), true, nil
}

// pendingStaging returns the staging files of the pending objects, which RemoveStaleTemp
// must leave alone however old they are.
func (s *Store) pendingStaging() map[string]bool {
	ds := &s.deferred
	ds.mu.Lock()
	defer ds.mu.Unlock()
	m := make(map[string]bool, len(ds.pending))
	for _, p := range ds.pending {
		if !p.lost {
			m[p.staging] = true
		}
	}
	return m
}

// linkAndRemove moves old to new with a hard link, which fails if new exists, then removes
// old. A crash in between leaves old as a second name of a complete object: a ".tmp-" file
// RemoveStaleTemp removes.
func linkAndRemove(old, new string) error {
	if err := os.Link(old, new); err != nil {
		return err
	}
	os.Remove(old)
	return nil
}
