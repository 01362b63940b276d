package github

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The reference extract of GitHub's REST API description and Octokit's recorded responses
// (testdata/reference, see PROVENANCE.md there). These helpers load it and validate
// responses against it; the tests using them are in description_test.go and replay_test.go.

const referenceDir = "testdata/reference"

// refOperation is one operation of the extract.
type refOperation struct {
	Method      string `json:"method"`
	Path        string `json:"path"`
	OperationID string `json:"operationId"`
	Description string `json:"description"`
	XGitHub     struct {
		GithubCloudOnly      bool `json:"githubCloudOnly"`
		EnabledForGitHubApps bool `json:"enabledForGitHubApps"`
	} `json:"x-github"`
	ClassicTokenScopes *struct {
		AnyOf    []string `json:"any_of"`
		AllOf    []string `json:"all_of"`
		Sentence string   `json:"sentence"`
	} `json:"classic_token_scopes"`
	Parameters []struct {
		Name   string `json:"name"`
		In     string `json:"in"`
		Schema struct {
			Enum []string `json:"enum"`
		} `json:"schema"`
	} `json:"parameters"`
	Responses map[string]refResponse `json:"responses"`

	re      *regexp.Regexp
	file    string
	raw     map[string]any // the file decoded for jsonschema (numbers kept exact)
	schemas map[string]*jsonschema.Schema
	mu      sync.Mutex
}

type refResponse struct {
	Description string `json:"description"`
	Content     map[string]struct {
		Examples map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"examples"`
	} `json:"content"`
}

// example returns the documented example body of a status (the "default" example, else
// the first by name whose name contains prefer), or nil.
func (o *refOperation) example(status, prefer string) json.RawMessage {
	r, ok := o.Responses[status]
	if !ok {
		return nil
	}
	for _, c := range r.Content {
		if e, ok := c.Examples["default"]; ok {
			return e.Value
		}
		names := make([]string, 0, len(c.Examples))
		for n := range c.Examples {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if strings.Contains(n, prefer) {
				return c.Examples[n].Value
			}
		}
		if len(names) > 0 {
			return c.Examples[names[0]].Value
		}
	}
	return nil
}

// reference is the loaded extract.
type reference struct {
	ops      []*refOperation
	recorded []struct {
		File        string `json:"file"`
		Method      string `json:"method"`
		Path        string `json:"path"`
		Status      int    `json:"status"`
		OperationID string `json:"operationId"`
	}
}

var (
	refOnce sync.Once
	refData *reference
	refErr  error
)

// loadReference reads testdata/reference once per test binary.
func loadReference(t testing.TB) *reference {
	t.Helper()
	refOnce.Do(func() { refData, refErr = readReference() })
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refData
}

func readReference() (*reference, error) {
	b, err := os.ReadFile(filepath.Join(referenceDir, "index.json"))
	if err != nil {
		return nil, err
	}
	var idx struct {
		Operations []struct {
			File string `json:"file"`
		} `json:"operations"`
		Recorded json.RawMessage `json:"recorded"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(referenceDir, "index.json"), err)
	}
	ref := &reference{}
	if err := json.Unmarshal(idx.Recorded, &ref.recorded); err != nil {
		return nil, err
	}
	for _, o := range idx.Operations {
		path := filepath.Join(referenceDir, o.File)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		op := &refOperation{file: path, schemas: map[string]*jsonschema.Schema{}}
		if err := json.Unmarshal(b, op); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		op.raw = raw.(map[string]any)
		op.re = templateRegexp(op.Path)
		ref.ops = append(ref.ops, op)
	}
	return ref, nil
}

