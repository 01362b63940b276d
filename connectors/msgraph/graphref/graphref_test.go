package graphref

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t *testing.T) *Model {
	t.Helper()
	m, err := Load("../testdata/reference/sdk-models.json")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDocumentedExamples: the documented response examples conform to the SDK's model
// (the two extracts agree), except where the docs are known to differ from v1.0.
func TestDocumentedExamples(t *testing.T) {
	m := load(t)
	types := map[string]string{
		"conditionalaccessroot-list-policies":                         "conditionalAccessPolicy",
		"conditionalaccesspolicy-get":                                 "conditionalAccessPolicy",
		"conditionalaccessroot-post-policies":                         "conditionalAccessPolicy",
		"conditionalaccessroot-list-namedlocations":                   "namedLocation",
		"authenticationstrengthroot-list-policies":                    "authenticationStrengthPolicy",
		"accessreviewset-list-definitions":                            "accessReviewScheduleDefinition",
		"authorizationpolicy-get":                                     "authorizationPolicy",
		"microsoftauthenticatorauthenticationmethodconfiguration-get": "microsoftAuthenticatorAuthenticationMethodConfiguration",
		"identitysecuritydefaultsenforcementpolicy-get":               "identitySecurityDefaultsEnforcementPolicy",
		"subscribedsku-list":                                          "subscribedSku",
	}
	// The docs' example names the feature settings displayAppContextRequiredState and
	// displayLocationContextRequiredState; v1.0 (and the SDK) call them
	// displayAppInformationRequiredState and displayLocationInformationRequiredState.
	known := map[string]int{"microsoftauthenticatorauthenticationmethodconfiguration-get.json": 2}
	files, _ := filepath.Glob("../testdata/reference/docs/*.json")
	if len(files) < 12 {
		t.Fatalf("%d documented examples, want 12", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		typ := ""
		for prefix, ty := range types {
			if strings.HasPrefix(name, prefix) {
				typ = ty
			}
		}
		if typ == "" {
			t.Errorf("%s: no type known", name)
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var errs []error
		if strings.Contains(name, "-list-") || strings.HasSuffix(name, "-list.json") {
			errs = m.ValidateCollection(typ, b)
		} else {
			errs = m.ValidateEntity(typ, b)
		}
		if len(errs) != known[name] {
			t.Errorf("%s: %d deviations, want %d: %v", name, len(errs), known[name], errs)
		}
	}
}

// TestValidatorFinds: the checks catch what they are for.
func TestValidatorFinds(t *testing.T) {
	m := load(t)
	for _, tt := range []struct{ name, typ, body, want string }{
		{"unknown property", "conditionalAccessPolicy", `{"id":"x","stateX":"enabled"}`, "has no property stateX"},
		{"enum member", "conditionalAccessPolicy", `{"state":"ENABLED"}`, "want one of enum:conditionalAccessPolicyState"},
		{"enum in a collection", "conditionalAccessConditionSet", `{"clientAppTypes":["browser","legacy"]}`, "clientAppTypes[1]"},
		{"flags enum", "conditionalAccessAuthenticationFlows", `{"transferMethods":"deviceCodeFlow,qr"}`, "transferMethods"},
		{"nested type", "conditionalAccessPolicy", `{"conditions":{"users":{"includeUser":["All"]}}}`, "conditionalAccessUsers has no property includeUser"},
		{"derived type by @odata.type", "namedLocation", `{"@odata.type":"#microsoft.graph.ipNamedLocation","isTrusted":"yes"}`, "want a boolean"},
		{"wrong derived type", "namedLocation", `{"@odata.type":"#microsoft.graph.user"}`, "not namedLocation or derived"},
		{"date-time", "user", `{"createdDateTime":"yesterday"}`, "RFC 3339"},
		{"beta-only compliance policy type", "deviceCompliancePolicy", `{"@odata.type":"#microsoft.graph.androidDeviceOwnerCompliancePolicy"}`, "not deviceCompliancePolicy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := m.ValidateEntity(tt.typ, []byte(tt.body))
			if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", errs, tt.want)
			}
		})
	}
	if errs := ValidateError([]byte(`{"error":{"code":"x","message":"y","innerError":{}}}`)); errs != nil {
		t.Error(errs)
	}
	if errs := ValidateError([]byte(`Too Many Requests`)); errs == nil {
		t.Error("text body accepted as a Graph error")
	}
}
