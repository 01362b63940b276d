package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/runner"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

// Metrics are Exhibit's Prometheus metrics. Label "connector" is the instance name.
type Metrics struct {
	runs         *prometheus.CounterVec
	artefacts    *prometheus.CounterVec
	gaps         *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	lastSuccess  *prometheus.GaugeVec
	lastRun      *prometheus.GaugeVec
	requests     *prometheus.CounterVec
	throttles    *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	newBytes     prometheus.Counter
	runsInFlight prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg.
// outcomes are the run outcomes the metrics carry as labels.
var outcomes = []manifest.Outcome{manifest.OutcomeComplete, manifest.OutcomePartial, manifest.OutcomeFailed, manifest.OutcomeInterrupted}

func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exhibit_runs_total", Help: "Sealed collection runs by outcome (complete, partial, failed, interrupted).",
		}, []string{"outcome"}),
		artefacts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exhibit_artefacts_total", Help: "Artefacts collected (evidence and gaps) per connector instance.",
		}, []string{"connector"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exhibit_gaps_total", Help: "Gaps (evidence that could not be collected) per connector instance.",
		}, []string{"connector"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "exhibit_connector_run_duration_seconds",
			Help:    "Duration of a connector instance's collection by outcome.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"connector", "outcome"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "exhibit_connector_last_success_timestamp_seconds",
			Help: "Start of the connector instance's last collection that collected evidence (complete or partial), Unix time.",
		}, []string{"connector"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "exhibit_connector_last_run_outcome", Help: "1 for the outcome of the connector instance's last run, 0 for the others.",
		}, []string{"connector", "outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exhibit_upstream_requests_total", Help: "Upstream HTTP exchanges per connector instance, host and status code (0: no response).",
		}, []string{"connector", "host", "code"}),
		throttles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exhibit_upstream_throttles_total", Help: "Upstream responses that throttled (429, rate limit exhausted, AWS throttling).",
		}, []string{"connector", "host"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exhibit_scheduled_runs_skipped_total", Help: "Scheduled starts skipped because the instance's previous run was still going.",
		}, []string{"connector"}),
		newBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "exhibit_store_new_bytes_total", Help: "Bytes added to the evidence store (unchanged evidence is deduplicated).",
		}),
		runsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "exhibit_runs_in_progress", Help: "Collection runs in progress.",
		}),
	}
	reg.MustRegister(m.runs, m.artefacts, m.gaps, m.duration, m.lastSuccess, m.lastRun, m.requests, m.throttles, m.skipped, m.newBytes, m.runsInFlight)
	for _, o := range outcomes {
		m.runs.WithLabelValues(string(o)) // export zeros, so rate() and alerts work from the start
	}
	return m
}

// RunStarted and RunEnded track runs in progress.
func (m *Metrics) RunStarted() { m.runsInFlight.Inc() }

// RunEnded is the counterpart of RunStarted.
func (m *Metrics) RunEnded() { m.runsInFlight.Dec() }

// ObserveRun records a sealed run (and the runs it recovered).
func (m *Metrics) ObserveRun(s *runner.Summary) {
	if s == nil {
		return
	}
	for _, rec := range s.Recovered {
		m.ObserveRun(rec)
	}
	m.runs.WithLabelValues(string(s.Outcome)).Inc()
	m.newBytes.Add(float64(s.NewBytes))
	for _, c := range s.Connectors {
		m.artefacts.WithLabelValues(c.Instance).Add(float64(c.Artefacts))
		m.gaps.WithLabelValues(c.Instance).Add(float64(c.Gaps))
		if !c.EndedAt.IsZero() {
			m.duration.WithLabelValues(c.Instance, string(c.Outcome)).Observe(c.EndedAt.Sub(c.StartedAt).Seconds())
		}
		for _, o := range outcomes {
			v := 0.0
			if o == c.Outcome {
				v = 1
			}
			m.lastRun.WithLabelValues(c.Instance, string(o)).Set(v)
		}
		if c.Outcome == manifest.OutcomeComplete || c.Outcome == manifest.OutcomePartial {
			m.SetLastSuccess(c.Instance, c.StartedAt)
		}
	}
}

// SetLastSuccess sets an instance's last successful start (e.g. from the index at start-up).
func (m *Metrics) SetLastSuccess(instance string, t time.Time) {
	m.lastSuccess.WithLabelValues(instance).Set(float64(t.UnixNano()) / 1e9)
}

// ObserveExchange records one upstream exchange; it is the runner's Observe.
func (m *Metrics) ObserveExchange(instance string, st connector.ExchangeStats) {
	m.requests.WithLabelValues(instance, st.Host, strconv.Itoa(st.Status)).Inc()
	if st.Throttled {
		m.throttles.WithLabelValues(instance, st.Host).Inc()
	}
}

// Skipped records a scheduled start skipped because the previous run was still going.
func (m *Metrics) Skipped(instance string) { m.skipped.WithLabelValues(instance).Inc() }
