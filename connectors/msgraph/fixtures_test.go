package msgraph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixturesDecodeThroughSDK decodes the recorded Graph payloads in testdata with the
// SDK's own models: the fixtures are shaped like what Graph sends, so what the connector
// reads from them is what it reads from Graph.
func TestFixturesDecodeThroughSDK(t *testing.T) {
	tests := []struct {
		file    string
		factory absser.ParsableFactory
		check   func(t *testing.T, v absser.Parsable)
	}{
		{"conditional_access_policies.json", models.CreateConditionalAccessPolicyCollectionResponseFromDiscriminatorValue, func(t *testing.T, v absser.Parsable) {
			ps := v.(models.ConditionalAccessPolicyCollectionResponseable).GetValue()
			if len(ps) != 2 || *ps[0].GetState() != models.ENABLED_CONDITIONALACCESSPOLICYSTATE {
				t.Fatalf("policies %d", len(ps))
			}
			str := ps[1].GetGrantControls().GetAuthenticationStrength()
			if str == nil || *str.GetId() != "00000000-0000-0000-0000-000000000004" || len(str.GetAllowedCombinations()) != 3 {
				t.Errorf("authentication strength %v", str)
			}
			if f := ps[1].GetConditions().GetAuthenticationFlows(); f == nil || f.GetTransferMethods() == nil {
				t.Errorf("authentication flows not decoded")
			}
		}},
		{"user_registration_details.json", models.CreateUserRegistrationDetailsCollectionResponseFromDiscriminatorValue, func(t *testing.T, v absser.Parsable) {
			rows := v.(models.UserRegistrationDetailsCollectionResponseable).GetValue()
			if len(rows) != 3 || *rows[1].GetIsMfaCapable() || *rows[2].GetUserType() != models.GUEST_SIGNINUSERTYPE {
				t.Errorf("rows %d", len(rows))
			}
		}},
		{"users_sign_in_activity.json", models.CreateUserCollectionResponseFromDiscriminatorValue, func(t *testing.T, v absser.Parsable) {
			us := v.(models.UserCollectionResponseable).GetValue()
			if len(us) != 2 || us[0].GetSignInActivity() == nil || us[0].GetSignInActivity().GetLastNonInteractiveSignInDateTime() == nil {
				t.Errorf("users %d", len(us))
			}
		}},
		{"managed_devices.json", models.CreateManagedDeviceCollectionResponseFromDiscriminatorValue, func(t *testing.T, v absser.Parsable) {
			ds := v.(models.ManagedDeviceCollectionResponseable).GetValue()
			if len(ds) != 2 || *ds[1].GetComplianceState() != models.NONCOMPLIANT_COMPLIANCESTATE || *ds[1].GetIsEncrypted() {
				t.Errorf("devices %d", len(ds))
			}
		}},
		{"authorization_policy.json", models.CreateAuthorizationPolicyFromDiscriminatorValue, func(t *testing.T, v absser.Parsable) {
			p := v.(models.AuthorizationPolicyable)
			if !*p.GetDefaultUserRolePermissions().GetAllowedToCreateApps() || p.GetGuestUserRoleId().String() != "10dae51f-b6af-4016-8d66-8c2a99b929b3" {
				t.Errorf("authorization policy not decoded")
			}
		}},
		{"windows_protection_state.json", models.CreateWindowsProtectionStateFromDiscriminatorValue, func(t *testing.T, v absser.Parsable) {
			p := v.(models.WindowsProtectionStateable)
			if !*p.GetRealTimeProtectionEnabled() || *p.GetSignatureUpdateOverdue() {
				t.Errorf("protection state not decoded")
			}
		}},
		{"error_not_premium.json", odataerrors.CreateODataErrorFromDiscriminatorValue, func(t *testing.T, v absser.Parsable) {
			if c := *v.(*odataerrors.ODataError).GetErrorEscaped().GetCode(); c != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
				t.Errorf("code %s", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			node, err := jsonserialization.NewJsonParseNode(readFixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			v, err := node.GetObjectValue(tt.factory)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, v)
		})
	}
}

// fixtureServer answers Graph paths with the recorded payloads; everything else is 404.
func fixtureServer(t *testing.T, routes map[string]struct {
	status int
	file   string
}) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		rt, ok := routes[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"Request_ResourceNotFound","message":"Resource not found."}}`))
			return
		}
		w.WriteHeader(rt.status)
		w.Write(readFixture(t, rt.file))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFixturesThroughConnector runs the connector on the recorded payloads: the documents
// it derives from Graph-shaped responses, and the rules' verdicts on them; the recorded
// error bodies become the gaps they mean.
func TestFixturesThroughConnector(t *testing.T) {
	type route = struct {
		status int
		file   string
	}
	srv := fixtureServer(t, map[string]route{
		"/v1.0/identity/conditionalAccess/policies":                   {200, "conditional_access_policies.json"},
		"/v1.0/reports/authenticationMethods/userRegistrationDetails": {200, "user_registration_details.json"},
		"/v1.0/users":                                             {200, "users_sign_in_activity.json"},
		"/v1.0/deviceManagement/managedDevices":                   {200, "managed_devices.json"},
		"/v1.0/policies/authorizationPolicy":                      {200, "authorization_policy.json"},
		"/v1.0/auditLogs/signIns":                                 {403, "error_not_premium.json"},
		"/v1.0/roleManagement/directory/roleEligibilitySchedules": {400, "error_p2_required.json"},
		"/v1.0/deviceManagement/deviceCompliancePolicies":         {400, "error_intune_not_licensed.json"},
		"/v1.0/policies/adminConsentRequestPolicy":                {403, "error_forbidden.json"},
		"/v1.0/roleManagement/directory/roleAssignments":          {200, "role_assignments_expanded.json"},
		"/v1.0/identity/conditionalAccess/namedLocations":         {200, "reference/docs/conditionalaccessroot-list-namedlocations.json"},
		"/v1.0/policies/authenticationStrengthPolicies":           {200, "reference/docs/authenticationstrengthroot-list-policies.json"},
	})
	h := &harness{store: mem.New(), clock: &fakeClock{now: testNow}}
	h.conn = h.newConnector(t, "tenant_id: "+sim.DemoTenantID+"\ngraph_endpoint: "+srv.URL+"\nunsafe_static_token: t\n")
	arts, err := h.collect(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := map[string]evidence.Status{
		KindConditionalAccess: evidence.StatusOK, KindMFARegistration: evidence.StatusOK, KindSignInActivity: evidence.StatusOK,
		KindManagedDevices: evidence.StatusOK, KindAuthorizationPolicy: evidence.StatusOK,
		KindSignInLog: evidence.StatusNotLicensed, KindPIMAssignments: evidence.StatusNotLicensed,
		KindCompliancePolicies: evidence.StatusNotLicensed, KindAdminConsentPolicy: evidence.StatusForbidden,
		KindSecurityDefaults: evidence.StatusFailed,
	}
	for k, want := range wantStatus {
		if got := status(arts[k]); got != want {
			t.Errorf("%s: %s (%s), want %s", k, got, arts[k].Error, want)
		}
	}
	data, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := controls.ParseRules("rules.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		outcome controls.Outcome
		failing string
	}{
		// The policy excludes two accounts the directory does not list, so every listed user
		// is covered; the Global Administrator's policy is only report-only.
		"msgraph.entra.conditional_access.mfa_all_users":             {controls.Pass, ""},
		"msgraph.entra.conditional_access.phishing_resistant_admins": {controls.Fail, "only report-only or disabled ones"},
		"msgraph.entra.mfa_registration.members_mfa_capable":         {controls.Fail, "JohannaL@contoso.example"},
		"msgraph.entra.sign_in_activity.no_stale_accounts":           {controls.Fail, "test.account@contoso.example"},
		"msgraph.intune.managed_devices.compliant":                   {controls.Fail, "Johanna's MacBook Pro (noncompliant)"},
		"msgraph.intune.managed_devices.encrypted":                   {controls.Fail, "Johanna's MacBook Pro"},
		"msgraph.entra.authorization_policy.user_consent_restricted": {controls.Fail, "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"},
		"msgraph.entra.authorization_policy.guest_access_restricted": {controls.Pass, ""},
	}
	seen := 0
	for _, a := range arts {
		if status(a) != evidence.StatusOK {
			continue
		}
		for _, res := range rs.Evaluate(a.Kind, a.Subject, a.Document, testNow) {
			w, ok := want[res.Rule]
			if !ok {
				continue
			}
			seen++
			if got := strings.Join(res.Failing, ","); res.Outcome != w.outcome || w.failing == "" && got != "" || !strings.Contains(got, w.failing) {
				t.Errorf("%s: %s %v, want %s %q (%s)", res.Rule, res.Outcome, res.Failing, w.outcome, w.failing, res.Detail())
			}
		}
	}
	if seen != len(want) {
		t.Errorf("evaluated %d of the %d expected rules", seen, len(want))
	}
}
