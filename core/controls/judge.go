package controls

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
)

// StatusInput is everything the status of controls over a period is judged from, as plain
// data: the controls with their mapped rules, the period's runs with the connector instances
// that ran in them, and per run × rule × connector instance the outcome counts. JudgeStatus
// reads nothing else, so the truth table in README.md is tested on it directly.
type StatusInput struct {
	Controls []ControlInput
	// Runs are the sealed collection runs of the period, oldest first.
	Runs []index.PeriodRun
	// Summaries are the current evaluations' rule × connector summaries of those runs.
	Summaries []index.RuleRunSummary
	// ConnectorTypes are the connector types the config sets up; a mapped rule of any other
	// type is out of scope. nil means the types that ran in the period (or have results).
	ConnectorTypes map[string]bool
	// Reference is the end of the period, or now if earlier; evidence older than Freshness
	// at Reference is stale.
	Reference time.Time
	Freshness time.Duration
}

// ControlInput is one control to judge.
type ControlInput struct {
	ID, Title, TitleDE string
	// NotApplicable: the config excludes the control; Justification says why.
	NotApplicable bool
	Justification string
	Rules         []MappedRule
	// Attestations are the manual evidence valid in the period that names the control.
	Attestations []AttestationRef
}

// MappedRule is a rule that proves a control, as the engine is configured now.
type MappedRule struct {
	ID                string
	Version           int
	Title, Kind       string
	Severity          string
	Derived, Disabled bool
	Justification     string
	Rationale         string
}

// connectorType is the connector a kind belongs to (its first segment).
func connectorType(kind string) string {
	t, _, _ := strings.Cut(kind, ".")
	return t
}

// JudgeStatus computes each control's report: its status, the reason naming the rules that
// decided it, per rule the period's results, the gaps, and the manual evidence. The status
// rules, first match wins (the truth table of README.md):
//   - not_applicable: the config excludes the control;
//   - attested / no_evidence: no enabled mapped rule is in scope (no rule maps to the
//     control, its rules are disabled, or their connector types are not configured);
//   - failing: a rule failed in a run of the period;
//   - gaps: a rule has a gap in a run of the period: a gap artefact, an error, or no result
//     at all from a connector instance of its type that ran (kind not collected, connector
//     failed, run not evaluated); or the rule has no result in the period while another
//     rule of the control passed;
//   - attested / no_evidence: no rule passed (nothing collected, or every result
//     not_applicable: "nothing to judge in the period");
//   - stale: a rule that passed has no evidence newer than Freshness at Reference;
//   - effective: every in-scope rule passed at least once, except rules that were only
//     ever not_applicable, which count neither way.
func JudgeStatus(in StatusInput) []ControlReport {
	types := in.ConnectorTypes
	if types == nil {
		types = map[string]bool{}
		for _, r := range in.Runs {
			for _, c := range r.Connectors {
				types[c.Type] = true
			}
		}
		for _, s := range in.Summaries {
			types[connectorType(s.Rule)] = true // a rule id starts with its connector type
		}
	}
	byRule := map[string][]*index.RuleRunSummary{}
	for i := range in.Summaries {
		s := &in.Summaries[i]
		byRule[s.Rule] = append(byRule[s.Rule], s)
	}
	aggs := map[string]*ruleAgg{}
	out := make([]ControlReport, 0, len(in.Controls))
	for _, c := range in.Controls {
		cr := ControlReport{ID: c.ID, Title: c.Title, TitleDE: c.TitleDE, Rules: []RuleSummary{}}
		var scoped []*ruleAgg
		var disabled, outOfScope []string
		for _, r := range c.Rules {
			rs := RuleSummary{Rule: r.ID, Version: r.Version, Title: r.Title, Kind: r.Kind, Severity: r.Severity,
				Derived: r.Derived, Disabled: r.Disabled, Justification: r.Justification, Rationale: r.Rationale}
			switch {
			case r.Disabled:
				disabled = append(disabled, fmt.Sprintf("rule %s disabled: %s", r.ID, r.Justification))
			case !types[connectorType(r.Kind)]:
				rs.OutOfScope = true
				outOfScope = append(outOfScope, r.ID)
			default:
				a := aggs[r.ID]
				if a == nil {
					a = aggregate(r, byRule[r.ID], in.Runs)
					aggs[r.ID] = a
				}
				a.fill(&rs)
				scoped = append(scoped, a)
				cr.Gaps = append(cr.Gaps, a.gaps...)
				cr.FirstFailed = minTime(cr.FirstFailed, a.firstFailed)
				cr.LastFailed = maxTime(cr.LastFailed, a.lastFailed)
				if !a.newest.IsZero() && (cr.NewestEvidence == nil || a.newest.After(*cr.NewestEvidence)) {
					t := a.newest
					cr.NewestEvidence = &t
				}
			}
			cr.Rules = append(cr.Rules, rs)
		}
		sort.SliceStable(cr.Gaps, func(i, j int) bool { return cr.Gaps[i].RunStartedAt.Before(cr.Gaps[j].RunStartedAt) })
		cr.Attestations = c.Attestations
		if c.NotApplicable {
			cr.Status, cr.Justification, cr.Reason = NotApplicableStatus, c.Justification, c.Justification
			out = append(out, cr)
			continue
		}
		cr.Justification = strings.Join(disabled, "; ")
		judge(&cr, scoped, len(c.Rules), outOfScope, in.Reference, in.Freshness)
		out = append(out, cr)
	}
	return out
}