// templateRegexp turns an OpenAPI path template into a regexp; {path} (a file path in a
// repository) may span segments, every other parameter is one segment.
func templateRegexp(tmpl string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, part := range regexp.MustCompile(`\{[^}]+\}|[^{]+`).FindAllString(tmpl, -1) {
		switch {
		case part == "{path}":
			b.WriteString(".+")
		case strings.HasPrefix(part, "{"):
			b.WriteString("[^/]+")
		default:
			b.WriteString(regexp.QuoteMeta(part))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// operation finds the operation a request is for (path without the API prefix).
func (r *reference) operation(method, path string) *refOperation {
	var best *refOperation
	for _, o := range r.ops {
		if o.Method == method && o.re.MatchString(path) {
			// A literal template beats one with a parameter in the same place
			// (rulesets/{id} against rules/branches/{branch} never collide, but be safe).
			if best == nil || strings.Count(o.Path, "{") < strings.Count(best.Path, "{") {
				best = o
			}
		}
	}
	return best
}

// byID returns the operation with an operationId.
func (r *reference) byID(t testing.TB, id string) *refOperation {
	t.Helper()
	for _, o := range r.ops {
		if o.OperationID == id {
			return o
		}
	}
	t.Fatalf("operation %s is not in the reference extract", id)
	return nil
}

// schema returns the compiled JSON schema of a documented status's JSON body, or nil when
// the description gives the status no body.
func (o *refOperation) schema(status string) (*jsonschema.Schema, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.schemas[status]; ok {
		return s, nil
	}
	resp, _ := o.raw["responses"].(map[string]any)[status].(map[string]any)
	content, _ := resp["content"].(map[string]any)
	var sch any
	for ct, c := range content {
		if strings.Contains(ct, "json") {
			sch = c.(map[string]any)["schema"]
		}
	}
	if sch == nil {
		o.schemas[status] = nil
		return nil, nil
	}
	url := "mem://" + strings.ReplaceAll(o.OperationID, "/", "_") + "/" + status + ".json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, openAPIToJSONSchema(sch)); err != nil {
		return nil, err
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.OperationID, status, err)
	}
	o.schemas[status] = s
	return s, nil
}

// openAPIToJSONSchema rewrites the OpenAPI 3.0 schema dialect into JSON Schema: a
// `nullable: true` schema also admits null. Everything else GitHub's description uses is
// JSON Schema already (OpenAPI-only keywords such as example are annotations).
func openAPIToJSONSchema(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = openAPIToJSONSchema(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if k == "properties" || k == "patternProperties" {
				props := map[string]any{}
				for name, p := range e.(map[string]any) {
					props[name] = openAPIToJSONSchema(p)
				}
				out[k] = props
				continue
			}
			out[k] = openAPIToJSONSchema(e)
		}
		if out["nullable"] == true {
			delete(out, "nullable")
			if enum, ok := out["enum"].([]any); ok {
				out["enum"] = append(enum, nil)
			}
			switch t := out["type"].(type) {
			case string:
				out["type"] = []any{t, "null"}
			case nil:
				return map[string]any{"anyOf": []any{out, map[string]any{"type": "null"}}}
			}
		}
		return out
	}
	return v
}

// served is one response the simulator sent.
type served struct {
	Method, Path, Query string
	Status              int
	Body                []byte
}

// servedLog records every response of a handler.
type servedLog struct {
	mu   sync.Mutex
	list []served
}

// record wraps h (the simulator with its harness) so every response is logged; base is the
// API path prefix to strip.
func (l *servedLog) record(h http.Handler, base string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		w.Write(body)
		path := strings.TrimPrefix(r.URL.Path, base)
		l.mu.Lock()
		l.list = append(l.list, served{r.Method, path, r.URL.RawQuery, rec.Code, append([]byte(nil), body...)})
		l.mu.Unlock()
	})
}

// validateServed checks one response against the description: the operation exists, its
// status is documented (or a listed general deviation), and a JSON body matches the
// status's schema. It returns "" or what is wrong.
func (r *reference) validateServed(s served, deviation func(op *refOperation, s served) string) string {
	op := r.operation(s.Method, s.Path)
	if op == nil {
		return fmt.Sprintf("%s %s: no such operation in the reference extract", s.Method, s.Path)
	}
	status := strconv.Itoa(s.Status)
	if _, ok := op.Responses[status]; !ok {
		if deviation(op, s) != "" {
			return ""
		}
		documented := make([]string, 0, len(op.Responses))
		for st := range op.Responses {
			documented = append(documented, st)
		}
		sort.Strings(documented)
		return fmt.Sprintf("%s %s (%s): status %d is not documented (documented: %v); body %.200s", s.Method, s.Path, op.OperationID, s.Status, documented, s.Body)
	}
	sch, err := op.schema(status)
	if err != nil {
		return err.Error()
	}
	if sch == nil {
		if len(bytes.TrimSpace(s.Body)) > 0 && s.Status == http.StatusNoContent {
			return fmt.Sprintf("%s %s: %d with a body", s.Method, s.Path, s.Status)
		}
		return ""
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.Body))
	if err != nil {
		return fmt.Sprintf("%s %s (%s) %d: body is not JSON: %v", s.Method, s.Path, op.OperationID, s.Status, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Sprintf("%s %s (%s) %d: %v", s.Method, s.Path, op.OperationID, s.Status, err)
	}
	return ""
}
