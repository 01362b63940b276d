package aws

import (
	"context"
	_ "embed"
	"slices"
	"strings"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
	"github.com/exhibit-dev/exhibit/core/connector/connectortest"
	"github.com/exhibit-dev/exhibit/core/controls"
)

//go:embed rules.yaml
var rulesYAML []byte

// TestRules evaluates every rule with the controls engine on documents the connector
// collected from the simulator: each must pass on a well configured account and fail on
// an account with every defect (a rule that cannot fail is a defect of the rule).
func TestRules(t *testing.T) {
	rs, err := controls.ParseRules("connectors/aws/rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	e := startSim(t, sim.Options{Accounts: 2, Regions: []string{"eu-central-1"}, Defects: map[int][]string{1: sim.AllDefects}})
	c := e.connector(t, e.settingsYAML("organizations: {role_name: ExhibitReadOnly}\nregions: [eu-central-1]"))
	res := collect(context.Background(), c)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if g := res.gaps(); len(g) > 0 {
		t.Fatalf("gaps: %v", g)
	}
	good, bad := e.sim.AccountIDs()[0], e.sim.AccountIDs()[1]
	covered := map[string]bool{}
	for _, r := range rs.Rules() {
		covered[r.Kind] = true
		k, ok := kindByName[r.Kind]
		if !ok {
			t.Errorf("rule %s: kind %s is not a kind of the connector", r.ID, r.Kind)
			continue
		}
		for _, tc := range []struct {
			name    string
			account string
			want    controls.Outcome
		}{{"good", good, controls.Pass}, {"bad", bad, controls.Fail}} {
			t.Run(r.ID+"/"+tc.name, func(t *testing.T) {
				subject := "aws:" + tc.account
				if k.Scope == scopeRegion {
					subject += ":eu-central-1"
				}
				a := res.find(r.Kind, subject)
				if a == nil {
					t.Fatalf("no artefact %s %s", r.Kind, subject)
				}
				found := false
				for _, v := range rs.Evaluate(r.Kind, subject, a.Document, testNow) {
					if v.Rule != r.ID {
						continue
					}
					found = true
					if v.Outcome != tc.want {
						t.Errorf("outcome %s (%s), want %s; document %.600s", v.Outcome, v.Message, tc.want, a.Document)
					}
					if tc.want == controls.Fail && r.Failing != "" && len(v.Failing) == 0 {
						t.Errorf("failed without naming the failing items")
					}
				}
				if !found {
					t.Fatalf("the engine returned no result for the rule")
				}
			})
		}
	}
	for _, k := range kinds {
		if !covered[k.Name] {
			t.Errorf("kind %s has no rule", k.Name)
		}
	}
}

// TestRuleCases evaluates the truth tables of testdata/rule_cases.yaml, the tricky cases
// the AWS documentation describes first, through the shared runner.
func TestRuleCases(t *testing.T) {
	connectortest.RuleCases(t, rulesYAML, "testdata/rule_cases.yaml")
}

// TestRulesRationale: every mapping of every shipped rule says why the evidence shows the
// control operating, and the mappings found not to hold stay removed.
func TestRulesRationale(t *testing.T) {
	rs, err := controls.ParseRules("connectors/aws/rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	// Removed because the evidence does not show the control operating.
	removed := map[string][]string{
		"A.8.11": nil,                                                                      // data masking: encryption at rest does not mask data (any rule)
		"A.8.3":  {"aws.s3.bucket_versioning.log_and_backup_buckets"},                      // versioning is recovery, not access restriction
		"A.8.10": {"aws.s3.bucket_versioning.log_and_backup_buckets"},                      // versioning keeps data; it is not deletion
		"A.5.16": {"aws.config.recorders.recording", "aws.config.recorders.all_resources"}, // a resource recorder manages no identities
		"A.5.22": {"aws.config.recorders.recording", "aws.config.recorders.all_resources"}, // nor supplier services
		"A.5.15": {"aws.organizations.membership.all_features"},                            // SCPs are not collected
		"A.5.5":  {"aws.account.security_contact.registered"},                              // AWS is no authority
	}
	for _, r := range rs.Rules() {
		if len(r.Controls["iso27001-2022"]) == 0 {
			t.Errorf("rule %s maps to no ISO control", r.ID)
		}
		for fw, ids := range r.Controls {
			for _, id := range ids {
				if strings.TrimSpace(r.Rationale[fw][id]) == "" {
					t.Errorf("rule %s: %s %s has no rationale", r.ID, fw, id)
				}
			}
		}
		for id, rules := range removed {
			if slices.Contains(r.Controls["iso27001-2022"], id) && (rules == nil || slices.Contains(rules, r.ID)) {
				t.Errorf("rule %s maps to %s again", r.ID, id)
			}
		}
	}
}
