package github

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gh "github.com/google/go-github/v60/github"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/core/connector"
)

// fixtureRoutes map request paths (below /api/v3) to recorded-style responses in testdata/.
var fixtureRoutes = map[string]string{
	"/orgs/octo-org":                                       "org.json",
	"/orgs/octo-org/members?role=admin":                    "members_admin.json",
	"/orgs/octo-org/members?filter=2fa_disabled":           "[]",
	"/orgs/octo-org/members?filter=2fa_insecure":           "[]",
	"/orgs/octo-org/outside_collaborators":                 "[]",
	"/orgs/octo-org/actions/permissions":                   "actions_permissions.json",
	"/orgs/octo-org/actions/permissions/selected-actions":  "selected_actions.json",
	"/orgs/octo-org/actions/permissions/workflow":          "workflow_permissions.json",
	"/orgs/octo-org/hooks":                                 "hooks.json",
	"/orgs/octo-org/audit-log":                             "audit_log.json",
	"/orgs/octo-org/repos":                                 "repos.json",
	"/orgs/octo-org/dependabot/alerts":                     "dependabot_alerts.json",
	"/orgs/octo-org/code-scanning/alerts":                  "code_scanning_alerts.json",
	"/orgs/octo-org/secret-scanning/alerts":                "secret_scanning_alerts.json",
	"/repos/octo-org/Hello-World/branches/main/protection": "branch_protection.json",
	"/repos/octo-org/Hello-World/rulesets":                 "rulesets.json",
	"/repos/octo-org/Hello-World/rulesets/42":              "ruleset_42.json",
	"/repos/octo-org/Hello-World/collaborators":            "collaborators.json",
	"/repos/octo-org/Hello-World/vulnerability-alerts":     "204",
	"/repos/octo-org/Hello-World/contents/SECURITY.md":     "content_security.json",
	"/rate_limit": "rate_limit.json",
}

