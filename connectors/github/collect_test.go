package github

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/evidence"
)

// TestCollectDemoOrg collects the demo organisation through go-github under the /api/v3
// base path and checks the evidence an auditor relies on.
func TestCollectDemoOrg(t *testing.T) {
	e := startSim(t, sim.Options{})
	arts, list := collect(t, e.connector(t, e.settings(), connector.Limits{}))
	if g := gaps(list); len(g) > 0 {
		t.Fatalf("the demo organisation has no gaps, got:\n%s", strings.Join(g, "\n"))
	}

	// Every kind the factory declares is emitted, and nothing undeclared.
	declared := map[string]bool{}
	for _, k := range (&Factory{}).Kinds() {
		declared[k.Name] = true
	}
	seen := map[string]bool{}
	for _, a := range list {
		if !declared[a.Kind] {
			t.Errorf("undeclared kind %s", a.Kind)
		}
		seen[a.Kind] = true
		if len(a.Exchanges) == 0 {
			t.Errorf("%s %s carries no exchanges: its document cannot be re-derived", a.Kind, a.Subject)
		}
	}
	for k := range declared {
		if !seen[k] {
			t.Errorf("kind %s never emitted", k)
		}
	}

	tests := []struct {
		name, kind, subject, path string
		want                      any
	}{
		{"2FA required", kindOrgSettings, "github:acme", "two_factor_requirement_enabled", true},
		{"base permission", kindOrgSettings, "github:acme", "default_repository_permission", "read"},
		{"plan", kindOrgSettings, "github:acme", "plan", "enterprise"},
		{"owners", kindOwners, "github:acme", "count", 2.0},
		{"workflow token read-only", kindWorkflowPermissions, "github:acme", "default_workflow_permissions", "read"},
		{"selected actions", kindActionsPermissions, "github:acme", "selected_actions.github_owned_allowed", true},
		{"hook secret", kindWebhooks, "github:acme", "hooks", nil}, // checked below
		{"404 protection is evidence", kindBranchProtection, "github:acme/legacy-billing", "protected", false},
		{"404 reason", kindBranchProtection, "github:acme/legacy-billing", "reason", "Branch not protected"},
		{"unprotected", kindEffectiveProtection, "github:acme/legacy-billing", "protected", false},
		{"stale reviews kept", kindEffectiveProtection, "github:acme/web-frontend", "effective.dismiss_stale_reviews", false},
		{"classic protected", kindEffectiveProtection, "github:acme/payments-api", "effective.required_approving_review_count", 2.0},
		{"admins included", kindEffectiveProtection, "github:acme/payments-api", "bypass_possible", false},
		{"ruleset only", kindEffectiveProtection, "github:acme/payments-worker", "classic_protection", "absent"},
		{"ruleset protects", kindEffectiveProtection, "github:acme/payments-worker", "effective.require_signed_commits", true},
		{"ruleset reviews", kindEffectiveProtection, "github:acme/infra-terraform", "effective.required_approving_review_count", 2.0},
		{"classic plus ruleset", kindEffectiveProtection, "github:acme/identity-service", "effective.require_linear_history", true},
		{"dependabot enabled", kindVulnAlerts, "github:acme/payments-api", "enabled", true},
		{"security policy", kindSecurityPolicy, "github:acme/web-frontend", "present", true},
		{"secret scanning", kindSecurityAnalysis, "github:acme/payments-api", "secret_scanning", "enabled"},
		{"owner not counted", kindCollaborators, "github:acme/payments-api", "admins_excluding_owners", []any{"carol"}},
		{"audit log", kindAuditLog, "github:acme", "available", true},
		{"inventory", kindRepositories, "github:acme", "count", 12.0},
		{"dependabot alerts", kindDependabotAlerts, "github:acme", "count", 3.0},
		{"code scanning alerts", kindCodeScanningAlerts, "github:acme", "count", 1.0},
		{"secret scanning alerts", kindSecretScanAlerts, "github:acme", "count", 0.0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := doc(t, arts, tc.kind, tc.subject)
			if tc.want == nil {
				return
			}
			if got := at(d, tc.path); !equalJSON(got, tc.want) {
				t.Errorf("%s.%s = %#v, want %#v", tc.kind, tc.path, got, tc.want)
			}
		})
	}

	// The evaluate-mode organisation baseline is listed, and ignored, on every repository.
	ign := at(doc(t, arts, kindEffectiveProtection, "github:acme/infra-terraform"), "ignored_rulesets").([]any)
	if len(ign) != 2 {
		t.Errorf("infra-terraform ignored rulesets = %v, want the evaluate-mode repository and organisation rulesets", ign)
	}
	// The archived repository is in the inventory but not collected in depth.
	if _, ok := arts[kindEffectiveProtection+" github:acme/old-prototype"]; ok {
		t.Error("the archived repository was collected in depth")
	}
	if !strings.Contains(string(arts[kindRepositories+" github:acme"].Document), `"name":"old-prototype","full_name":"acme/old-prototype","visibility":"private","archived":true`) {
		t.Error("the archived repository is missing from the inventory")
	}
	// No request was made twice (organisation rulesets and the default SECURITY.md are cached).
	if rep := e.sim.Harness().Repeated(); len(rep) > 0 {
		t.Errorf("requests repeated: %v", rep)
	}
	// Secret scanning is always asked to hide the secrets.
	for _, q := range e.sim.Queries("/orgs/acme/secret-scanning/alerts") {
		if !strings.Contains(q, "hide_secret=true") {
			t.Errorf("secret scanning listed without hide_secret: %q", q)
		}
	}
}

