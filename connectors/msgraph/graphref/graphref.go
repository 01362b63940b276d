// Package graphref checks JSON bodies against Microsoft Graph's v1.0 description as
// extracted into connectors/msgraph/testdata/reference (see PROVENANCE.md there): the
// property names of each entity and complex type, their types, the derived types Graph may
// name with @odata.type, and the members of every enum. Tests use it to hold the simulator
// and the documented examples to what Graph publishes; it imports no SDK.
package graphref

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Property is the declared type of one property: "Edm.String", "enum:<name>" or a type name.
type Property struct {
	Type       string `json:"type"`
	Collection bool   `json:"collection"`
}

// Type is an entity or complex type.
type Type struct {
	Base       string              `json:"base"`
	Derived    []string            `json:"derived"`
	Properties map[string]Property `json:"properties"`
}

// Model is the extract: types and enums by name.
type Model struct {
	Source string              `json:"source"`
	Types  map[string]*Type    `json:"types"`
	Enums  map[string][]string `json:"enums"`
}

// Load reads an extract written by testdata/reference/regen.sh.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// Derives says whether sub is typ or derived from it.
func (m *Model) Derives(sub, typ string) bool {
	for t := sub; t != ""; {
		if t == typ {
			return true
		}
		d := m.Types[t]
		if d == nil {
			return false
		}
		t = d.Base
	}
	return false
}

// DerivedTypes lists every type derived from typ, transitively, sorted.
func (m *Model) DerivedTypes(typ string) []string {
	var out []string
	for name := range m.Types {
		if name != typ && m.Derives(name, typ) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// property finds a property on typ or its bases.
func (m *Model) property(typ, name string) (Property, bool) {
	for t := typ; t != ""; {
		d := m.Types[t]
		if d == nil {
			return Property{}, false
		}
		if p, ok := d.Properties[name]; ok {
			return p, true
		}
		t = d.Base
	}
	return Property{}, false
}

// ValidateCollection checks a collection response: {"value": [typ...]} with OData
// annotations.
func (m *Model) ValidateCollection(typ string, body []byte) []error {
	var page map[string]json.RawMessage
	if err := decode(body, &page); err != nil {
		return []error{err}
	}
	var errs []error
	for k := range page {
		if k != "value" && !strings.HasPrefix(k, "@odata.") {
			errs = append(errs, fmt.Errorf("$.%s: not a property of a collection response", k))
		}
	}
	var items []any
	if err := decode(page["value"], &items); err != nil || page["value"] == nil {
		return append(errs, fmt.Errorf("$.value: not an array"))
	}
	for i, it := range items {
		errs = append(errs, m.check(fmt.Sprintf("$.value[%d]", i), typ, it)...)
	}
	return errs
}

// ValidateEntity checks a single object of type typ.
func (m *Model) ValidateEntity(typ string, body []byte) []error {
	var v any
	if err := decode(body, &v); err != nil {
		return []error{err}
	}
	return m.check("$", typ, v)
}

// ValidateError checks a Graph error body: {"error": {"code", "message", "innerError", ...}}.
func ValidateError(body []byte) []error {
	var e struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	if err := decode(body, &e); err != nil {
		return []error{err}
	}
	if e.Error == nil || e.Error.Code == nil || e.Error.Message == nil {
		return []error{fmt.Errorf("$.error: an error body needs error.code and error.message")}
	}
	return nil
}

func decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return nil
}

var (
	reGUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

func (m *Model) check(path, typ string, v any) []error {
	if v == nil {
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return []error{fmt.Errorf("%s: %T, want an object of type %s", path, v, typ)}
	}
	if t, ok := obj["@odata.type"].(string); ok {
		sub := strings.TrimPrefix(t, "#microsoft.graph.")
		if !m.Derives(sub, typ) {
			return []error{fmt.Errorf("%s: @odata.type %s is not %s or derived from it", path, t, typ)}
		}
		typ = sub
	}
	if m.Types[typ] == nil {
		return []error{fmt.Errorf("%s: type %s is not in the extract", path, typ)}
	}
	var errs []error
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.Contains(k, "@odata.") {
			continue
		}
		p, ok := m.property(typ, k)
		if !ok {
			errs = append(errs, fmt.Errorf("%s.%s: %s has no property %s", path, k, typ, k))
			continue
		}
		val := obj[k]
		if val == nil {
			continue
		}
		if p.Collection {
			l, ok := val.([]any)
			if !ok {
				errs = append(errs, fmt.Errorf("%s.%s: %T, want a collection of %s", path, k, val, p.Type))
				continue
			}
			for i, e := range l {
				errs = append(errs, m.value(fmt.Sprintf("%s.%s[%d]", path, k, i), p.Type, e)...)
			}
			continue
		}
		errs = append(errs, m.value(path+"."+k, p.Type, val)...)
	}
	return errs
}

func (m *Model) value(path, typ string, v any) []error {
	if v == nil {
		return nil
	}
	str, isStr := v.(string)
	num, isNum := v.(json.Number)
	bad := func(want string) []error { return []error{fmt.Errorf("%s: %v, want %s", path, v, want)} }
	switch {
	case strings.HasPrefix(typ, "enum:"):
		members := m.Enums[strings.TrimPrefix(typ, "enum:")]
		if !isStr {
			return bad("a member of " + typ)
		}
		// Flags enums are written as comma-separated members.
		for _, part := range strings.Split(str, ",") {
			if !contains(members, strings.TrimSpace(part)) {
				return bad(fmt.Sprintf("one of %s %v", typ, members))
			}
		}
		return nil
	case typ == "Edm.Untyped":
		return nil
	case typ == "Edm.String", typ == "Edm.Duration", typ == "Edm.Binary", typ == "Edm.TimeOfDay":
		if !isStr {
			return bad("a string")
		}
	case typ == "Edm.Boolean":
		if _, ok := v.(bool); !ok {
			return bad("a boolean")
		}
	case typ == "Edm.Int32", typ == "Edm.Int64", typ == "Edm.Byte", typ == "Edm.SByte":
		if _, err := num.Int64(); !isNum || err != nil {
			return bad("an integer")
		}
	case typ == "Edm.Double", typ == "Edm.Single":
		if !isNum && !(isStr && (str == "NaN" || str == "INF" || str == "-INF")) {
			return bad("a number")
		}
	case typ == "Edm.DateTimeOffset":
		if _, err := time.Parse(time.RFC3339Nano, str); !isStr || err != nil {
			return bad("an RFC 3339 date and time")
		}
	case typ == "Edm.Date":
		if !isStr || !reDate.MatchString(str) {
			return bad("a date")
		}
	case typ == "Edm.Guid":
		if !isStr || !reGUID.MatchString(str) {
			return bad("a GUID")
		}
	case strings.HasPrefix(typ, "Edm."):
		return nil
	default:
		return m.check(path, typ, v)
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}
