package controls

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// The CEL variables every rule expression sees.
const (
	varDocument = "document" // dyn: the artefact's JSON document
	varParams   = "params"   // map(string, dyn): the rule's parameters
	varSubject  = "subject"  // string
	varKind     = "kind"     // string
	varNow      = "now"      // timestamp of the evaluation
)

var (
	envOnce sync.Once
	celEnv  *cel.Env
	envErr  error
)

// ruleEnv returns the one CEL environment all rules are compiled in. The document is dyn
// (its shape is the connector's business), so type checking catches wrong result types,
// misuse of params, now, subject and kind, unknown functions and syntax errors.
func ruleEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		celEnv, envErr = cel.NewEnv(
			cel.Variable(varDocument, cel.DynType),
			cel.Variable(varParams, cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable(varSubject, cel.StringType),
			cel.Variable(varKind, cel.StringType),
			cel.Variable(varNow, cel.TimestampType),
			cel.OptionalTypes(),
			cel.CrossTypeNumericComparisons(true),
			cel.DefaultUTCTimeZone(true),
			ext.Strings(),
			ext.Lists(),
			ext.Sets(),
			ext.Math(),
		)
	})
	return celEnv, envErr
}

// celError is a compile error with its line inside the expression.
type celError struct {
	line int
	msg  string
}

func (e *celError) Error() string { return e.msg }

// compile compiles and checks the rule's expressions and records the document paths and
// params they read. where wraps an error of expression key ("expr", "applies", "failing")
// with its file position.
func (r *Rule) compile(where func(key string, err error) error) error {
	env, err := ruleEnv()
	if err != nil {
		return fmt.Errorf("could not create the CEL environment: %w", err)
	}
	paths := map[string]docPath{}
	params := map[string]bool{}
	compileOne := func(key, src string, want *cel.Type) (cel.Program, error) {
		if strings.TrimSpace(src) == "" {
			return nil, nil
		}
		checked, iss := env.Compile(src)
		if iss != nil && iss.Err() != nil {
			first := iss.Errors()[0]
			msgs := make([]string, 0, len(iss.Errors()))
			for _, e := range iss.Errors() {
				msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
			}
			return nil, where(key, &celError{line: first.Location.Line(), msg: strings.Join(msgs, "; ")})
		}
		if got := checked.OutputType(); !want.IsAssignableType(got) && !got.IsExactType(cel.DynType) {
			return nil, where(key, fmt.Errorf("must evaluate to %s, not %s", want, got))
		}
		collectPaths(checked.NativeRep().Expr(), paths, params)
		prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, where(key, err)
		}
		return prg, nil
	}
	var errs []error
	if r.applies, err = compileOne("applies", r.Applies, cel.BoolType); err != nil {
		errs = append(errs, err)
	}
	if r.expr, err = compileOne("expr", r.Expr, cel.BoolType); err != nil {
		errs = append(errs, err)
	}
	if r.failing, err = compileOne("failing", r.Failing, cel.ListType(cel.DynType)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	r.paths = make([]docPath, 0, len(paths))
	for _, p := range paths {
		r.paths = append(r.paths, p)
	}
	sort.Slice(r.paths, func(i, j int) bool { return r.paths[i].name < r.paths[j].name })
	for p := range params {
		r.paramRefs = append(r.paramRefs, p)
	}
	sort.Strings(r.paramRefs)
	return nil
}

// setParams sets the effective parameters and their rendered values.
func (r *Rule) setParams(p map[string]any) {
	r.Params = p
	norm := make(map[string]any, len(p))
	for k, v := range p {
		norm[k] = normalizeYAML(v)
	}
	r.paramVal = types.DefaultTypeAdapter.NativeToValue(norm)
	r.paramValues = make([]Value, 0, len(r.paramRefs))
	for _, k := range r.paramRefs {
		r.paramValues = append(r.paramValues, Value{Path: varParams + "." + k, Value: renderValue(norm[k], true)})
	}
}

// normalizeYAML turns yaml.v3's decoded values into the JSON-like shapes documents have
// (int64, float64, string, bool, []any, map[string]any), so params and documents compare.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeYAML(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeYAML(e)
		}
		return out
	}
	return v
}

