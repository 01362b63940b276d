package msgraph

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// fastLimits makes the rate limiter's own spacing negligible (1 ms), so that the fake
// clock's waits above 10 ms are the retries'.
const fastLimits = "rate_limits: {conditional_access: 1000/1s, reports: 1000/1s, intune: 1000/1s, directory: 1000/1s}\n"

func callsMatching(h *harness, substr string) int {
	n := 0
	for k, v := range h.sim.Harness().Calls() {
		if strings.Contains(k, substr) {
			n += v
		}
	}
	return n
}

func TestPaging(t *testing.T) {
	h := newHarness(t, sim.Options{Users: 2500, Devices: 1200}, "", nil)
	arts, err := h.collect(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind, list string
		want       int
	}{{KindMFARegistration, "users", 2500}, {KindSignInActivity, "users", 2500}, {KindManagedDevices, "devices", 1200}} {
		doc := decodeDoc(t, arts[c.kind])
		if n := len(doc[c.list].([]any)); n != c.want || doc["count"] != float64(c.want) {
			t.Errorf("%s: %d rows (count %v), want %d", c.kind, n, doc["count"], c.want)
		}
	}
	// Registration details come 1000 per page (the report takes no $top); users with
	// signInActivity 500 ($top=500, the maximum); devices 999 ($top=999). The simulator's
	// default page size (100) would need 25 + 25 + 12 requests.
	if n := callsMatching(h, "/reports/authenticationMethods/userRegistrationDetails"); n != 3 {
		t.Errorf("registration details took %d requests, want 3", n)
	}
	// Users are listed twice: with signInActivity (500 a page) and, for conditional access
	// and the role holders, without it (999 a page).
	if n := callsMatching(h, "GET /v1.0/users?"); n != 5+3 {
		t.Errorf("users took %d requests, want 8", n)
	}
	if n := callsMatching(h, "%24skiptoken"); n != 2+4+2+1 {
		t.Errorf("%d next-link requests, want 9 (2 registration, 4+2 users, 1 devices)", n)
	}
	// Half of the 1200 devices run Windows: 600 protection states, 20 per $batch.
	if n := callsMatching(h, "POST /v1.0/$batch"); n != 30 {
		t.Errorf("%d $batch requests, want 30", n)
	}
	if n := h.sim.BatchSubRequests(); n != 600 {
		t.Errorf("%d batch sub-requests, want 600", n)
	}
}

