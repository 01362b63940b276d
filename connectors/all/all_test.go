package all

import (
	"testing"

	"github.com/exhibit-dev/exhibit/evidence"
)

func TestRegistryListsEveryConnector(t *testing.T) {
	r := Registry()
	want := []string{"aws", "github", "msgraph"}
	got := r.Types()
	if len(got) != len(want) {
		t.Fatalf("types = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("types = %v, want %v", got, want)
		}
	}
}

func TestKindsAreValidAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Kinds() {
		if err := evidence.ValidateKind(k); err != nil {
			t.Error(err)
		}
		if seen[k] {
			t.Errorf("kind %s declared twice", k)
		}
		seen[k] = true
	}
	if len(seen) < 70 {
		t.Errorf("only %d kinds declared; expected at least 70 over the three connectors", len(seen))
	}
}
