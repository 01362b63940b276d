package aws

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// marshalDocument turns SDK output (typed structs) into the artefact document: JSON with
// the SDK's field names, object keys sorted, null and empty-string fields and the SDK's
// ResultMetadata dropped. The SDK's enums are strings whose zero value "" means "not in
// the response", so dropping them and nulls makes "absent" one thing for rules
// (`has(x.f)`), as it is in the AWS APIs. Lists keep the order the collector gave them (sorted by the
// collector where the API order is not meaningful), so unchanged evidence yields the same
// bytes and the same digest.
func marshalDocument(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("could not encode document: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("could not re-read document: %w", err)
	}
	tree = prune(tree)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, fmt.Errorf("could not encode document: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil || x == "" || k == "ResultMetadata" {
				delete(t, k)
				continue
			}
			t[k] = prune(x)
		}
		return t
	case []any:
		for i := range t {
			t[i] = prune(t[i])
		}
		return t
	default:
		return v
	}
}

// policyDocument decodes an IAM policy document as IAM and S3 return it (URL-encoded JSON
// for IAM, plain JSON for S3) into a JSON value whose Statement is always a list and whose
// Action, NotAction, Resource and NotResource are always lists, so rules need not handle
// both shapes. Principal values and condition values are lists of strings too (IAM accepts
// "true", true and ["true"] alike). The raw response keeps the original text.
func policyDocument(text string) (any, error) {
	if text == "" {
		return nil, nil
	}
	if !strings.HasPrefix(strings.TrimSpace(text), "{") {
		dec, err := url.QueryUnescape(text)
		if err != nil {
			return nil, fmt.Errorf("could not URL-decode policy document: %w", err)
		}
		text = dec
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("could not parse policy document: %w", err)
	}
	st := doc["Statement"]
	var stmts []any
	switch s := st.(type) {
	case []any:
		stmts = s
	case map[string]any:
		stmts = []any{s}
	case nil:
	default:
		return nil, errors.New("policy document: Statement is neither an object nor a list")
	}
	for _, s := range stmts {
		m, ok := s.(map[string]any)
		if !ok {
			return nil, errors.New("policy document: a statement is not an object")
		}
		for _, k := range []string{"Action", "NotAction", "Resource", "NotResource"} {
			if str, ok := m[k].(string); ok {
				m[k] = []any{str}
			}
		}
		for _, k := range []string{"Principal", "NotPrincipal"} {
			if p, ok := m[k].(map[string]any); ok {
				for typ, v := range p {
					p[typ] = stringList(v)
				}
			}
		}
		if cond, ok := m["Condition"].(map[string]any); ok {
			for op, keys := range cond {
				km, ok := keys.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("policy document: condition %s is not an object", op)
				}
				for key, v := range km {
					km[key] = stringList(v)
				}
			}
		}
	}
	if stmts == nil {
		stmts = []any{}
	}
	doc["Statement"] = stmts
	return doc, nil
}

// stringList turns a policy value (a string, boolean, number or a list of them) into a
// list of strings.
func stringList(v any) []any {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	out := make([]any, 0, len(list))
	for _, x := range list {
		switch t := x.(type) {
		case string:
			out = append(out, t)
		default:
			out = append(out, fmt.Sprint(t))
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