// TestDeterministicDocuments: unchanged evidence yields the same bytes.
func TestDeterministicDocuments(t *testing.T) {
	e := startSim(t, sim.Options{Repos: 40, Seed: 3, WeakOrg: true})
	first, _ := collect(t, e.connector(t, e.settings(), connector.Limits{}))
	second, _ := collect(t, e.connector(t, e.settings("concurrency: 1"), connector.Limits{}))
	if len(first) != len(second) {
		t.Fatalf("%d artefacts, then %d", len(first), len(second))
	}
	for k, a := range first {
		if a.Kind == kindRateLimit {
			continue // the remaining quota is expected to change
		}
		b := second[k]
		if a.Status != b.Status || !bytes.Equal(a.Document, b.Document) {
			t.Errorf("%s differs between runs:\n%s\n%s", k, a.Document, b.Document)
		}
	}
}

// TestPagination merges pages: ten per page gives the same documents as a hundred.
func TestPagination(t *testing.T) {
	e := startSim(t, sim.Options{Repos: 120, Seed: 1, WeakOrg: true})
	e.sim.Org().Owners = append(e.sim.Org().Owners, "o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o9", "o10", "o11")
	big, _ := collect(t, e.connector(t, e.settings(), connector.Limits{}))
	e.sim.Harness().ResetCounts()
	small, _ := collect(t, e.connector(t, e.settings("per_page: 10"), connector.Limits{}))
	calls := e.sim.Harness().Calls()
	for _, want := range []string{
		"GET /api/v3/orgs/acme/repos?direction=asc&page=12&per_page=10&sort=full_name&type=all",
		"GET /api/v3/orgs/acme/members?page=2&per_page=10&role=admin",
		"GET /api/v3/repos/acme/svc-0000/collaborators?affiliation=all&page=2&per_page=10",
	} {
		if calls[want] != 1 {
			t.Errorf("%s requested %d times, want once", want, calls[want])
		}
	}
	cursor := 0
	for k := range calls {
		if strings.HasPrefix(k, "GET /api/v3/orgs/acme/dependabot/alerts?") && strings.Contains(k, "after=") {
			cursor++
		}
	}
	if cursor < 2 {
		t.Errorf("dependabot alerts followed %d after= cursors, want several pages", cursor)
	}
	for k, a := range big {
		if a.Kind == kindRateLimit {
			continue
		}
		if b, ok := small[k]; !ok || !bytes.Equal(a.Document, b.Document) {
			t.Errorf("%s: per_page 10 and 100 disagree:\n%s\n%s", k, a.Document, small[k].Document)
		}
	}
	if n := at(doc(t, small, kindRepositories, "github:acme"), "count"); n != 120.0 {
		t.Errorf("inventory count = %v, want 120", n)
	}
}