// judge sets the status, reason and deciding rules of a control from its in-scope rules.
func judge(cr *ControlReport, scoped []*ruleAgg, mapped int, outOfScope []string, reference time.Time, freshness time.Duration) {
	manual := func(why string) {
		if len(cr.Attestations) > 0 {
			names := make([]string, len(cr.Attestations))
			for i, a := range cr.Attestations {
				names[i] = a.FileName
			}
			cr.Status, cr.Reason = Attested, why+"; manual evidence: "+strings.Join(names, ", ")
			return
		}
		cr.Status, cr.Reason = NoEvidenceStatus, why+": add manual evidence or collect it"
	}
	var failed, gapped, passed, naOnly, missing []*ruleAgg
	for _, a := range scoped {
		if a.fail > 0 {
			failed = append(failed, a)
		}
		switch {
		case len(a.gaps) > 0:
			gapped = append(gapped, a)
		case a.pass > 0:
			passed = append(passed, a)
		case a.na > 0:
			naOnly = append(naOnly, a)
		case a.fail == 0:
			missing = append(missing, a)
		}
	}
	switch {
	case len(scoped) == 0:
		switch {
		case mapped == 0:
			manual("no automated rule maps to this control")
		case len(outOfScope) > 0:
			manual("no mapped rule in scope (connector not configured: " + strings.Join(outOfScope, ", ") + ")")
		default:
			manual("every mapped rule is disabled")
		}
		return
	case len(failed) > 0:
		cr.Status = Failing
		cr.Fixed = true
		var parts []string
		for _, a := range failed {
			p := fmt.Sprintf("%s failed in %d of %s", a.rule, a.failedRuns, plural(a.runs, "run"))
			if a.lastOutcome == Fail {
				cr.Fixed = false
				if a.lastDetail != "" {
					p += " (now: " + a.lastDetail + ")"
				}
			}
			parts = append(parts, p)
			cr.DecidedBy = append(cr.DecidedBy, a.rule)
		}
		if cr.Fixed {
			parts = append(parts, "fixed in the newest run")
		}
		cr.Reason = strings.Join(parts, "; ")
		return
	case len(gapped) > 0 || (len(missing) > 0 && len(passed) > 0):
		cr.Status = Gaps
		var parts []string
		for _, a := range gapped {
			g := a.gaps[len(a.gaps)-1]
			run := "run " + g.RunID
			if g.RunID == "" {
				run = "the period"
			}
			parts = append(parts, fmt.Sprintf("%s: %s (newest: %s: %s)", a.rule, plural(len(a.gaps), "gap"), run, g.Reason))
			cr.DecidedBy = append(cr.DecidedBy, a.rule)
		}
		if len(passed) > 0 {
			for _, a := range missing {
				g := Gap{Rule: a.rule, Reason: fmt.Sprintf("no run of the period collected %s", a.kind)}
				cr.Gaps = append(cr.Gaps, g)
				parts = append(parts, a.rule+": "+g.Reason)
				cr.DecidedBy = append(cr.DecidedBy, a.rule)
			}
		}
		cr.Reason = strings.Join(parts, "; ")
		return
	case len(passed) == 0:
		var ids []string
		for _, a := range scoped {
			ids = append(ids, a.rule)
		}
		cr.DecidedBy = ids
		if len(naOnly) > 0 {
			manual("nothing to judge in the period (" + strings.Join(ruleIDs(naOnly), ", ") + " only not_applicable)")
		} else {
			manual("no results in the period from " + strings.Join(ids, ", "))
		}
		return
	}
	var stale []string
	for _, a := range passed {
		if reference.Sub(a.newest) > freshness {
			stale = append(stale, a.rule)
		}
	}
	if len(stale) > 0 {
		cr.Status, cr.StaleRules, cr.DecidedBy = Stale, stale, stale
		cr.Reason = "no fresh evidence from " + strings.Join(stale, ", ")
		return
	}
	cr.Status, cr.DecidedBy = Effective, ruleIDs(passed)
	n := 0
	for _, a := range passed {
		n += a.pass
	}
	cr.Reason = fmt.Sprintf("%s passed (%d passing results)", strings.Join(cr.DecidedBy, ", "), n)
	if len(naOnly) > 0 {
		cr.Reason += "; nothing to judge for " + strings.Join(ruleIDs(naOnly), ", ")
	}
	if len(outOfScope) > 0 {
		cr.Reason += "; out of scope (connector not configured): " + strings.Join(outOfScope, ", ")
	}
}

