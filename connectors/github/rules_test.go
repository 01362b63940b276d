package github

import (
	_ "embed"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/github/sim"
	"github.com/exhibit-dev/exhibit/core/connector"
	"github.com/exhibit-dev/exhibit/core/connector/connectortest"
	"github.com/exhibit-dev/exhibit/core/controls"
)

//go:embed rules.yaml
var rulesYAML []byte

// TestRules evaluates every rule of rules.yaml with the controls engine against documents
// the connector collected from simulated organisations: the demo organisation, a weak one
// and a small clean one. Every rule must pass somewhere and fail somewhere, never error, and
// the demo's deliberate failures must be caught.
func TestRules(t *testing.T) {
	rs, err := controls.ParseRules("rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, k := range (&Factory{}).Kinds() {
		declared[k.Name] = true
	}
	for _, r := range rs.Rules() {
		if !declared[r.Kind] {
			t.Errorf("rule %s judges kind %s, which the connector does not emit", r.ID, r.Kind)
		}
	}

	type verdict struct{ rule, subject string }
	results := map[verdict]controls.Result{}
	outcomes := map[string]map[controls.Outcome]int{}
	var now = newFakeClock().Now()
	for _, opts := range []sim.Options{
		{}, // demo: acme
		{Org: "weakcorp", Repos: 60, WeakOrg: true, Access: sim.AccessWrite}, // every failure mode; bypass actors visible
		{Org: "cleancorp", Repos: 3, Plan: "team"},                           // young alerts only; no audit log
	} {
		e := startSim(t, opts)
		_, list := collect(t, e.connector(t, e.settings(), connector.Limits{}))
		for _, a := range list {
			var res []controls.Result
			if a.Status.IsGap() {
				res = rs.Gap(a.Kind, a.Subject, a.Status, a.Error, nil)
			} else {
				res = rs.Evaluate(a.Kind, a.Subject, a.Document, now)
			}
			for _, r := range res {
				results[verdict{r.Rule, r.Subject}] = r
				if outcomes[r.Rule] == nil {
					outcomes[r.Rule] = map[controls.Outcome]int{}
				}
				outcomes[r.Rule][r.Outcome]++
				// The one expected error: bypass actors a read-only caller cannot see.
				if r.Outcome == controls.Error && !(r.Rule == "github.repo.default_branch_no_bypass" && strings.Contains(r.Message, "not visible with the granted permissions")) {
					t.Errorf("rule %s on %s: error %s", r.Rule, r.Subject, r.Message)
				}
			}
		}
	}
	for _, r := range rs.Rules() {
		o := outcomes[r.ID]
		if o[controls.Pass] == 0 {
			t.Errorf("rule %s never passes (%v)", r.ID, o)
		}
		// Audit log availability fails as a gap: below Enterprise Cloud there is no document.
		if o[controls.Fail] == 0 && !(r.ID == "github.org.audit_log_available" && o[controls.NoEvidence] > 0) {
			t.Errorf("rule %s never fails (%v)", r.ID, o)
		}
	}

	tests := []struct {
		rule, subject string
		want          controls.Outcome
		failing       string // an item the failing list must contain
	}{
		{"github.repo.default_branch_protected", "github:acme/legacy-billing", controls.Fail, ""},
		{"github.repo.default_branch_protected", "github:acme/payments-worker", controls.Pass, ""},
		{"github.repo.default_branch_protected", "github:acme/infra-terraform", controls.Pass, ""},
		{"github.repo.default_branch_stale_reviews_dismissed", "github:acme/web-frontend", controls.Fail, ""},
		{"github.repo.default_branch_stale_reviews_dismissed", "github:acme/legacy-billing", controls.NotApplicable, ""},
		{"github.repo.default_branch_no_bypass", "github:acme/payments-api", controls.Pass, ""},
		{"github.repo.default_branch_no_bypass", "github:weakcorp/tool-0005", controls.Fail, "ruleset:600005 RepositoryRole 5"},
		{"github.repo.admins_limited", "github:acme/payments-api", controls.Pass, ""},
		{"github.repo.admins_limited", "github:weakcorp/svc-0003", controls.Fail, "judy"},
		{"github.org.dependabot_alerts_within_sla", "github:acme", controls.Fail, "acme/data-pipeline#7 critical jackson-databind"},
		{"github.org.dependabot_alerts_within_sla", "github:cleancorp", controls.Pass, ""},
		{"github.org.members_have_2fa", "github:weakcorp", controls.Fail, "mallory"},
		{"github.org.two_factor_required", "github:acme", controls.Pass, ""},
		{"github.org.audit_log_available", "github:cleancorp", controls.NoEvidence, ""},
		{"github.org.webhooks_secured", "github:weakcorp", controls.Fail, "4102 ci.example.net"},
		{"github.org.inactive_repos_archived", "github:acme", controls.Pass, ""},
		{"github.repo.security_policy_present", "github:acme/sdk-go", controls.Pass, ""},
	}
	for _, tc := range tests {
		r, ok := results[verdict{tc.rule, tc.subject}]
		if !ok {
			t.Errorf("%s on %s: no verdict", tc.rule, tc.subject)
			continue
		}
		if r.Outcome != tc.want {
			t.Errorf("%s on %s: %s (%s), want %s", tc.rule, tc.subject, r.Outcome, r.Detail(), tc.want)
		}
		if tc.failing != "" && !slices.Contains(r.Failing, tc.failing) {
			t.Errorf("%s on %s: failing %v, want %q among them", tc.rule, tc.subject, r.Failing, tc.failing)
		}
	}
	if testing.Verbose() {
		ids := make([]string, 0, len(outcomes))
		for id := range outcomes {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			t.Logf("%-55s %v", id, outcomes[id])
		}
	}
}

// TestRuleCases runs the truth tables of testdata/rule_cases.yaml.
func TestRuleCases(t *testing.T) {
	connectortest.RuleCases(t, rulesYAML, "testdata/rule_cases.yaml")
}

// TestRulesRationale: every mapping of every shipped rule says why the evidence shows the
// control operating, and mappings found not to hold stay removed.
func TestRulesRationale(t *testing.T) {
	rs, err := controls.ParseRules("rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	removed := map[string][]string{
		// An archived repository is an inventory fact, not the handling of a vulnerability.
		"github.org.inactive_repos_archived": {"A.8.8"},
		// Third-party actions run in CI, not on operational systems.
		"github.org.actions_allowed_restricted": {"A.8.19"},
		// SECURITY.md addresses outside researchers, not personnel reporting events.
		"github.repo.security_policy_present": {"A.6.8"},
	}
	for _, r := range rs.Rules() {
		for fw, ids := range r.Controls {
			for _, id := range ids {
				if strings.TrimSpace(r.Rationale[fw][id]) == "" {
					t.Errorf("rule %s: %s %s has no rationale", r.ID, fw, id)
				}
			}
		}
		for _, id := range removed[r.ID] {
			if slices.Contains(r.Controls["iso27001-2022"], id) {
				t.Errorf("rule %s maps to %s again", r.ID, id)
			}
		}
	}
}
