package github

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite deploy/github from the declared permissions")

// TestDeployFiles: the committed App manifest and permissions page are what the declared
// permissions generate, and the manifest grants read access only.
func TestDeployFiles(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "github")
	files := map[string][]byte{"app-manifest.json": AppManifest(), "app-permissions.md": AppPermissionsMarkdown()}
	for name, want := range files {
		path := filepath.Join(dir, name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run: go test ./connectors/github -run TestDeployFiles -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (run: go test ./connectors/github -run TestDeployFiles -update)", path)
		}
	}
	var m struct {
		DefaultPermissions map[string]string `json:"default_permissions"`
		DefaultEvents      []string          `json:"default_events"`
	}
	if err := json.Unmarshal(files["app-manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if len(m.DefaultPermissions) == 0 || len(m.DefaultEvents) != 0 {
		t.Errorf("manifest permissions %v, events %v", m.DefaultPermissions, m.DefaultEvents)
	}
	for p, level := range m.DefaultPermissions {
		if level != "read" {
			t.Errorf("permission %s is %s, want read", p, level)
		}
	}
}
