package msgraph

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector/connectortest"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/store/mem"
)

// docExample reads a documented response example (testdata/reference/docs), optionally
// changed by edit, and returns it as a replayed response for path.
func docExample(t *testing.T, path, file string, edit func(map[string]any)) connectortest.Response {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/reference/docs", file))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	return connectortest.Response{Method: http.MethodGet, Path: "/v1.0" + path, Body: b,
		Header: http.Header{"Content-Type": {"application/json"}}, Source: "docs: " + file}
}

// collection wraps documented objects (single ones or the items of documented lists) into
// one collection response; edit, if set, changes each item.
func collection(t *testing.T, path string, edit func(map[string]any), files ...string) connectortest.Response {
	t.Helper()
	var items []any
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("testdata/reference/docs", f))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		list := []any{m}
		if v, ok := m["value"].([]any); ok {
			list = v
		}
		delete(m, "@odata.context")
		for _, it := range list {
			if edit != nil {
				edit(it.(map[string]any))
			}
			items = append(items, it)
		}
	}
	b, _ := json.Marshal(map[string]any{"value": items})
	return connectortest.Response{Method: http.MethodGet, Path: "/v1.0" + path, Body: b,
		Header: http.Header{"Content-Type": {"application/json"}}, Source: "docs: " + strings.Join(files, ", ")}
}

// replayHarness serves the documented examples for their paths and the good simulated
// tenant for everything else, to the real connector.
func replayHarness(t *testing.T, responses ...connectortest.Response) *harness {
	t.Helper()
	s := sim.New(sim.Options{Posture: sim.PostureGood, Now: func() time.Time { return testNow }})
	rp := connectortest.NewReplay(responses...)
	paths := map[string]bool{}
	for _, r := range responses {
		paths[r.Path] = true
	}
	srv, err := simkit.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if paths[r.URL.Path] {
			rp.ServeHTTP(w, r)
			return
		}
		s.Handler().ServeHTTP(w, r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		for _, u := range rp.Unused() {
			t.Errorf("the connector never read the documented %s", u)
		}
	})
	h := &harness{sim: s, srv: srv, store: mem.New(), clock: &fakeClock{now: testNow}}
	h.conn = h.newConnector(t, sim.DemoSettings(srv.URL))
	return h
}