// serveFixtures serves testdata under /api/v3, as GitHub Enterprise Server would.
func serveFixtures(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p, ok := strings.CutPrefix(r.URL.Path, "/api/v3")
		if !ok {
			http.NotFound(w, r)
			return
		}
		name, ok := fixtureRoutes[p]
		for _, key := range []string{"role", "filter"} {
			if v := r.URL.Query().Get(key); v != "" {
				name, ok = fixtureRoutes[p+"?"+key+"="+v]
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case !ok:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`))
		case name == "204":
			w.WriteHeader(http.StatusNoContent)
		case name == "[]":
			w.Write([]byte("[]"))
		default:
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Errorf("fixture %s: %v", name, err)
			}
			w.Write(b)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestFixturesDecode decodes every fixture through go-github's own typed methods, so the
// fixtures are known to have the shapes go-github expects.
func TestFixturesDecode(t *testing.T) {
	srv := serveFixtures(t)
	c, err := gh.NewClient(nil).WithEnterpriseURLs(srv.URL+"/api/v3/", srv.URL+"/api/v3/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const org, repo = "octo-org", "Hello-World"
	tests := []struct {
		name  string
		check func() (bool, error)
	}{
		{"organisation", func() (bool, error) {
			o, _, err := c.Organizations.Get(ctx, org)
			return o.GetTwoFactorRequirementEnabled() && o.GetDefaultRepoPermission() == "read" && o.GetPlan().GetName() == "enterprise", err
		}},
		{"repositories", func() (bool, error) {
			rs, _, err := c.Repositories.ListByOrg(ctx, org, nil)
			return len(rs) == 1 && rs[0].GetSecurityAndAnalysis().GetSecretScanningPushProtection().GetStatus() == "disabled", err
		}},
		{"branch protection", func() (bool, error) {
			p, _, err := c.Repositories.GetBranchProtection(ctx, org, repo, "main")
			return p.GetRequiredPullRequestReviews().RequiredApprovingReviewCount == 2 && !p.GetEnforceAdmins().Enabled && len(p.GetRequiredPullRequestReviews().GetBypassPullRequestAllowances().Users) == 1, err
		}},
		{"unprotected branch is ErrBranchNotProtected or 404", func() (bool, error) {
			_, _, err := c.Repositories.GetBranchProtection(ctx, org, repo, "other")
			return isNotFound(err), nil
		}},
		{"collaborators", func() (bool, error) {
			us, _, err := c.Repositories.ListCollaborators(ctx, org, repo, nil)
			return len(us) == 3 && us[0].GetRoleName() == "admin" && us[2].Permissions["push"], err
		}},
		{"dependabot alerts", func() (bool, error) {
			as, _, err := c.Dependabot.ListOrgAlerts(ctx, org, nil)
			return len(as) == 2 && as[0].GetSecurityAdvisory().GetSeverity() == "high" && as[0].GetRepository().GetFullName() == "octo-org/Hello-World", err
		}},
		{"code scanning alerts", func() (bool, error) {
			as, _, err := c.CodeScanning.ListAlertsForOrg(ctx, org, nil)
			return len(as) == 1 && as[0].GetRule().GetSecuritySeverityLevel() == "high", err
		}},
		{"secret scanning alerts hide the secret", func() (bool, error) {
			as, _, err := c.SecretScanning.ListAlertsForOrg(ctx, org, nil)
			return len(as) == 1 && as[0].Secret == nil && as[0].GetSecretType() == "adafruit_io_key", err
		}},
		{"actions permissions", func() (bool, error) {
			p, _, err := c.Actions.GetActionsPermissions(ctx, org)
			return p.GetAllowedActions() == "selected", err
		}},
		{"selected actions", func() (bool, error) {
			a, _, err := c.Actions.GetActionsAllowed(ctx, org)
			return a.GetGithubOwnedAllowed() && len(a.PatternsAllowed) == 2, err
		}},
		{"workflow permissions", func() (bool, error) {
			w, _, err := c.Actions.GetDefaultWorkflowPermissionsInOrganization(ctx, org)
			return w.GetDefaultWorkflowPermissions() == "read" && !w.GetCanApprovePullRequestReviews(), err
		}},
		{"hooks", func() (bool, error) {
			hs, _, err := c.Organizations.ListHooks(ctx, org, nil)
			return len(hs) == 1 && hs[0].GetConfig().GetSecret() == "********", err
		}},
		{"audit log", func() (bool, error) {
			es, _, err := c.Organizations.GetAuditLog(ctx, org, nil)
			return len(es) == 3 && es[2].AdditionalFields["repo"] == "mona-org/mona-test-repo", err
		}},
		{"rate limit", func() (bool, error) {
			rl, _, err := c.RateLimit.Get(ctx)
			return rl.GetCore().Remaining == 4999, err
		}},
		{"security policy", func() (bool, error) {
			f, _, _, err := c.Repositories.GetContents(ctx, org, repo, "SECURITY.md", nil)
			return f.GetName() == "SECURITY.md", err
		}},
		{"dependabot alerts enabled", func() (bool, error) {
			on, _, err := c.Repositories.GetVulnerabilityAlerts(ctx, org, repo)
			return on, err
		}},
		{"go-github v60 cannot decode a ruleset with a merge queue", func() (bool, error) {
			// The reason rulesets are decoded by this package (google/go-github#3098).
			_, _, err := c.Repositories.GetRuleset(ctx, org, repo, 42, true)
			return err != nil && strings.Contains(err.Error(), "not yet implemented"), nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := tc.check()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				t.Error("fixture decoded, but not as expected")
			}
		})
	}
}

// TestFixturesCollect runs the connector against the fixtures and checks the documents it
// derives from real-shaped responses.
func TestFixturesCollect(t *testing.T) {
	srv := serveFixtures(t)
	st, err := config.NewSettings("test.yaml", "orgs: [octo-org]\nbase_url: "+srv.URL+"/api/v3/\ntoken_env: GH_TOKEN\n")
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	c, err := (&Factory{sleep: clock.Sleep}).New(st, connector.Options{Now: clock.Now, Secrets: envSecrets{"GH_TOKEN": testToken}})
	if err != nil {
		t.Fatal(err)
	}
	arts, list := collect(t, c)
	if g := gaps(list); len(g) > 0 {
		t.Fatalf("gaps:\n%s", strings.Join(g, "\n"))
	}
	const repo = "github:octo-org/Hello-World"
	eff := doc(t, arts, kindEffectiveProtection, repo)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"reviews: the stricter of classic (2) and ruleset (1)", at(eff, "effective.required_approving_review_count"), 2.0},
		{"status checks of both", at(eff, "effective.required_status_checks"), []any{"build", "continuous-integration/travis-ci"}},
		{"signatures from the ruleset", at(eff, "effective.require_signed_commits"), true},
		{"admins exempt from classic, role 5 bypasses the ruleset", at(eff, "bypass_possible"), true},
		{"evaluate-mode ruleset ignored", at(eff, "ignored_rulesets"), nil},
		{"merge queue kept in the raw ruleset", strings.Contains(string(arts[kindRulesets+" "+repo].Document), `"type":"merge_queue"`), true},
		{"owner not counted as granted admin", at(doc(t, arts, kindCollaborators, repo), "admins_excluding_owners"), []any{"hubot"}},
		{"push protection", at(doc(t, arts, kindSecurityAnalysis, repo), "secret_scanning_push_protection"), "disabled"},
		{"alert of an unknown repository left out", at(doc(t, arts, kindDependabotAlerts, "github:octo-org"), "out_of_scope"), 1.0},
		{"alert in scope", at(doc(t, arts, kindDependabotAlerts, "github:octo-org"), "count"), 1.0},
		{"code scanning severity", at(doc(t, arts, kindCodeScanningAlerts, "github:octo-org"), "count"), 1.0},
		{"webhook URL reduced to its host", strings.Contains(string(arts[kindWebhooks+" github:octo-org"].Document), "should-not-reach-documents"), false},
		{"audit events", len(at(doc(t, arts, kindAuditLog, "github:octo-org"), "events").([]any)), 3},
		{"security policy", at(doc(t, arts, kindSecurityPolicy, repo), "path"), "SECURITY.md"},
	}
	for _, tc := range tests {
		if tc.name == "evaluate-mode ruleset ignored" {
			ign := tc.got.([]any)
			if len(ign) != 1 || at(ign[0].(map[string]any), "ruleset_id") != 43.0 {
				t.Errorf("%s: %v", tc.name, ign)
			}
			continue
		}
		if !equalJSON(tc.got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
}
