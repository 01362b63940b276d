package github

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// task is a unit of collection (one repository, one organisation setting). It never fails:
// what it could not collect it returns as gap artefacts. kind and subject name the gap a
// panic turns into.
type task struct {
	kind, subject string
	run           func(ctx context.Context) []evidence.Artefact
}

// ordered runs the tasks produce submits, width at a time, and emits their artefacts in
// submission order from the calling goroutine (Connector.Collect's contract: emit is not
// safe for concurrent use). At most 4×width finished or running tasks wait to be emitted,
// so memory stays flat however many repositories there are.
//
// After ctx is cancelled, submit returns false, running tasks end at their next request,
// and ordered returns ctx.Err() once every goroutine has ended; artefacts completed before
// that are still emitted. If emit fails, ordered stops and returns emit's error.
func ordered(ctx context.Context, width int, emit func(evidence.Artefact) error, produce func(ctx context.Context, submit func(task) bool)) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan chan []evidence.Artefact, 4*width)
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	var producerPanic error
	go func() {
		defer close(slots)
		defer func() {
			// A panic while listing must not crash the process; Collect reports it.
			if r := recover(); r != nil {
				producerPanic = fmt.Errorf("github: panic while listing: %v\n%s", r, debug.Stack())
				cancel()
			}
		}()
		produce(ctx, func(t task) bool {
			out := make(chan []evidence.Artefact, 1)
			select {
			case slots <- out:
			case <-ctx.Done():
				return false
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out <- nil
				return false
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				out <- runTask(ctx, t)
			}()
			return true
		})
	}()

	var emitErr error
	for out := range slots {
		arts := <-out
		for _, a := range arts {
			if emitErr != nil {
				break
			}
			if err := emit(a); err != nil {
				emitErr = err
				cancel()
			}
		}
	}
	wg.Wait()
	switch {
	case emitErr != nil:
		return emitErr
	case producerPanic != nil:
		return producerPanic
	}
	return parent.Err()
}

// runTask runs t, turning a panic into a failed gap and dropping the gaps that only say
// the run was cancelled (the run is marked interrupted; they are not evidence of anything).
func runTask(ctx context.Context, t task) (arts []evidence.Artefact) {
	defer func() {
		if r := recover(); r != nil {
			arts = []evidence.Artefact{connector.NewGap(t.kind, t.subject, evidence.StatusFailed,
				fmt.Errorf("panic while collecting: %v\n%s", r, debug.Stack()))}
		}
	}()
	arts = t.run(ctx)
	if ctx.Err() == nil {
		return arts
	}
	kept := arts[:0]
	for _, a := range arts {
		if !a.Status.IsGap() || a.Status == "" {
			kept = append(kept, a)
		}
	}
	return kept
}

// sharedCache computes each value once per run, however many goroutines ask for it at
// once (organisation rulesets shared by every repository, the organisation's default
// SECURITY.md).
type sharedCache[T any] struct {
	mu sync.Mutex
	m  map[string]*cacheEntry[T]
}

type cacheEntry[T any] struct {
	done      chan struct{}
	val       T
	exchanges []evidence.Exchange
	err       error
}

func newSharedCache[T any]() *sharedCache[T] {
	return &sharedCache[T]{m: map[string]*cacheEntry[T]{}}
}

// get returns the value for key, calling fetch once. A fetch that ended because its
// context was cancelled is not kept.
func (c *sharedCache[T]) get(ctx context.Context, key string, fetch func(ctx context.Context) (T, []evidence.Exchange, error)) (T, []evidence.Exchange, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	if !ok {
		e = &cacheEntry[T]{done: make(chan struct{})}
		c.m[key] = e
		c.mu.Unlock()
		e.val, e.exchanges, e.err = fetch(ctx)
		if e.err != nil && ctx.Err() != nil {
			c.mu.Lock()
			delete(c.m, key)
			c.mu.Unlock()
		}
		close(e.done)
		return e.val, e.exchanges, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.val, e.exchanges, e.err
	case <-ctx.Done():
		var zero T
		return zero, nil, ctx.Err()
	}
}
