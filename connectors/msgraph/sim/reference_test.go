package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/graphref"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
)

// endpoint is one request the connector makes, with the type Graph documents for its answer.
type endpoint struct {
	path, typ  string
	collection bool
}

func (s *Sim) endpoints() []endpoint {
	u0 := s.user(0)
	eps := []endpoint{
		{"/subscribedSkus", "subscribedSku", true},
		{"/policies/identitySecurityDefaultsEnforcementPolicy", "identitySecurityDefaultsEnforcementPolicy", false},
		{"/identity/conditionalAccess/policies", "conditionalAccessPolicy", true},
		{"/identity/conditionalAccess/namedLocations", "namedLocation", true},
		{"/policies/authenticationStrengthPolicies", "authenticationStrengthPolicy", true},
		{"/reports/authenticationMethods/userRegistrationDetails", "userRegistrationDetails", true},
		{"/policies/authenticationMethodsPolicy", "authenticationMethodsPolicy", false},
		{"/roleManagement/directory/roleDefinitions?$select=id,displayName,templateId,isBuiltIn", "unifiedRoleDefinition", true},
		{"/roleManagement/directory/roleAssignments?$expand=principal", "unifiedRoleAssignment", true},
		{"/roleManagement/directory/roleEligibilitySchedules?$expand=principal", "unifiedRoleEligibilitySchedule", true},
		{"/roleManagement/directory/roleEligibilitySchedules", "unifiedRoleEligibilitySchedule", true},
		{"/roleManagement/directory/roleAssignmentScheduleInstances", "unifiedRoleAssignmentScheduleInstance", true},
		{"/policies/roleManagementPolicyAssignments?$filter=scopeId+eq+'/'+and+scopeType+eq+'DirectoryRole'&$expand=policy($expand=rules)", "unifiedRoleManagementPolicyAssignment", true},
		{"/identityGovernance/accessReviews/definitions", "accessReviewScheduleDefinition", true},
		{"/policies/authorizationPolicy", "authorizationPolicy", false},
		{"/policies/adminConsentRequestPolicy", "adminConsentRequestPolicy", false},
		{"/domains?$select=id,authenticationType,isDefault,isInitial,isVerified,passwordValidityPeriodInDays,passwordNotificationWindowInDays", "domain", true},
		{"/groupSettings", "groupSetting", true},
		{"/users?$select=id,userPrincipalName,displayName,userType,accountEnabled,createdDateTime,signInActivity&$top=500", "user", true},
		{"/users?$select=id,userPrincipalName,displayName,userType,accountEnabled,onPremisesSyncEnabled&$top=999", "user", true},
		{"/users/" + u0.UPN + "?$select=id,userPrincipalName,displayName,userType,accountEnabled,onPremisesSyncEnabled", "user", false},
		{"/users/" + u0.ID + "/authentication/fido2Methods", "fido2AuthenticationMethod", true},
		{"/auditLogs/directoryAudits?$top=1&$orderby=activityDateTime+desc", "directoryAudit", true},
		{"/auditLogs/signIns?$top=1", "signIn", true},
		{"/deviceManagement/managedDevices?$top=999", "managedDevice", true},
		{"/deviceManagement/deviceCompliancePolicies?$expand=assignments", "deviceCompliancePolicy", true},
		{"/deviceManagement/managedDevices/" + s.device(0).ID + "/windowsProtectionState", "windowsProtectionState", false},
	}
	for _, g := range []int{groupAllStaff, groupHeadOffic, groupHelpdesk} {
		eps = append(eps, endpoint{"/groups/" + s.guid("group", g) + "/transitiveMembers/graph.user?$select=id&$top=999", "user", true})
	}
	return eps
}

