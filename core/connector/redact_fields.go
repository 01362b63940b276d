package connector

import (
	"fmt"
	"strings"
)

// SecretField declares where a connector's upstream returns a secret that neither its key
// name nor its shape gives away: the connector's knowledge of its API (a map of
// environment variables, a custom attribute that holds a key).
type SecretField struct {
	// Endpoint is the URL path of the responses that carry the field, as a pattern of
	// segments: '*' matches one segment, a last "**" any rest, e.g.
	// "/2015-03-31/functions/*/configuration". Empty: the field is declared for documents
	// only.
	Endpoint string
	// Kind is the artefact kind whose documents carry the field; empty: responses only.
	Kind string
	// Path is the field as a JSON path of keys and indexes: "$.config.secret",
	// "$.Functions[*].Environment.Variables.*" ('*' and [*] match any key or index,
	// ['odd key'] quotes a key). Every string at or under it is redacted.
	Path string
	// Rule names the redaction; empty means "secret".
	Rule string
}

// SecretFielder is implemented by a Factory that declares secret fields. The runner
// redacts the instance's responses and documents with them as well as the built-in rules.
type SecretFielder interface {
	SecretFields() []SecretField
}

// fieldPattern is a compiled SecretField.
type fieldPattern struct {
	endpoint []string // nil: documents only
	kind     string
	steps    []pathStep
	rule     string
}

// pathStep is one step of a field path: a key, any key ("*"), or any index ("[*]").
type pathStep struct {
	key      string
	anyKey   bool
	anyIndex bool
}

// WithSecretFields returns a redactor that also redacts the declared fields. It fails on
// a field without a path or with neither endpoint nor kind, or with a path it cannot read.
func (r *Redactor) WithSecretFields(fields []SecretField) (*Redactor, error) {
	if len(fields) == 0 {
		return r, nil
	}
	c := *r
	c.fields = append([]fieldPattern(nil), r.fields...)
	for i, f := range fields {
		steps, err := parseFieldPath(f.Path)
		if err != nil {
			return nil, fmt.Errorf("secret field %d (%q): %w", i, f.Path, err)
		}
		if f.Endpoint == "" && f.Kind == "" {
			return nil, fmt.Errorf("secret field %d (%q): names neither an endpoint nor a kind", i, f.Path)
		}
		p := fieldPattern{kind: f.Kind, steps: steps, rule: f.Rule}
		if p.rule == "" {
			p.rule = RuleSecret
		}
		if f.Endpoint != "" {
			if !strings.HasPrefix(f.Endpoint, "/") {
				return nil, fmt.Errorf("secret field %d: endpoint %q does not start with '/'", i, f.Endpoint)
			}
			p.endpoint = strings.Split(strings.Trim(f.Endpoint, "/"), "/")
		}
		c.fields = append(c.fields, p)
	}
	return &c, nil
}

// parseFieldPath reads "$", then ".key", ".*", "[*]" or "['key']" steps.
func parseFieldPath(p string) ([]pathStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("a field path starts with '$'")
	}
	var steps []pathStep
	for rest := p[1:]; rest != ""; {
		switch {
		case strings.HasPrefix(rest, "[*]"):
			steps = append(steps, pathStep{anyIndex: true})
			rest = rest[3:]
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			if end < 0 {
				return nil, fmt.Errorf("unterminated ['")
			}
			steps = append(steps, pathStep{key: rest[2:end]})
			rest = rest[end+2:]
		case strings.HasPrefix(rest, "."):
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("empty key")
			}
			if rest[:end] == "*" {
				steps = append(steps, pathStep{anyKey: true})
			} else {
				steps = append(steps, pathStep{key: rest[:end]})
			}
			rest = rest[end:]
		default:
			return nil, fmt.Errorf("unexpected %q", rest)
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("the path names no field")
	}
	return steps, nil
}

// forResponse returns the field patterns that apply to a response of the URL path.
func (r *Redactor) forResponse(path string) []fieldPattern {
	var out []fieldPattern
	var segs []string
	for _, f := range r.fields {
		if f.endpoint == nil {
			continue
		}
		if segs == nil {
			segs = strings.Split(strings.Trim(path, "/"), "/")
		}
		if matchEndpoint(f.endpoint, segs) {
			out = append(out, f)
		}
	}
	return out
}

// forDocument returns the field patterns that apply to documents of kind.
func (r *Redactor) forDocument(kind string) []fieldPattern {
	var out []fieldPattern
	for _, f := range r.fields {
		if f.kind != "" && f.kind == kind {
			out = append(out, f)
		}
	}
	return out
}

func matchEndpoint(pattern, segs []string) bool {
	for i, p := range pattern {
		if p == "**" && i == len(pattern)-1 {
			return true
		}
		if i >= len(segs) || p != "*" && p != segs[i] {
			return false
		}
	}
	return len(pattern) == len(segs)
}

// fieldRule returns the rule of the first pattern the JSON path is at or under, or "".
func fieldRule(patterns []fieldPattern, path []pathElem) string {
	for _, f := range patterns {
		if len(f.steps) > len(path) {
			continue
		}
		ok := true
		for i, s := range f.steps {
			e := path[i]
			switch {
			case s.anyIndex:
				ok = !e.isKey
			case s.anyKey:
				ok = e.isKey
			default:
				ok = e.isKey && string(e.key) == s.key
			}
			if !ok {
				break
			}
		}
		if ok {
			return f.rule
		}
	}
	return ""
}
