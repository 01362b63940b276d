package msgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkCollect collects a simulated tenant through the real SDK client, on the real
// clock, with Graph's documented rate limits sped up by EXHIBIT_MSGRAPH_BENCH_SPEEDUP
// (default 20; 1 = the real limits, which take about two minutes for 50,000 users because
// the registration report allows 5 requests per 10 s). Sizes: users=10000 and users=50000
// with 5000 devices by default; EXHIBIT_MSGRAPH_BENCH_USERS and EXHIBIT_MSGRAPH_BENCH_DEVICES
// set one size instead.
//
// Reported, measured in the same run:
//   - x_lower_bound: wall time / the lower bound the rate limits set, max over the endpoint
//     classes (they run concurrently) of (requests − 1) × interval; cpu_s, the process's CPU
//     time (simulator included), tells CPU-bound runs from throttle-bound ones;
//   - requests and requests/minimum: every request as the rate limiter counts them ($batch
//     sub-requests one by one), against what the listings need at the page sizes used;
//   - peak_heap_MB, documents_MB and peak_heap/documents: the heap's high-water mark above
//     the idle heap (sampled every 5 ms, GOGC=25 so that little of it is garbage) and the
//     total size of the documents. Per-user rows make the documents O(users) by design; the
//     ratio stays constant in the number of users because pages are streamed into the
//     documents and no SDK models are kept (BenchmarkUserListing measures the alternative).
func BenchmarkCollect(b *testing.B) {
	speedup := envInt("EXHIBIT_MSGRAPH_BENCH_SPEEDUP", 20)
	devices := envInt("EXHIBIT_MSGRAPH_BENCH_DEVICES", 5000)
	sizes := []int{10000, 50000}
	if n := envInt("EXHIBIT_MSGRAPH_BENCH_USERS", 0); n > 0 {
		sizes = []int{n}
	}
	for _, users := range sizes {
		b.Run(fmt.Sprintf("users=%d/devices=%d", users, devices), func(b *testing.B) {
			benchCollect(b, users, devices, speedup)
		})
	}
}

// peakHeap runs fn and returns the heap's high-water mark above the heap before it,
// sampled every 5 ms.
func peakHeap(fn func() error) (uint64, error) {
	runtime.GC()
	var idle runtime.MemStats
	runtime.ReadMemStats(&idle)
	var high atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > high.Load() {
					high.Store(ms.HeapAlloc)
				}
			}
		}
	}()
	err := fn()
	close(stop)
	<-sampled
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peak := max(high.Load(), ms.HeapAlloc)
	if peak < idle.HeapAlloc {
		return 0, err
	}
	return peak - idle.HeapAlloc, err
}

func benchCollect(b *testing.B, users, devices, speedup int) {
	limits := map[string]rateLimit{}
	var overrides []string
	for class, v := range DefaultRateLimits {
		l, _ := parseRate(v)
		l.Per /= time.Duration(speedup)
		limits[class] = l
		overrides = append(overrides, fmt.Sprintf("%s: %d/%s", class, l.N, l.Per))
	}
	sort.Strings(overrides)
	h := newHarness(b, sim.Options{Users: users, Devices: devices, Posture: sim.PostureGood}, "rate_limits: {"+strings.Join(overrides, ", ")+"}\n", nil)
	// The raw bodies go to a sink that only counts them, as a file or S3 store would not
	// keep them in this process's memory (the memory store of the tests would).
	sink := &countingSink{}
	opts := h.options()
	opts.HTTPClient = &http.Client{Transport: connector.NewTransport(http.DefaultTransport, connector.TransportOptions{Sink: sink})}
	h.conn = h.newConnectorWith(b, sim.DemoSettings(h.srv.URL)+"rate_limits: {"+strings.Join(overrides, ", ")+"}\n", opts)
	h.conn.clock = realClock{}

	var wall, bound, cpu time.Duration
	var peak, docTotal uint64
	// Little garbage slack, so that the high-water mark is close to what is live.
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	var requests, minimum int
	for i := 0; i < b.N; i++ {
		h.sim.Harness().ResetCounts()
		var total uint64
		cpu0 := cpuTime()
		start := time.Now()
		p, err := peakHeap(func() error {
			return h.conn.Collect(context.Background(), func(a evidence.Artefact) error {
				if a.Status != "" && a.Status != evidence.StatusOK {
					return fmt.Errorf("%s: unexpected gap %s: %s", a.Kind, a.Status, a.Error)
				}
				total += uint64(len(a.Document))
				return nil // the runner would store it; the benchmark drops it
			})
		})
		wall = time.Since(start)
		cpu = cpuTime() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		peak, docTotal = p, total
		counts := h.conn.lastLimiter.Counts()
		bound, requests = 0, 0
		for class, n := range counts {
			requests += n
			if n > 1 {
				bound = max(bound, time.Duration(n-1)*limits[class].Interval())
			}
		}
		minimum = minimumRequests(users, devices)
		for _, r := range h.sim.Harness().Repeated() {
			if !strings.HasPrefix(r, "POST /v1.0/$batch ") { // batches differ in their bodies
				b.Fatalf("request made twice: %s", r)
			}
		}
	}
	b.ReportMetric(float64(wall)/float64(bound), "x_lower_bound")
	b.ReportMetric(bound.Seconds(), "lower_bound_s")
	b.ReportMetric(wall.Seconds(), "wall_s")
	b.ReportMetric(cpu.Seconds(), "cpu_s")
	b.ReportMetric(float64(requests), "requests")
	b.ReportMetric(float64(requests)/float64(minimum), "requests/minimum")
	b.ReportMetric(float64(peak)/(1<<20), "peak_heap_MB")
	b.ReportMetric(float64(docTotal)/(1<<20), "documents_MB")
	b.ReportMetric(float64(peak)/float64(docTotal), "peak_heap/documents")
}

