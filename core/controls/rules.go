package controls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	"gopkg.in/yaml.v3"

	"github.com/exhibit-dev/exhibit/evidence"
)

// RulesSchemaVersion is the only rules file format version this package reads.
const RulesSchemaVersion = 1

// Severities a rule may declare.
var severities = map[string]bool{"low": true, "medium": true, "high": true, "critical": true}

// Rule is one compiled, type-checked rule. Rules are immutable once a RuleSet is built,
// except through RuleSet.Override and RuleSet.Disable, which replace the rule.
type Rule struct {
	ID          string
	Version     int
	Kind        string
	Title       string
	Description string
	Remediation string
	Severity    string
	// Params are the effective parameters (the file's defaults with config overrides).
	Params map[string]any
	// DefaultParams are the parameters as the rules file declares them.
	DefaultParams map[string]any
	// Overridden is true when config changed a parameter.
	Overridden bool
	Applies    string
	Expr       string
	Failing    string
	// Controls maps framework id → control ids the rule proves, including derived mappings.
	Controls map[string][]string
	// Derived names the frameworks whose mapping was derived (from the BSI ISO→GS++ mapping)
	// rather than written in the rules file.
	Derived map[string]bool
	// Rationale maps framework id → control id → one line saying why this evidence shows
	// that control operating (ISO/IEC 27002:2022's purpose of the control). Written in the
	// rules file as a mapping `controls: {fw: {id: rationale}}`; derived mappings inherit
	// the rationale of the ISO controls they come from. Empty when the rules file used the
	// plain list form.
	Rationale map[string]map[string]string
	// File and Line locate the rule's definition.
	File string
	Line int
	// Disabled rules are not evaluated; Justification records why (from config).
	Disabled      bool
	Justification string

	applies, expr, failing cel.Program
	paths                  []docPath // document paths the expressions read
	paramRefs              []string  // params the expressions read, sorted
	paramValues            []Value   // rendered effective values of paramRefs
	paramVal               any       // Params as handed to CEL
}

// RuleSet is a set of rules with unique ids, indexed by kind.
type RuleSet struct {
	rules  []*Rule
	byID   map[string]*Rule
	byKind map[string][]*Rule
}

// Rules returns every rule, in file order (disabled ones included).
func (rs *RuleSet) Rules() []*Rule { return rs.rules }

// Rule returns the rule with that id, or nil.
func (rs *RuleSet) Rule(id string) *Rule { return rs.byID[id] }

// judges reports whether an enabled rule judges artefacts of kind.
func (rs *RuleSet) judges(kind string) bool {
	for _, r := range rs.byKind[kind] {
		if !r.Disabled {
			return true
		}
	}
	return false
}

// ForKind returns the rules of an artefact kind (disabled ones included).
func (rs *RuleSet) ForKind(kind string) []*Rule { return rs.byKind[kind] }

