package aws

import (
	"context"
	"sync"
)

// task is one unit of collection: one area (a group of kinds fetched together) for one
// account, or one account and region. limitKey groups the tasks that share one AWS rate
// limit (service, account, region).
type task struct {
	limitKey string
	limit    int
	run      func(ctx context.Context)
}

// scheduler runs tasks on a fixed pool of workers, in submission order, skipping over a
// task whose rate-limit group is at its limit so that a busy service never idles a worker.
// Tasks may submit further tasks (an account's preparation submits its areas).
type scheduler struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*task
	running map[string]int
	pending int // queued + running
}

func newScheduler() *scheduler {
	s := &scheduler{running: map[string]int{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// submit queues t.
func (s *scheduler) submit(t *task) {
	s.mu.Lock()
	s.queue = append(s.queue, t)
	s.pending++
	s.mu.Unlock()
	s.cond.Signal()
}

// run starts workers and returns when every submitted task has finished or ctx ended
// (then queued tasks are dropped; running tasks see ctx and return promptly).
func (s *scheduler) run(ctx context.Context, workers int) {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				t := s.take(ctx)
				if t == nil {
					return
				}
				t.run(ctx)
				s.mu.Lock()
				s.running[t.limitKey]--
				s.pending--
				s.mu.Unlock()
				s.cond.Broadcast()
			}
		}()
	}
	wg.Wait()
}

// take blocks until a task may run, or returns nil when all work is done or ctx ended.
func (s *scheduler) take(ctx context.Context) *task {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if ctx.Err() != nil || s.pending == 0 {
			return nil
		}
		for i, t := range s.queue {
			if t.limit > 0 && s.running[t.limitKey] >= t.limit {
				continue
			}
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			s.running[t.limitKey]++
			return t
		}
		s.cond.Wait()
	}
}