func TestMaxPagesIsAGap(t *testing.T) {
	h := newHarness(t, sim.Options{Users: 2500}, "", nil)
	h.conn.opts.Limits.MaxPages = 2
	arts, err := h.collect(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{KindMFARegistration, KindSignInActivity} {
		if a := arts[k]; status(a) != evidence.StatusFailed || !strings.Contains(a.Error, "too many pages") {
			t.Errorf("%s: %s %q, want a failed gap for too many pages", k, status(a), a.Error)
		}
	}
	if a := arts[KindManagedDevices]; status(a) != evidence.StatusOK {
		t.Errorf("managed devices (1 page): %s %q", status(a), a.Error)
	}
}

func TestThrottling(t *testing.T) {
	tests := []struct {
		name       string
		fault      simkit.Fault
		kind       string
		wantStatus evidence.Status
		wantWaits  []time.Duration // retry waits, in order
		wantCalls  int             // requests to the faulty path
		path       string
		batchItems int // sub-requests throttled inside the $batch response
	}{
		{"429 with Retry-After is honoured", sim.ThrottleFault(`^/v1\.0/identity/conditionalAccess/policies$`, 7*time.Second, 1),
			KindConditionalAccess, evidence.StatusOK, []time.Duration{7 * time.Second}, 2, "/identity/conditionalAccess/policies", 0},
		{"429 without Retry-After backs off", sim.ThrottleFault(`^/v1\.0/identity/conditionalAccess/policies$`, 0, 2),
			KindConditionalAccess, evidence.StatusOK, []time.Duration{time.Second, 2 * time.Second}, 3, "/identity/conditionalAccess/policies", 0},
		{"Retry-After above the cap is a throttled gap at once", sim.ThrottleFault(`^/v1\.0/policies/authorizationPolicy$`, 300*time.Second, 0),
			KindAuthorizationPolicy, evidence.StatusThrottled, nil, 1, "/policies/authorizationPolicy", 0},
		{"persistent 429 gives up after MaxAttempts", sim.ThrottleFault(`^/v1\.0/domains$`, 2*time.Second, 0),
			KindPasswordPolicy, evidence.StatusThrottled, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}, 5, "/domains", 0},
		{"503 is retried", sim.UnavailableFault(`^/v1\.0/reports/`, 1),
			KindMFARegistration, evidence.StatusOK, []time.Duration{time.Second}, 2, "/reports/authenticationMethods", 0},
		{"a throttled $batch is retried", sim.ThrottleFault(`^/v1\.0/\$batch$`, 3*time.Second, 1),
			KindMalwareProtection, evidence.StatusOK, []time.Duration{3 * time.Second}, 2, "/$batch", 0},
		{"throttled sub-requests of a $batch are retried", simkit.Fault{Path: "^/never$"},
			KindMalwareProtection, evidence.StatusOK, []time.Duration{2 * time.Second}, 2, "/$batch", 3},
		// A gateway's text/plain answers keep their status (Kiota alone would fail with "text
		// does not support structured data" and lose it).
		{"text/plain 429 with Retry-After: retried, then throttled", simkit.Fault{Path: `^/v1\.0/policies/authorizationPolicy$`, Kind: simkit.Throttle, RetryAfter: 2 * time.Second},
			KindAuthorizationPolicy, evidence.StatusThrottled, []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}, 5, "/policies/authorizationPolicy", 0},
		{"text/plain 429 without Retry-After: backed off, then throttled", simkit.Fault{Path: `^/v1\.0/policies/authorizationPolicy$`, Kind: simkit.ThrottleNoRetryAfter},
			KindAuthorizationPolicy, evidence.StatusThrottled, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, 5, "/policies/authorizationPolicy", 0},
		{"text/plain 429 once, then the answer", simkit.Fault{Path: `^/v1\.0/policies/authorizationPolicy$`, Kind: simkit.Throttle, RetryAfter: time.Second, Times: 1},
			KindAuthorizationPolicy, evidence.StatusOK, []time.Duration{time.Second}, 2, "/policies/authorizationPolicy", 0},
		{"text/plain 500 is retried, then a failed gap naming the status", simkit.Fault{Path: `^/v1\.0/policies/authorizationPolicy$`, Kind: simkit.ServerError},
			KindAuthorizationPolicy, evidence.StatusFailed, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, 5, "/policies/authorizationPolicy", 0},
		{"text/plain 500 of a $batch is a failed gap naming the status", simkit.Fault{Path: `^/v1\.0/\$batch$`, Kind: simkit.ServerError},
			KindMalwareProtection, evidence.StatusFailed, nil, 1, "/$batch", 0},
		{"a transient 500 is retried", simkit.Fault{Path: `^/v1\.0/identity/conditionalAccess/policies$`, Kind: simkit.ServerError, Times: 1},
			KindConditionalAccess, evidence.StatusOK, []time.Duration{time.Second}, 2, "/identity/conditionalAccess/policies", 0},
		{"a truncated body is retried", simkit.Fault{Path: `^/v1\.0/domains$`, Kind: simkit.Truncate, Times: 1},
			KindPasswordPolicy, evidence.StatusOK, []time.Duration{time.Second}, 2, "/domains", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sim.Options{Faults: []simkit.Fault{tt.fault}, ThrottledBatchItems: tt.batchItems}, fastLimits, nil)
			arts, err := h.collect(t, context.Background())
			if err != nil {
				t.Fatal(err)
			}
			a := arts[tt.kind]
			if status(a) != tt.wantStatus {
				t.Fatalf("%s: %s %q, want %s", tt.kind, status(a), a.Error, tt.wantStatus)
			}
			if strings.Contains(a.Error, "structured data") || tt.wantStatus == evidence.StatusFailed && !strings.Contains(a.Error, "500") {
				t.Errorf("%s: %q, want the HTTP status in the gap", tt.kind, a.Error)
			}
			waits := h.clock.waitsOver(10 * time.Millisecond)
			if len(waits) != len(tt.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tt.wantWaits)
			}
			for i := range waits {
				if waits[i] != tt.wantWaits[i] {
					t.Errorf("wait %d = %s, want %s", i, waits[i], tt.wantWaits[i])
				}
			}
			if n := callsMatching(h, tt.path); n != tt.wantCalls {
				t.Errorf("%d requests to %s, want %d", n, tt.path, tt.wantCalls)
			}
			if tt.batchItems > 0 {
				// The 8 Windows devices of the demo tenant, and the throttled ones again.
				if n := h.sim.BatchSubRequests(); n != int64(8+tt.batchItems) {
					t.Errorf("%d sub-requests, want %d", n, 8+tt.batchItems)
				}
				doc := decodeDoc(t, a)
				if doc["checked"] != float64(8) {
					t.Errorf("checked %v devices, want 8", doc["checked"])
				}
			} else if tt.wantStatus == evidence.StatusOK {
				// The throttled or failed attempt is part of the provenance.
				saw429 := false
				for _, x := range a.Exchanges {
					saw429 = saw429 || x.Status != http.StatusOK || x.Body.Digest.IsZero()
				}
				if !saw429 {
					t.Errorf("%s: the throttled exchange is not recorded", tt.kind)
				}
			}
		})
	}
}