// TestResponsesMatchGraphDescription: every response the simulator serves, for every
// tenant, licence set and fault mode, conforms to Graph's v1.0 description (the SDK's
// model extract: property names and types, derived types, enum members) and documented
// error shape. Deliberate deviations: the text/plain bodies of simkit's generic faults,
// which stand for gateways answering before Graph does.
func TestResponsesMatchGraphDescription(t *testing.T) {
	model, err := graphref.Load("../testdata/reference/sdk-models.json")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	none := &Licences{}
	tenants := []struct {
		name string
		opts Options
	}{
		{"demo", Options{}},
		{"good", Options{Posture: PostureGood}},
		{"bad", Options{Posture: PostureBad}},
		{"no licences", Options{Posture: PostureGood, Licences: none}},
		{"P1 without P2 and Intune", Options{Posture: PostureGood, Licences: &Licences{EntraP1: true}}},
		{"throttled", Options{Faults: []simkit.Fault{ThrottleFault(".*", 2*time.Second, 0)}}},
		{"unavailable", Options{Faults: []simkit.Fault{UnavailableFault(".*", 0)}}},
		{"forbidden", Options{Faults: []simkit.Fault{ForbiddenFault(".*")}}},
		{"throttled batch items", Options{ThrottledBatchItems: 1}},
	}
	plain := map[string]simkit.Fault{
		"gateway 429 with Retry-After":    {Kind: simkit.Throttle, RetryAfter: time.Second},
		"gateway 429 without Retry-After": {Kind: simkit.ThrottleNoRetryAfter},
		"gateway 500":                     {Kind: simkit.ServerError},
	}
	for name, f := range plain {
		tenants = append(tenants, struct {
			name string
			opts Options
		}{name, Options{Faults: []simkit.Fault{f}}})
	}
	checked := 0
	for _, tn := range tenants {
		t.Run(tn.name, func(t *testing.T) {
			opts := tn.opts
			opts.Now = func() time.Time { return now }
			s := New(opts)
			_, textFault := plain[tn.name]
			check := func(what, typ string, collection bool, status int, ct string, body []byte) {
				t.Helper()
				checked++
				var errs []error
				switch {
				case status >= 400 && textFault:
					if !strings.HasPrefix(ct, "text/plain") {
						t.Errorf("%s: %d with %s, want the deliberate text/plain body", what, status, ct)
					}
					return
				case status >= 400:
					errs = graphref.ValidateError(body)
				case collection:
					errs = model.ValidateCollection(typ, body)
				default:
					errs = model.ValidateEntity(typ, body)
				}
				if ct != "" && !strings.HasPrefix(ct, "application/json") {
					errs = append(errs, fmt.Errorf("content type %s", ct))
				}
				for _, e := range errs {
					t.Errorf("%s (%d): %v", what, status, e)
				}
			}
			for _, ep := range s.endpoints() {
				req := httptest.NewRequest(http.MethodGet, "https://graph.example/v1.0"+ep.path, nil)
				req.Header.Set("Authorization", "Bearer "+DemoToken)
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				check(ep.path, ep.typ, ep.collection, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
			}
			// A $batch of protection states: the envelope and each answer.
			body := fmt.Sprintf(`{"requests":[{"id":"0","method":"GET","url":"/deviceManagement/managedDevices/%s/windowsProtectionState"},{"id":"1","method":"GET","url":"/deviceManagement/managedDevices/%s/windowsProtectionState"}]}`,
				s.device(0).ID, s.device(3).ID)
			req := httptest.NewRequest(http.MethodPost, "https://graph.example/v1.0/$batch", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+DemoToken)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			b, _ := io.ReadAll(rec.Body)
			if rec.Code != http.StatusOK {
				check("$batch", "", false, rec.Code, rec.Header().Get("Content-Type"), b)
				return
			}
			var out struct {
				Responses []struct {
					ID      string            `json:"id"`
					Status  int               `json:"status"`
					Headers map[string]string `json:"headers"`
					Body    json.RawMessage   `json:"body"`
				} `json:"responses"`
			}
			if err := json.NewDecoder(bytes.NewReader(b)).Decode(&out); err != nil || len(out.Responses) != 2 {
				t.Fatalf("$batch answer %s: %v", b, err)
			}
			for _, r := range out.Responses {
				check("$batch item "+r.ID, "windowsProtectionState", false, r.Status, r.Headers["Content-Type"], r.Body)
			}
		})
	}
	if checked < 300 {
		t.Errorf("%d responses checked, want every endpoint of every tenant", checked)
	}
}
