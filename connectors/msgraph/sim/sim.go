// Package sim simulates the parts of Microsoft Graph (and the Entra ID token endpoint) that
// the msgraph connector reads, for a synthetic tenant: users, roles, conditional access and
// other policies, Intune devices and compliance policies. Tests, benchmarks and `exhibit
// demo` point the real msgraph-sdk-go client at it.
//
// The simulator speaks plain net/http and encoding/json on purpose: it must not import
// msgraph-sdk-go or Kiota, so that building it (for the demo and for other packages' tests)
// does not pay the SDK's compile cost.
//
// What it mimics from the real service, because the connector depends on it:
//   - @odata.nextLink paging that honours $top (bounded per endpoint like Graph), and $select
//     on users, registration details and managed devices;
//   - Graph-shaped error bodies: 401 InvalidAuthenticationToken, 403
//     Authorization_RequestDenied, 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant
//     (no Entra ID P1), 400 AadPremiumLicenseRequired (no P2), 400 "Request not applicable to
//     target tenant." (no Intune);
//   - JSON $batch with up to 20 GET sub-requests;
//   - an OpenID configuration and a client-credentials token endpoint under
//     /{tenant}/oauth2/v2.0/token, so azidentity can run for real (served over TLS in tests,
//     because azidentity refuses an authority without https).
package sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// DemoTenantID is the tenant id of the default simulated tenant.
const DemoTenantID = "4a1f6d7e-2c3b-4e5f-9a8b-7c6d5e4f3a21"

// DemoToken is a bearer token the simulator always accepts. It exists for `exhibit demo`,
// which has no real credentials; the connector only lets a static token be used against a
// loopback Graph endpoint (setting unsafe_static_token).
const DemoToken = "exhibit-sim-demo-token"

// Posture selects how well the simulated tenant is configured.
type Posture string

// The postures. Every rule of the connector passes on PostureGood and fails on PostureBad;
// PostureDemo is realistic: mostly good with a few deliberate failures.
const (
	PostureDemo Posture = "demo"
	PostureGood Posture = "good"
	PostureBad  Posture = "bad"
)

// Licences are the subscriptions of the simulated tenant; a missing one makes the features
// that need it answer with Graph's licence errors.
type Licences struct {
	EntraP1 bool // Entra ID P1: conditional access, sign-in logs, signInActivity, registration reports
	EntraP2 bool // Entra ID P2: PIM, access reviews, risk-based policies
	Intune  bool // Microsoft Intune: /deviceManagement
}

// Options configure a simulated tenant. The zero value is the demo tenant.
type Options struct {
	TenantID string
	// Users and Devices are the tenant's size; 0 means 40 users and 15 devices.
	Users, Devices int
	Posture        Posture
	// Licences overrides the posture's licences (demo: P1 and Intune but no P2; good and
	// bad: all), so a test can take one away.
	Licences *Licences
	// Latency is added to every response; Faults are injected by the simkit harness.
	Latency time.Duration
	Faults  []simkit.Fault
	// Seed varies names and ids; the same seed gives the same tenant.
	Seed uint64
	// Now is the simulator's clock for sign-in and sync times; default time.Now.
	Now func() time.Time
	// ClientSecret, if set, is the only client secret the token endpoint accepts.
	ClientSecret string
	// ThrottledBatchItems makes the first n $batch sub-requests answer 429 with
	// Retry-After: 2 inside a successful $batch response, as Graph throttles sub-requests
	// one by one.
	ThrottledBatchItems int
}

// Sim is a simulated Microsoft Graph for one tenant.
type Sim struct {
	opts     Options
	lic      Licences
	now      func() time.Time
	harness  *simkit.Harness
	tokensMu sync.Mutex
	tokens   map[string]bool
	subCalls atomic.Int64
	tokenReq atomic.Int64
}

// New returns a simulated tenant.
func New(opts Options) *Sim {
	if opts.TenantID == "" {
		opts.TenantID = DemoTenantID
	}
	if opts.Users <= 0 {
		opts.Users = 40
	}
	if opts.Devices <= 0 {
		opts.Devices = 15
	}
	if opts.Users < 12 {
		// The fixed roles (break-glass, admins, a stale account) need the first 12 users.
		opts.Users = 12
	}
	if opts.Posture == "" {
		opts.Posture = PostureDemo
	}
	s := &Sim{opts: opts, now: opts.Now, tokens: map[string]bool{}}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case opts.Licences != nil:
		s.lic = *opts.Licences
	case opts.Posture == PostureDemo:
		s.lic = Licences{EntraP1: true, Intune: true}
	default:
		s.lic = Licences{EntraP1: true, EntraP2: true, Intune: true}
	}
	s.harness = simkit.Wrap(http.HandlerFunc(s.serve), simkit.Options{Latency: opts.Latency, Faults: opts.Faults})
	return s
}

// Handler returns the simulator wrapped in its simkit harness (latency, faults, counting).
func (s *Sim) Handler() http.Handler { return s.harness }

// Harness returns the harness, for call counts and changing faults during a test.
func (s *Sim) Harness() *simkit.Harness { return s.harness }

// TenantID returns the simulated tenant's id.
func (s *Sim) TenantID() string { return s.opts.TenantID }

// BatchSubRequests returns how many sub-requests $batch requests carried; Graph throttles
// them one by one, so the benchmark counts them against the limits.
func (s *Sim) BatchSubRequests() int64 { return s.subCalls.Load() }

// TokenRequests returns how many tokens the token endpoint issued.
func (s *Sim) TokenRequests() int64 { return s.tokenReq.Load() }

