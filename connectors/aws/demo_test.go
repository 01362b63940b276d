package aws

import (
	"context"
	"slices"
	"sort"
	"testing"

	"github.com/exhibit-dev/exhibit/config"
	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
	"github.com/exhibit-dev/exhibit/core/controls"
)

// TestDemoOrganisation runs the connector with sim.DemoSettings against the default
// organisation and checks that exactly the deliberate failures fail.
func TestDemoOrganisation(t *testing.T) {
	e := startSim(t, sim.Options{})
	st, err := config.NewSettings("demo.yaml", sim.DemoSettings(e.url))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newConnector(st, e.options())
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = noBackoff{}
	res := collect(context.Background(), c)
	if res.err != nil || len(res.gaps()) > 0 {
		t.Fatalf("err %v gaps %v", res.err, res.gaps())
	}
	rs, err := controls.ParseRules("rules.yaml", rulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	var failing []string
	for _, a := range res.arts {
		for _, r := range rs.Evaluate(a.Kind, a.Subject, a.Document, testNow) {
			switch r.Outcome {
			case controls.Fail:
				failing = append(failing, r.Rule+" "+r.Subject)
			case controls.Error:
				t.Errorf("%s %s: %s", r.Rule, r.Subject, r.Message)
			}
		}
	}
	sort.Strings(failing)
	ids := e.sim.AccountIDs()
	want := []string{
		"aws.ec2.security_group_admin_ports.not_open_to_world aws:" + ids[2] + ":eu-central-1",
		"aws.ec2.security_group_admin_ports.not_open_to_world aws:" + ids[2] + ":eu-west-1",
		"aws.guardduty.detectors.enabled aws:" + ids[2] + ":eu-west-1",
		"aws.iam.root_access_keys.absent aws:" + ids[2],
		"aws.iam.root_usage.not_recent aws:" + ids[2], // the root keys were used 3 days ago
		"aws.s3.bucket_encryption.kms_for_sensitive aws:" + ids[1],
	}
	if !slices.Equal(failing, want) {
		t.Errorf("failing rules:\n%v\nwant:\n%v", failing, want)
	}
}
