package sim

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

var fixedNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func get(t *testing.T, h http.Handler, target, token string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: body is not JSON: %v: %s", target, err, rec.Body.String())
	}
	return rec.Code, body
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestPagingHonoursTopAndNextLink(t *testing.T) {
	s := New(Options{Users: 250, Now: func() time.Time { return fixedNow }})
	h := s.Handler()
	seen := map[string]bool{}
	target := "http://graph.test/v1.0/users?%24select=id,userPrincipalName&%24top=100"
	pages := 0
	for target != "" {
		code, body := get(t, h, target, DemoToken)
		if code != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, code)
		}
		pages++
		for _, v := range body["value"].([]any) {
			u := v.(map[string]any)
			if len(u) != 2 {
				t.Errorf("$select=id,userPrincipalName returned %d properties: %v", len(u), u)
			}
			id := u["id"].(string)
			if seen[id] {
				t.Errorf("user %s returned twice", id)
			}
			seen[id] = true
		}
		next, _ := body["@odata.nextLink"].(string)
		target = next
		if next != "" {
			nu, err := url.Parse(next)
			if err != nil || nu.Query().Get("$top") != "100" || nu.Query().Get("$select") == "" {
				t.Fatalf("nextLink %q does not keep $top and $select", next)
			}
		}
	}
	if pages != 3 || len(seen) != 250 {
		t.Errorf("got %d pages and %d users, want 3 pages and 250 users", pages, len(seen))
	}
}

func TestLicencesAndAuth(t *testing.T) {
	tests := []struct {
		name     string
		lic      *Licences
		path     string
		token    string
		wantCode int
		wantErr  string
	}{
		{"no token", nil, "/v1.0/policies/authorizationPolicy", "", 401, "InvalidAuthenticationToken"},
		{"unknown token", nil, "/v1.0/policies/authorizationPolicy", "forged", 401, "InvalidAuthenticationToken"},
		{"demo has no P2 for PIM", nil, "/v1.0/roleManagement/directory/roleEligibilitySchedules", DemoToken, 400, "AadPremiumLicenseRequired"},
		{"demo has no P2 for access reviews", nil, "/v1.0/identityGovernance/accessReviews/definitions", DemoToken, 400, "AadPremiumLicenseRequired"},
		{"demo has P1", nil, "/v1.0/reports/authenticationMethods/userRegistrationDetails", DemoToken, 200, ""},
		{"no P1 for registration details", &Licences{Intune: true}, "/v1.0/reports/authenticationMethods/userRegistrationDetails", DemoToken, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"},
		{"no P1 for signInActivity", &Licences{}, "/v1.0/users?$select=id,signInActivity", DemoToken, 403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"},
		{"users without signInActivity need no P1", &Licences{}, "/v1.0/users?$select=id", DemoToken, 200, ""},
		{"no Intune", &Licences{EntraP1: true}, "/v1.0/deviceManagement/managedDevices", DemoToken, 400, "BadRequest"},
		{"PIM policy needs the filter", &Licences{EntraP2: true}, "/v1.0/policies/roleManagementPolicyAssignments", DemoToken, 400, "BadRequest"},
		{"unknown path", nil, "/v1.0/nothing", DemoToken, 404, "Request_ResourceNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Licences: tt.lic})
			code, body := get(t, s.Handler(), "http://graph.test"+tt.path, tt.token)
			if code != tt.wantCode || errorCode(body) != tt.wantErr {
				t.Errorf("got %d %q, want %d %q", code, errorCode(body), tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestTokenEndpoint(t *testing.T) {
	s := New(Options{ClientSecret: "s3cret"})
	srv := httptest.NewTLSServer(s.Handler())
	defer srv.Close()
	c := srv.Client()

	resp, err := c.Get(srv.URL + "/" + DemoTenantID + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var oidc map[string]any
	json.NewDecoder(resp.Body).Decode(&oidc)
	resp.Body.Close()
	if oidc["issuer"] != srv.URL+"/"+DemoTenantID+"/v2.0" {
		t.Errorf("issuer = %v", oidc["issuer"])
	}

	tests := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"https://graph.microsoft.com/.default"}, "client_secret": {"s3cret"}}, 200},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"https://graph.microsoft.com/.default"}, "client_secret": {"nope"}}, 401},
		{"assertion", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"x/.default"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {"a.b.c"}}, 200},
		{"no credential", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"x/.default"}}, 401},
		{"bad scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}, "scope": {"User.Read"}, "client_secret": {"s3cret"}}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := c.PostForm(oidc["token_endpoint"].(string), tt.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var tok map[string]any
			json.NewDecoder(resp.Body).Decode(&tok)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.status, tok)
			}
			if tt.status != 200 {
				return
			}
			code, _ := get(t, s.Handler(), "http://graph.test/v1.0/domains", tok["access_token"].(string))
			if code != 200 {
				t.Errorf("issued token rejected: %d", code)
			}
		})
	}
}