// BreakGlassUPNs returns the user principal names of the tenant's two emergency-access
// accounts, as a connector would be configured with them.
func (s *Sim) BreakGlassUPNs() []string {
	return []string{s.user(0).UPN, s.user(1).UPN}
}

// DemoSettings returns the connector settings (YAML) that point the real msgraph connector
// at a simulator of the demo tenant served at baseURL.
func DemoSettings(baseURL string) string {
	s := New(Options{})
	bg := s.BreakGlassUPNs()
	return fmt.Sprintf(`tenant_id: %s
client_id: 0e5b1c2d-3f4a-4b5c-8d6e-7f8091a2b3c4
graph_endpoint: %s
# The simulator accepts this token; the connector allows a static token only for a loopback endpoint.
unsafe_static_token: %s
break_glass_accounts: [%s, %s]
`, DemoTenantID, strings.TrimRight(baseURL, "/"), DemoToken, bg[0], bg[1])
}

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, "/v2.0/.well-known/openid-configuration"):
		s.serveOpenIDConfiguration(w, r)
		return
	case strings.HasSuffix(path, "/oauth2/v2.0/token"):
		s.serveToken(w, r)
		return
	case strings.HasPrefix(path, "/v1.0/"):
	default:
		writeError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource not found for the segment '"+path+"'.")
		return
	}
	if !s.authorized(r) {
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or invalid.")
		return
	}
	rel := strings.TrimPrefix(path, "/v1.0")
	if rel == "/$batch" && r.Method == http.MethodPost {
		s.serveBatch(w, r)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The simulator only serves reads.")
		return
	}
	res := s.route(r, rel)
	res.write(w)
}

func (s *Sim) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return false
	}
	if tok == DemoToken {
		return true
	}
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	return s.tokens[tok]
}

func (s *Sim) issueToken() string {
	var b [24]byte
	rand.Read(b[:])
	tok := "sim." + hex.EncodeToString(b[:])
	s.tokensMu.Lock()
	s.tokens[tok] = true
	s.tokensMu.Unlock()
	s.tokenReq.Add(1)
	return tok
}

// response is one simulated Graph answer.
type response struct {
	status int
	header http.Header
	body   any // marshalled as JSON
}

func (res response) write(w http.ResponseWriter) {
	for k, vs := range res.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	w.Header().Set("request-id", requestID())
	w.WriteHeader(res.status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(res.body)
}

func ok(body any) response { return response{status: http.StatusOK, body: body} }

func graphError(status int, code, message string) response {
	return response{status: status, body: errorBody(code, message)}
}

func errorBody(code, message string) map[string]any {
	return map[string]any{"error": map[string]any{
		"code": code, "message": message,
		"innerError": map[string]any{"date": "2026-01-01T00:00:00", "request-id": requestID(), "client-request-id": requestID()},
	}}
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	graphError(status, code, message).write(w)
}

func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// The licence errors Graph answers with (see the package comment).
var (
	errNoP1 = graphError(http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
		"Neither tenant is B2C or tenant doesn't have premium license")
	errNoP2 = graphError(http.StatusBadRequest, "AadPremiumLicenseRequired",
		"The tenant needs to have Microsoft Entra ID P2 or Microsoft Entra ID Governance license.")
	errNoIntune = graphError(http.StatusBadRequest, "BadRequest", "Request not applicable to target tenant.")
)

// ForbiddenFault makes requests whose path matches the regular expression answer 403 the
// way Graph does when the application lacks a permission.
func ForbiddenFault(path string) simkit.Fault {
	b, _ := json.Marshal(errorBody("Authorization_RequestDenied", "Insufficient privileges to complete the operation."))
	return simkit.Fault{Path: path, Kind: simkit.Custom, Status: http.StatusForbidden,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: string(b)}
}

// NonPremiumFault makes requests whose path matches answer 403
// Authentication_RequestFromNonPremiumTenantOrB2CTenant, as Graph also does for a tenant
// with Entra ID P1 when the application lacks a permission the request needs (the sign-in
// log without Directory.Read.All).
func NonPremiumFault(path string) simkit.Fault {
	b, _ := json.Marshal(errorBody("Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license"))
	return simkit.Fault{Path: path, Kind: simkit.Custom, Status: http.StatusForbidden,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: string(b)}
}

// ThrottleFault makes the first times requests matching path answer 429 with a Graph error
// body and Retry-After (omitted when retryAfter is 0, as the conditional access service does).
func ThrottleFault(path string, retryAfter time.Duration, times int) simkit.Fault {
	b, _ := json.Marshal(errorBody("TooManyRequests", "Too many requests."))
	h := http.Header{"Content-Type": {"application/json"}}
	if retryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(int((retryAfter+time.Second-1)/time.Second)))
	}
	return simkit.Fault{Path: path, Kind: simkit.Custom, Status: http.StatusTooManyRequests, Times: times, Header: h, Body: string(b)}
}

// UnavailableFault makes the first times requests matching path answer 503.
func UnavailableFault(path string, times int) simkit.Fault {
	b, _ := json.Marshal(errorBody("serviceNotAvailable", "Service unavailable."))
	return simkit.Fault{Path: path, Kind: simkit.Custom, Status: http.StatusServiceUnavailable, Times: times,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: string(b)}
}

// PersonalValues returns every user's principal name, mail and display name and every
// device's name, so tests can check that none of them reaches a store when the connector
// pseudonymises.
func (s *Sim) PersonalValues() []string {
	var out []string
	for i := 0; i < s.opts.Users; i++ {
		u := s.user(i)
		out = append(out, u.UPN, u.DisplayName)
		if u.Mail != "" {
			out = append(out, u.Mail)
		}
	}
	for i := 0; i < s.opts.Devices; i++ {
		out = append(out, s.device(i).Name)
	}
	return out
}
