package msgraph

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/connector/connectortest"
)

// TestConformance runs the conformance suite every connector passes (connectors/README.md).
func TestConformance(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.Run(t, connectortest.Harness{
		Factory:    Factory{},
		Start:      conformanceStart,
		Rules:      rules,
		RuleCases:  "testdata/rule_cases.yaml",
		README:     readme,
		Permission: graphPermissions,
		DeployPermissions: func() ([]string, error) {
			b, err := os.ReadFile("../../deploy/msgraph/permissions.md")
			if err != nil {
				return nil, err
			}
			// The first column of the permissions table: | `Policy.Read.All` | … |
			var out []string
			for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Za-z]*(?:\\.[A-Za-z]+)+)` \\|").FindAllStringSubmatch(string(b), -1) {
				out = append(out, m[1])
			}
			return out, nil
		},
	})
}

// conformanceStart serves the demo tenant behind wrap, with a clock that never sleeps.
func conformanceStart(t *testing.T, wrap func(http.Handler) http.Handler) connectortest.Connect {
	s := sim.New(sim.Options{Now: func() time.Time { return testNow }})
	srv, err := simkit.Serve(wrap(s.Handler()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	settings := sim.DemoSettings(srv.URL)
	return func(t *testing.T, opts connector.Options) connector.Connector {
		st, err := config.NewSettings("test.yaml", settings)
		if err != nil {
			t.Fatal(err)
		}
		opts.Now = func() time.Time { return testNow }
		opts.Secrets = &config.Secrets{LookupEnv: func(string) (string, bool) { return "", false }}
		c, err := Factory{}.New(st, opts)
		if err != nil {
			t.Fatal(err)
		}
		c.(*Connector).clock = &fakeClock{now: testNow}
		return c
	}
}

// graphCalls map Graph v1.0 paths to the least privileged application permissions the
// "Permissions" section of each API's v1.0 reference page names, written from the docs
// rather than from the connector's declarations.
var graphCalls = []struct {
	re    *regexp.Regexp
	perms []string
}{
	{regexp.MustCompile(`^/subscribedSkus$`), []string{"Organization.Read.All"}},
	{regexp.MustCompile(`^/organization$`), []string{"Organization.Read.All"}},
	{regexp.MustCompile(`^/domains$`), []string{"Domain.Read.All"}},
	{regexp.MustCompile(`^/policies/(identitySecurityDefaultsEnforcementPolicy|authorizationPolicy|adminConsentRequestPolicy|authenticationMethodsPolicy)$`), []string{"Policy.Read.All"}},
	{regexp.MustCompile(`^/identity/conditionalAccess/(policies|namedLocations)(/[^/]+)?$`), []string{"Policy.Read.All"}},
	{regexp.MustCompile(`^/groupSettings$`), []string{"Directory.Read.All"}},
	{regexp.MustCompile(`^/groups/[^/]+/transitiveMembers(/graph\.user)?$`), []string{"GroupMember.Read.All"}},
	{regexp.MustCompile(`^/policies/authenticationStrengthPolicies$`), []string{"Policy.Read.All"}},
	{regexp.MustCompile(`^/users(/[^/]+)?$`), []string{"User.Read.All"}},
	{regexp.MustCompile(`^/users/[^/]+/authentication/(methods|fido2Methods|microsoftAuthenticatorMethods|phoneMethods)$`), []string{"UserAuthenticationMethod.Read.All"}},
	{regexp.MustCompile(`^/reports/authenticationMethods/userRegistrationDetails$`), []string{"AuditLog.Read.All"}},
	{regexp.MustCompile(`^/auditLogs/(signIns|directoryAudits)$`), []string{"AuditLog.Read.All"}},
	{regexp.MustCompile(`^/roleManagement/directory/(roleAssignments|roleDefinitions|roleEligibilitySchedules|roleAssignmentSchedules|roleEligibilityScheduleInstances|roleAssignmentScheduleInstances)$`), []string{"RoleManagement.Read.Directory"}},
	{regexp.MustCompile(`^/directoryRoles$`), []string{"RoleManagement.Read.Directory"}},
	{regexp.MustCompile(`^/policies/roleManagementPolicies(/[^/]+(/rules)?)?$|^/policies/roleManagementPolicyAssignments$`), []string{"RoleManagementPolicy.Read.Directory"}},
	{regexp.MustCompile(`^/identityGovernance/accessReviews/definitions$`), []string{"AccessReview.Read.All"}},
	{regexp.MustCompile(`^/deviceManagement/managedDevices(/[^/]+(/windowsProtectionState)?)?$`), []string{"DeviceManagementManagedDevices.Read.All"}},
	{regexp.MustCompile(`^/deviceManagement/deviceCompliancePolicies(/[^/]+/(assignments|deviceStatuses))?$`), []string{"DeviceManagementConfiguration.Read.All"}},
}

// graphPermissions names the permissions one request needs; a JSON $batch needs those of
// each request it carries. Token and discovery requests need none.
func graphPermissions(r *http.Request, body []byte) ([]string, error) {
	path := r.URL.Path
	if strings.Contains(path, "/oauth2/") || strings.Contains(path, "/.well-known/") {
		return nil, nil
	}
	rel, ok := strings.CutPrefix(path, "/v1.0")
	if !ok {
		return nil, fmt.Errorf("not a Graph v1.0 call")
	}
	if rel == "/$batch" && r.Method == http.MethodPost {
		var b struct {
			Requests []struct{ Method, URL string }
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("$batch body: %w", err)
		}
		var out []string
		for _, q := range b.Requests {
			u, err := url.Parse(q.URL)
			if err != nil {
				return nil, err
			}
			p, err := graphCall(q.Method, "/"+strings.TrimPrefix(u.Path, "/"), u.Query())
			if err != nil {
				return nil, err
			}
			out = append(out, p...)
		}
		return out, nil
	}
	return graphCall(r.Method, rel, r.URL.Query())
}

func graphCall(method, rel string, q url.Values) ([]string, error) {
	if method != http.MethodGet {
		return nil, fmt.Errorf("the connector only reads, but made a %s request", method)
	}
	for _, c := range graphCalls {
		if c.re.MatchString(rel) {
			perms := c.perms
			// signInActivity of users needs AuditLog.Read.All besides User.Read.All.
			if rel == "/users" && strings.Contains(q.Get("$select"), "signInActivity") {
				perms = append([]string{"AuditLog.Read.All"}, perms...)
			}
			return perms, nil
		}
	}
	return nil, fmt.Errorf("no documented permission for GET %s in graphCalls", rel)
}