func TestBatch(t *testing.T) {
	s := New(Options{Posture: PostureBad, Now: func() time.Time { return fixedNow }})
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, s.device(i).ID)
	}
	var reqs []map[string]string
	for n, id := range ids {
		reqs = append(reqs, map[string]string{"id": string(rune('a' + n)), "method": "GET", "url": "/deviceManagement/managedDevices/" + id + "/windowsProtectionState"})
	}
	b, _ := json.Marshal(map[string]any{"requests": reqs})
	req := httptest.NewRequest(http.MethodPost, "http://graph.test/v1.0/$batch", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+DemoToken)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var out struct {
		Responses []struct {
			ID     string          `json:"id"`
			Status int             `json:"status"`
			Body   json.RawMessage `json:"body"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Responses) != 6 {
		t.Fatalf("batch: %v, %d responses: %s", err, len(out.Responses), rec.Body.String())
	}
	for n, r := range out.Responses {
		wantWindows := s.device(n).OS == "Windows"
		if (r.Status == 200) != wantWindows {
			t.Errorf("device %d (%s): status %d", n, s.device(n).OS, r.Status)
		}
	}
	if s.BatchSubRequests() != 6 {
		t.Errorf("BatchSubRequests = %d, want 6", s.BatchSubRequests())
	}
}

func TestPostures(t *testing.T) {
	count := func(s *Sim, pred func(user) bool) int {
		n := 0
		for i := 0; i < s.opts.Users; i++ {
			if pred(s.user(i)) {
				n++
			}
		}
		return n
	}
	isGA := func(u user) bool {
		for _, r := range u.Roles {
			if r == RoleGlobalAdministrator {
				return true
			}
		}
		return false
	}
	demo := New(Options{Now: func() time.Time { return fixedNow }})
	if n := count(demo, isGA); n != 5 {
		t.Errorf("demo tenant has %d active global administrators, want 5", n)
	}
	if n := count(demo, func(u user) bool { return !u.MFARegistered }); n != 1 {
		t.Errorf("demo tenant has %d users without MFA, want 1", n)
	}
	if n := count(New(Options{Posture: PostureGood}), isGA); n != 3 {
		t.Errorf("good tenant has %d active global administrators, want 3", n)
	}
	nonCompliant := 0
	for i := 0; i < 15; i++ {
		if demo.device(i).Compliance != "compliant" {
			nonCompliant++
		}
	}
	if nonCompliant != 1 {
		t.Errorf("demo tenant has %d non-compliant devices, want 1", nonCompliant)
	}
	if got := demo.indexOf("user", demo.user(33).ID, 40); got != 33 {
		t.Errorf("indexOf(user 33) = %d", got)
	}
}

func TestDemoSettingsIsYAML(t *testing.T) {
	var v map[string]any
	if err := yaml.Unmarshal([]byte(DemoSettings("http://127.0.0.1:4000/")), &v); err != nil {
		t.Fatal(err)
	}
	if v["graph_endpoint"] != "http://127.0.0.1:4000" || v["unsafe_static_token"] != DemoToken {
		t.Errorf("DemoSettings = %v", v)
	}
}

// TestNoSDKImports keeps the simulator cheap to build: it is compiled into `exhibit demo`
// and other packages' tests, which must not pay msgraph-sdk-go's compile cost.
func TestNoSDKImports(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if strings.Contains(p, "microsoft") || strings.Contains(p, "kiota") || strings.Contains(p, "azure-sdk") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