// docPath is a path into the document that an expression reads, e.g. document.a.b[0].
type docPath struct {
	name     string // as shown: "document.PasswordPolicy.MinimumPasswordLength"
	segments []any  // string keys and int64 indexes
	presence bool   // read with has(): the value shown is present/absent
}

// collectPaths walks a checked expression and records the longest `document...` selections
// (fields, constant indexes, has() tests) and the `params.x` names it reads. Paths inside
// comprehensions that are rooted at an iteration variable are not recorded: the list they
// iterate over is.
func collectPaths(e ast.Expr, paths map[string]docPath, params map[string]bool) {
	if p, ok := documentPath(e); ok {
		paths[p.name] = p
		return
	}
	if e.Kind() == ast.SelectKind && e.AsSelect().Operand().Kind() == ast.IdentKind &&
		e.AsSelect().Operand().AsIdent() == varParams {
		params[e.AsSelect().FieldName()] = true
		return
	}
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.Index {
		args := e.AsCall().Args()
		if len(args) == 2 && args[0].Kind() == ast.IdentKind && args[0].AsIdent() == varParams &&
			args[1].Kind() == ast.LiteralKind {
			if s, ok := args[1].AsLiteral().Value().(string); ok {
				params[s] = true
				return
			}
		}
	}
	switch e.Kind() {
	case ast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			collectPaths(c.Target(), paths, params)
		}
		for _, a := range c.Args() {
			collectPaths(a, paths, params)
		}
	case ast.SelectKind:
		collectPaths(e.AsSelect().Operand(), paths, params)
	case ast.ListKind:
		for _, el := range e.AsList().Elements() {
			collectPaths(el, paths, params)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			collectPaths(me.Key(), paths, params)
			collectPaths(me.Value(), paths, params)
		}
	case ast.ComprehensionKind:
		c := e.AsComprehension()
		collectPaths(c.IterRange(), paths, params)
		collectPaths(c.AccuInit(), paths, params)
		collectPaths(c.LoopCondition(), paths, params)
		collectPaths(c.LoopStep(), paths, params)
		collectPaths(c.Result(), paths, params)
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			collectPaths(f.AsStructField().Value(), paths, params)
		}
	}
}

// documentPath reports whether e is a selection chain rooted at `document`.
func documentPath(e ast.Expr) (docPath, bool) {
	var segs []any
	presence := false
	cur := e
	for {
		switch cur.Kind() {
		case ast.IdentKind:
			if cur.AsIdent() != varDocument {
				return docPath{}, false
			}
			for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
				segs[i], segs[j] = segs[j], segs[i]
			}
			return docPath{name: pathName(segs), segments: segs, presence: presence}, true
		case ast.SelectKind:
			s := cur.AsSelect()
			if s.IsTestOnly() {
				if cur != e {
					return docPath{}, false
				}
				presence = true
			}
			segs = append(segs, s.FieldName())
			cur = s.Operand()
		case ast.CallKind:
			c := cur.AsCall()
			args := c.Args()
			if (c.FunctionName() != operators.Index && c.FunctionName() != operators.OptIndex &&
				c.FunctionName() != operators.OptSelect) || len(args) != 2 || args[1].Kind() != ast.LiteralKind {
				return docPath{}, false
			}
			switch k := args[1].AsLiteral().Value().(type) {
			case string:
				segs = append(segs, k)
			case int64:
				segs = append(segs, k)
			default:
				return docPath{}, false
			}
			cur = args[0]
		default:
			return docPath{}, false
		}
	}
}

func pathName(segs []any) string {
	var b strings.Builder
	b.WriteString(varDocument)
	for _, s := range segs {
		switch k := s.(type) {
		case string:
			if isIdent(k) {
				b.WriteByte('.')
				b.WriteString(k)
			} else {
				b.WriteString("[" + strconv.Quote(k) + "]")
			}
		case int64:
			b.WriteString("[" + strconv.FormatInt(k, 10) + "]")
		}
	}
	return b.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
