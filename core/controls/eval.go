package controls

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/exhibit-dev/exhibit/core/controls/results"
	"github.com/exhibit-dev/exhibit/evidence"
)

// Aliases of the results format, so rules code and connector tests need one import.
type (
	// Outcome is the verdict of one rule on one artefact.
	Outcome = results.Outcome
	// Value is one value a verdict read.
	Value = results.Value
	// Result is the verdict of one rule on one artefact.
	Result = results.Result
	// ResultsHeader is the first line of a results object.
	ResultsHeader = results.Header
	// RuleInfo records a rule as it was applied.
	RuleInfo = results.RuleInfo
	// Attestation is one item of manual evidence.
	Attestation = results.Attestation
)

// The outcomes of a rule.
const (
	Pass          = results.Pass
	Fail          = results.Fail
	Error         = results.Error
	NotApplicable = results.NotApplicable
	NoEvidence    = results.NoEvidence
)

// Results object format identifiers.
const (
	ResultsSchema    = results.Schema
	ResultsMediaType = results.MediaType
)

// ReadResults reads a results object strictly (see results.Read).
var ReadResults = results.Read

// MaxFailing bounds the offending items recorded per result.
const MaxFailing = results.MaxFailing

// Document is an artefact document parsed once for every rule of its kind.
type Document struct {
	digest evidence.Digest
	native any     // JSON as int64/float64/string/bool/nil/[]any/map[string]any
	val    ref.Val // the same as a CEL value
	err    error   // why the document could not be parsed
}

// ParseDocument parses a JSON document for evaluation. Integral numbers become CEL ints and
// the others doubles, so `size(document.users) == document.count` and
// `document.count + 1` both work (integers beyond ±2^53 lose precision, as in JavaScript;
// connectors keep ids as strings). A parse error is kept and turns every verdict into error.
func ParseDocument(data []byte) *Document {
	return parseDocument(data, evidence.Sum(data))
}

// parseDocument is ParseDocument for a document whose digest is already known (verified by
// the store while reading).
func parseDocument(data []byte, d evidence.Digest) *Document {
	doc := &Document{digest: d}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		doc.err = fmt.Errorf("document is not valid JSON: %w", err)
		return doc
	}
	doc.native = convertNumbers(v)
	doc.val = types.DefaultTypeAdapter.NativeToValue(doc.native)
	return doc
}

// Digest returns the SHA-256 of the document bytes.
func (d *Document) Digest() evidence.Digest { return d.digest }

// maxExactInt is the largest integer a float64 holds exactly.
const maxExactInt = 1 << 53

func convertNumbers(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && x >= -maxExactInt && x <= maxExactInt {
			return int64(x)
		}
	case map[string]any:
		for k, e := range x {
			switch n := e.(type) {
			case map[string]any, []any:
				convertNumbers(n)
			case float64:
				x[k] = convertNumbers(n)
			}
		}
	case []any:
		for i, e := range x {
			switch n := e.(type) {
			case map[string]any, []any:
				convertNumbers(n)
			case float64:
				x[i] = convertNumbers(n)
			}
		}
	}
	return v
}

