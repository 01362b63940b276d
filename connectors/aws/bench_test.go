package aws

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
)

// BenchmarkCollectOrganisation collects a simulated organisation of 20 accounts × 4 regions
// with 20 ms latency per call and reports the wall time against the lower bound measured
// in the same run: calls × latency ÷ concurrency (the time the pool would need if every
// worker were busy all the time). EXHIBIT_AWS_BENCH_ACCOUNTS, _REGIONS, _LATENCY_MS and
// _CONCURRENCY change the size.
func BenchmarkCollectOrganisation(b *testing.B) {
	env := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	accounts := env("EXHIBIT_AWS_BENCH_ACCOUNTS", 20)
	nRegions := env("EXHIBIT_AWS_BENCH_REGIONS", 4)
	latency := time.Duration(env("EXHIBIT_AWS_BENCH_LATENCY_MS", 20)) * time.Millisecond
	concurrency := env("EXHIBIT_AWS_BENCH_CONCURRENCY", DefaultConcurrency)
	all := []string{"eu-central-1", "eu-west-1", "us-east-1", "us-west-2", "eu-north-1", "ap-southeast-1", "sa-east-1", "ca-central-1"}
	regions := all[:min(nRegions, len(all))]
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := startSim(b, sim.Options{Accounts: accounts, Regions: regions, Latency: latency})
		regionList := "["
		for j, r := range regions {
			if j > 0 {
				regionList += ", "
			}
			regionList += r
		}
		regionList += "]"
		c := e.connector(b, e.settingsYAML(fmt.Sprintf("organizations: {role_name: ExhibitReadOnly}\nregions: %s\nconcurrency: %d", regionList, concurrency)))
		b.StartTimer()
		start := time.Now()
		res := collect(context.Background(), c)
		wall := time.Since(start)
		b.StopTimer()
		if res.err != nil || len(res.gaps()) > 0 {
			b.Fatalf("err %v gaps %v", res.err, res.gaps())
		}
		calls := e.sim.Harness().Total()
		bound := time.Duration(calls) * latency / time.Duration(concurrency)
		if rep := e.sim.Harness().Repeated(); len(rep) > 0 {
			b.Errorf("%d calls made twice, e.g. %s", len(rep), rep[0])
		}
		b.ReportMetric(float64(calls), "calls")
		b.ReportMetric(float64(len(res.arts)), "artefacts")
		b.ReportMetric(bound.Seconds(), "lower_bound_s")
		b.ReportMetric(wall.Seconds(), "wall_s")
		b.ReportMetric(wall.Seconds()/bound.Seconds(), "x_lower_bound")
	}
}
