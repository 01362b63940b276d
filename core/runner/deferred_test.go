package runner

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// groupStore is a store with group commit: PutDeferred objects stay pending (invisible)
// until SyncDeferred, like objects a crash could still lose.
type groupStore struct {
	*mem.Store
	mu      sync.Mutex
	pending map[evidence.Digest][]byte
	syncs   int
}

var _ DeferredSyncer = (*groupStore)(nil)

func (g *groupStore) PutDeferred(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if evidence.Sum(b) != d || int64(len(b)) != size {
		return store.ErrDigestMismatch
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending == nil {
		g.pending = map[evidence.Digest][]byte{}
	}
	g.pending[d] = b
	return nil
}

func (g *groupStore) SyncDeferred(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for d, b := range g.pending {
		if _, err := store.PutBytes(ctx, g.Store, b, ""); err != nil {
			return err
		}
		delete(g.pending, d)
	}
	g.syncs++
	return nil
}

func (g *groupStore) unsynced() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

func TestDeferredObjectsAreSyncedBeforeTheyAreReferenced(t *testing.T) {
	defer func(n int, w bool) { flushEvery, flushWait = n, w }(flushEvery, flushWait)
	flushEvery, flushWait = 1, true // every emit flushes: after emit returns, nothing may be pending
	e := newEnv(t)
	objects := &groupStore{Store: mem.New()}
	e.repo = &store.Repo{Objects: objects, Runs: mem.New(), Describe: "group"}
	r := e.runner()
	var leaked int
	sum, err := r.Run(context.Background(), []Instance{instance("a", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		for i := 0; i < 5; i++ {
			if err := emit(doc("alpha", i)); err != nil {
				return err
			}
			leaked += objects.unsynced()
		}
		return nil
	}})})
	if err != nil {
		t.Fatal(err)
	}
	if leaked != 0 {
		t.Errorf("%d objects were still pending after the envelopes naming them were journaled", leaked)
	}
	if sum.Outcome != manifest.OutcomeComplete || objects.syncs < 5 || objects.unsynced() != 0 {
		t.Errorf("outcome %s, %d syncs, %d pending", sum.Outcome, objects.syncs, objects.unsynced())
	}
	if sum.NewObjects != 5+2 {
		t.Errorf("%d new objects, want 5 documents + manifest + ref", sum.NewObjects)
	}
	e.check(t)
}

// hangingStore blocks every Put of an object containing "hang" until release is closed,
// like an S3 upload that never completes.
type hangingStore struct {
	*mem.Store
	release chan struct{}
}

func (h *hangingStore) Put(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	b, _ := io.ReadAll(r)
	if bytes.Contains(b, []byte("hang")) {
		<-h.release
	}
	r.Seek(0, io.SeekStart)
	return h.Store.Put(ctx, d, r, size)
}

func TestConnectorStuckInEmitDoesNotBlockTheRun(t *testing.T) {
	e := newEnv(t)
	hs := &hangingStore{Store: mem.New(), release: make(chan struct{})}
	defer close(hs.release)
	e.repo = &store.Repo{Objects: hs, Runs: mem.New(), Describe: "hanging"}
	r := e.runner()
	r.Grace = 20 * time.Millisecond
	stuck := instance("stuck", &testFactory{typ: "alpha", collect: func(ctx context.Context, o connector.Options, emit func(evidence.Artefact) error) error {
		return emit(evidence.Artefact{Kind: "alpha.thing", Subject: "alpha:h", Document: []byte(`{"hang":true}`)})
	}})
	stuck.Timeout = 10 * time.Millisecond
	sum, err := r.Run(context.Background(), []Instance{stuck, instance("b", &testFactory{typ: "beta", collect: emitN("beta", 1)})})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Outcome != manifest.OutcomePartial || sum.Artefacts != 2 || sum.Gaps != 1 || !strings.Contains(sum.GapList[0].Error, "did not stop within") {
		t.Fatalf("outcome %s, %d artefacts: %+v", sum.Outcome, sum.Artefacts, sum.GapList)
	}
}

// gatedStore is a groupStore whose PutDeferred waits at a gate after it has read the
// object, so a test can run a Sync while a deferred Put is still in flight.
type gatedStore struct {
	*groupStore
	inside chan struct{}
	gate   chan struct{}
}

func (g *gatedStore) PutDeferred(ctx context.Context, d evidence.Digest, r io.ReadSeeker, size int64) error {
	g.inside <- struct{}{}
	<-g.gate
	return g.groupStore.PutDeferred(ctx, d, r, size)
}

// TestSyncDuringDeferredPut: a Sync that runs while a deferred Put is still writing must
// not let the run be sealed with that object pending (it would be lost to every other
// process, and a sealed manifest would name it).
func TestSyncDuringDeferredPut(t *testing.T) {
	g := &gatedStore{groupStore: &groupStore{Store: mem.New()}, inside: make(chan struct{}), gate: make(chan struct{})}
	c := newCountingStore(g, true)
	ctx := context.Background()
	doc := []byte(`{"late":true}`)
	done := make(chan error, 1)
	go func() { done <- c.Put(ctx, evidence.Sum(doc), bytes.NewReader(doc), int64(len(doc))) }()
	<-g.inside // the Put is inside PutDeferred
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.StopDeferring(ctx); err != nil {
		t.Fatal(err)
	}
	if n := g.unsynced(); n != 0 {
		t.Fatalf("%d objects still pending after StopDeferring", n)
	}
	if _, err := g.Store.Stat(ctx, evidence.Sum(doc)); err != nil {
		t.Fatalf("the object is not durable: %v", err)
	}
}