// TestRateLimits checks the limiter's spacing per endpoint class with the default limits:
// the reports endpoints get one request per 2 s (5 per 10 s).
func TestRateLimits(t *testing.T) {
	h := newHarness(t, sim.Options{Users: 3000}, "", nil)
	if _, err := h.collect(t, context.Background()); err != nil {
		t.Fatal(err)
	}
	counts := h.conn.lastLimiter.Counts()
	// Registration details: 3 pages of 1000; audit logs: 2 requests.
	if counts[classReports] != 5 {
		t.Errorf("reports requests = %d, want 5", counts[classReports])
	}
	// The policies (read once, shared by four kinds) and the named locations.
	if counts[classConditionalAccess] != 2 {
		t.Errorf("conditional access requests = %d, want 2 (policies read once and shared, named locations)", counts[classConditionalAccess])
	}
	// The fake clock advanced at least (requests-1) × interval of the slowest class.
	if elapsed := h.clock.Now().Sub(testNow); elapsed < 4*2*time.Second {
		t.Errorf("fake clock advanced %s, want at least 8s for 5 report requests at 5/10s", elapsed)
	}
}

func TestForbiddenAndNotLicensedAreGaps(t *testing.T) {
	tests := []struct {
		name string
		opts sim.Options
		want map[string]evidence.Status // kinds not listed: ok
	}{
		{"missing permission", sim.Options{Faults: []simkit.Fault{sim.ForbiddenFault(`^/v1\.0/policies/authorizationPolicy$`), sim.ForbiddenFault(`^/v1\.0/deviceManagement/`)}},
			map[string]evidence.Status{KindAuthorizationPolicy: evidence.StatusForbidden, KindManagedDevices: evidence.StatusForbidden,
				KindCompliancePolicies: evidence.StatusForbidden, KindMalwareProtection: evidence.StatusForbidden,
				KindRiskPolicies: evidence.StatusNotLicensed, KindPIMAssignments: evidence.StatusNotLicensed,
				KindPIMPolicies: evidence.StatusNotLicensed, KindAccessReviews: evidence.StatusNotLicensed}},
		{"no licences at all", sim.Options{Licences: &sim.Licences{}},
			map[string]evidence.Status{KindConditionalAccess: evidence.StatusNotLicensed, KindBreakGlass: evidence.StatusNotLicensed,
				KindRiskPolicies: evidence.StatusNotLicensed, KindMFARegistration: evidence.StatusNotLicensed,
				KindSignInActivity: evidence.StatusNotLicensed, KindSignInLog: evidence.StatusNotLicensed,
				KindPIMAssignments: evidence.StatusNotLicensed, KindPIMPolicies: evidence.StatusNotLicensed,
				KindAccessReviews: evidence.StatusNotLicensed, KindManagedDevices: evidence.StatusNotLicensed,
				KindCompliancePolicies: evidence.StatusNotLicensed, KindMalwareProtection: evidence.StatusNotLicensed}},
		{"everything licensed", sim.Options{Licences: &sim.Licences{EntraP1: true, EntraP2: true, Intune: true}}, nil},
		// Graph answers "no premium licence" also when a permission is missing; the tenant's
		// SKUs show P1, so it is a missing permission.
		{"non-premium answer in a P1 tenant", sim.Options{Faults: []simkit.Fault{sim.NonPremiumFault(`^/v1\.0/auditLogs/signIns$`)}},
			map[string]evidence.Status{KindSignInLog: evidence.StatusForbidden,
				KindRiskPolicies: evidence.StatusNotLicensed, KindPIMAssignments: evidence.StatusNotLicensed,
				KindPIMPolicies: evidence.StatusNotLicensed, KindAccessReviews: evidence.StatusNotLicensed}},
		{"non-premium answer without P1", sim.Options{Licences: &sim.Licences{Intune: true}, Faults: []simkit.Fault{sim.NonPremiumFault(`^/v1\.0/auditLogs/signIns$`)}},
			map[string]evidence.Status{KindConditionalAccess: evidence.StatusNotLicensed, KindBreakGlass: evidence.StatusNotLicensed,
				KindRiskPolicies: evidence.StatusNotLicensed, KindMFARegistration: evidence.StatusNotLicensed,
				KindSignInActivity: evidence.StatusNotLicensed, KindSignInLog: evidence.StatusNotLicensed,
				KindPIMAssignments: evidence.StatusNotLicensed, KindPIMPolicies: evidence.StatusNotLicensed,
				KindAccessReviews: evidence.StatusNotLicensed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts, "", nil)
			arts, err := h.collect(t, context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range kinds {
				want := tt.want[k.name]
				if want == "" {
					want = evidence.StatusOK
				}
				if got := status(arts[k.name]); got != want {
					t.Errorf("%s: %s (%s), want %s", k.name, got, arts[k.name].Error, want)
				}
			}
		})
	}
}

// TestCancellation cancels the collection while the registration report is being paged:
// Collect returns context.Canceled promptly and requests no further page.
func TestCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := sim.New(sim.Options{Users: 5000, Now: func() time.Time { return testNow }})
	var pages atomic.Int32
	cancelling := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "userRegistrationDetails") && r.URL.Query().Get("$skiptoken") != "" {
			pages.Add(1)
			cancel()
		}
		s.Handler().ServeHTTP(w, r)
	})
	srv, err := simkit.Serve(cancelling)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := &harness{sim: s, srv: srv, store: mem.New(), clock: &fakeClock{now: testNow}}
	h.conn = h.newConnector(t, sim.DemoSettings(srv.URL))
	_, err = h.collect(t, ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Collect returned %v, want context.Canceled", err)
	}
	if n := pages.Load(); n != 1 {
		t.Errorf("%d next pages requested, want 1 (the one during which it was cancelled)", n)
	}
}
