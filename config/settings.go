package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Settings is a connector instance's settings section; it implements connector.Settings.
type Settings struct {
	file string
	path string // e.g. "connectors[0].settings"
	node *yaml.Node
}

// SettingsFor returns the settings of connector instance i.
func (c *Config) SettingsFor(i int) Settings {
	return Settings{file: c.File, path: fmt.Sprintf("connectors[%d].settings", i), node: &c.Connectors[i].Settings}
}

// NewSettings returns settings decoded from YAML text, for tests and generated configs.
func NewSettings(file, text string) (Settings, error) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(text), &n); err != nil {
		return Settings{}, yamlError(file, err)
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = *n.Content[0]
	}
	return Settings{file: file, path: "settings", node: &n}, nil
}

// Decode decodes the section strictly into v.
func (s Settings) Decode(v any) error {
	if s.node == nil || s.node.Kind == 0 {
		return nil
	}
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return fmt.Errorf("settings.Decode needs a pointer, got %T", v)
	}
	if err := checkKeys(s.fileName(), s.node, t, s.path, nil); err != nil {
		return err
	}
	if err := s.node.Decode(v); err != nil {
		return yamlError(s.fileName(), err)
	}
	return nil
}

// Errorf returns an error about key (relative to the section), with file:line.
func (s Settings) Errorf(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	full := join(s.path, key)
	if line := lineOf(s.node, key); line > 0 {
		return fmt.Errorf("%s:%d: %s: %s", s.fileName(), line, full, msg)
	}
	return fmt.Errorf("%s: %s: %s", s.fileName(), full, msg)
}

func (s Settings) fileName() string {
	if s.file == "" {
		return "config"
	}
	return s.file
}

// lineOf finds the line of a key path like "accounts[2].role_arn" below n, or of its
// closest existing parent; 0 if n is empty.
func lineOf(n *yaml.Node, key string) int {
	if n == nil || n.Kind == 0 {
		return 0
	}
	line := n.Line
	cur := n
	for _, part := range splitPath(key) {
		for cur.Kind == yaml.AliasNode {
			cur = cur.Alias
		}
		var next *yaml.Node
		if idx, err := strconv.Atoi(part); err == nil && cur.Kind == yaml.SequenceNode {
			if idx >= 0 && idx < len(cur.Content) {
				next = cur.Content[idx]
			}
		} else if cur.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == part {
					line = cur.Content[i].Line
					next = cur.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return line
		}
		if next.Kind == yaml.SequenceNode || next.Kind == yaml.MappingNode {
			if part == "" {
				line = next.Line
			}
		} else {
			line = next.Line
		}
		cur = next
	}
	return line
}

func splitPath(key string) []string {
	key = strings.ReplaceAll(key, "[", ".")
	key = strings.ReplaceAll(key, "]", "")
	var parts []string
	for _, p := range strings.Split(key, ".") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}