func ruleIDs(as []*ruleAgg) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.rule
	}
	return out
}

// ruleAgg is one rule's results over the period.
type ruleAgg struct {
	rule, kind                                string
	version, runs, pass, fail, errs, na, noev int
	failedRuns                                int
	firstFailed, lastFailed                   *time.Time
	newest                                    time.Time
	lastRun                                   string
	lastRunAt                                 time.Time
	lastOutcome                               Outcome
	lastDetail                                string
	gaps                                      []Gap
}

// aggregate sums a rule's summaries over the period and finds its gaps: gap artefacts and
// errors, and every connector instance of the rule's type that ran in a run of the period
// without a result for the rule.
func aggregate(r MappedRule, sums []*index.RuleRunSummary, runs []index.PeriodRun) *ruleAgg {
	a := &ruleAgg{rule: r.ID, kind: r.Kind, version: r.Version}
	type runKey struct{ run, instance string }
	have := map[runKey]bool{}
	perRun := map[string]*[5]int{} // pass, fail, error, na, noev
	detail := map[string]string{}
	runAt := map[string]time.Time{}
	var order []string
	for _, s := range sums {
		have[runKey{s.RunID, s.Connector}] = true
		c := perRun[s.RunID]
		if c == nil {
			c = &[5]int{}
			perRun[s.RunID] = c
			runAt[s.RunID] = s.RunStartedAt
			order = append(order, s.RunID)
		}
		c[0], c[1], c[2], c[3], c[4] = c[0]+s.Pass, c[1]+s.Fail, c[2]+s.Error, c[3]+s.NotApplicable, c[4]+s.NoEvidence
		if detail[s.RunID] == "" {
			detail[s.RunID] = s.Detail
		}
		if s.Version > 0 && (a.pass+a.fail+a.errs+a.na+a.noev == 0 || s.Version > a.version) {
			a.version = s.Version
		}
		a.pass, a.fail, a.errs, a.na, a.noev = a.pass+s.Pass, a.fail+s.Fail, a.errs+s.Error, a.na+s.NotApplicable, a.noev+s.NoEvidence
		if s.NewestCollected.After(a.newest) {
			a.newest = s.NewestCollected
		}
		if s.NoEvidence > 0 || s.Error > 0 {
			g := Gap{RunID: s.RunID, RunStartedAt: s.RunStartedAt, Rule: r.ID, Connector: s.Connector}
			switch {
			case s.NoEvidence > 0 && s.Error > 0:
				g.Reason = fmt.Sprintf("%s not collected, %d could not be judged: %s", plural(s.NoEvidence, "artefact"), s.Error, s.Detail)
			case s.NoEvidence > 0:
				g.Reason = fmt.Sprintf("%s not collected: %s", plural(s.NoEvidence, "artefact"), s.Detail)
			default:
				g.Reason = fmt.Sprintf("%s could not be judged: %s", plural(s.Error, "artefact"), s.Detail)
			}
			a.gaps = append(a.gaps, g)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return runAt[order[i]].Before(runAt[order[j]]) })
	a.runs = len(order)
	for _, run := range order {
		c := perRun[run]
		if c[1] > 0 {
			t := runAt[run]
			if a.firstFailed == nil {
				a.firstFailed = &t
			}
			a.lastFailed = &t
			a.failedRuns++
		}
	}
	if n := len(order); n > 0 {
		last := order[n-1]
		c := perRun[last]
		a.lastRun, a.lastRunAt = last, runAt[last]
		switch {
		case c[1] > 0:
			a.lastOutcome = Fail
		case c[2] > 0:
			a.lastOutcome = Error
		case c[4] > 0:
			a.lastOutcome = NoEvidence
		case c[0] > 0:
			a.lastOutcome = Pass
		default:
			a.lastOutcome = NotApplicable
		}
		if a.lastOutcome != Pass && a.lastOutcome != NotApplicable {
			a.lastDetail = detail[last]
		}
	}
	typ := connectorType(r.Kind)
	for _, run := range runs {
		for _, c := range run.Connectors {
			if c.Type != typ || have[runKey{run.ID, c.Instance}] {
				continue
			}
			g := Gap{RunID: run.ID, RunStartedAt: run.StartedAt, Rule: r.ID, Connector: c.Instance}
			switch {
			case run.Results == "":
				g.Reason = "the run has no evaluation results (evaluation failed or was skipped; exhibit controls evaluate judges it)"
				if run.Note != "" {
					g.Reason += ": " + run.Note
				}
			case c.Outcome != "complete":
				why := c.Outcome
				if c.Error != "" && !strings.HasPrefix(c.Error, c.Outcome) {
					why += ": " + c.Error
				} else if c.Error != "" {
					why = c.Error
				}
				g.Reason = fmt.Sprintf("connector %s did not complete (%s) and delivered no %s", c.Instance, why, r.Kind)
			default:
				g.Reason = fmt.Sprintf("connector %s delivered no %s", c.Instance, r.Kind)
			}
			a.gaps = append(a.gaps, g)
		}
	}
	return a
}

// fill copies the period's figures into a rule summary.
func (a *ruleAgg) fill(rs *RuleSummary) {
	rs.Version = a.version
	rs.Runs, rs.Pass, rs.Fail, rs.Error, rs.NotApplicable, rs.NoEvidence = a.runs, a.pass, a.fail, a.errs, a.na, a.noev
	rs.FirstFailed, rs.LastFailed = a.firstFailed, a.lastFailed
	rs.LastRun, rs.LastRunAt, rs.LastOutcome, rs.LastDetail = a.lastRun, a.lastRunAt, a.lastOutcome, a.lastDetail
	rs.Gaps = len(a.gaps)
}

func minTime(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.Before(*a)) {
		return b
	}
	return a
}

func maxTime(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.After(*a)) {
		return b
	}
	return a
}
