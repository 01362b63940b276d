package connectortest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/exhibit-dev/exhibit/core/controls"
)

// DefaultNow is the evaluation time of a rule case that sets no `now`. It is fixed, so a
// case whose verdict depends on ages gives the same verdict on every day the tests run.
var DefaultNow = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// rulesFileName names the rules file in errors; every connector embeds it as rules.yaml.
const rulesFileName = "rules.yaml"

// RuleCases runs a connector's rule truth table (path, usually testdata/rule_cases.yaml)
// against its rules file through the real controls engine, one subtest per case.
//
// The file is a mapping with `cases:`, a list of
//
//	rule:     the rule id (it must exist in rulesYAML)
//	name:     a short name, unique for the rule
//	source:   where the document's shape comes from (doc page, OpenAPI example, recorded
//	          fixture, hand-made)
//	subject:  optional, the artefact's subject (default "")
//	now:      optional RFC 3339 evaluation time (default DefaultNow)
//	params:   optional overrides of the rule's parameters (known names, same types)
//	document: the document exactly as the connector produces it, as YAML or JSON (a
//	          mapping or list), or a string holding its JSON text
//	want:     pass, fail, not_applicable or error
//
// and an optional `exempt:` mapping of rule id to a reason (waives every missing outcome)
// or to a mapping of outcome to reason (waives only those). Every rule of rulesYAML must
// have cases that pass, fail and are not applicable, unless exempted; an exemption that
// waives nothing is an error, so the list shrinks as cases are written. Problems of the file
// are errors naming file:line, all at once.
func RuleCases(t *testing.T, rulesYAML []byte, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("rule cases: %v", err)
	}
	tbl, err := loadRuleCases(rulesYAML, path, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tbl.cases {
		t.Run(c.Rule+"/"+c.Name, func(t *testing.T) {
			if msg := tbl.check(c); msg != "" {
				t.Errorf("%s:%d: %s", path, c.line, msg)
			}
		})
	}
	for _, msg := range tbl.coverage() {
		t.Error(msg)
	}
}

// ruleCaseFindings is RuleCases as a list of findings, for the conformance suite.
func ruleCaseFindings(rulesYAML []byte, path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{"rule cases: " + err.Error()}
	}
	tbl, err := loadRuleCases(rulesYAML, path, data)
	if err != nil {
		return strings.Split(err.Error(), "\n")
	}
	var out []string
	for _, c := range tbl.cases {
		if msg := tbl.check(c); msg != "" {
			out = append(out, fmt.Sprintf("%s:%d: %s", path, c.line, msg))
		}
	}
	return append(out, tbl.coverage()...)
}

// RuleCase is one row of a rule truth table.
type RuleCase struct {
	Rule     string
	Name     string
	Source   string
	Subject  string
	Now      time.Time
	Params   map[string]*yaml.Node
	Document []byte // JSON
	Want     controls.Outcome

	line int
}

// ruleTable is a loaded, checked truth table.
type ruleTable struct {
	path   string
	rs     *controls.RuleSet
	rules  *rulesSource
	cases  []*RuleCase
	exempt map[string]map[controls.Outcome]string // rule → outcome → reason
	whole  map[string]bool                        // rule → exempted with one reason for all
	line   map[string]int                         // rule → line of its exemption
	sets   map[string]*controls.RuleSet           // compiled parameter overrides by key
}

var (
	caseFileKeys = []string{"cases", "exempt"}
	caseKeys     = []string{"rule", "name", "source", "subject", "now", "params", "document", "want"}
	// demanded are the outcomes every rule needs a case for.
	demanded = []controls.Outcome{controls.Pass, controls.Fail, controls.NotApplicable}
	wantable = map[string]controls.Outcome{
		"pass": controls.Pass, "fail": controls.Fail, "not_applicable": controls.NotApplicable, "error": controls.Error,
	}
)