// cpuTime is the process's user and system CPU time: the simulator's included, it runs in
// the same process. On a shared machine wall time above the lower bound with little CPU
// time is waiting for a core, not for Graph.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingSink is a connector.Sink that hashes nothing and keeps nothing.
type countingSink struct{ bytes atomic.Int64 }

func (s *countingSink) Put(_ context.Context, _ evidence.Digest, r io.ReadSeeker, size int64) error {
	s.bytes.Add(size)
	return nil
}

// minimumRequests is what the listings need at the page sizes the connector uses (the
// simulated registration report pages 1000 rows), plus the small reads of the good tenant,
// plus one $batch sub-request per Windows device (the rate limiter counts sub-requests).
func minimumRequests(users, devices int) int {
	pages := func(n, size int) int { return max(1, (n+size-1)/size) }
	windows := 0
	for i := 0; i < devices; i++ {
		if c := i % 10; c == 0 || c == 1 || c == 2 || c == 6 || c == 8 {
			windows++
		}
	}
	// Conditional access policies, named locations and authentication strengths 1 each,
	// break-glass users 2 and their FIDO2 keys 2, SKUs, security defaults, authentication
	// methods, authorization, admin consent, domains, group settings, role definitions, role
	// assignments (principals expanded) 1 each, PIM 2 and eligibility with principals 1, PIM
	// policies 1, access reviews 1, audit logs 2, compliance policies 1, the members of the
	// one role-assignable group 1; and the users once more without signInActivity.
	const small = 3 + 4 + 9 + 3 + 1 + 1 + 2 + 1 + 1
	return small + pages(users, 1000) + pages(users, int(usersWithSignInPageSize)) + pages(users, int(pageSize)) +
		pages(devices, int(pageSize)) + windows
}

// BenchmarkUserListing compares, on the same listing of users with their sign-in
// activity, the connector's streamed document with the baseline of holding every page's
// SDK models (msgraph-sdk-go's typed Users().Get and WithUrl(nextLink).Get) until the
// listing ends. Reports peak_heap_MB of both and streamed/sdk_models. Sizes as above.
func BenchmarkUserListing(b *testing.B) {
	sizes := []int{10000, 50000}
	if n := envInt("EXHIBIT_MSGRAPH_BENCH_USERS", 0); n > 0 {
		sizes = []int{n}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			h := newHarness(b, sim.Options{Users: n}, "rate_limits: {directory: 1000/1ms}\n", nil)
			opts := h.options()
			opts.HTTPClient = &http.Client{Transport: connector.NewTransport(http.DefaultTransport, connector.TransportOptions{Sink: &countingSink{}})}
			h.conn = h.newConnectorWith(b, sim.DemoSettings(h.srv.URL)+"rate_limits: {directory: 1000/1ms}\n", opts)
			defer debug.SetGCPercent(debug.SetGCPercent(25))
			r, err := h.conn.prepare(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			var streamed, sdkPeak uint64
			var docBytes int
			for i := 0; i < b.N; i++ {
				streamed, err = peakHeap(func() error {
					doc, err := r.signInActivity(context.Background())
					if raw, ok := doc.(json.RawMessage); ok {
						docBytes = len(raw)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				var kept []models.Userable
				sdkPeak, err = peakHeap(func() error {
					top := usersWithSignInPageSize
					resp, err := r.c.graph.Users().Get(context.Background(), &users.UsersRequestBuilderGetRequestConfiguration{
						QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userListSelect, Top: &top}})
					for err == nil {
						kept = append(kept, resp.GetValue()...)
						next := resp.GetOdataNextLink()
						if next == nil {
							break
						}
						resp, err = r.c.graph.Users().WithUrl(*next).Get(context.Background(), nil)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(kept) != n {
					b.Fatalf("baseline kept %d users", len(kept))
				}
			}
			b.ReportMetric(float64(streamed)/(1<<20), "streamed_peak_MB")
			b.ReportMetric(float64(docBytes)/(1<<20), "document_MB")
			b.ReportMetric(float64(sdkPeak)/(1<<20), "sdk_models_peak_MB")
			b.ReportMetric(float64(streamed)/float64(sdkPeak), "streamed/sdk_models")
		})
	}
}
