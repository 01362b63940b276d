package aws

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/exhibit-dev/exhibit/connectors/aws/sim"
)

var update = flag.Bool("update", false, "rewrite deploy/aws policies from the declared permissions")

// TestPolicyFiles fails when the committed policies differ from what the declarations
// produce; `go generate ./connectors/aws` (go test -update) rewrites them.
func TestPolicyFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		want []byte
	}{
		{"exhibit-readonly-policy.json", ReadOnlyPolicy()},
		{"exhibit-collector-policy.json", CollectorPolicy(sim.RoleName)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("..", "..", "deploy", "aws", tc.name)
			if *update {
				if err := os.WriteFile(path, tc.want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go generate ./connectors/aws)", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("%s differs from the declared permissions; run go generate ./connectors/aws", path)
			}
			if bytes.Contains(tc.want, []byte(`"*:*"`)) || bytes.Contains(tc.want, []byte(`:*"`)) {
				t.Errorf("%s grants wildcard actions", tc.name)
			}
		})
	}
}

// readPrefixes are the verbs of read-only AWS actions.
var readPrefixes = []string{"Get", "List", "Describe", "BatchGet", "GenerateCredentialReport", "AssumeRole"}

// TestPermissionsCoverCalls runs a full collection against the simulator, which logs the
// IAM action of every operation it serves, and checks that every action called is
// declared, every declared kind action was called, and all of them are reads.
func TestPermissionsCoverCalls(t *testing.T) {
	e := startSim(t, sim.Options{Accounts: 2, Defects: map[int][]string{}})
	c := e.connector(t, e.settingsYAML("organizations: {role_name: ExhibitReadOnly}\nregions: [eu-central-1, eu-west-1]"))
	if res := collect(context.Background(), c); res.err != nil {
		t.Fatal(res.err)
	}
	declared := map[string]bool{}
	for _, p := range (Factory{}).Permissions() {
		declared[p.Name] = true
		verb := p.Name[bytes.IndexByte([]byte(p.Name), ':')+1:]
		if !slices.ContainsFunc(readPrefixes, func(pre string) bool { return len(verb) >= len(pre) && verb[:len(pre)] == pre }) {
			t.Errorf("declared action %s is not a read", p.Name)
		}
	}
	called := map[string]bool{}
	for _, a := range e.sim.Actions() {
		called[a] = true
		if !declared[a] {
			t.Errorf("the connector called %s, which no kind declares", a)
		}
	}
	for _, k := range kinds {
		for _, a := range k.Actions {
			if !called[a] {
				t.Errorf("kind %s declares %s, which the collection never called", k.Name, a)
			}
		}
	}
}
