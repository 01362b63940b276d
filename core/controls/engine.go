package controls

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/config"
)

// Engine is the configured controls engine: catalogues (built-in and custom), rules
// (built-in and extra, with overrides and disabled rules applied) and the decisions of the
// config (applicability, freshness). It is read-only after NewEngine and safe for
// concurrent use.
type Engine struct {
	Catalog *Catalog
	Rules   *RuleSet
	// Freshness is how old the newest evidence of a control may be before it is stale.
	Freshness time.Duration
	// TempDir is where results are spooled before they are stored ("" = os.TempDir()).
	TempDir string
	// PendingSeal, if set, is the file where the manual and evaluation runs the engine seals
	// keep their signed ref until it is stored (manifest.SealOptions.Pending), so that the
	// next writer completes a seal its killed process left half done instead of an
	// unreferenced manifest. Commands set it to runner.PendingSealPath of the data directory.
	PendingSeal string
	// Now returns the evaluation time rules see as `now` (default time.Now).
	Now func() time.Time
	// ConnectorTypes are the connector types the config sets up (connectors[].type): the
	// rules of other types are out of scope in status reports. nil when the config names no
	// connector; reports then take the types that ran in the period.
	ConnectorTypes map[string]bool

	applicability map[string]map[string]config.Applicability // framework → control → decision
	proves        map[string]map[string][]*Rule              // framework → control → rules
}

// Options configure NewEngine.
type Options struct {
	// Config supplies controls.rules, frameworks, disabled, overrides, applicability and
	// freshness. nil means the embedded default config.
	Config *config.Config
	// BuiltinRules holds the connectors' rules files (connectors.Rules): every file named
	// */rules.yaml in it is loaded. nil means no built-in rules.
	BuiltinRules fs.FS
	// KnownKinds, when not nil, is the set of artefact kinds the registered connectors emit:
	// a rule for any other kind is an error. cmd/exhibit passes the kinds of the registry's
	// factories.
	KnownKinds map[string]bool
}

// NewEngine loads the catalogues, custom frameworks and rules and applies the config.
// Every problem is an error naming the file, the line and the rule, control or framework id.
func NewEngine(opts Options) (*Engine, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = config.Default()
	}
	base, err := Builtin()
	if err != nil {
		return nil, err
	}
	cat := base.Clone()
	for i, p := range cfg.Controls.Frameworks {
		file := cfg.Resolve(p)
		data, err := config.ReadFile(file, config.MaxConfigSize)
		if err != nil {
			return nil, cfg.Errorf(fmt.Sprintf("controls.frameworks[%d]", i), "could not read framework file: %v", err)
		}
		if _, err := cat.AddFramework(file, data); err != nil {
			return nil, err
		}
	}
	rs := newRuleSet()
	var errs []error
	if opts.BuiltinRules != nil {
		files, err := fs.Glob(opts.BuiltinRules, "*/rules.yaml")
		if err != nil {
			return nil, fmt.Errorf("could not list built-in rules: %w", err)
		}
		sort.Strings(files)
		for _, f := range files {
			data, err := fs.ReadFile(opts.BuiltinRules, f)
			if err != nil {
				return nil, fmt.Errorf("could not read built-in rules %s: %w", f, err)
			}
			errs = append(errs, mergeRules(rs, cat, path.Join("connectors", f), data))
		}
	}
	for i, p := range cfg.Controls.Rules {
		file := cfg.Resolve(p)
		data, err := config.ReadFile(file, config.MaxConfigSize)
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("controls.rules[%d]", i), "could not read rules file: %v", err))
			continue
		}
		errs = append(errs, mergeRules(rs, cat, file, data))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.KnownKinds != nil {
		for _, r := range rs.rules {
			if !opts.KnownKinds[r.Kind] {
				errs = append(errs, fmt.Errorf("%s:%d: rule %s: kind %s is emitted by no connector%s", r.File, r.Line, r.ID, r.Kind, similarKinds(r.Kind, opts.KnownKinds)))
			}
		}
	}
	errs = append(errs, applyOverrides(cfg, rs), applyDisabled(cfg, rs))
	e := &Engine{Catalog: cat, Rules: rs, Freshness: cfg.Controls.Freshness, Now: time.Now,
		applicability: map[string]map[string]config.Applicability{}}
	if e.Freshness <= 0 {
		e.Freshness = config.DefaultFreshness
	}
	for _, c := range cfg.Connectors {
		if e.ConnectorTypes == nil {
			e.ConnectorTypes = map[string]bool{}
		}
		e.ConnectorTypes[c.Type] = true
	}
	for i, a := range cfg.Controls.Applicability {
		key := fmt.Sprintf("controls.applicability[%d]", i)
		f := cat.Framework(a.Framework)
		switch {
		case f == nil:
			errs = append(errs, cfg.Errorf(key+".framework", "unknown framework %q (known: %s)", a.Framework, strings.Join(cat.FrameworkIDs(), ", ")))
		case f.Control(a.Control) == nil:
			errs = append(errs, cfg.Errorf(key+".control", "unknown control %q in framework %s", a.Control, a.Framework))
		default:
			if e.applicability[a.Framework] == nil {
				e.applicability[a.Framework] = map[string]config.Applicability{}
			}
			if _, dup := e.applicability[a.Framework][a.Control]; dup {
				errs = append(errs, cfg.Errorf(key+".control", "%s %s already has an applicability decision", a.Framework, a.Control))
			}
			e.applicability[a.Framework][a.Control] = a
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e.buildProves()
	return e, nil
}

func mergeRules(rs *RuleSet, cat *Catalog, file string, data []byte) error {
	parsed, err := cat.ParseRules(file, data)
	if err != nil {
		return err
	}
	return rs.Merge(parsed)
}

// similarKinds suggests known kinds of the same connector for an unknown kind.
func similarKinds(kind string, known map[string]bool) string {
	conn, _, _ := strings.Cut(kind, ".")
	var same []string
	for k := range known {
		if strings.HasPrefix(k, conn+".") {
			same = append(same, k)
		}
	}
	if len(same) == 0 {
		return fmt.Sprintf(" (no connector emits kinds %s.*)", conn)
	}
	sort.Strings(same)
	if len(same) > 12 {
		same = append(same[:12], "…")
	}
	return " (" + conn + " emits: " + strings.Join(same, ", ") + ")"
}

func applyOverrides(cfg *config.Config, rs *RuleSet) error {
	var errs []error
	seen := map[string]bool{}
	for i, o := range cfg.Controls.Overrides {
		key := fmt.Sprintf("controls.overrides[%d]", i)
		r := rs.Rule(o.Rule)
		if r == nil {
			errs = append(errs, cfg.Errorf(key+".rule", "unknown rule %q", o.Rule))
			continue
		}
		if seen[o.Rule] {
			errs = append(errs, cfg.Errorf(key+".rule", "rule %s is overridden twice", o.Rule))
			continue
		}
		seen[o.Rule] = true
		merged := make(map[string]any, len(r.DefaultParams))
		for k, v := range r.DefaultParams {
			merged[k] = v
		}
		bad := false
		for k, v := range o.Params {
			def, ok := r.DefaultParams[k]
			if !ok {
				errs = append(errs, cfg.Errorf(key+".params."+k, "rule %s has no parameter %q (it has: %s)", o.Rule, k, strings.Join(sortedKeys(r.DefaultParams), ", ")))
				bad = true
				continue
			}
			if ParamKind(def) != ParamKind(v) {
				errs = append(errs, cfg.Errorf(key+".params."+k, "rule %s parameter %s is a %s, not a %s", o.Rule, k, ParamKind(def), ParamKind(v)))
				bad = true
				continue
			}
			merged[k] = v
		}
		if bad {
			continue
		}
		nr := *r
		nr.Overridden = true
		nr.setParams(merged)
		rs.replace(&nr)
	}
	return errors.Join(errs...)
}

func applyDisabled(cfg *config.Config, rs *RuleSet) error {
	var errs []error
	for i, d := range cfg.Controls.Disabled {
		r := rs.Rule(d.Rule)
		if r == nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("controls.disabled[%d].rule", i), "unknown rule %q", d.Rule))
			continue
		}
		nr := *r
		nr.Disabled, nr.Justification = true, d.Justification
		rs.replace(&nr)
	}
	return errors.Join(errs...)
}

