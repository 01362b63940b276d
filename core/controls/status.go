package controls

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
)

// BuildReport computes the status of every control of framework over [from, to] from the
// index: per control the status and the reason naming the rules that decided it, first and
// last failure, whether it is fixed in the newest run, the mapped rules' results, gaps,
// manual evidence and (unless f.SummaryOnly) the evidence references with the values that
// decided each verdict.
//
// Runs are taken by their start time; of several evaluations of one run (re-evaluation),
// the newest counts. Rules map to controls as the engine is configured now (rules files,
// custom frameworks, disabled rules, configured connector types); results of rules no
// longer configured are ignored. JudgeStatus holds the status rules; this function only
// reads the index. It reads per run × rule summary rows only, unless evidence references
// are wanted.
func BuildReport(ctx context.Context, ix *index.Index, eng *Engine, framework string, from, to time.Time, f ReportFilter) (*PeriodReport, error) {
	fw, err := eng.Framework(framework)
	if err != nil {
		return nil, err
	}
	if to.Before(from) {
		return nil, fmt.Errorf("the period ends (%s) before it starts (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	controls, err := selectControls(fw, f.Controls)
	if err != nil {
		return nil, err
	}
	p := index.Period{From: from, To: to, Connectors: f.Connectors}
	rep := &PeriodReport{Framework: fw.ID, FrameworkTitle: fw.Title, Attribution: fw.Attribution,
		From: from.UTC(), To: to.UTC(), GeneratedAt: eng.now(), Freshness: eng.Freshness, Counts: map[Status]int{}}
	in := StatusInput{ConnectorTypes: eng.ConnectorTypes, Reference: to, Freshness: eng.Freshness}
	if len(f.Connectors) > 0 {
		in.ConnectorTypes = nil // in scope: the types of the chosen instances that ran
	}
	if now := eng.now(); now.Before(in.Reference) {
		in.Reference = now
	}
	if in.Runs, err = ix.PeriodRuns(ctx, p); err != nil {
		return nil, err
	}
	rep.Runs = make([]RunRef, len(in.Runs))
	for i, r := range in.Runs {
		rep.Runs[i] = RunRef{ID: r.ID, StartedAt: r.StartedAt, Manifest: r.Manifest, Results: r.Results,
			EvaluatedBy: r.EvaluatedBy, Outcome: r.Outcome}
	}
	// Gathered per rule, then laid out once: appending a year of rows to one slice spent
	// more time growing it than reading them.
	byRule, n := map[string][]index.RuleRunSummary{}, 0
	if err := ix.RuleSummaries(ctx, p, func(s index.RuleRunSummary) error {
		byRule[s.Rule] = append(byRule[s.Rule], s)
		n++
		return nil
	}); err != nil {
		return nil, err
	}
	in.Summaries = make([]index.RuleRunSummary, 0, n)
	for _, rows := range byRule {
		in.Summaries = append(in.Summaries, rows...)
	}
	atts, err := ix.Attestations(ctx, from, to)
	if err != nil {
		return nil, err
	}
	attsOf := map[string][]AttestationRef{}
	for _, a := range atts {
		k := a.Framework + "\x00" + a.Control
		attsOf[k] = append(attsOf[k], AttestationRef{RunID: a.RunID, Manifest: a.Manifest, Kind: a.Kind,
			Document: a.Document, File: a.File, FileName: a.FileName, EffectiveDate: a.EffectiveDate,
			Expires: a.Expires, Note: a.Note})
	}
	needed := map[string]bool{}
	for _, c := range controls {
		ci := ControlInput{ID: c.ID, Title: c.Title, TitleDE: c.TitleDE}
		for _, r := range eng.RulesFor(fw.ID, c.ID) {
			needed[r.ID] = true
			ci.Rules = append(ci.Rules, MappedRule{ID: r.ID, Version: r.Version, Title: r.Title, Kind: r.Kind,
				Severity: r.Severity, Derived: eng.derived(fw, c, r), Disabled: r.Disabled,
				Justification: r.Justification, Rationale: eng.Rationale(fw.ID, c.ID, r)})
		}
		ci.Attestations = append(ci.Attestations, attsOf[fw.ID+"\x00"+c.ID]...)
		for tfw, ids := range c.MapsTo {
			for _, id := range ids {
				for _, a := range attsOf[tfw+"\x00"+id] {
					a.ViaControl = tfw + " " + id
					ci.Attestations = append(ci.Attestations, a)
				}
			}
		}
		if a, ok := eng.Applicability(fw.ID, c.ID); ok && !a.Applicable {
			ci.NotApplicable, ci.Justification = true, a.Justification
		}
		in.Controls = append(in.Controls, ci)
	}
	rep.Controls = JudgeStatus(in)
	if !f.SummaryOnly {
		refs, err := evidenceRefs(ctx, ix, p, needed, f.MaxEvidence)
		if err != nil {
			return nil, err
		}
		for i := range rep.Controls {
			cr := &rep.Controls[i]
			for _, rs := range cr.Rules {
				if !rs.Disabled && !rs.OutOfScope {
					cr.Evidence = append(cr.Evidence, refs[rs.Rule]...)
				}
			}
		}
	}
	for _, cr := range rep.Controls {
		rep.Counts[cr.Status]++
	}
	return rep, nil
}

func selectControls(fw *Framework, ids []string) ([]*Control, error) {
	all := fw.Assessable()
	if len(ids) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		c := fw.Control(id)
		if c == nil || !c.Assessable() {
			return nil, fmt.Errorf("unknown control %q in framework %s", id, fw.ID)
		}
		want[id] = true
	}
	var out []*Control
	for _, c := range all {
		if want[c.ID] {
			out = append(out, c)
		}
	}
	return out, nil
}

// derived reports whether r proves c only through a derived mapping.
func (e *Engine) derived(fw *Framework, c *Control, r *Rule) bool {
	for _, id := range r.Controls[fw.ID] {
		if id == c.ID {
			return r.Derived[fw.ID]
		}
	}
	return true // through a custom framework's maps_to
}

// Rationale says why rule r's evidence shows control of framework operating: the rules
// file's rationale for the mapping, the inherited one of a derived Grundschutz++ mapping, or
// for a custom framework's maps_to the rationales of the mapped controls the rule proves.
// Empty when the rules file gave none (the plain list form).
func (e *Engine) Rationale(framework, control string, r *Rule) string {
	if why := r.Rationale[framework][control]; why != "" {
		return why
	}
	f := e.Catalog.Framework(framework)
	if f == nil {
		return ""
	}
	c := f.Control(control)
	if c == nil {
		return ""
	}
	var parts []string
	for tfw, ids := range c.MapsTo {
		for _, id := range ids {
			if why := r.Rationale[tfw][id]; why != "" {
				parts = append(parts, id+": "+why)
			}
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// evidenceRefs returns the results of the needed rules in the period, by rule, oldest run
// first, at most max per rule (0 = all).
func evidenceRefs(ctx context.Context, ix *index.Index, p index.Period, needed map[string]bool, max int) (map[string][]EvidenceRef, error) {
	out := map[string][]EvidenceRef{}
	rules := make([]string, 0, len(needed))
	for r := range needed {
		rules = append(rules, r)
	}
	err := ix.PeriodResults(ctx, p, rules, func(r index.Result) error {
		if max > 0 && len(out[r.Rule]) >= max {
			return nil
		}
		e := EvidenceRef{RunID: r.RunID, Manifest: r.Manifest, Kind: r.Kind, Subject: r.Subject, Connector: r.Connector,
			CollectedAt: r.CollectedAt, Document: r.Document, Seq: r.Seq, Rule: r.Rule, Version: r.Version,
			Outcome: Outcome(r.Outcome), Message: r.Message}
		if r.Values != nil {
			if err := json.Unmarshal(r.Values, &e.Values); err != nil {
				return fmt.Errorf("result values of rule %s: %w", e.Rule, err)
			}
		}
		if r.Failing != nil {
			if err := json.Unmarshal(r.Failing, &e.Failing); err != nil {
				return fmt.Errorf("failing items of rule %s: %w", e.Rule, err)
			}
		}
		out[r.Rule] = append(out[r.Rule], e)
		return nil
	})
	return out, err
}

// plural says "1 run", "2 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
