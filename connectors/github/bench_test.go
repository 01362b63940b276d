package github

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// discardSink takes the captured bodies like a store would, without keeping them, so the
// benchmark measures the connector and the capturing transport, not a memory store.
type discardSink struct{}

func (discardSink) Put(_ context.Context, _ evidence.Digest, r io.ReadSeeker, _ int64) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// BenchmarkCollect collects a simulated organisation whose every request takes 30 ms, and
// reports the wall time against the lower bound measured in the same run:
// requests × latency ÷ concurrency (the time the requests need if the connector kept every
// allowed slot busy from the first request to the last). It also reports requests per
// repository collected in depth and the peak heap.
//
// Default: 200 repositories, concurrency 4 (about ten seconds). The figure:
//
//	EXHIBIT_BENCH_GITHUB_REPOS=2000 go test ./connectors/github -run '^$' -bench Collect -benchtime 1x
//
// EXHIBIT_BENCH_GITHUB_CONCURRENCY overrides the concurrency (1..10).
func BenchmarkCollect(b *testing.B) {
	repos := envInt("EXHIBIT_BENCH_GITHUB_REPOS", 200)
	conc := envInt("EXHIBIT_BENCH_GITHUB_CONCURRENCY", DefaultConcurrency)
	const latency = 30 * time.Millisecond
	e := startSim(b, sim.Options{Repos: repos, Seed: 1, Latency: latency})
	st, err := config.NewSettings("bench.yaml", e.settings(fmt.Sprintf("concurrency: %d", conc)))
	if err != nil {
		b.Fatal(err)
	}
	base := &http.Transport{MaxIdleConnsPerHost: MaxConcurrency + 2}
	transport := connector.NewTransport(base, connector.TransportOptions{Sink: discardSink{}})
	c, err := (&Factory{}).New(st, connector.Options{
		HTTPClient: &http.Client{Transport: transport}, AuthHTTPClient: &http.Client{Transport: base},
		Secrets: envSecrets{"GH_TOKEN": testToken},
	})
	if err != nil {
		b.Fatal(err)
	}
	collected := 0
	for _, r := range e.sim.Org().Repos {
		if !r.Archived {
			collected++
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.sim.Harness().ResetCounts()
		runtime.GC()
		stop := make(chan struct{})
		var peak atomic.Uint64
		go sampleHeap(&peak, stop)
		artefacts, docBytes := 0, 0
		start := time.Now()
		err := c.Collect(context.Background(), func(a evidence.Artefact) error {
			artefacts++
			docBytes += len(a.Document)
			if a.Status.IsGap() {
				return fmt.Errorf("gap %s %s: %s", a.Kind, a.Subject, a.Error)
			}
			return nil
		})
		wall := time.Since(start)
		close(stop)
		if err != nil {
			b.Fatal(err)
		}
		calls := e.sim.Harness().Total()
		lower := time.Duration(calls) * latency / time.Duration(conc)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(lower.Seconds(), "lowerbound-s")
		b.ReportMetric(float64(wall)/float64(lower), "x-lowerbound")
		b.ReportMetric(float64(calls), "requests")
		b.ReportMetric(float64(calls)/float64(collected), "requests/repo")
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(artefacts), "artefacts")
		b.ReportMetric(float64(docBytes)/(1<<20), "documents-MiB")
	}
}

// sampleHeap records the largest live heap seen until stop is closed.
func sampleHeap(peak *atomic.Uint64, stop chan struct{}) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
