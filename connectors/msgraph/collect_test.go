package msgraph

import (
	"context"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/msgraph/sim"
	"github.com/exhibit-dev/exhibit/evidence"
)

// TestCollectDemoTenant runs the real SDK client against the demo tenant: every kind is
// emitted once, the P2 features are not_licensed gaps, the rest is evidence with exchanges
// whose bodies are in the store.
func TestCollectDemoTenant(t *testing.T) {
	h := newHarness(t, sim.Options{}, "", nil)
	arts, err := h.collect(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]evidence.Status{
		KindRiskPolicies: evidence.StatusNotLicensed, KindPIMAssignments: evidence.StatusNotLicensed,
		KindPIMPolicies: evidence.StatusNotLicensed, KindAccessReviews: evidence.StatusNotLicensed,
	}
	for _, k := range (Factory{}).Kinds() {
		a, ok := arts[k.Name]
		if !ok {
			t.Errorf("%s not emitted", k.Name)
			continue
		}
		ws := want[k.Name]
		if ws == "" {
			ws = evidence.StatusOK
		}
		if status(a) != ws {
			t.Errorf("%s: status %s (%s), want %s", k.Name, status(a), a.Error, ws)
		}
		if len(a.Exchanges) == 0 {
			t.Errorf("%s: no exchanges recorded", k.Name)
		}
		for _, x := range a.Exchanges {
			if _, err := h.store.Stat(context.Background(), x.Body.Digest); err != nil {
				t.Errorf("%s: body of %s %s not in the store: %v", k.Name, x.Method, x.URL, err)
			}
		}
		if a.Subject != "msgraph:"+sim.DemoTenantID {
			t.Errorf("%s: subject %q", k.Name, a.Subject)
		}
	}
	if len(arts) != len(kinds) {
		t.Errorf("got %d artefacts, want %d", len(arts), len(kinds))
	}
	if repeated := h.sim.Harness().Repeated(); len(repeated) > 0 {
		t.Errorf("requests made more than once: %v", repeated)
	}
}
