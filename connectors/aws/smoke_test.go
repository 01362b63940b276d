package aws

import (
	"context"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
)

func TestSmoke(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 2})
	c := e.connector(t, e.settingsYAML("organizations: {role_name: ExhibitReadOnly}\nregions: [eu-central-1, eu-west-1]"))
	res := collect(context.Background(), c)
	if res.err != nil {
		t.Fatal(res.err)
	}
	for _, g := range res.gaps() {
		t.Log("gap:", g)
	}
	t.Logf("%d artefacts, %d calls, repeated %v", len(res.arts), e.sim.Harness().Total(), e.sim.Harness().Repeated())
	for _, a := range res.arts {
		if a.Subject == "aws:100000000000" || a.Subject == "aws:100000000000:eu-west-1" {
			t.Logf("%s %s %d exch: %.300s", a.Kind, a.Subject, len(a.Exchanges), a.Document)
		}
	}
}
