// Package schedule starts collection runs on per-instance cron schedules (robfig/cron v3
// syntax: standard 5 fields or descriptors like @daily and @every 6h) in a configured time
// zone, with jitter, without overlapping runs of the same instance, and with catch-up: a
// scheduled run missed while Exhibit was down runs once at start-up and is recorded late.
//
// The scheduler does not use cron's own runner: it computes next times with cron's
// Schedule and waits on an injected Clock, so tests drive it with a fake clock.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// Entry is one connector instance's schedule.
type Entry struct {
	Instance string
	// Spec is a cron expression: 5 fields, a descriptor (@daily, @hourly, @every 6h), with
	// an optional "CRON_TZ=Europe/Berlin " prefix overriding the scheduler's time zone.
	Spec string
}

// Trigger runs the given instances as one run. late marks a catch-up run. It is called in
// its own goroutine; the instances are not triggered again until it returns.
type Trigger func(ctx context.Context, instances []string, late bool)

// Options configure a Scheduler.
type Options struct {
	// Location is the time zone the cron fields are read in; default UTC.
	Location *time.Location
	// Jitter is the largest random delay added to each start (spreads load on upstreams).
	Jitter time.Duration
	// CatchUp runs missed runs once at start-up (see Start).
	CatchUp bool
	// LastSuccess returns each instance's last successful start (index.LastSuccess).
	LastSuccess func(ctx context.Context) (map[string]time.Time, error)
	Clock       Clock
	// Rand returns a random duration in [0, n); default math/rand/v2.
	Rand   func(n time.Duration) time.Duration
	Logger *slog.Logger
	// OnSkip is called when an instance is due while its previous run is still going.
	OnSkip func(instance string)
	// OnDone is called after a triggered run has returned and its instances can be
	// triggered again.
	OnDone func(instances []string)
}

// Scheduler starts runs on schedule.
type Scheduler struct {
	opts    Options
	entries []*entry
	trigger Trigger
	started atomic.Bool

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

type entry struct {
	Entry
	sched cron.Schedule
	next  time.Time
}

// New parses the entries' schedules. An invalid schedule is an error naming its instance.
func New(entries []Entry, trigger Trigger, opts Options) (*Scheduler, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Rand == nil {
		opts.Rand = func(n time.Duration) time.Duration {
			if n <= 0 {
				return 0
			}
			return rand.N(n)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Scheduler{opts: opts, trigger: trigger, running: map[string]bool{}}
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.Instance] {
			return nil, fmt.Errorf("schedule: instance %q listed twice", e.Instance)
		}
		seen[e.Instance] = true
		sched, err := cron.ParseStandard(e.Spec)
		if err != nil {
			return nil, fmt.Errorf("schedule of %s: invalid schedule %q: %v", e.Instance, e.Spec, err)
		}
		s.entries = append(s.entries, &entry{Entry: e, sched: sched})
	}
	sort.Slice(s.entries, func(i, j int) bool { return s.entries[i].Instance < s.entries[j].Instance })
	return s, nil
}

// next returns the first scheduled time after t in the scheduler's time zone.
func (s *Scheduler) next(e *entry, t time.Time) time.Time {
	return e.sched.Next(t.In(s.opts.Location))
}

// Next returns when instance runs next (zero before Start or if unknown).
func (s *Scheduler) Next(instance string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.Instance == instance {
			return e.next
		}
	}
	return time.Time{}
}

// Started reports whether Start has computed the schedule (for readiness probes).
func (s *Scheduler) Started() bool { return s.started.Load() }

// Start runs the scheduler until ctx ends, then waits for the runs it started. With
// CatchUp, it first triggers, as one late run, every instance whose last successful start
// is older than its previous scheduled time (or that never succeeded).
func (s *Scheduler) Start(ctx context.Context) error {
	defer s.wg.Wait()
	now := s.opts.Clock.Now()
	s.mu.Lock()
	for _, e := range s.entries {
		e.next = s.next(e, now)
		s.opts.Logger.Info("scheduled", "instance", e.Instance, "schedule", e.Spec, "next", e.next.Format(time.RFC3339))
	}
	s.mu.Unlock()
	s.started.Store(true) // ready while catching up: the schedule is known
	if s.opts.CatchUp && len(s.entries) > 0 {
		if missed := s.missed(ctx, now); len(missed) > 0 {
			s.opts.Logger.Info("catching up missed runs", "instances", missed)
			s.fire(ctx, missed, true)
		}
	}
	if len(s.entries) == 0 {
		<-ctx.Done()
		return nil
	}
	for {
		s.mu.Lock()
		first := s.entries[0].next
		for _, e := range s.entries[1:] {
			if e.next.Before(first) {
				first = e.next
			}
		}
		s.mu.Unlock()
		wait := first.Sub(s.opts.Clock.Now())
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.opts.Clock.After(wait):
		}
		now := s.opts.Clock.Now()
		var due []string
		s.mu.Lock()
		for _, e := range s.entries {
			if !e.next.After(now) {
				due = append(due, e.Instance)
				e.next = s.next(e, now)
				s.opts.Logger.Info("due", "instance", e.Instance, "next", e.next.Format(time.RFC3339))
			}
		}
		s.mu.Unlock()
		if len(due) > 0 {
			s.fire(ctx, due, false)
		}
	}
}

// missed returns the instances whose previous scheduled time passed without a
// successful start since.
func (s *Scheduler) missed(ctx context.Context, now time.Time) []string {
	var last map[string]time.Time
	if s.opts.LastSuccess != nil {
		var err error
		last, err = s.opts.LastSuccess(ctx)
		if err != nil {
			s.opts.Logger.Error("catch-up skipped: could not read the last successful runs", "err", err)
			return nil
		}
	}
	var out []string
	for _, e := range s.entries {
		l, ok := last[e.Instance]
		if !ok || !s.next(e, l).After(now) {
			out = append(out, e.Instance)
		}
	}
	return out
}

// fire starts one run of the due instances that are not still running.
func (s *Scheduler) fire(ctx context.Context, due []string, late bool) {
	var start []string
	s.mu.Lock()
	for _, in := range due {
		if s.running[in] {
			s.opts.Logger.Warn("skipping a scheduled run: the previous run of this instance is still going", "connector", in)
			if s.opts.OnSkip != nil {
				s.opts.OnSkip(in)
			}
			continue
		}
		s.running[in] = true
		start = append(start, in)
	}
	s.mu.Unlock()
	if len(start) == 0 {
		return
	}
	delay := time.Duration(0)
	if s.opts.Jitter > 0 {
		delay = s.opts.Rand(s.opts.Jitter)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			for _, in := range start {
				delete(s.running, in)
			}
			s.mu.Unlock()
			if s.opts.OnDone != nil {
				s.opts.OnDone(start)
			}
		}()
		if delay > 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.opts.Clock.After(delay):
			}
		}
		s.opts.Logger.Info("scheduled run starting", "instances", start, "late", late)
		s.trigger(ctx, start, late)
	}()
}
