package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary YAML to the config loader: it must never panic, and every error
// must name the file, so a user can find what is wrong. The fixtures in testdata seed it.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("connectors:\n  - name: a\n    type: aws\n    settings: &x {a: *x}\n"))
	f.Add([]byte("store: !!binary aGVsbG8=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") && !strings.Contains(err.Error(), ": ") {
				t.Fatalf("error does not say where: %v", err)
			}
			return
		}
		// A config that loads is valid and its connector settings decode without panics.
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		for i := range c.Connectors {
			var anything map[string]any
			_ = c.SettingsFor(i).Decode(&anything)
		}
	})
}
