// Package diff says what changed between two runs: documents by kind and subject with a
// field-level JSON diff, rule verdicts (new failures, fixed, new gaps, errors) and control
// statuses. It works on plain data; cmd/exhibit reads the runs from the index and the store.
package diff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Op is what happened to a field.
type Op string

// The field operations.
const (
	Added   Op = "added"
	Removed Op = "removed"
	Changed Op = "changed"
)

// Field is one changed field of a JSON document. Path names it from the document's root
// (`PasswordPolicy.MinimumPasswordLength`, `users[id=4f1c…].accountEnabled`, `Rows[3].mfa_active`);
// Old and New are JSON values (nil when absent).
type Field struct {
	Path string          `json:"path"`
	Op   Op              `json:"op"`
	Old  json.RawMessage `json:"old,omitempty"`
	New  json.RawMessage `json:"new,omitempty"`
}

// keyFields are the member names, in order of preference, by which the elements of an array
// of objects are matched between two versions when every element has a distinct value for
// one of them; otherwise elements are matched by position.
var keyFields = []string{"id", "Id", "ID", "Arn", "arn", "login", "UserName", "user", "userPrincipalName", "name", "Name", "full_name", "number"}

// MaxFields bounds the fields JSON reports for one document; Truncated says more changed.
const MaxFields = 1000

// Result of JSON.
type JSONDiff struct {
	Fields    []Field `json:"fields"`
	Truncated bool    `json:"truncated,omitempty"`
}

// JSON compares two JSON documents field by field. Values of pseudonymised fields compare
// as the pseudonyms they are stored as: nothing is resolved.
func JSON(a, b []byte) (JSONDiff, error) {
	var va, vb any
	if err := decode(a, &va); err != nil {
		return JSONDiff{}, fmt.Errorf("old document: %w", err)
	}
	if err := decode(b, &vb); err != nil {
		return JSONDiff{}, fmt.Errorf("new document: %w", err)
	}
	d := &differ{}
	d.value("", va, vb)
	return JSONDiff{Fields: d.out, Truncated: d.truncated}, nil
}

func decode(data []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

type differ struct {
	out       []Field
	truncated bool
}

func (d *differ) add(f Field) {
	if len(d.out) >= MaxFields {
		d.truncated = true
		return
	}
	d.out = append(d.out, f)
}

func (d *differ) value(path string, a, b any) {
	switch ta := a.(type) {
	case map[string]any:
		if tb, ok := b.(map[string]any); ok {
			d.object(path, ta, tb)
			return
		}
	case []any:
		if tb, ok := b.([]any); ok {
			d.array(path, ta, tb)
			return
		}
	}
	if !equal(a, b) {
		d.add(Field{Path: rootPath(path), Op: Changed, Old: raw(a), New: raw(b)})
	}
}

func (d *differ) object(path string, a, b map[string]any) {
	d.members(a, b, func(k string) string { return member(path, k) })
}

// members pairs the values of a and b by key, in key order, and compares each pair; name
// gives the path of a key.
func (d *differ) members(a, b map[string]any, name func(string) string) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		va, ina := a[k]
		vb, inb := b[k]
		d.pair(name(k), va, ina, vb, inb)
	}
}

// pair compares one member or element that may be missing on either side.
func (d *differ) pair(p string, va any, ina bool, vb any, inb bool) {
	switch {
	case ina && !inb:
		d.add(Field{Path: p, Op: Removed, Old: raw(va)})
	case !ina && inb:
		d.add(Field{Path: p, Op: Added, New: raw(vb)})
	default:
		d.value(p, va, vb)
	}
}

func (d *differ) array(path string, a, b []any) {
	if key := matchKey(a, b); key != "" {
		d.members(indexBy(a, key), indexBy(b, key), func(id string) string {
			return fmt.Sprintf("%s[%s=%s]", path, key, id)
		})
		return
	}
	for i := 0; i < max(len(a), len(b)); i++ {
		var va, vb any
		if i < len(a) {
			va = a[i]
		}
		if i < len(b) {
			vb = b[i]
		}
		d.pair(path+"["+strconv.Itoa(i)+"]", va, i < len(a), vb, i < len(b))
	}
}

// matchKey returns the first key field by which every element of both arrays is an object
// with a distinct scalar value, or "".
func matchKey(a, b []any) string {
	if len(a) == 0 && len(b) == 0 {
		return ""
	}
next:
	for _, k := range keyFields {
		for _, arr := range [][]any{a, b} {
			seen := map[string]bool{}
			for _, e := range arr {
				o, ok := e.(map[string]any)
				if !ok {
					return ""
				}
				id, ok := scalar(o[k])
				if !ok || seen[id] {
					continue next
				}
				seen[id] = true
			}
		}
		return k
	}
	return ""
}

func indexBy(arr []any, key string) map[string]any {
	out := make(map[string]any, len(arr))
	for _, e := range arr {
		id, _ := scalar(e.(map[string]any)[key])
		out[id] = e
	}
	return out
}

func scalar(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, t != ""
	case json.Number:
		return t.String(), true
	}
	return "", false
}

func equal(a, b any) bool {
	return bytes.Equal(raw(a), raw(b))
}

func raw(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return data
}

func member(path, k string) string {
	simple := k != "" && strings.IndexFunc(k, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0
	if !simple {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

func rootPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}