// loadRuleCases parses the cases file strictly and checks it against the rules.
func loadRuleCases(rulesYAML []byte, path string, data []byte) (*ruleTable, error) {
	rs, err := controls.ParseRules(rulesFileName, rulesYAML)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	src, err := parseRulesSource(rulesYAML)
	if err != nil {
		return nil, err
	}
	tbl := &ruleTable{path: path, rs: rs, rules: src, exempt: map[string]map[controls.Outcome]string{},
		whole: map[string]bool{}, line: map[string]int{}, sets: map[string]*controls.RuleSet{}}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file (want a mapping with cases:)", path)
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with cases: and exempt:", path, top.Line)
	}
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
	}
	if err := checkKeys(path, top, caseFileKeys, "the rule cases file"); err != nil {
		return nil, err
	}
	cases := mappingValue(top, "cases")
	if cases == nil {
		return nil, fmt.Errorf("%s:%d: no cases: list", path, top.Line)
	}
	if cases.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: cases must be a list", path, cases.Line)
	}
	seen := map[string]int{}
	for i, n := range cases.Content {
		c, err := tbl.parseCase(n, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := c.Rule + "\x00" + c.Name
		if prev, dup := seen[key]; dup {
			fail(c.line, "rule %s has two cases named %q (the first at line %d)", c.Rule, c.Name, prev)
			continue
		}
		seen[key] = c.line
		tbl.cases = append(tbl.cases, c)
	}
	if ex := mappingValue(top, "exempt"); ex != nil {
		if ex.Kind != yaml.MappingNode {
			fail(ex.Line, "exempt must be a mapping of rule id to reason")
		} else if err := checkKeys(path, ex, nil, ""); err != nil {
			errs = append(errs, err)
		} else {
			for i := 0; i+1 < len(ex.Content); i += 2 {
				k, v := ex.Content[i], ex.Content[i+1]
				if err := tbl.parseExemption(k, v); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return tbl, errors.Join(errs...)
}

func (tbl *ruleTable) parseCase(n *yaml.Node, i int) (*RuleCase, error) {
	where := fmt.Sprintf("cases[%d]", i)
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %s must be a mapping", tbl.path, n.Line, where)
	}
	if err := checkKeys(tbl.path, n, caseKeys, where); err != nil {
		return nil, err
	}
	c := &RuleCase{line: n.Line, Now: DefaultNow}
	str := func(key string, required bool) (string, error) {
		v := mappingValue(n, key)
		if v == nil {
			if required {
				return "", fmt.Errorf("%s:%d: %s has no %s", tbl.path, n.Line, where, key)
			}
			return "", nil
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return "", fmt.Errorf("%s:%d: %s.%s must be a string", tbl.path, v.Line, where, key)
		}
		if required && strings.TrimSpace(v.Value) == "" {
			return "", fmt.Errorf("%s:%d: %s.%s is empty", tbl.path, v.Line, where, key)
		}
		return v.Value, nil
	}
	var err error
	if c.Rule, err = str("rule", true); err != nil {
		return nil, err
	}
	where = fmt.Sprintf("%s (rule %s)", where, c.Rule)
	r := tbl.rs.Rule(c.Rule)
	if r == nil {
		return nil, fmt.Errorf("%s:%d: %s: unknown rule id %q%s", tbl.path, mappingValue(n, "rule").Line, where, c.Rule, tbl.similar(c.Rule))
	}
	if c.Name, err = str("name", true); err != nil {
		return nil, err
	}
	if c.Source, err = str("source", true); err != nil {
		return nil, err
	}
	if c.Subject, err = str("subject", false); err != nil {
		return nil, err
	}
	want, err := str("want", true)
	if err != nil {
		return nil, err
	}
	var ok bool
	if c.Want, ok = wantable[want]; !ok {
		return nil, fmt.Errorf("%s:%d: %s.want is %q (want pass, fail, not_applicable or error)", tbl.path, mappingValue(n, "want").Line, where, want)
	}
	now, err := str("now", false)
	if err != nil {
		return nil, err
	}
	if now != "" {
		if c.Now, err = time.Parse(time.RFC3339, now); err != nil {
			return nil, fmt.Errorf("%s:%d: %s.now %q is not an RFC 3339 time", tbl.path, mappingValue(n, "now").Line, where, now)
		}
	}
	doc := mappingValue(n, "document")
	if doc == nil {
		return nil, fmt.Errorf("%s:%d: %s has no document", tbl.path, n.Line, where)
	}
	if c.Document, err = documentJSON(doc); err != nil {
		return nil, fmt.Errorf("%s:%d: %s.document: %v", tbl.path, doc.Line, where, err)
	}
	if p := mappingValue(n, "params"); p != nil {
		if err := tbl.parseParams(c, r, p, where); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseParams checks the overrides against the rule's declared parameters, the way the
// config's controls.overrides are checked.
func (tbl *ruleTable) parseParams(c *RuleCase, r *controls.Rule, p *yaml.Node, where string) error {
	if p.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: %s.params must be a mapping", tbl.path, p.Line, where)
	}
	if err := checkKeys(tbl.path, p, nil, ""); err != nil {
		return err
	}
	c.Params = map[string]*yaml.Node{}
	for i := 0; i+1 < len(p.Content); i += 2 {
		k, v := p.Content[i], p.Content[i+1]
		def, ok := r.DefaultParams[k.Value]
		if !ok {
			names := make([]string, 0, len(r.DefaultParams))
			for n := range r.DefaultParams {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("%s:%d: %s: rule %s has no parameter %q (it has: %s)", tbl.path, k.Line, where, r.ID, k.Value, strings.Join(names, ", "))
		}
		var val any
		if err := v.Decode(&val); err != nil {
			return fmt.Errorf("%s:%d: %s.params.%s: %v", tbl.path, v.Line, where, k.Value, err)
		}
		if controls.ParamKind(def) != controls.ParamKind(val) {
			return fmt.Errorf("%s:%d: %s: parameter %s is a %s, not a %s", tbl.path, v.Line, where, k.Value, controls.ParamKind(def), controls.ParamKind(val))
		}
		c.Params[k.Value] = v
	}
	return nil
}

func (tbl *ruleTable) parseExemption(k, v *yaml.Node) error {
	if tbl.rs.Rule(k.Value) == nil {
		return fmt.Errorf("%s:%d: exempt: unknown rule id %q%s", tbl.path, k.Line, k.Value, tbl.similar(k.Value))
	}
	tbl.line[k.Value] = k.Line
	waived := map[controls.Outcome]string{}
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str" && strings.TrimSpace(v.Value) != "":
		for _, o := range demanded {
			waived[o] = v.Value
		}
		tbl.whole[k.Value] = true
	case v.Kind == yaml.MappingNode && len(v.Content) > 0:
		if err := checkKeys(tbl.path, v, []string{"pass", "fail", "not_applicable"}, "exempt."+k.Value); err != nil {
			return err
		}
		for i := 0; i+1 < len(v.Content); i += 2 {
			ok, reason := v.Content[i], v.Content[i+1]
			if reason.Kind != yaml.ScalarNode || reason.Tag != "!!str" || strings.TrimSpace(reason.Value) == "" {
				return fmt.Errorf("%s:%d: exempt.%s.%s needs a reason", tbl.path, reason.Line, k.Value, ok.Value)
			}
			waived[controls.Outcome(ok.Value)] = reason.Value
		}
	default:
		return fmt.Errorf("%s:%d: exempt.%s needs a reason (a string, or a mapping of pass/fail/not_applicable to reasons)", tbl.path, v.Line, k.Value)
	}
	tbl.exempt[k.Value] = waived
	return nil
}

// check evaluates one case and returns what is wrong with its verdict, or "".
func (tbl *ruleTable) check(c *RuleCase) string {
	rs, err := tbl.ruleSet(c)
	if err != nil {
		return fmt.Sprintf("rule %s with params: %v", c.Rule, err)
	}
	r := rs.Rule(c.Rule)
	for _, res := range rs.Evaluate(r.Kind, c.Subject, c.Document, c.Now) {
		if res.Rule != c.Rule {
			continue
		}
		if res.Outcome == c.Want {
			return ""
		}
		var b strings.Builder
		fmt.Fprintf(&b, "rule %s, case %q (%s): got %s, want %s", c.Rule, c.Name, c.Source, res.Outcome, c.Want)
		if res.Message != "" {
			fmt.Fprintf(&b, "; message: %s", res.Message)
		}
		for _, v := range res.Values {
			fmt.Fprintf(&b, "; %s = %s", v.Path, v.Value)
		}
		if len(res.Failing) > 0 {
			fmt.Fprintf(&b, "; failing: %s", strings.Join(res.Failing, ", "))
		}
		return b.String()
	}
	return fmt.Sprintf("rule %s gave no result for kind %s", c.Rule, r.Kind)
}

// ruleSet returns the rules to evaluate c with: the file's, or a copy of c's rule with its
// parameters overridden, compiled by the controls engine from the edited rules source.
func (tbl *ruleTable) ruleSet(c *RuleCase) (*controls.RuleSet, error) {
	if len(c.Params) == 0 {
		return tbl.rs, nil
	}
	var key bytes.Buffer
	key.WriteString(c.Rule)
	names := make([]string, 0, len(c.Params))
	for n := range c.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, _ := yaml.Marshal(c.Params[n])
		fmt.Fprintf(&key, "\x00%s=%s", n, b)
	}
	if rs, ok := tbl.sets[key.String()]; ok {
		return rs, nil
	}
	data, err := tbl.rules.withParams(c.Rule, c.Params)
	if err != nil {
		return nil, err
	}
	rs, err := controls.ParseRules(rulesFileName, data)
	if err != nil {
		return nil, err
	}
	tbl.sets[key.String()] = rs
	return rs, nil
}

// coverage returns a message for every demanded outcome a rule has no case for and did
// not exempt, and for every exemption that waives nothing because the cases exist.
func (tbl *ruleTable) coverage() []string {
	have := map[string]map[controls.Outcome]bool{}
	for _, c := range tbl.cases {
		if have[c.Rule] == nil {
			have[c.Rule] = map[controls.Outcome]bool{}
		}
		have[c.Rule][c.Want] = true
	}
	var out []string
	for _, r := range tbl.rs.Rules() {
		var missing, stale []string
		for _, o := range demanded {
			_, waived := tbl.exempt[r.ID][o]
			switch {
			case !have[r.ID][o] && !waived:
				missing = append(missing, string(o))
			case have[r.ID][o] && waived:
				stale = append(stale, string(o))
			}
		}
		if len(missing) > 0 {
			out = append(out, fmt.Sprintf("%s:%d: rule %s has no %s case in %s (add one, or exempt it with a reason)", r.File, r.Line, r.ID, strings.Join(missing, ", no "), tbl.path))
		}
		// A whole-rule exemption is stale once every outcome has a case; an outcome's
		// exemption once that outcome has one.
		if len(stale) > 0 && (!tbl.whole[r.ID] || len(stale) == len(demanded)) {
			out = append(out, fmt.Sprintf("%s:%d: exempt.%s waives %s, but the rule has such cases now: remove it", tbl.path, tbl.line[r.ID], r.ID, strings.Join(stale, ", ")))
		}
	}
	return out
}

// similar suggests rule ids that share the unknown id's kind prefix.
func (tbl *ruleTable) similar(id string) string {
	prefix := id
	if i := strings.LastIndex(id, "."); i > 0 {
		prefix = id[:i+1]
	}
	var ids []string
	for _, r := range tbl.rs.Rules() {
		if strings.HasPrefix(r.ID, prefix) {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 || len(ids) > 8 {
		return ""
	}
	return " (rules with that prefix: " + strings.Join(ids, ", ") + ")"
}

// documentJSON turns a case's document into JSON: a YAML mapping or list converted value by
// value (numbers as written, timestamps as the strings they are in JSON), or a string that
// holds the JSON text itself.
func documentJSON(n *yaml.Node) ([]byte, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		s := strings.TrimSpace(n.Value)
		if !json.Valid([]byte(s)) {
			return nil, errors.New("a string document must be JSON text (or write the document as YAML)")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(s)); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode {
		return nil, errors.New("want a mapping or a list (or a string of JSON text)")
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return fmt.Errorf("line %d: keys must be plain strings", k.Line)
			}
			if prev, dup := seen[k.Value]; dup {
				return fmt.Errorf("line %d: duplicate key %q (first at line %d)", k.Line, k.Value, prev)
			}
			seen[k.Value] = k.Line
			if i > 0 {
				buf.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSON(buf, v); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, v := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, v); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		switch n.Tag {
		case "!!str", "!!timestamp", "!!binary":
			v = n.Value
		case "!!null":
			v = nil
		case "!!bool", "!!int", "!!float":
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("line %d: %v", n.Line, err)
			}
			if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
				return fmt.Errorf("line %d: %s is not a JSON number", n.Line, n.Value)
			}
		default:
			return fmt.Errorf("line %d: tag %s has no JSON form", n.Line, n.Tag)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %v", n.Line, err)
		}
		buf.Write(b)
	default:
		return fmt.Errorf("line %d: unsupported YAML node", n.Line)
	}
	return nil
}

// checkKeys rejects duplicate keys, and keys not in known unless known is nil.
func checkKeys(file string, n *yaml.Node, known []string, where string) error {
	ok := map[string]bool{}
	for _, k := range known {
		ok[k] = true
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if known != nil && !ok[k.Value] {
			return fmt.Errorf("%s:%d: unknown key %q in %s (known keys: %s)", file, k.Line, k.Value, where, strings.Join(known, ", "))
		}
		if prev, dup := seen[k.Value]; dup {
			return fmt.Errorf("%s:%d: duplicate key %q (first at line %d)", file, k.Line, k.Value, prev)
		}
		seen[k.Value] = k.Line
	}
	return nil
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// rulesSource is the rules file as YAML nodes, to compile a rule with other parameters.
type rulesSource struct {
	version *yaml.Node
	byID    map[string]*yaml.Node
}

func parseRulesSource(data []byte) (*rulesSource, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: %v", rulesFileName, err)
	}
	src := &rulesSource{version: mappingValue(root.Content[0], "version"), byID: map[string]*yaml.Node{}}
	if rules := mappingValue(root.Content[0], "rules"); rules != nil {
		for _, r := range rules.Content {
			if id := mappingValue(r, "id"); id != nil {
				src.byID[id.Value] = r
			}
		}
	}
	return src, nil
}

// withParams returns a rules file holding only rule id, its parameters replaced by params.
func (s *rulesSource) withParams(id string, params map[string]*yaml.Node) ([]byte, error) {
	orig := s.byID[id]
	if orig == nil {
		return nil, fmt.Errorf("rule %s not found in %s", id, rulesFileName)
	}
	rule := *orig
	rule.Content = append([]*yaml.Node(nil), orig.Content...)
	var p *yaml.Node
	for i := 0; i+1 < len(rule.Content); i += 2 {
		if rule.Content[i].Value == "params" {
			cp := *rule.Content[i+1]
			cp.Content = append([]*yaml.Node(nil), cp.Content...)
			cp.Style = 0
			p = &cp
			rule.Content[i+1] = p
		}
	}
	if p == nil {
		return nil, fmt.Errorf("rule %s has no params", id)
	}
	for i := 0; i+1 < len(p.Content); i += 2 {
		if v, ok := params[p.Content[i].Value]; ok {
			p.Content[i+1] = v
		}
	}
	version := s.version
	if version == nil {
		version = &yaml.Node{Kind: yaml.ScalarNode, Value: "1"}
	}
	file := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "version"}, version,
		{Kind: yaml.ScalarNode, Value: "rules"}, {Kind: yaml.SequenceNode, Content: []*yaml.Node{&rule}},
	}}
	return yaml.Marshal(file)
}
