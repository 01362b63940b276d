package msgraph

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/core/connector/connectortest"
	"github.com/exhibit-dev/exhibit/core/controls"
	"github.com/exhibit-dev/exhibit/evidence"
)

func loadRules(t *testing.T) *controls.RuleSet {
	t.Helper()
	data, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := controls.ParseRules("connectors/msgraph/rules.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestRulesKinds: every rule judges a kind the connector emits, and every kind with
// evidence to judge has at least one rule.
func TestRulesKinds(t *testing.T) {
	rs := loadRules(t)
	known := map[string]bool{}
	for _, k := range (Factory{}).Kinds() {
		known[k.Name] = true
	}
	for _, r := range rs.Rules() {
		if !known[r.Kind] {
			t.Errorf("rule %s judges unknown kind %s", r.ID, r.Kind)
		}
	}
	for k := range known {
		if k != KindLicences && len(rs.ForKind(k)) == 0 {
			t.Errorf("kind %s has no rule", k)
		}
	}
}

// evaluate collects a simulated tenant through the real SDK client and evaluates every
// rule on the documents: rule id → outcome (gaps are skipped: their rules are no_evidence).
func evaluate(t *testing.T, rs *controls.RuleSet, so sim.Options) map[string]controls.Result {
	t.Helper()
	h := newHarness(t, so, "", nil)
	arts, err := h.collect(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]controls.Result{}
	for _, a := range arts {
		if status(a) != evidence.StatusOK {
			continue
		}
		for _, res := range rs.Evaluate(a.Kind, a.Subject, a.Document, testNow) {
			out[res.Rule] = res
		}
	}
	return out
}

func TestRulesOnSimulatedTenants(t *testing.T) {
	rs := loadRules(t)
	demoFailures := map[string]bool{
		"msgraph.entra.conditional_access.legacy_auth_blocked": true,
		"msgraph.entra.role_assignments.global_admin_count":    true,
		"msgraph.entra.mfa_registration.members_mfa_capable":   true,
		"msgraph.entra.sign_in_activity.no_stale_accounts":     true,
		"msgraph.intune.managed_devices.compliant":             true,
	}
	// Without P2 these kinds are not_licensed gaps in the demo tenant.
	demoGaps := map[string]bool{}
	for _, k := range []string{KindRiskPolicies, KindPIMAssignments, KindPIMPolicies, KindAccessReviews} {
		for _, r := range rs.ForKind(k) {
			demoGaps[r.ID] = true
		}
	}
	tests := []struct {
		name    string
		posture sim.Posture
		want    func(rule string) controls.Outcome // "" = not evaluated
	}{
		{"good tenant passes every rule", sim.PostureGood, func(string) controls.Outcome { return controls.Pass }},
		{"bad tenant fails every rule", sim.PostureBad, func(string) controls.Outcome { return controls.Fail }},
		{"demo tenant has its deliberate failures", sim.PostureDemo, func(id string) controls.Outcome {
			switch {
			case demoGaps[id]:
				return ""
			case demoFailures[id]:
				return controls.Fail
			}
			return controls.Pass
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evaluate(t, rs, sim.Options{Posture: tt.posture})
			var ids []string
			for _, r := range rs.Rules() {
				ids = append(ids, r.ID)
			}
			sort.Strings(ids)
			for _, id := range ids {
				want := tt.want(id)
				res, ok := got[id]
				switch {
				case want == "" && ok:
					t.Errorf("%s: evaluated (%s), want a gap", id, res.Outcome)
				case want == "":
				case !ok:
					t.Errorf("%s: not evaluated, want %s", id, want)
				case res.Outcome != want:
					t.Errorf("%s: %s, want %s (%s)", id, res.Outcome, want, res.Detail())
				}
			}
		})
	}
}

// TestRuleCases runs the rules' truth table (testdata/rule_cases.yaml): for each rule,
// documents shaped as the connector writes them that pass, fail or are not applicable,
// the tricky ones taken from Graph's documented examples.
func TestRuleCases(t *testing.T) {
	data, err := os.ReadFile("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	connectortest.RuleCases(t, data, "testdata/rule_cases.yaml")
}

// TestRulesHaveRationales: every shipped rule maps its controls in the mapping form, with a
// rationale for every control of every framework written in the file.
func TestRulesHaveRationales(t *testing.T) {
	rs := loadRules(t)
	for _, r := range rs.Rules() {
		if len(r.Controls) == 0 {
			t.Errorf("%s maps no control", r.ID)
		}
		for fw, ids := range r.Controls {
			for _, id := range ids {
				if strings.TrimSpace(r.Rationale[fw][id]) == "" {
					t.Errorf("%s: %s %s has no rationale", r.ID, fw, id)
				}
			}
		}
	}
}