// activation resolves the CEL variables of one rule on one document without a map.
type activation struct {
	doc     ref.Val
	params  any
	subject ref.Val
	kind    ref.Val
	now     ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varDocument:
		return a.doc, true
	case varParams:
		return a.params, true
	case varSubject:
		return a.subject, true
	case varKind:
		return a.kind, true
	case varNow:
		return a.now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// Evaluate judges a document of kind about subject with every enabled rule of that kind.
// now is the evaluation time the rules see. The document is parsed once.
func (rs *RuleSet) Evaluate(kind, subject string, document []byte, now time.Time) []Result {
	return rs.EvaluateDocument(kind, subject, ParseDocument(document), now, nil)
}

// EvaluateDocument is Evaluate on a parsed document; it appends to out and returns it.
func (rs *RuleSet) EvaluateDocument(kind, subject string, doc *Document, now time.Time, out []Result) []Result {
	rules := rs.byKind[kind]
	if len(rules) == 0 {
		return out
	}
	act := activation{
		doc:     doc.val,
		subject: types.String(subject),
		kind:    types.String(kind),
		now:     types.Timestamp{Time: now.UTC()},
	}
	for _, r := range rules {
		if r.Disabled {
			continue
		}
		out = append(out, r.evaluate(&act, kind, subject, doc))
	}
	return out
}

// Gap returns the no_evidence results of every enabled rule of a gap artefact's kind.
func (rs *RuleSet) Gap(kind, subject string, status evidence.Status, message string, out []Result) []Result {
	for _, r := range rs.byKind[kind] {
		if r.Disabled {
			continue
		}
		out = append(out, Result{
			Rule: r.ID, Version: r.Version, Kind: kind, Subject: subject, Outcome: NoEvidence,
			Message: fmt.Sprintf("evidence not collected (%s): %s", status, message),
		})
	}
	return out
}

func (r *Rule) evaluate(act *activation, kind, subject string, doc *Document) Result {
	res := Result{Rule: r.ID, Version: r.Version, Kind: kind, Subject: subject, Document: doc.digest}
	if doc.err != nil {
		res.Outcome, res.Message = Error, doc.err.Error()
		return res
	}
	act.params = r.paramVal
	res.Values = r.values(doc)
	if r.applies != nil {
		ok, err := evalBool(r.applies, act)
		if err != nil {
			res.Outcome, res.Message = Error, "applies: "+err.Error()
			return res
		}
		if !ok {
			res.Outcome = NotApplicable
			return res
		}
	}
	ok, err := evalBool(r.expr, act)
	switch {
	case err != nil:
		res.Outcome, res.Message = Error, err.Error()
		return res
	case ok:
		res.Outcome = Pass
		return res
	}
	res.Outcome = Fail
	if r.failing != nil {
		items, err := evalList(r.failing, act)
		if err != nil {
			res.Message = "failing: " + err.Error()
		}
		res.Failing = items
	}
	return res
}

var anyType = reflect.TypeOf((*any)(nil)).Elem()

func evalBool(p cel.Program, act *activation) (bool, error) {
	out, _, err := p.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression returned %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

func evalList(p cel.Program, act *activation) ([]string, error) {
	out, _, err := p.Eval(act)
	if err != nil {
		return nil, err
	}
	l, ok := out.(traits.Lister)
	if !ok {
		return nil, fmt.Errorf("expression returned %s, not a list", out.Type().TypeName())
	}
	n := int(l.Size().(types.Int))
	items := make([]string, 0, min(n, MaxFailing+1))
	for i := 0; i < n && i < MaxFailing; i++ {
		el := l.Get(types.Int(i))
		if s, ok := el.(types.String); ok {
			items = append(items, string(s))
			continue
		}
		native, err := el.ConvertToNative(anyType)
		if err != nil {
			items = append(items, fmt.Sprint(el.Value()))
			continue
		}
		items = append(items, renderValue(native, false))
	}
	if n > MaxFailing {
		items = append(items, fmt.Sprintf("… and %d more", n-MaxFailing))
	}
	return items, nil
}

// values renders the document paths and params the rule reads.
func (r *Rule) values(doc *Document) []Value {
	if len(r.paths) == 0 && len(r.paramValues) == 0 {
		return nil
	}
	out := make([]Value, 0, len(r.paths)+len(r.paramValues))
	for _, p := range r.paths {
		v, ok := lookup(doc.native, p.segments)
		switch {
		case p.presence && ok:
			out = append(out, Value{Path: p.name, Value: "present"})
		case !ok:
			out = append(out, Value{Path: p.name, Value: "absent"})
		default:
			out = append(out, Value{Path: p.name, Value: renderValue(v, true)})
		}
	}
	return append(out, r.paramValues...)
}

func lookup(v any, segs []any) (any, bool) {
	for _, s := range segs {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int64:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= int64(len(l)) {
				return nil, false
			}
			v = l[k]
		}
	}
	return v, true
}

// maxRendered bounds one rendered value; larger lists and objects are summarised.
const maxRendered = 200

// renderValue renders a JSON-like value for a verdict: scalars as JSON, small lists and
// objects inline, large ones as a count.
func renderValue(v any, summarise bool) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return fmt.Sprint(x)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		if len(x) > maxRendered {
			cut := maxRendered
			for cut > 0 && !utf8.RuneStart(x[cut]) {
				cut--
			}
			x = x[:cut] + "…"
		}
		return strconv.Quote(x)
	}
	// A composite with many leaves cannot fit: summarise without encoding it.
	if summarise && leaves(v, maxLeaves+1) > maxLeaves {
		return summary(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if !summarise || len(b) <= maxRendered {
		return string(b)
	}
	return summary(v)
}

// maxLeaves is the most scalar values a rendered composite can hold within maxRendered.
const maxLeaves = 24

func summary(v any) string {
	switch x := v.(type) {
	case []any:
		return fmt.Sprintf("[%d items]", len(x))
	case map[string]any:
		return fmt.Sprintf("{object with %d keys}", len(x))
	}
	return fmt.Sprintf("%T", v)
}

// leaves counts the scalars in v, stopping once limit is reached.
func leaves(v any, limit int) int {
	switch x := v.(type) {
	case []any:
		n := 0
		for _, e := range x {
			if n += leaves(e, limit-n); n >= limit {
				return n
			}
		}
		return n
	case map[string]any:
		n := 0
		for _, e := range x {
			if n += leaves(e, limit-n); n >= limit {
				return n
			}
		}
		return n
	}
	return 1
}
