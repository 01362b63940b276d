package schedule

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is advanced by the test; After channels fire when the time passes theirs.
type fakeClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	c := &fakeClock{now: now}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	c.cond.Broadcast()
	return ch
}

// Set moves the clock to t and fires the waiters that are due.
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// BlockUntil waits until n goroutines wait on the clock.
func (c *fakeClock) BlockUntil(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.waiters) < n {
		c.cond.Wait()
	}
}

type call struct {
	instances []string
	late      bool
	at        time.Time
}

// harness runs a scheduler whose trigger reports each call and then waits for release.
type harness struct {
	t        *testing.T
	clk      *fakeClock
	calls    chan call
	release  chan struct{}
	blocking bool
	s        *Scheduler
	cancel   context.CancelFunc
	done     chan error
	skipped  chan string
	ended    chan []string // runs that returned and released their instances
}

func start(t *testing.T, now time.Time, entries []Entry, opts Options, blocking bool) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock(now), calls: make(chan call, 16), release: make(chan struct{}), done: make(chan error, 1), skipped: make(chan string, 16), ended: make(chan []string, 16)}
	opts.Clock = h.clk
	opts.OnSkip = func(in string) { h.skipped <- in }
	opts.OnDone = func(ins []string) { h.ended <- ins }
	trigger := func(ctx context.Context, instances []string, late bool) {
		h.calls <- call{instances: instances, late: late, at: h.clk.Now()}
		if blocking {
			<-h.release
		}
	}
	s, err := New(entries, trigger, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	h.blocking = blocking
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if blocking {
			close(h.release)
		}
		<-h.done
	})
	return h
}

// next returns the next triggered run; for a harness that does not block, it also waits
// until the run has ended and released its instances.
func (h *harness) next() call {
	h.t.Helper()
	select {
	case c := <-h.calls:
		if !h.blocking {
			h.waitEnded()
		}
		return c
	case <-time.After(10 * time.Second): // deadlock guard, not a timing assertion
		h.t.Fatal("no run was triggered")
		return call{}
	}
}

// waitEnded waits until a run has released its instances.
func (h *harness) waitEnded() {
	h.t.Helper()
	select {
	case <-h.ended:
	case <-time.After(10 * time.Second): // deadlock guard
		h.t.Fatal("a run did not end")
	}
}

