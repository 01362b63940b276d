package aws

import (
	"context"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
	"github.com/exhibit-dev/exhibit/connectors/simkit"
	"github.com/exhibit-dev/exhibit/core/controls"
)

// TestTrailsSeenAsRealAccountsSeeThem collects trails the way AWS shows them outside their
// own account and region: an organisation trail seen from a member account, and a
// multi-region trail homed in a region that is not collected. Both are shadow trails, which
// DescribeTrails hides when asked to (IncludeShadowTrails=false), and both log the account.
func TestTrailsSeenAsRealAccountsSeeThem(t *testing.T) {
	rs, err := controls.ParseRules("connectors/aws/rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		regions string
		defects map[int][]string
		account int
		want    map[string]controls.Outcome
	}{
		{"organisation trail in a member account", "[eu-central-1, eu-west-1]", map[int][]string{1: {"org_trail_member"}}, 1, map[string]controls.Outcome{
			"aws.cloudtrail.multi_region_trail.logging":  controls.Pass,
			"aws.cloudtrail.log_file_validation.enabled": controls.Pass,
			"aws.cloudtrail.bucket.not_public":           controls.NotApplicable, // judged in the owning account
			"aws.cloudwatch.security_alarms.cis_filters": controls.Fail,          // no filters on the organisation's log group here
			"aws.cloudtrail.cloudwatch_logs.delivered":   controls.Pass,
			"aws.cloudtrail.kms_encryption.enabled":      controls.Pass,
			"aws.cloudtrail.bucket.access_logged":        controls.NotApplicable,
		}},
		{"multi-region trail homed in a region not collected", "[eu-west-1]", map[int][]string{}, 0, map[string]controls.Outcome{
			"aws.cloudtrail.multi_region_trail.logging": controls.Pass,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startSim(t, sim.Options{Accounts: 2, Regions: []string{"eu-central-1", "eu-west-1"}, Defects: tc.defects})
			c := e.connector(t, e.settingsYAML("organizations: {role_name: ExhibitReadOnly}\nregions: "+tc.regions))
			res := collect(context.Background(), c)
			if res.err != nil {
				t.Fatal(res.err)
			}
			subject := "aws:" + e.sim.AccountIDs()[tc.account]
			got := map[string]controls.Outcome{}
			for _, kind := range []string{"aws.cloudtrail.multi_region_trail", "aws.cloudtrail.log_file_validation", "aws.cloudtrail.bucket",
				"aws.cloudwatch.security_alarms", "aws.cloudtrail.cloudwatch_logs", "aws.cloudtrail.kms_encryption"} {
				a := res.find(kind, subject)
				if a == nil || a.Status.IsGap() {
					t.Fatalf("%s %s: no document (%v)", kind, subject, res.gaps())
				}
				for _, v := range rs.Evaluate(kind, subject, a.Document, testNow) {
					got[v.Rule] = v.Outcome
				}
			}
			for rule, want := range tc.want {
				if got[rule] != want {
					t.Errorf("%s: %s, want %s", rule, got[rule], want)
				}
			}
		})
	}
}

// TestKeyRotationStatusDeniedIsAGapOfTheKey denies GetKeyRotationStatus: the region's
// document keeps every key, each marked with why its rotation status is missing, and the
// rule's verdict is an error rather than a gap of the whole region or a pass.
func TestKeyRotationStatusDeniedIsAGapOfTheKey(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 1, Regions: []string{"eu-central-1"}, Defects: map[int][]string{},
		Faults: []simkit.Fault{sim.Deny("", "", "kms", "GetKeyRotationStatus")}})
	c := e.connector(t, e.settingsYAML("regions: [eu-central-1]\nexclude_kinds: []"))
	res := collect(context.Background(), c)
	if res.err != nil {
		t.Fatal(res.err)
	}
	subject := "aws:" + e.sim.AccountIDs()[0] + ":eu-central-1"
	a := res.find("aws.kms.key_rotation", subject)
	if a == nil || a.Status.IsGap() {
		t.Fatalf("want a document, got %+v", a)
	}
	doc := decodeDoc(t, a)
	keys, _ := doc["Keys"].([]any)
	if len(keys) == 0 {
		t.Fatalf("no keys in %s", a.Document)
	}
	customer := 0
	for _, k := range keys {
		m := k.(map[string]any)
		if m["KeyMetadata"].(map[string]any)["KeyManager"] != "CUSTOMER" {
			continue // AWS managed keys are not asked
		}
		customer++
		if m["KeyRotationError"] != "forbidden: AccessDeniedException" {
			t.Errorf("customer key without its rotation error: %v", k)
		}
	}
	if customer == 0 {
		t.Fatalf("no customer managed key in %s", a.Document)
	}
	rs, err := controls.ParseRules("connectors/aws/rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range rs.Evaluate(a.Kind, subject, a.Document, testNow) {
		if v.Outcome != controls.Error {
			t.Errorf("%s: %s, want error", v.Rule, v.Outcome)
		}
	}
}