// ParamKind names the JSON-ish kind of a parameter value (number, string, boolean, null,
// list, mapping), so an override cannot turn a number into a string.
func ParamKind(v any) string {
	switch v.(type) {
	case int, int64, float64, uint64:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice:
		return "list"
	case reflect.Map:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// buildProves indexes which rules prove which control of every framework, following
// custom frameworks' maps_to.
func (e *Engine) buildProves() {
	e.proves = map[string]map[string][]*Rule{}
	add := func(fw, ctl string, r *Rule) {
		m := e.proves[fw]
		if m == nil {
			m = map[string][]*Rule{}
			e.proves[fw] = m
		}
		for _, x := range m[ctl] {
			if x == r {
				return
			}
		}
		m[ctl] = append(m[ctl], r)
	}
	for _, r := range e.Rules.rules {
		for fw, ids := range r.Controls {
			for _, id := range ids {
				add(fw, id, r)
			}
		}
	}
	for _, f := range e.Catalog.Frameworks() {
		if !f.Custom {
			continue
		}
		for _, c := range f.Controls {
			for tfw, ids := range c.MapsTo {
				for _, id := range ids {
					for _, r := range e.proves[tfw][id] {
						add(f.ID, c.ID, r)
					}
				}
			}
		}
	}
	for _, m := range e.proves {
		for _, rules := range m {
			sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
		}
	}
}

// RulesFor returns the rules that prove a control of a framework (disabled ones included,
// so reports can show them with their justification), sorted by id.
func (e *Engine) RulesFor(framework, control string) []*Rule { return e.proves[framework][control] }

// ControlsProvedBy returns the controls of framework that rule proves (directly, through a
// derived mapping or through a custom framework's maps_to), in catalogue order. Bundles use
// it to list each artefact's controls.
func (e *Engine) ControlsProvedBy(framework, rule string) []string {
	f := e.Catalog.Framework(framework)
	if f == nil {
		return nil
	}
	var out []string
	for _, c := range f.Controls {
		for _, r := range e.proves[framework][c.ID] {
			if r.ID == rule {
				out = append(out, c.ID)
				break
			}
		}
	}
	return out
}

// Applicability returns the config's decision about a control, if any.
func (e *Engine) Applicability(framework, control string) (config.Applicability, bool) {
	a, ok := e.applicability[framework][control]
	return a, ok
}

// Framework returns a framework or an error listing the known ones.
func (e *Engine) Framework(id string) (*Framework, error) {
	f := e.Catalog.Framework(id)
	if f == nil {
		return nil, fmt.Errorf("unknown framework %q (known: %s)", id, strings.Join(e.Catalog.FrameworkIDs(), ", "))
	}
	return f, nil
}