func (h *harness) none() {
	h.t.Helper()
	select {
	case c := <-h.calls:
		h.t.Fatalf("unexpected run %v", c)
	default:
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSchedules(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		now     string
		entries []Entry
		opts    Options
		// steps: set the clock to each time in turn; want the run it triggers (nil: none).
		steps []struct {
			at   string
			want []string
		}
	}{
		{
			name:    "nightly in UTC, instances due together run together",
			now:     "2026-11-27T12:00:00Z",
			entries: []Entry{{"aws", "0 2 * * *"}, {"github", "0 2 * * *"}, {"graph", "0 3 * * *"}},
			steps: []struct {
				at   string
				want []string
			}{
				{"2026-11-28T01:59:59Z", nil},
				{"2026-11-28T02:00:00Z", []string{"aws", "github"}},
				{"2026-11-28T03:00:00Z", []string{"graph"}},
				{"2026-11-29T02:00:00Z", []string{"aws", "github"}},
			},
		},
		{
			name:    "time zone: 02:00 in Berlin is 01:00 UTC in winter",
			now:     "2026-11-27T12:00:00Z",
			entries: []Entry{{"aws", "0 2 * * *"}},
			opts:    Options{Location: berlin},
			steps: []struct {
				at   string
				want []string
			}{
				{"2026-11-28T00:59:00Z", nil},
				{"2026-11-28T01:00:00Z", []string{"aws"}},
			},
		},
		{
			name:    "descriptors: @every and @hourly",
			now:     "2026-11-27T12:30:00Z",
			entries: []Entry{{"aws", "@every 6h"}, {"github", "@hourly"}},
			steps: []struct {
				at   string
				want []string
			}{
				{"2026-11-27T13:00:00Z", []string{"github"}},
				{"2026-11-27T18:30:00Z", []string{"aws", "github"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, at(tc.now), tc.entries, tc.opts, false)
			for _, st := range tc.steps {
				h.clk.BlockUntil(1)
				h.clk.Set(at(st.at))
				if st.want == nil {
					h.none()
					continue
				}
				c := h.next()
				if !reflect.DeepEqual(c.instances, st.want) || c.late {
					t.Fatalf("at %s: ran %v (late %v), want %v on time", st.at, c.instances, c.late, st.want)
				}
			}
		})
	}
}

func TestJitterRunsAfterDelay(t *testing.T) {
	h := start(t, at("2026-11-27T12:00:00Z"), []Entry{{"aws", "0 2 * * *"}},
		Options{Jitter: 10 * time.Minute, Rand: func(n time.Duration) time.Duration { return n / 2 }}, false)
	h.clk.BlockUntil(1)
	h.clk.Set(at("2026-11-28T02:00:00Z"))
	h.clk.BlockUntil(2) // next schedule + the jittered start
	h.none()
	h.clk.Set(at("2026-11-28T02:05:00Z"))
	c := h.next()
	if !reflect.DeepEqual(c.instances, []string{"aws"}) || !c.at.Equal(at("2026-11-28T02:05:00Z")) {
		t.Fatalf("ran %v at %s, want aws at 02:05", c.instances, c.at)
	}
}

func TestNoOverlap(t *testing.T) {
	h := start(t, at("2026-11-27T12:00:00Z"), []Entry{{"aws", "@hourly"}, {"github", "@hourly"}}, Options{}, true)
	h.clk.BlockUntil(1)
	h.clk.Set(at("2026-11-27T13:00:00Z"))
	if c := h.next(); len(c.instances) != 2 {
		t.Fatalf("first run %v", c.instances)
	}
	// Both are still running an hour later: the second start is skipped, not queued.
	h.clk.BlockUntil(1)
	h.clk.Set(at("2026-11-27T14:00:00Z"))
	got := map[string]bool{<-h.skipped: true, <-h.skipped: true}
	if !got["aws"] || !got["github"] {
		t.Fatalf("skipped %v, want aws and github", got)
	}
	h.none()
	h.release <- struct{}{} // the first run ends
	h.waitEnded()
	h.clk.BlockUntil(1)
	h.clk.Set(at("2026-11-27T15:00:00Z"))
	if c := h.next(); len(c.instances) != 2 {
		t.Fatalf("run after the overlap: %v", c.instances)
	}
	h.release <- struct{}{}
}

func TestCatchUp(t *testing.T) {
	now := at("2026-11-28T09:00:00Z") // Exhibit was down over the 02:00 run
	tests := []struct {
		name    string
		catchUp bool
		last    map[string]time.Time
		want    []string
	}{
		{"missed nightly runs once, late", true, map[string]time.Time{
			"aws":    at("2026-11-27T02:00:03Z"), // yesterday's run: today's 02:00 was missed
			"github": at("2026-11-28T02:00:05Z"), // ran today
		}, []string{"aws", "graph"}}, // graph never succeeded
		{"nothing missed", true, map[string]time.Time{
			"aws": at("2026-11-28T02:00:00Z"), "github": at("2026-11-28T02:00:00Z"), "graph": at("2026-11-28T08:00:00Z"),
		}, nil},
		{"catch-up off", false, map[string]time.Time{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{CatchUp: tc.catchUp, LastSuccess: func(context.Context) (map[string]time.Time, error) { return tc.last, nil }}
			h := start(t, now, []Entry{{"aws", "0 2 * * *"}, {"github", "0 2 * * *"}, {"graph", "@every 6h"}}, opts, false)
			if tc.want != nil {
				c := h.next()
				if !reflect.DeepEqual(c.instances, tc.want) || !c.late {
					t.Fatalf("catch-up ran %v (late %v), want %v late", c.instances, c.late, tc.want)
				}
			}
			h.clk.BlockUntil(1)
			h.none()
			if !h.s.Started() {
				t.Error("Started() = false after start-up")
			}
			if got := h.s.Next("aws"); !got.Equal(at("2026-11-29T02:00:00Z")) {
				t.Errorf("next aws run %s", got)
			}
		})
	}
}

func TestCatchUpErrorSkipsCatchUp(t *testing.T) {
	opts := Options{CatchUp: true, LastSuccess: func(context.Context) (map[string]time.Time, error) { return nil, errors.New("index locked") }}
	h := start(t, at("2026-11-28T09:00:00Z"), []Entry{{"aws", "0 2 * * *"}}, opts, false)
	h.clk.BlockUntil(1)
	h.none()
}

func TestInvalidSchedule(t *testing.T) {
	_, err := New([]Entry{{"aws", "0 2 * * *"}, {"github", "61 2 * * *"}}, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "github") || !strings.Contains(err.Error(), "61 2 * * *") {
		t.Fatalf("New = %v, want an error naming github and its schedule", err)
	}
}