// TestDocumentedExamples serves Microsoft's documented v1.0 response examples to the real
// connector and checks the verdicts they imply, worked out from the docs' words.
func TestDocumentedExamples(t *testing.T) {
	rs := loadRules(t)
	enableForAll := func(m map[string]any) {
		m["state"] = "enabled"
		m["conditions"].(map[string]any)["users"].(map[string]any)["includeUsers"] = []any{"All"}
	}
	tests := []struct {
		name      string
		responses func(t *testing.T) []connectortest.Response
		want      map[string]controls.Outcome
		reason    map[string][]string // assessment question → substrings of its reason, in the conditional access document
	}{
		{"listed policies: both disabled", func(t *testing.T) []connectortest.Response {
			return []connectortest.Response{docExample(t, "/identity/conditionalAccess/policies", "conditionalaccessroot-list-policies.json", nil)}
		}, map[string]controls.Outcome{
			"msgraph.entra.conditional_access.mfa_all_users":       controls.Fail,
			"msgraph.entra.conditional_access.legacy_auth_blocked": controls.Fail,
			"msgraph.entra.security_defaults.baseline":             controls.Fail,
		}, map[string][]string{"mfaAllUsers": {"no enabled policy demands MFA", "SimplePolicy2"}}},
		// conditionalaccesspolicy-get: "Demo app for documentation", enabled and for All
		// users: its grant accepts a compliant or joined device, an approved or compliant
		// app instead of MFA (OR), and its conditions limit it (no browser, not iOS or
		// Windows Phone, trusted locations only, medium and low sign-in risk, seven apps
		// and guests excluded). MFA is not demanded for everyone.
		{"the documented example policy enabled for All users", func(t *testing.T) []connectortest.Response {
			return []connectortest.Response{
				collection(t, "/identity/conditionalAccess/policies", enableForAll, "conditionalaccesspolicy-get.json"),
				docExample(t, "/identity/conditionalAccess/namedLocations", "conditionalaccessroot-list-namedlocations.json", nil),
				docExample(t, "/policies/authenticationStrengthPolicies", "authenticationstrengthroot-list-policies.json", nil),
			}
		}, map[string]controls.Outcome{
			"msgraph.entra.conditional_access.mfa_all_users":             controls.Fail,
			"msgraph.entra.conditional_access.compliant_device_required": controls.Fail,
			"msgraph.entra.conditional_access.legacy_auth_blocked":       controls.Fail,
		}, map[string][]string{"mfaAllUsers": {"no enabled policy demands MFA"}}},
		// The same policy demanding MFA alone: now its conditions decide.
		{"the documented example policy enabled for All users, MFA only", func(t *testing.T) []connectortest.Response {
			r := collection(t, "/identity/conditionalAccess/policies", func(p map[string]any) {
				enableForAll(p)
				p["grantControls"].(map[string]any)["builtInControls"] = []any{"mfa"}
				p["grantControls"].(map[string]any)["termsOfUse"] = []any{}
			}, "conditionalaccesspolicy-get.json")
			return []connectortest.Response{r,
				docExample(t, "/identity/conditionalAccess/namedLocations", "conditionalaccessroot-list-namedlocations.json", nil)}
		}, map[string]controls.Outcome{"msgraph.entra.conditional_access.mfa_all_users": controls.Fail},
			map[string][]string{"mfaAllUsers": {
				"left out", "(excluded by Demo app for documentation (excludeUsers GuestsOrExternalUsers))",
				"application: ", "clientAppType: browser", "platform: iOS, windowsPhone", "location: ", "signInRisk: high, none"}}},
		// conditionalaccessroot-post-policies examples 1 and 2: MFA for Exchange Online
		// outside trusted locations and a block from some regions, both for one group.
		{"the documented created policies", func(t *testing.T) []connectortest.Response {
			return []connectortest.Response{collection(t, "/identity/conditionalAccess/policies", nil,
				"conditionalaccessroot-post-policies-1.json", "conditionalaccessroot-post-policies-2.json")}
		}, map[string]controls.Outcome{"msgraph.entra.conditional_access.mfa_all_users": controls.Fail},
			map[string][]string{"mfaAllUsers": {"left out", "(not included)"}}},
		// subscribedsku-list: an Office 365 E5 without Entra ID P1 and a suspended CRM
		// subscription; identitysecuritydefaultsenforcementpolicy-get: security defaults on.
		// Without P1 there is no conditional access to judge (a licence gap, not a failed
		// control), and security defaults are the baseline, which holds.
		{"the documented licences and security defaults", func(t *testing.T) []connectortest.Response {
			return []connectortest.Response{
				docExample(t, "/subscribedSkus", "subscribedsku-list.json", nil),
				docExample(t, "/policies/identitySecurityDefaultsEnforcementPolicy", "identitysecuritydefaultsenforcementpolicy-get.json", nil),
			}
		}, map[string]controls.Outcome{"msgraph.entra.security_defaults.baseline": controls.Pass}, nil},
		// authorizationpolicy-get: everyone may invite guests and register apps; the
		// assigned grant policy is no self-consent policy.
		{"the documented authorization policy", func(t *testing.T) []connectortest.Response {
			return []connectortest.Response{docExample(t, "/policies/authorizationPolicy", "authorizationpolicy-get.json", nil)}
		}, map[string]controls.Outcome{
			"msgraph.entra.authorization_policy.guest_invites_restricted":   controls.Fail,
			"msgraph.entra.authorization_policy.users_cannot_register_apps": controls.Fail,
			"msgraph.entra.authorization_policy.user_consent_restricted":    controls.Pass,
		}, nil},
		// accessreviewset-list-definitions: a weekly review of one group's members and a
		// quarterly review of guests across all Microsoft 365 groups.
		{"the documented access review definitions", func(t *testing.T) []connectortest.Response {
			return []connectortest.Response{collection(t, "/identityGovernance/accessReviews/definitions", nil,
				"accessreviewset-list-definitions-1.json", "accessreviewset-list-definitions-2.json")}
		}, map[string]controls.Outcome{
			"msgraph.entra.access_reviews.guests":           controls.Pass,
			"msgraph.entra.access_reviews.privileged_roles": controls.Fail,
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := replayHarness(t, tt.responses(t)...)
			arts, err := h.collect(t, context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "the documented licences and security defaults" {
				for _, k := range []string{KindConditionalAccess, KindBreakGlass, KindRiskPolicies} {
					if status(arts[k]) != evidence.StatusNotLicensed {
						t.Errorf("%s: %s (%s), want not_licensed", k, status(arts[k]), arts[k].Error)
					}
				}
			}
			results := map[string]controls.Result{}
			for _, a := range arts {
				if status(a) != evidence.StatusOK {
					continue
				}
				for _, res := range rs.Evaluate(a.Kind, a.Subject, a.Document, testNow) {
					results[res.Rule] = res
				}
			}
			for rule, want := range tt.want {
				res, ok := results[rule]
				if !ok {
					t.Errorf("%s: not evaluated", rule)
					continue
				}
				if res.Outcome != want {
					t.Errorf("%s: %s, want %s (%s)", rule, res.Outcome, want, res.Detail())
				}
			}
			if len(tt.reason) == 0 {
				return
			}
			assessment, _ := decodeDoc(t, arts[KindConditionalAccess])["assessment"].(map[string]any)
			for q, subs := range tt.reason {
				ans, _ := assessment[q].(map[string]any)
				reason, _ := ans["reason"].(string)
				for _, s := range subs {
					if !strings.Contains(reason, s) {
						t.Errorf("%s: reason %q lacks %q", q, reason, s)
					}
				}
			}
		})
	}
}
