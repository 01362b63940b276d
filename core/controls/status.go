package controls

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/core/index"
	"github.com/exhibit-dev/exhibit/evidence"
)

// BuildReport computes the status of every control of framework over [from, to] from the
// index: per control the status, first and last failure, whether it is fixed in the newest
// run, the mapped rules' results, gaps, manual evidence and (unless f.SummaryOnly) the
// evidence references with the values that decided each verdict.
//
// Runs are taken by their start time; of several evaluations of one run (re-evaluation),
// the newest counts. Rules map to controls as the engine is configured now (rules files,
// custom frameworks, disabled rules); results of rules no longer configured are ignored.
// The status rules:
//   - not_applicable: the config excludes the control (Justification says why);
//   - failing: a mapped rule failed in a run of the period;
//   - gaps: no failure, but gap artefacts, rule errors or failed connector runs left runs
//     of the period without the evidence the control needs;
//   - stale: all passed, but a mapped rule's newest evidence is older than the freshness
//     limit at the end of the period (or now, if earlier);
//   - effective: every mapped rule that judged in the period passed in every run;
//   - attested: no automated results in the period, manual evidence valid in it;
//   - no_evidence: neither.
//
// It reads only per run × rule summary rows unless evidence references are wanted.
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
	q := &reportQuery{db: ix.DB(), from: index.FormatTime(from), to: index.FormatTime(to), connectors: f.Connectors}
	rep := &PeriodReport{Framework: fw.ID, FrameworkTitle: fw.Title, Attribution: fw.Attribution,
		From: from.UTC(), To: to.UTC(), GeneratedAt: eng.now(), Freshness: eng.Freshness, Counts: map[Status]int{}}
	if rep.Runs, err = q.runs(ctx); err != nil {
		return nil, err
	}
	aggs, err := q.ruleAggregates(ctx)
	if err != nil {
		return nil, err
	}
	gaps, err := q.gaps(ctx, eng)
	if err != nil {
		return nil, err
	}
	atts, err := q.attestations(ctx)
	if err != nil {
		return nil, err
	}
	var refs map[string][]EvidenceRef
	if !f.SummaryOnly {
		needed := map[string]bool{}
		for _, c := range controls {
			for _, r := range eng.RulesFor(fw.ID, c.ID) {
				needed[r.ID] = true
			}
		}
		if refs, err = q.evidence(ctx, needed, f.MaxEvidence); err != nil {
			return nil, err
		}
	}
	reference := to
	if now := eng.now(); now.Before(reference) {
		reference = now
	}
	for _, c := range controls {
		cr := ControlReport{ID: c.ID, Title: c.Title, TitleDE: c.TitleDE, Rules: []RuleSummary{}}
		eng.judgeControl(fw, c, &cr, aggs, gaps, atts, reference)
		if refs != nil {
			for _, rs := range cr.Rules {
				cr.Evidence = append(cr.Evidence, refs[rs.Rule]...)
			}
		}
		rep.Counts[cr.Status]++
		rep.Controls = append(rep.Controls, cr)
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

// judgeControl fills a control's rules, gaps, attestations and status.
func (e *Engine) judgeControl(fw *Framework, c *Control, cr *ControlReport, aggs map[string]*ruleAgg,
	gaps map[string][]Gap, atts map[string][]AttestationRef, reference time.Time) {
	var disabled, stale []string
	judged := 0
	var newest time.Time
	for _, r := range e.RulesFor(fw.ID, c.ID) {
		rs := RuleSummary{Rule: r.ID, Version: r.Version, Title: r.Title, Kind: r.Kind, Severity: r.Severity,
			Derived: e.derived(fw, c, r), Disabled: r.Disabled, Justification: r.Justification}
		if r.Disabled {
			disabled = append(disabled, fmt.Sprintf("rule %s disabled: %s", r.ID, r.Justification))
			cr.Rules = append(cr.Rules, rs)
			continue
		}
		if a := aggs[r.ID]; a != nil {
			rs.Version = a.version
			rs.Runs, rs.Pass, rs.Fail, rs.Error, rs.NotApplicable, rs.NoEvidence = a.runs, a.pass, a.fail, a.errs, a.na, a.noev
			rs.FirstFailed, rs.LastFailed = a.firstFailed, a.lastFailed
			rs.LastRun, rs.LastRunAt, rs.LastOutcome, rs.LastDetail = a.lastRun, a.lastRunAt, a.lastOutcome, a.lastDetail
			judged++
			if a.newest.After(newest) {
				newest = a.newest
			}
			if reference.Sub(a.newest) > e.Freshness {
				stale = append(stale, r.ID)
			}
			cr.FirstFailed = minTime(cr.FirstFailed, a.firstFailed)
			cr.LastFailed = maxTime(cr.LastFailed, a.lastFailed)
			cr.Gaps = append(cr.Gaps, gaps[r.ID]...)
		}
		cr.Rules = append(cr.Rules, rs)
	}
	sort.Slice(cr.Gaps, func(i, j int) bool { return cr.Gaps[i].RunStartedAt.Before(cr.Gaps[j].RunStartedAt) })
	cr.Attestations = append(cr.Attestations, atts[fw.ID+"\x00"+c.ID]...)
	for tfw, ids := range c.MapsTo {
		for _, id := range ids {
			for _, a := range atts[tfw+"\x00"+id] {
				a.ViaControl = tfw + " " + id
				cr.Attestations = append(cr.Attestations, a)
			}
		}
	}
	if !newest.IsZero() {
		cr.NewestEvidence = &newest
	}
	if a, ok := e.Applicability(fw.ID, c.ID); ok && !a.Applicable {
		cr.Status, cr.Justification = NotApplicableStatus, a.Justification
		return
	}
	cr.Justification = strings.Join(disabled, "; ")
	switch {
	case judged == 0 && len(cr.Attestations) > 0:
		cr.Status = Attested
	case judged == 0:
		cr.Status = NoEvidenceStatus
	case cr.LastFailed != nil:
		cr.Status = Failing
		cr.Fixed = true
		for _, rs := range cr.Rules {
			if !rs.Disabled && rs.Runs > 0 && rs.LastOutcome == Fail {
				cr.Fixed = false
			}
		}
	case len(cr.Gaps) > 0:
		cr.Status = Gaps
	case len(stale) > 0:
		cr.Status, cr.StaleRules = Stale, stale
	default:
		cr.Status = Effective
	}
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

// reportQuery runs the report's SQL over one period.
type reportQuery struct {
	db         *sql.DB
	from, to   string
	connectors []string
}

// connectorCond returns " AND <col> IN (?, …)" and its args for the connector filter.
func (q *reportQuery) connectorCond(col string) (string, []any) {
	if len(q.connectors) == 0 {
		return "", nil
	}
	args := make([]any, len(q.connectors))
	for i, c := range q.connectors {
		args[i] = c
	}
	return " AND " + col + " IN (?" + strings.Repeat(", ?", len(args)-1) + ")", args
}

func (q *reportQuery) runs(ctx context.Context) ([]RunRef, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT r.id, r.started_at, coalesce(r.manifest_digest, ''),
		coalesce(s.results_digest, ''), coalesce(s.manifest_run, ''), r.outcome
		FROM runs r LEFT JOIN result_sets s ON s.evidence_run = r.id AND s.current = 1
		WHERE r.type = 'collection' AND r.started_at >= ? AND r.started_at <= ?
		AND r.manifest_digest IS NOT NULL
		ORDER BY r.started_at, r.id`, q.from, q.to)
	if err != nil {
		return nil, fmt.Errorf("could not list the runs of the period: %w", err)
	}
	defer rows.Close()
	out := []RunRef{}
	for rows.Next() {
		var r RunRef
		var started string
		if err := rows.Scan(&r.ID, &started, &r.Manifest, &r.Results, &r.EvaluatedBy, &r.Outcome); err != nil {
			return nil, err
		}
		r.StartedAt = parseIndexTime(started)
		out = append(out, r)
	}
	return out, rows.Err()
}

// ruleAgg is one rule's results over the period.
type ruleAgg struct {
	version, runs, pass, fail, errs, na, noev int
	firstFailed, lastFailed                   *time.Time
	newest                                    time.Time
	lastRun                                   string
	lastRunAt                                 time.Time
	lastOutcome                               Outcome
	lastDetail                                string
}

// ruleAggregates reads the period's summary rows in one range scan (the table is clustered
// by run start) and aggregates them per rule in Go: cheaper than GROUP BY with temporary
// B-trees and one query per rule for its newest run.
func (q *reportQuery) ruleAggregates(ctx context.Context) (map[string]*ruleAgg, error) {
	cond, cargs := q.connectorCond("connector")
	args := append([]any{q.from, q.to}, cargs...)
	rows, err := q.db.QueryContext(ctx, `SELECT run_started_at, set_id, rule, version, pass, fail, error,
		not_applicable, no_evidence, coalesce(last_collected_at, ''), coalesce(detail, '')
		FROM result_summary
		WHERE run_started_at >= ? AND run_started_at <= ? AND current = 1`+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("could not summarise results: %w", err)
	}
	defer rows.Close()
	type lastRun struct {
		at                         string
		set                        int64
		pass, fail, errs, na, noev int
		detail                     string
	}
	out := map[string]*ruleAgg{}
	last := map[string]*lastRun{}
	lastSet := map[string]int64{}
	var newestRaw = map[string]string{}
	for rows.Next() {
		var at, rule, collected, detail string
		var set int64
		var version, pass, fail, errs, na, noev int
		if err := rows.Scan(&at, &set, &rule, &version, &pass, &fail, &errs, &na, &noev, &collected, &detail); err != nil {
			return nil, err
		}
		a := out[rule]
		if a == nil {
			a = &ruleAgg{}
			out[rule] = a
		}
		if version > a.version {
			a.version = version
		}
		if lastSet[rule] != set { // rows of one set and rule are adjacent (primary key order)
			a.runs++
			lastSet[rule] = set
		}
		a.pass, a.fail, a.errs, a.na, a.noev = a.pass+pass, a.fail+fail, a.errs+errs, a.na+na, a.noev+noev
		if fail > 0 {
			t := parseIndexTime(at)
			if a.firstFailed == nil {
				a.firstFailed = &t
			}
			a.lastFailed = &t
		}
		if collected > newestRaw[rule] {
			newestRaw[rule] = collected
		}
		l := last[rule]
		if l == nil || at > l.at || (at == l.at && set > l.set) {
			l = &lastRun{at: at, set: set}
			last[rule] = l
		}
		if l.set == set {
			l.pass, l.fail, l.errs, l.na, l.noev = l.pass+pass, l.fail+fail, l.errs+errs, l.na+na, l.noev+noev
			if l.detail == "" {
				l.detail = detail
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	runOf := map[int64]string{}
	for rule, l := range last {
		a := out[rule]
		a.newest = parseIndexTime(newestRaw[rule])
		a.lastRunAt = parseIndexTime(l.at)
		if _, ok := runOf[l.set]; !ok {
			var id string
			if err := q.db.QueryRowContext(ctx, `SELECT evidence_run FROM result_sets WHERE id = ?`, l.set).Scan(&id); err != nil {
				return nil, fmt.Errorf("could not read result set %d: %w", l.set, err)
			}
			runOf[l.set] = id
		}
		a.lastRun = runOf[l.set]
		switch {
		case l.fail > 0:
			a.lastOutcome = Fail
		case l.errs > 0:
			a.lastOutcome = Error
		case l.noev > 0:
			a.lastOutcome = NoEvidence
		case l.pass > 0:
			a.lastOutcome = Pass
		default:
			a.lastOutcome = NotApplicable
		}
		if a.lastOutcome != Pass && a.lastOutcome != NotApplicable {
			a.lastDetail = l.detail
		}
	}
	return out, nil
}

// gaps returns, per rule, the runs of the period that left it without evidence: gap
// artefacts and errors (from the summaries) and connector runs that did not complete and
// produced no results for the rule.
func (q *reportQuery) gaps(ctx context.Context, eng *Engine) (map[string][]Gap, error) {
	cond, cargs := q.connectorCond("m.connector")
	args := append([]any{q.from, q.to}, cargs...)
	rows, err := q.db.QueryContext(ctx, `SELECT m.rule, m.connector, s.evidence_run, m.run_started_at,
		m.no_evidence, m.error, coalesce(m.detail, '')
		FROM result_summary m JOIN result_sets s ON s.id = m.set_id
		WHERE m.run_started_at >= ? AND m.run_started_at <= ? AND m.current = 1
		AND (m.no_evidence > 0 OR m.error > 0)`+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("could not list gaps: %w", err)
	}
	out := map[string][]Gap{}
	for rows.Next() {
		var g Gap
		var started, detail string
		var noev, errs int
		if err := rows.Scan(&g.Rule, &g.Connector, &g.RunID, &started, &noev, &errs, &detail); err != nil {
			rows.Close()
			return nil, err
		}
		g.RunStartedAt = parseIndexTime(started)
		switch {
		case noev > 0 && errs > 0:
			g.Reason = fmt.Sprintf("%s not collected, %d could not be judged: %s", plural(noev, "artefact"), errs, detail)
		case noev > 0:
			g.Reason = fmt.Sprintf("%s not collected: %s", plural(noev, "artefact"), detail)
		default:
			g.Reason = fmt.Sprintf("%s could not be judged: %s", plural(errs, "artefact"), detail)
		}
		out[g.Rule] = append(out[g.Rule], g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Connector runs that did not complete, and the rules that got no result from them. The
	// runs table is the source, not result_sets: a run in which every connector failed has
	// nothing to judge and no results object, and must still show as a gap.
	ccond, _ := q.connectorCond("c.instance")
	rows, err = q.db.QueryContext(ctx, `SELECT coalesce((SELECT s.id FROM result_sets s
			WHERE s.evidence_run = r.id AND s.current = 1), 0),
		r.id, r.started_at, c.instance, c.type, c.outcome, coalesce(c.error, '')
		FROM runs r JOIN connector_runs c ON c.run_id = r.id
		WHERE r.type = 'collection' AND r.started_at >= ? AND r.started_at <= ? AND c.outcome <> 'complete'`+ccond, args...)
	if err != nil {
		return nil, fmt.Errorf("could not list failed connector runs: %w", err)
	}
	type failed struct {
		set                     int64
		run, instance, typ, why string
		started                 time.Time
	}
	var fails []failed
	for rows.Next() {
		var f failed
		var started, outcome string
		if err := rows.Scan(&f.set, &f.run, &started, &f.instance, &f.typ, &outcome, &f.why); err != nil {
			rows.Close()
			return nil, err
		}
		f.started = parseIndexTime(started)
		f.why = strings.TrimSpace(outcome + " " + f.why)
		fails = append(fails, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(fails) == 0 {
		return out, nil
	}
	// Prepared once: a year of partial runs asks it hundreds of times.
	rulesOf, err := q.db.PrepareContext(ctx, `SELECT rule FROM result_summary WHERE set_id = ? AND connector = ?`)
	if err != nil {
		return nil, err
	}
	defer rulesOf.Close()
	for _, f := range fails {
		have := map[string]bool{}
		rr, err := rulesOf.QueryContext(ctx, f.set, f.instance)
		if err != nil {
			return nil, err
		}
		for rr.Next() {
			var rule string
			if err := rr.Scan(&rule); err != nil {
				rr.Close()
				return nil, err
			}
			have[rule] = true
		}
		rr.Close()
		for _, r := range eng.Rules.rules {
			if r.Disabled || have[r.ID] || !strings.HasPrefix(r.Kind, f.typ+".") {
				continue
			}
			out[r.ID] = append(out[r.ID], Gap{RunID: f.run, RunStartedAt: f.started, Rule: r.ID, Connector: f.instance,
				Reason: fmt.Sprintf("connector %s did not complete (%s) and delivered no %s", f.instance, f.why, r.Kind)})
		}
	}
	return out, nil
}

// attestations returns manual evidence valid in the period by "framework\x00control".
func (q *reportQuery) attestations(ctx context.Context) (map[string][]AttestationRef, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT a.framework, a.control, a.kind, a.document_digest, a.file_digest,
		a.file_size, a.file_name, a.effective_date, a.expires, coalesce(a.note, ''), s.manifest_run,
		coalesce(r.manifest_digest, '')
		FROM attestations a JOIN result_sets s ON s.id = a.set_id LEFT JOIN runs r ON r.id = s.manifest_run
		WHERE a.effective_date <= ? AND (a.expires IS NULL OR a.expires >= ?)
		ORDER BY a.effective_date`, q.to, q.from)
	if err != nil {
		return nil, fmt.Errorf("could not list manual evidence: %w", err)
	}
	defer rows.Close()
	out := map[string][]AttestationRef{}
	for rows.Next() {
		var a AttestationRef
		var fw, ctl, fileDigest, eff string
		var expires sql.NullString
		if err := rows.Scan(&fw, &ctl, &a.Kind, &a.Document, &fileDigest, &a.File.Size, &a.FileName, &eff, &expires,
			&a.Note, &a.RunID, &a.Manifest); err != nil {
			return nil, err
		}
		d, err := evidence.ParseDigest(fileDigest)
		if err != nil {
			return nil, fmt.Errorf("attestation of %s %s: %w", fw, ctl, err)
		}
		a.File.Digest = d
		a.EffectiveDate = parseIndexTime(eff)
		if expires.Valid {
			t := parseIndexTime(expires.String)
			a.Expires = &t
		}
		out[fw+"\x00"+ctl] = append(out[fw+"\x00"+ctl], a)
	}
	return out, rows.Err()
}

// evidence returns the results of the needed rules in the period, by rule, oldest run first.
func (q *reportQuery) evidence(ctx context.Context, needed map[string]bool, max int) (map[string][]EvidenceRef, error) {
	out := map[string][]EvidenceRef{}
	if len(needed) == 0 {
		return out, nil
	}
	cond, cargs := q.connectorCond("r.connector")
	args := append([]any{q.from, q.to}, cargs...)
	ruleList := make([]string, 0, len(needed))
	for r := range needed {
		ruleList = append(ruleList, r)
		args = append(args, r)
	}
	cond += " AND r.rule IN (?" + strings.Repeat(", ?", len(ruleList)-1) + ")"
	rows, err := q.db.QueryContext(ctx, `SELECT r.rule, r.version, r.outcome, r.kind, r.subject, r.connector,
		coalesce(r.collected_at, ''), coalesce(r.document_digest, ''), r.seq, coalesce(r.message, ''),
		coalesce(r.vals, ''), coalesce(r.failing, ''), s.evidence_run, coalesce(ru.manifest_digest, '')
		FROM result_sets s JOIN results r ON r.set_id = s.id LEFT JOIN runs ru ON ru.id = s.evidence_run
		WHERE s.current = 1 AND s.run_started_at >= ? AND s.run_started_at <= ?`+cond+`
		ORDER BY s.run_started_at, s.id, r.line`, args...)
	if err != nil {
		return nil, fmt.Errorf("could not list evidence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e EvidenceRef
		var collected, doc, vals, failing string
		if err := rows.Scan(&e.Rule, &e.Version, &e.Outcome, &e.Kind, &e.Subject, &e.Connector, &collected, &doc,
			&e.Seq, &e.Message, &vals, &failing, &e.RunID, &e.Manifest); err != nil {
			return nil, err
		}
		if !needed[e.Rule] || (max > 0 && len(out[e.Rule]) >= max) {
			continue
		}
		e.CollectedAt = parseIndexTime(collected)
		if doc != "" {
			if e.Document, err = evidence.ParseDigest(doc); err != nil {
				return nil, err
			}
		}
		if vals != "" {
			if err := json.Unmarshal([]byte(vals), &e.Values); err != nil {
				return nil, fmt.Errorf("result values of rule %s: %w", e.Rule, err)
			}
		}
		if failing != "" {
			if err := json.Unmarshal([]byte(failing), &e.Failing); err != nil {
				return nil, fmt.Errorf("failing items of rule %s: %w", e.Rule, err)
			}
		}
		out[e.Rule] = append(out[e.Rule], e)
	}
	return out, rows.Err()
}

func parseIndexTime(s string) time.Time { return index.ParseTime(s).UTC() }

// plural says "1 run", "2 runs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
