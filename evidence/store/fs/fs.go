// Package fs is the embedded default evidence store: a directory of immutable, read-only
// files named by their SHA-256 digest.
//
// Layout: <dir>/sha256/ab/abcdef… (the first two hex digits shard the objects over at most
// 256 directories). An object becomes visible only when it is complete, verified and on
// disk: Put writes a read-only (0444) temporary file in the object's own directory, checks
// the digest and size while writing, fsyncs it, links it under its final name (never
// replacing an existing object) and fsyncs the directory. On Linux the temporary file is
// unnamed (O_TMPFILE), so a process killed mid-Put leaves nothing behind; elsewhere it is a
// ".tmp-…" file, which List skips and RemoveStaleTemp removes.
//
// PutDeferred and SyncDeferred (deferred.go) offer group commit: many objects made durable
// with two syncfs calls instead of two fsyncs each, with the same guarantee that no
// visible object is ever incomplete and no lost one passes for stored after a restart.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

const (
	// algoDir is the directory under the store directory that holds SHA-256 objects.
	algoDir = "sha256"
	// tempPrefix starts the name of every temporary file; no object name can start with it.
	tempPrefix = ".tmp-"
	dirMode    = 0o750
	objectMode = 0o444
)

// Store is a content-addressed store in a local directory. It is safe for concurrent use,
// also by several processes sharing the directory.
type Store struct {
	dir  string // absolute
	name string // "fs <dir>", the prefix of every error
	// shards remembers the shard directories this process has made durable, so a Put
	// normally creates nothing but its own file.
	shards sync.Map
	// unsynced counts the Puts of this process that are linking a digest and have not yet
	// synced its directory, so a Put that finds the object present still makes it durable.
	mu       sync.Mutex
	unsynced map[evidence.Digest]int
	// deferred holds the objects PutDeferred wrote and SyncDeferred has not yet named.
	deferred deferredState
}

func (s *Store) markUnsynced(d evidence.Digest, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unsynced == nil {
		s.unsynced = map[evidence.Digest]int{}
	}
	if s.unsynced[d] += delta; s.unsynced[d] <= 0 {
		delete(s.unsynced, d)
	}
}

func (s *Store) isUnsynced(d evidence.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsynced[d] > 0
}

var _ store.Store = (*Store)(nil)

// New opens the store in dir, creating dir (and its parents) if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs %s: could not resolve the store directory: %w", dir, err)
	}
	s := &Store{dir: abs, name: "fs " + abs}
	root := filepath.Join(abs, algoDir)
	if fi, err := os.Stat(root); err == nil && fi.IsDir() {
		// An existing store: nothing to create, so opening it needs no write access
		// (check and verify may run on a read-only copy).
		return s, nil
	}
	if err := os.MkdirAll(root, dirMode); err != nil {
		return nil, fmt.Errorf("%s: could not create the store directory: %w", s.name, err)
	}
	spreadSubdirs(root) // before the first shard is created
	// Make the directories themselves durable before any object depends on them.
	for _, d := range []string{root, abs, filepath.Dir(abs)} {
		if err := syncDir(d); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return s, nil
}

// OpenRepo opens the evidence repository in dir: objects in dir/objects, run references in
// dir/runs.
func OpenRepo(dir string) (*store.Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("fs %s: could not resolve the repository directory: %w", dir, err)
	}
	objects, err := New(filepath.Join(abs, "objects"))
	if err != nil {
		return nil, err
	}
	runs, err := New(filepath.Join(abs, "runs"))
	if err != nil {
		return nil, err
	}
	return &store.Repo{Objects: objects, Runs: runs, Describe: "fs " + abs}, nil
}

// Dir returns the store's absolute directory.
func (s *Store) Dir() string { return s.dir }

// Path returns the file that holds (or would hold) the object d. Tests and `exhibit check`
// use it to point at an object; never write to it.
func (s *Store) Path(d evidence.Digest) string {
	h := d.String()
	return filepath.Join(s.dir, algoDir, h[:2], h)
}

func (s *Store) errorf(op string, d evidence.Digest, err error) error {
	return fmt.Errorf("%s: %s %s: %w", s.name, op, d, err)
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if err := ctx.Err(); err != nil {
		return s.errorf("put", d, err)
	}
	if size < 0 {
		return s.errorf("put", d, fmt.Errorf("invalid size %d", size))
	}
	final := s.Path(d)
	shard := filepath.Dir(final)
	if done, err := s.present(final, size); err != nil || done {
		if err != nil {
			return s.errorf("put", d, err)
		}
		// Present, but maybe only just linked by a concurrent Put of ours that has not
		// synced the directory yet, or named by a SyncDeferred that has not made the name
		// durable yet (or failed to): the caller is promised a durable object.
		if _, pending := s.pendingObj(d); pending || s.isUnsynced(d) {
			if err := syncDir(shard); err != nil {
				return s.errorf("put", d, err)
			}
		}
		return nil
	}
	if err := s.ensureShard(shard); err != nil {
		return s.errorf("put", d, err)
	}
	tmp, err := createTemp(shard, d)
	if err != nil {
		return s.errorf("put", d, err)
	}
	defer tmp.discard() // a no-op once published
	if err := copyVerified(ctx, tmp.f, r, d, size); err != nil {
		return s.errorf("put", d, err)
	}
	if err := tmp.f.Sync(); err != nil {
		return s.errorf("put", d, fmt.Errorf("could not flush %s to disk: %w", tmp.f.Name(), err))
	}
	s.markUnsynced(d, +1)
	defer s.markUnsynced(d, -1)
	if err := tmp.publish(final); err != nil {
		return s.errorf("put", d, err)
	}
	// Also when another Put linked the object first: it may not have synced the directory yet,
	// and our caller is promised a durable object.
	if err := syncDir(shard); err != nil {
		return s.errorf("put", d, err)
	}
	return nil
}