// TestGaps: a 403 becomes a forbidden gap for that artefact only; plan-dependent
// features are not_available; the rest of the run goes on.
func TestGaps(t *testing.T) {
	tests := []struct {
		name   string
		opts   sim.Options
		extra  []string
		want   map[string]evidence.Status // "kind subject" → status
		checks func(t *testing.T, arts map[string]evidence.Artefact)
	}{
		{
			name: "403 on one repository's collaborators",
			opts: sim.Options{Faults: []simkit.Fault{sim.NotAccessible(`/repos/acme/payments-api/collaborators$`, 0)}},
			want: map[string]evidence.Status{
				kindCollaborators + " github:acme/payments-api": evidence.StatusForbidden,
				kindCollaborators + " github:acme/mobile-app":   evidence.StatusOK,
			},
		},
		{
			name: "team plan without Advanced Security",
			opts: sim.Options{Plan: "team", NoAdvancedSecurity: true},
			want: map[string]evidence.Status{
				kindAuditLog + " github:acme":           evidence.StatusNotAvailable,
				kindCodeScanningAlerts + " github:acme": evidence.StatusNotAvailable,
				kindSecretScanAlerts + " github:acme":   evidence.StatusOK,
				kindOrgSettings + " github:acme":        evidence.StatusOK,
			},
		},
		{
			name: "free plan cannot protect private repositories",
			opts: sim.Options{Plan: "free"},
			want: map[string]evidence.Status{
				kindBranchProtection + " github:acme/payments-api":    evidence.StatusNotAvailable,
				kindRulesets + " github:acme/payments-api":            evidence.StatusNotAvailable,
				kindEffectiveProtection + " github:acme/payments-api": evidence.StatusOK,
				kindBranchProtection + " github:acme/web-frontend":    evidence.StatusOK,
			},
			checks: func(t *testing.T, arts map[string]evidence.Artefact) {
				d := doc(t, arts, kindEffectiveProtection, "github:acme/payments-api")
				if d["protected"] != false || d["classic_protection"] != "not_available" {
					t.Errorf("free plan private repository: %v", d)
				}
			},
		},
		{
			name: "a transient 500 and a truncated body are retried, every attempt recorded",
			opts: sim.Options{Faults: []simkit.Fault{
				{Path: `/repos/acme/payments-api/collaborators$`, Kind: simkit.ServerError, Times: 1},
				{Path: `/repos/acme/mobile-app/collaborators$`, Kind: simkit.Truncate, Times: 1},
			}},
			want: map[string]evidence.Status{
				kindCollaborators + " github:acme/payments-api": evidence.StatusOK,
				kindCollaborators + " github:acme/mobile-app":   evidence.StatusOK,
			},
			checks: func(t *testing.T, arts map[string]evidence.Artefact) {
				for repo, first := range map[string]int{"payments-api": 500, "mobile-app": 0} {
					var got []int
					for _, x := range arts[kindCollaborators+" github:acme/"+repo].Exchanges {
						if strings.Contains(x.URL, "/collaborators") {
							if x.Body.Digest.IsZero() {
								got = append(got, 0)
							} else {
								got = append(got, x.Status)
							}
						}
					}
					if len(got) != 2 || got[0] != first || got[1] != 200 {
						t.Errorf("%s: collaborator attempts recorded %v, want [%d 200]", repo, got, first)
					}
				}
			},
		},
		{
			name: "owner filter refused",
			opts: sim.Options{Faults: []simkit.Fault{{Path: `/orgs/acme/members$`, Kind: simkit.Custom, Status: 422,
				Body: `{"message":"Only owners can use this filter.","documentation_url":"https://docs.github.com/rest/orgs/members#list-organization-members"}`, Times: 1}}},
			want: map[string]evidence.Status{kindOwners + " github:acme": evidence.StatusForbidden},
		},
		{
			name: "repository listing refused: every per-repository kind is a gap at the organisation",
			opts: sim.Options{Faults: []simkit.Fault{sim.NotAccessible(`/orgs/acme/repos$`, 0)}},
			want: map[string]evidence.Status{
				kindRepositories + " github:acme":        evidence.StatusForbidden,
				kindSecurityAnalysis + " github:acme":    evidence.StatusForbidden,
				kindBranchProtection + " github:acme":    evidence.StatusForbidden,
				kindRulesets + " github:acme":            evidence.StatusForbidden,
				kindEffectiveProtection + " github:acme": evidence.StatusForbidden,
				kindCollaborators + " github:acme":       evidence.StatusForbidden,
				kindVulnAlerts + " github:acme":          evidence.StatusForbidden,
				kindSecurityPolicy + " github:acme":      evidence.StatusForbidden,
			},
		},
		{
			name: "a plain member sees no owner-only settings: forbidden gaps, not defaults",
			opts: sim.Options{Access: sim.AccessMember},
			want: map[string]evidence.Status{
				kindOrgSettings + " github:acme":                   evidence.StatusForbidden,
				kindMembersWithout2FA + " github:acme":             evidence.StatusForbidden,
				kindMembersInsecure2FA + " github:acme":            evidence.StatusForbidden,
				kindSecurityAnalysis + " github:acme/payments-api": evidence.StatusForbidden,
				kindVulnAlerts + " github:acme/payments-api":       evidence.StatusForbidden,
				kindOwners + " github:acme":                        evidence.StatusOK,
			},
		},
		{
			name:  "audit log switched off",
			opts:  sim.Options{},
			extra: []string{"audit_log: false"},
			checks: func(t *testing.T, arts map[string]evidence.Artefact) {
				if _, ok := arts[kindAuditLog+" github:acme"]; ok {
					t.Error("audit log collected although switched off")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startSim(t, tc.opts)
			arts, _ := collect(t, e.connector(t, e.settings(tc.extra...), connector.Limits{}))
			for k, want := range tc.want {
				a, ok := arts[k]
				if !ok {
					t.Errorf("%s missing", k)
					continue
				}
				if a.Status != want {
					t.Errorf("%s: status %s (%s), want %s", k, a.Status, a.Error, want)
				}
			}
			if tc.checks != nil {
				tc.checks(t, arts)
			}
		})
	}
}

// TestCancelMidPagination cancels while the repository listing hangs on its third page:
// Collect returns promptly with the context's error, having emitted only complete evidence.
func TestCancelMidPagination(t *testing.T) {
	e := startSim(t, sim.Options{Repos: 300, Faults: []simkit.Fault{{Path: `/orgs/acme/repos\?.*page=3&`, Kind: simkit.Hang}}})
	c := e.connector(t, e.settings("per_page: 20"), connector.Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repos := 0
	err := c.Collect(ctx, func(a evidence.Artefact) error {
		if a.Status.IsGap() {
			t.Errorf("gap emitted: %s %s: %s", a.Kind, a.Subject, a.Error)
		}
		if a.Kind == kindEffectiveProtection {
			if repos++; repos == 30 {
				cancel() // page 3 is hanging by now or soon: page 2's repositories are being emitted
			}
		}
		return nil
	})
	if !isCanceled(err) {
		t.Fatalf("Collect = %v, want context.Canceled", err)
	}
	if repos >= 300 {
		t.Errorf("%d repositories emitted after cancellation", repos)
	}
	if n := e.sim.Harness().Calls()["GET /api/v3/orgs/acme/repos?direction=asc&page=4&per_page=20&sort=full_name&type=all"]; n != 0 {
		t.Errorf("page 4 requested after cancellation")
	}
}

// TestBadCredentials: rejected credentials end the collection with an error.
func TestBadCredentials(t *testing.T) {
	e := startSim(t, sim.Options{Token: "some-other-token"})
	err := e.connector(t, e.settings(), connector.Limits{}).Collect(context.Background(), func(evidence.Artefact) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "credentials were rejected") {
		t.Fatalf("Collect = %v, want rejected credentials", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Fatal("the error contains the token")
	}
}

func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// TestDemoSettings runs the connector exactly as `exhibit demo` does: sim.DemoSettings and
// the sim.DemoEnv secrets against a default simulator.
func TestDemoSettings(t *testing.T) {
	e := startSim(t, sim.Options{Token: sim.DemoToken})
	st, err := config.NewSettings("demo.yaml", sim.DemoSettings(e.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	c, err := (&Factory{}).New(st, connector.Options{Secrets: envSecrets(sim.DemoEnv())})
	if err != nil {
		t.Fatal(err)
	}
	arts, list := collect(t, c)
	if g := gaps(list); len(g) > 0 {
		t.Fatalf("demo gaps:\n%s", strings.Join(g, "\n"))
	}
	if d := doc(t, arts, kindEffectiveProtection, "github:acme/legacy-billing"); d["protected"] != false {
		t.Error("the demo's unprotected repository is protected")
	}
}
