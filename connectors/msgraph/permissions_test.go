package msgraph

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite deploy/msgraph from the declarations")

// TestDeployFiles keeps deploy/msgraph/permissions.md equal to the declared permissions.
func TestDeployFiles(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "msgraph", "permissions.md")
	want := PermissionsMarkdown()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./connectors/msgraph -run TestDeployFiles -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date: run go test ./connectors/msgraph -run TestDeployFiles -update", path)
	}
}

// readOnly matches Graph's read-only application permissions, Resource.Read.All and
// Resource.Read.Directory: the verb must be exactly Read (not ReadWrite, ReadBasic with
// write siblings, Send, Create, Manage, ...).
var readOnly = regexp.MustCompile(`^[A-Za-z]+\.Read\.(All|Directory)$`)

func TestPermissionsAreReadOnly(t *testing.T) {
	perms := Factory{}.Permissions()
	if len(perms) == 0 {
		t.Fatal("no permissions declared")
	}
	seen := map[string]bool{}
	for _, p := range perms {
		if !readOnly.MatchString(p.Name) {
			t.Errorf("permission %s is not read-only", p.Name)
		}
		if p.System != "msgraph-application" || len(p.Kinds) == 0 {
			t.Errorf("permission %s: system %q, kinds %v", p.Name, p.System, p.Kinds)
		}
		for _, k := range p.Kinds {
			seen[k] = true
		}
	}
	for _, k := range kinds {
		if !seen[k.name] || len(k.calls) == 0 {
			t.Errorf("kind %s declares no permission or no call", k.name)
		}
	}
}
