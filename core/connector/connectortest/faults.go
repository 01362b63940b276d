package connectortest

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
)

// faultCase is one way every upstream request fails, and the gaps it may become.
type faultCase struct {
	name   string
	faults []simkit.Fault
	// accept are the gap statuses this failure may become.
	accept []evidence.Status
	// absentIsEvidence allows documents: a 404 may mean "not configured", which is
	// evidence (no branch protection, no bucket policy) — but no rule may pass on it.
	absentIsEvidence bool
	// requestTimeout bounds each request (for hangs); attempts overrides MaxAttempts.
	requestTimeout time.Duration
	attempts       int
}

// faultLimits keep fault runs quick: one retry, and no Retry-After is short enough to be
// waited for, so throttling becomes a gap without sleeping.
var faultLimits = connector.Limits{MaxPages: 1000, MaxAttempts: 2, MaxRetryAfter: 10 * time.Millisecond}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

var faultCases = []faultCase{
	{name: "forbidden", faults: []simkit.Fault{{Kind: simkit.Forbidden, Header: jsonHeader,
		Body: `{"message":"Forbidden","error":{"code":"Forbidden","message":"Forbidden"},"__type":"AccessDeniedException"}`}},
		accept: []evidence.Status{evidence.StatusForbidden}},
	{name: "not_found", faults: []simkit.Fault{{Kind: simkit.Custom, Status: http.StatusNotFound, Header: jsonHeader,
		Body: `{"message":"Not Found","error":{"code":"NotFound","message":"Not Found"}}`}},
		accept:           []evidence.Status{evidence.StatusFailed, evidence.StatusNotAvailable, evidence.StatusNotEnabled, evidence.StatusForbidden},
		absentIsEvidence: true},
	{name: "throttled", faults: []simkit.Fault{{Kind: simkit.Throttle, RetryAfter: time.Second}},
		accept: []evidence.Status{evidence.StatusThrottled}},
	{name: "throttled_without_retry_after", faults: []simkit.Fault{{Kind: simkit.ThrottleNoRetryAfter}},
		accept: []evidence.Status{evidence.StatusThrottled}},
	{name: "server_error", faults: []simkit.Fault{{Kind: simkit.ServerError, Status: http.StatusInternalServerError}},
		accept: []evidence.Status{evidence.StatusFailed}},
	{name: "unavailable", faults: []simkit.Fault{{Kind: simkit.ServerError, Status: http.StatusServiceUnavailable}},
		accept: []evidence.Status{evidence.StatusFailed, evidence.StatusThrottled}},
	{name: "timeout", faults: []simkit.Fault{{Kind: simkit.Hang}},
		accept: []evidence.Status{evidence.StatusFailed}, requestTimeout: 200 * time.Millisecond, attempts: 1},
	{name: "truncated", faults: []simkit.Fault{{Kind: simkit.Truncate}},
		accept: []evidence.Status{evidence.StatusFailed}},
}

// fault collects with every request failing as f says and checks that each kind the clean
// collection produced is a gap of an accepted status, and that nothing passes a rule.
func (s *suite) fault(t *testing.T, r *report, f faultCase) {
	clean := s.cleanCollection(t)
	limits := faultLimits
	if f.attempts > 0 {
		limits.MaxAttempts = f.attempts
	}
	start := s.h.Start
	if s.h.FaultStart != nil {
		start = s.h.FaultStart
		// The clean collection to compare with is of the same organisation.
		clean = s.collectFrom(t, start, nil, s.limits(), 0)
	}
	var injected atomic.Int64
	c := s.collectFrom(t, start, s.withFaults(&injected, f.faults...), limits, f.requestTimeout)
	if injected.Load() == 0 {
		r.errorf("no request met the fault: the check proves nothing")
	}
	if c.err != nil {
		// The runner turns the error into a gap for the whole instance.
		if st := connector.GapStatus(c.err); !slices.Contains(f.accept, st) {
			r.errorf("Collect returned %v (a %s gap), want one of %v", c.err, st, f.accept)
		}
		return
	}
	rs, err := controls.ParseRules(rulesFileName, s.h.Rules)
	if err != nil {
		r.errorf("rules: %v", err)
		return
	}
	before := clean.byKey()
	kinds := map[string]bool{}
	for _, a := range c.arts {
		kinds[a.Kind] = true
		key := a.Kind + " " + a.Subject
		if a.Status.IsGap() {
			if !slices.Contains(f.accept, a.Status) && (before[key] == nil || before[key].Status != a.Status) {
				r.errorf("%s: a %s gap (%s), want one of %v", key, a.Status, a.Error, f.accept)
			}
			continue
		}
		if !f.absentIsEvidence {
			r.errorf("%s: a document although every request failed", key)
			continue
		}
		for _, res := range rs.Evaluate(a.Kind, a.Subject, a.Document, DefaultNow) {
			if res.Outcome == controls.Pass {
				r.errorf("%s: rule %s passes on a document built from failed requests: %s", key, res.Rule, firstBytes(a.Document))
			}
		}
	}
	for _, a := range clean.arts {
		if !kinds[a.Kind] {
			r.errorf("kind %s: nothing emitted, not even a gap (missing evidence must not be silent)", a.Kind)
			kinds[a.Kind] = true
		}
	}
}

func firstBytes(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// withFaults returns a wrap that injects faults into every request the harness does not
// spare.
// injected counts the requests that met a fault.
func (s *suite) withFaults(injected *atomic.Int64, faults ...simkit.Fault) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		faulty := simkit.Wrap(h, simkit.Options{Faults: faults})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.h.SpareFromFaults == nil {
				injected.Add(1)
				faulty.ServeHTTP(w, r)
				return
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if s.h.SpareFromFaults(r, body) {
				h.ServeHTTP(w, r)
				return
			}
			injected.Add(1)
			faulty.ServeHTTP(w, r)
		})
	}
}