// Kinds returns the artefact kinds that have rules, sorted.
func (rs *RuleSet) Kinds() []string {
	out := make([]string, 0, len(rs.byKind))
	for k := range rs.byKind {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Len returns the number of rules.
func (rs *RuleSet) Len() int { return len(rs.rules) }

func newRuleSet() *RuleSet {
	return &RuleSet{byID: map[string]*Rule{}, byKind: map[string][]*Rule{}}
}

func (rs *RuleSet) add(r *Rule) error {
	if prev, dup := rs.byID[r.ID]; dup {
		return fmt.Errorf("%s:%d: rule %s: duplicate id (first defined at %s:%d)", r.File, r.Line, r.ID, prev.File, prev.Line)
	}
	rs.byID[r.ID] = r
	rs.rules = append(rs.rules, r)
	rs.byKind[r.Kind] = append(rs.byKind[r.Kind], r)
	return nil
}

// Merge adds the rules of other; a duplicate id is an error naming both definitions.
func (rs *RuleSet) Merge(other *RuleSet) error {
	var errs []error
	for _, r := range other.rules {
		if err := rs.add(r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// replace swaps a rule for a changed copy under the same id.
func (rs *RuleSet) replace(r *Rule) {
	for i, old := range rs.rules {
		if old.ID == r.ID {
			rs.rules[i] = r
		}
	}
	rs.byID[r.ID] = r
	list := rs.byKind[r.Kind]
	for i, old := range list {
		if old.ID == r.ID {
			list[i] = r
		}
	}
}

// ParseRules parses and compiles a rules file against the built-in catalogues. Errors name
// file:line and the rule id; all problems of the file are reported at once.
func ParseRules(file string, data []byte) (*RuleSet, error) {
	cat, err := Builtin()
	if err != nil {
		return nil, err
	}
	return cat.ParseRules(file, data)
}

// rulesFileKeys and ruleKeys are the keys a rules file may use; others are errors.
var (
	rulesFileKeys = []string{"version", "rules"}
	ruleKeys      = []string{"id", "version", "kind", "title", "description", "remediation", "severity", "params", "applies", "expr", "failing", "controls"}
)

// ParseRules parses and compiles a rules file; control ids are checked against c, so rules
// may name custom frameworks added to c.
func (c *Catalog) ParseRules(file string, data []byte) (*RuleSet, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty rules file", file)
		}
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a rules file is a mapping with version and rules", file, root.Line)
	}
	if err := checkMappingKeys(file, root, rulesFileKeys, "the rules file"); err != nil {
		return nil, err
	}
	version := mappingValue(root, "version")
	if version == nil {
		return nil, fmt.Errorf("%s:%d: version is required (version: %d)", file, root.Line, RulesSchemaVersion)
	}
	if version.Value != fmt.Sprint(RulesSchemaVersion) {
		return nil, fmt.Errorf("%s:%d: rules file version %q is not supported (want %d)", file, version.Line, version.Value, RulesSchemaVersion)
	}
	rules := mappingValue(root, "rules")
	if rules == nil || rules.Kind != yaml.SequenceNode {
		line := root.Line
		if rules != nil {
			line = rules.Line
		}
		return nil, fmt.Errorf("%s:%d: rules must be a list", file, line)
	}
	rs := newRuleSet()
	var errs []error
	for _, n := range rules.Content {
		r, err := c.compileRule(file, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := rs.add(r); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rs, nil
}

type ruleYAML struct {
	ID          string                  `yaml:"id"`
	Version     int                     `yaml:"version"`
	Kind        string                  `yaml:"kind"`
	Title       string                  `yaml:"title"`
	Description string                  `yaml:"description"`
	Remediation string                  `yaml:"remediation"`
	Severity    string                  `yaml:"severity"`
	Params      map[string]any          `yaml:"params"`
	Applies     string                  `yaml:"applies"`
	Expr        string                  `yaml:"expr"`
	Failing     string                  `yaml:"failing"`
	Controls    map[string]controlsYAML `yaml:"controls"`
}

// controlsYAML is one framework's controls of a rule: either a list of control ids or a
// mapping of control id → rationale (the form every shipped rule uses).
type controlsYAML struct {
	IDs       []string
	Rationale map[string]string
}

func (c *controlsYAML) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		return n.Decode(&c.IDs)
	case yaml.MappingNode:
		c.Rationale = map[string]string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: the rationale of control %s must be one line of text", v.Line, k.Value)
			}
			if _, dup := c.Rationale[k.Value]; dup {
				return fmt.Errorf("line %d: control %q is listed twice", k.Line, k.Value)
			}
			c.IDs = append(c.IDs, k.Value)
			c.Rationale[k.Value] = strings.TrimSpace(v.Value)
		}
		return nil
	}
	return fmt.Errorf("line %d: controls of a framework are a list of ids or a mapping of id → rationale", n.Line)
}

func (c *Catalog) compileRule(file string, n *yaml.Node) (*Rule, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a rule must be a mapping", file, n.Line)
	}
	id := "(no id)"
	if v := mappingValue(n, "id"); v != nil && v.Value != "" {
		id = v.Value
	}
	fail := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: rule %s: %s", file, line, id, fmt.Sprintf(format, args...))
	}
	if err := checkMappingKeys(file, n, ruleKeys, "rule "+id); err != nil {
		return nil, err
	}
	var y ruleYAML
	if err := n.Decode(&y); err != nil {
		return nil, fail(n.Line, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	line := func(key string) int {
		if k := mappingKey(n, key); k != nil {
			return k.Line
		}
		return n.Line
	}
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if y.ID == "" {
		add(fail(n.Line, "id is required"))
	}
	if err := evidence.ValidateKind(y.Kind); err != nil {
		add(fail(line("kind"), "%v", err))
	} else if y.ID != "" {
		conn, _, _ := strings.Cut(y.Kind, ".")
		if !strings.HasPrefix(y.ID, conn+".") {
			add(fail(line("id"), "id must start with %q, the connector of kind %s", conn+".", y.Kind))
		}
	}
	if y.Version < 1 {
		add(fail(line("version"), "version is required and must be ≥ 1 (bump it when the logic changes)"))
	}
	if strings.TrimSpace(y.Title) == "" {
		add(fail(line("title"), "title is required"))
	}
	if !severities[y.Severity] {
		add(fail(line("severity"), "severity %q must be one of low, medium, high, critical", y.Severity))
	}
	if strings.TrimSpace(y.Expr) == "" {
		add(fail(line("expr"), "expr is required"))
	}
	r := &Rule{
		ID: y.ID, Version: y.Version, Kind: y.Kind, Title: y.Title, Description: y.Description,
		Remediation: y.Remediation, Severity: y.Severity, DefaultParams: y.Params,
		Applies: y.Applies, Expr: y.Expr, Failing: y.Failing, File: file, Line: n.Line,
		Controls: map[string][]string{}, Derived: map[string]bool{}, Rationale: map[string]map[string]string{},
	}
	if r.DefaultParams == nil {
		r.DefaultParams = map[string]any{}
	}
	r.Params = r.DefaultParams
	if err := c.checkControls(y.Controls, r); err != nil {
		l := line("controls")
		var fe *frameworkError
		if cn := mappingValue(n, "controls"); errors.As(err, &fe) && cn != nil {
			if k := mappingKey(cn, fe.framework); k != nil {
				l = k.Line
			}
		}
		add(fail(l, "%v", err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := r.compile(func(key string, celErr error) error {
		return fail(exprLine(n, key, celErr), "%s: %v", key, celErr)
	}); err != nil {
		return nil, err
	}
	for _, p := range r.paramRefs {
		if _, ok := r.DefaultParams[p]; !ok {
			return nil, fail(line("params"), "expressions read params.%s, which params does not declare", p)
		}
	}
	r.setParams(r.DefaultParams)
	return r, nil
}

// frameworkError is a problem with the controls of one framework in a rule.
type frameworkError struct {
	framework string
	err       error
}

func (e *frameworkError) Error() string { return e.err.Error() }

// checkControls validates the controls a rule names and derives missing Grundschutz++
// mappings from the ISO ones.
func (c *Catalog) checkControls(in map[string]controlsYAML, r *Rule) error {
	if len(in) == 0 {
		return errors.New("controls is required: name at least one control of a framework")
	}
	fws := make([]string, 0, len(in))
	for fw := range in {
		fws = append(fws, fw)
	}
	sort.Strings(fws)
	for _, fw := range fws {
		bad := func(format string, args ...any) error {
			return &frameworkError{framework: fw, err: fmt.Errorf(format, args...)}
		}
		f := c.Framework(fw)
		if f == nil {
			return bad("unknown framework %q (known: %s)", fw, strings.Join(c.FrameworkIDs(), ", "))
		}
		if len(in[fw].IDs) == 0 {
			return bad("controls.%s is empty", fw)
		}
		seen := map[string]bool{}
		for _, id := range in[fw].IDs {
			ctl := f.Control(id)
			if ctl == nil {
				return bad("unknown control %q in framework %s", id, fw)
			}
			if !ctl.Assessable() {
				return bad("%s %q is a %s, not a control: name its controls", fw, id, ctl.Kind)
			}
			if seen[id] {
				return bad("control %q is listed twice in controls.%s", id, fw)
			}
			seen[id] = true
		}
		r.Controls[fw] = append([]string(nil), in[fw].IDs...)
		if len(in[fw].Rationale) > 0 {
			r.Rationale[fw] = in[fw].Rationale
		}
	}
	if _, ok := r.Controls[BSIGSPP]; !ok && len(r.Controls[ISO27001]) > 0 {
		if d := c.DeriveGSPP(r.Controls[ISO27001]); len(d) > 0 {
			r.Controls[BSIGSPP] = d
			r.Derived[BSIGSPP] = true
			if iso := r.Rationale[ISO27001]; len(iso) > 0 {
				r.Rationale[BSIGSPP] = c.deriveGSPPRationale(r.Controls[ISO27001], iso)
			}
		}
	}
	return nil
}

// exprLine returns the file line of a CEL error: the line of the expression's value plus the
// error's line within the expression.
func exprLine(rule *yaml.Node, key string, celErr error) int {
	v := mappingValue(rule, key)
	if v == nil {
		return rule.Line
	}
	line := v.Line
	if v.Style == yaml.LiteralStyle || v.Style == yaml.FoldedStyle {
		line++ // the text starts on the line after the | or >
	}
	var ce *celError
	if errors.As(celErr, &ce) && ce.line > 1 && v.Style != yaml.FoldedStyle {
		line += ce.line - 1
	}
	return line
}

func mappingKey(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
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

// checkMappingKeys rejects unknown and duplicate keys, so a typo (`expresion:`) is an error
// with its line instead of a rule that silently lacks a part.
func checkMappingKeys(file string, n *yaml.Node, known []string, where string) error {
	ok := map[string]bool{}
	for _, k := range known {
		ok[k] = true
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !ok[k.Value] {
			return fmt.Errorf("%s:%d: unknown key %q in %s (known keys: %s)", file, k.Line, k.Value, where, strings.Join(known, ", "))
		}
		if seen[k.Value] {
			return fmt.Errorf("%s:%d: duplicate key %q in %s", file, k.Line, k.Value, where)
		}
		seen[k.Value] = true
	}
	return nil
}