// present reports whether an object of the right size is already stored at final. An object
// of another size can only be damage, which Put must neither hide nor paper over.
func (s *Store) present(final string, size int64) (bool, error) {
	fi, err := os.Lstat(final)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !fi.Mode().IsRegular():
		return false, fmt.Errorf("%s exists and is not a regular file", final)
	case fi.Size() != size:
		return false, fmt.Errorf("%s already exists with %d bytes, not %d: the stored object is damaged (run exhibit check)", final, fi.Size(), size)
	}
	return true, nil
}

// ensureShard creates the shard directory and makes its name durable, once per process.
func (s *Store) ensureShard(shard string) error {
	if _, ok := s.shards.Load(shard); ok {
		return nil
	}
	if err := os.Mkdir(shard, dirMode); err != nil && !errors.Is(err, iofs.ErrExist) {
		return err
	}
	// Also when it existed: whoever created it may not have synced the parent yet.
	if err := syncDir(filepath.Dir(shard)); err != nil {
		return err
	}
	s.shards.Store(shard, struct{}{})
	return nil
}

// syncDir fsyncs a directory so the names in it survive a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("could not open directory to sync it: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("could not sync directory %s: %w", dir, err)
	}
	return nil
}

// Get implements store.Store. The reader re-hashes the file as it is read.
func (s *Store) Get(ctx context.Context, d evidence.Digest) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("get", d, err)
	}
	// Pending first: SyncDeferred names an object before it stops being pending, so no
	// object is missed in between.
	if rc, ok, err := s.getPending(d); ok {
		if err != nil {
			return nil, s.errorf("get", d, err)
		}
		return rc, nil
	}
	f, err := os.Open(s.Path(d))
	if notExist(err) {
		return nil, s.errorf("get", d, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.errorf("get", d, err)
	}
	return store.NewVerifyingReader(f, d, s.name+": object "+d.String()), nil
}

// Stat implements store.Store.
func (s *Store) Stat(ctx context.Context, d evidence.Digest) (store.Info, error) {
	if err := ctx.Err(); err != nil {
		return store.Info{}, s.errorf("stat", d, err)
	}
	// Pending first, as in Get.
	if p, ok := s.pendingObj(d); ok {
		return store.Info{Digest: d, Size: p.size, ModTime: p.modTime}, nil
	}
	fi, err := os.Lstat(s.Path(d))
	if notExist(err) {
		return store.Info{}, s.errorf("stat", d, store.ErrNotFound)
	}
	if err != nil {
		return store.Info{}, s.errorf("stat", d, err)
	}
	if !fi.Mode().IsRegular() {
		return store.Info{}, s.errorf("stat", d, fmt.Errorf("%s is not a regular file", s.Path(d)))
	}
	return store.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements store.Store. It reads one shard directory at a time, so its memory grows
// with the largest shard, not the store. Names that are not objects (temporary files of
// Puts in progress or interrupted, anything else put there by hand) are skipped.
func (s *Store) List(ctx context.Context, fn func(store.Info) error) error {
	return s.walk(ctx, func(shard string, e iofs.DirEntry) error {
		d, ok := objectName(shard, e.Name())
		if !ok || !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, iofs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: list: %w", s.name, err)
		}
		return fn(store.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()})
	})
}

// walk calls fn for every entry of every shard directory, checking ctx between entries.
func (s *Store) walk(ctx context.Context, fn func(shard string, e iofs.DirEntry) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	root := filepath.Join(s.dir, algoDir)
	shards, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("%s: list: %w", s.name, err)
	}
	for _, sh := range shards {
		if !sh.IsDir() || !isShard(sh.Name()) {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, sh.Name()))
		if err != nil {
			return fmt.Errorf("%s: list: %w", s.name, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(sh.Name(), e); err != nil {
				return err
			}
		}
	}
	return nil
}

// notExist reports whether err means there is no object at a path: nothing there, or a
// file where its shard directory should be.
func notExist(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func isShard(name string) bool {
	return len(name) == 2 && isLowerHex(name)
}

// objectName parses an object's file name: 64 lower-case hex digits starting with its shard.
func objectName(shard, name string) (evidence.Digest, bool) {
	if len(name) != 64 || !strings.HasPrefix(name, shard) || !isLowerHex(name) {
		return evidence.Digest{}, false
	}
	d, err := evidence.ParseDigest(name)
	return d, err == nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
