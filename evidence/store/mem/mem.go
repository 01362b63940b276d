// Package mem is an in-memory store.Store for tests. It keeps everything in memory and
// loses it on exit; never use it for real evidence.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// Store keeps objects in a map.
type Store struct {
	mu      sync.RWMutex
	objects map[evidence.Digest]object
	now     func() time.Time
}

type object struct {
	data    []byte
	modTime time.Time
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{objects: map[evidence.Digest]object{}, now: time.Now}
}

// NewRepo returns a repo with two empty in-memory stores.
func NewRepo() *store.Repo {
	return &store.Repo{Objects: New(), Runs: New(), Describe: "mem"}
}

// Put implements store.Store.
func (s *Store) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	_, ok := s.objects[d]
	s.mu.RUnlock()
	if ok {
		return nil
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("mem: put %s: %w", d, err)
	}
	if n != size {
		return fmt.Errorf("mem: put %s: read %d bytes, want %d: %w", d, n, size, store.ErrDigestMismatch)
	}
	if got := evidence.Sum(buf.Bytes()); got != d {
		return fmt.Errorf("mem: put %s: content hashes to %s: %w", d, got, store.ErrDigestMismatch)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[d]; !ok {
		s.objects[d] = object{data: buf.Bytes(), modTime: s.now()}
	}
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, d evidence.Digest) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	o, ok := s.objects[d]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("mem: get %s: %w", d, store.ErrNotFound)
	}
	return store.NewVerifyingReader(io.NopCloser(bytes.NewReader(o.data)), d, "mem "+d.String()), nil
}

// Stat implements store.Store.
func (s *Store) Stat(ctx context.Context, d evidence.Digest) (store.Info, error) {
	if err := ctx.Err(); err != nil {
		return store.Info{}, err
	}
	s.mu.RLock()
	o, ok := s.objects[d]
	s.mu.RUnlock()
	if !ok {
		return store.Info{}, fmt.Errorf("mem: stat %s: %w", d, store.ErrNotFound)
	}
	return store.Info{Digest: d, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// List implements store.Store. It lists a snapshot taken when it starts, sorted by digest.
func (s *Store) List(ctx context.Context, fn func(store.Info) error) error {
	s.mu.RLock()
	infos := make([]store.Info, 0, len(s.objects))
	for d, o := range s.objects {
		infos = append(infos, store.Info{Digest: d, Size: int64(len(o.data)), ModTime: o.modTime})
	}
	s.mu.RUnlock()
	sort.Slice(infos, func(i, j int) bool { return bytes.Compare(infos[i].Digest[:], infos[j].Digest[:]) < 0 })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Corrupt replaces the stored bytes of d without changing its name, so tests can check that
// readers detect altered evidence. It reports whether d was present.
func (s *Store) Corrupt(d evidence.Digest, data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[d]
	if ok {
		o.data = append([]byte(nil), data...)
		s.objects[d] = o
	}
	return ok
}

// Remove deletes d, so tests can simulate a lost object. It reports whether d was present.
func (s *Store) Remove(d evidence.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objects[d]
	delete(s.objects, d)
	return ok
}
