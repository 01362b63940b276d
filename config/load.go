package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads and validates the config file at path. An empty path returns the embedded
// default (Default), validated.
func Load(path string) (*Config, error) {
	if path == "" {
		c := Default()
		return c, c.Validate()
	}
	data, err := ReadFile(path, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("could not read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes config YAML strictly, applies defaults and validates. name is used in
// error messages and as the base of relative paths.
func Parse(name string, data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			root = yaml.Node{} // an empty file is the default config
		} else {
			return nil, yamlError(name, err)
		}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s:%d: more than one YAML document; a config is one document", name, extra.Line)
	}
	c := &Config{File: name, pos: map[string]int{}}
	if root.Kind != 0 {
		doc := &root
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			doc = doc.Content[0]
		}
		if err := checkTags(name, doc); err != nil {
			return nil, err
		}
		if err := checkKeys(name, doc, reflect.TypeOf(*c), "", c.pos); err != nil {
			return nil, err
		}
		if err := doc.Decode(c); err != nil {
			return nil, yamlError(name, err)
		}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// yamlError turns yaml.v3's "yaml: line 3: ..." into "file:3: ...".
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, m := range te.Errors {
			msgs = append(msgs, lineMsg(name, m))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	return errors.New(lineMsg(name, strings.TrimPrefix(err.Error(), "yaml: ")))
}

func lineMsg(name, m string) string {
	if loc := yamlLineRE.FindStringSubmatchIndex(m); loc != nil {
		return fmt.Sprintf("%s:%s: %s", name, m[loc[2]:loc[3]], m[:loc[0]]+m[loc[1]:])
	}
	return fmt.Sprintf("%s: %s", name, m)
}

// yamlTags are the tags a config may carry: YAML's core schema, which plain values get
// implicitly. Any other tag (!!python/object, !!binary, a local !tag) asks a loader for
// behaviour a config never needs, so it is an error rather than silently read as text.
var yamlTags = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true,
	"!!null": true, "!!map": true, "!!seq": true, "!!timestamp": true}

// checkTags rejects any node with a tag outside yamlTags, with its line.
func checkTags(file string, node *yaml.Node) error {
	if node.Kind != yaml.AliasNode && node.Kind != yaml.DocumentNode && !yamlTags[node.Tag] && node.Tag != "" {
		return fmt.Errorf("%s:%d: YAML tag %s is not allowed in a config (only plain values, lists and mappings)", file, node.Line, node.Tag)
	}
	for _, n := range node.Content {
		if err := checkTags(file, n); err != nil {
			return err
		}
	}
	return nil
}

var (
	nodeType     = reflect.TypeOf(yaml.Node{})
	durationType = reflect.TypeOf(time.Duration(0))
)

// checkKeys walks node against type t and rejects keys that t does not have, so a typo
// is an error with its line, not a silently ignored setting. It records the line of every
// key path in pos (which may be nil).
func checkKeys(file string, node *yaml.Node, t reflect.Type, path string, pos map[string]int) error {
	for node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nodeType || t == durationType {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			if node.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("%s:%d: %s must be a mapping of keys, not %s", file, node.Line, orTop(path), describe(node))
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			if k.Value == "<<" {
				return fmt.Errorf("%s:%d: merge keys (<<) are not supported in %s", file, k.Line, orTop(path))
			}
			f, ok := fields[k.Value]
			if !ok {
				return unknownKey(file, k, path, fields)
			}
			p := join(path, k.Value)
			if pos != nil {
				pos[p] = k.Line
			}
			if err := checkKeys(file, v, f.Type, p, pos); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if node.Kind != yaml.SequenceNode {
			if node.Tag == "!!null" {
				return nil
			}
			if t.Elem().Kind() == reflect.Uint8 {
				return nil
			}
			return fmt.Errorf("%s:%d: %s must be a list, not %s", file, node.Line, orTop(path), describe(node))
		}
		for i, item := range node.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if pos != nil {
				pos[p] = item.Line
			}
			if err := checkKeys(file, item, t.Elem(), p, pos); err != nil {
				return err
			}
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			if node.Tag == "!!null" {
				return nil
			}
			return fmt.Errorf("%s:%d: %s must be a mapping, not %s", file, node.Line, orTop(path), describe(node))
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			p := join(path, node.Content[i].Value)
			if pos != nil {
				pos[p] = node.Content[i].Line
			}
			if err := checkKeys(file, node.Content[i+1], t.Elem(), p, pos); err != nil {
				return err
			}
		}
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

// yamlFields returns the yaml keys of a struct type, following yaml.v3's naming: the tag
// name, or the lower-cased field name.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

func unknownKey(file string, k *yaml.Node, path string, fields map[string]reflect.StructField) error {
	known := make([]string, 0, len(fields))
	for name := range fields {
		known = append(known, name)
	}
	sort.Strings(known)
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	msg := fmt.Sprintf("%s:%d: unknown key %q %s", file, k.Line, k.Value, where)
	if best := closest(k.Value, known); best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	} else {
		msg += fmt.Sprintf(" (known keys: %s)", strings.Join(known, ", "))
	}
	if looksLikeInlineSecret(k.Value) {
		msg += "; secrets are never written into the config: use " + k.Value + "_env or " + k.Value + "_file"
	}
	return errors.New(msg)
}

func looksLikeInlineSecret(key string) bool {
	for _, s := range []string{"secret", "password", "token", "private_key", "access_key", "client_secret"} {
		if key == s || strings.HasSuffix(key, "_"+s) {
			return true
		}
	}
	return false
}

// closest returns the known key within edit distance 2 of k, if any.
func closest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orTop(path string) string {
	if path == "" {
		return "the config"
	}
	return path
}

// Errorf returns an error about the setting at key path (e.g. "store.s3.bucket"), prefixed
// with file:line where the key was written, or with the file alone.
func (c *Config) Errorf(key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	loc := c.where(key)
	if loc == "" {
		return fmt.Errorf("%s: %s", key, msg)
	}
	return fmt.Errorf("%s: %s: %s", loc, key, msg)
}

// where returns "file:line" for key, falling back to its closest written parent.
func (c *Config) where(key string) string {
	if c.File == "" {
		return ""
	}
	for k := key; k != ""; k = parent(k) {
		if line, ok := c.pos[k]; ok {
			return c.File + ":" + strconv.Itoa(line)
		}
	}
	return c.File
}

func parent(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

// Resolve returns p made absolute against the config file's directory (or the working
// directory for the embedded default). Empty stays empty.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	base := "."
	if c.File != "" {
		base = filepath.Dir(c.File)
	}
	abs, err := filepath.Abs(filepath.Join(base, p))
	if err != nil {
		return filepath.Join(base, p)
	}
	return abs
}
