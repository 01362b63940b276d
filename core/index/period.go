package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
)

// Period selects what the status of controls over an audit period is computed from: the
// sealed collection runs that started in [From, To] and, when Connectors is not empty, only
// the evidence of those connector instances.
type Period struct {
	From, To   time.Time
	Connectors []string
}

// connectorCond returns " AND <col> IN (?, …)" and its args for the connector filter.
func (p Period) connectorCond(col string) (string, []any) {
	if len(p.Connectors) == 0 {
		return "", nil
	}
	args := make([]any, len(p.Connectors))
	for i, c := range p.Connectors {
		args[i] = c
	}
	return " AND " + col + " IN (?" + strings.Repeat(", ?", len(args)-1) + ")", args
}

func (p Period) bounds() []any { return []any{FormatTime(p.From), FormatTime(p.To)} }

// PeriodRun is a sealed collection run of a period with its current evaluation and the
// connector instances that ran in it.
type PeriodRun struct {
	ID        string
	StartedAt time.Time
	Outcome   string
	// Manifest is the hex digest of the run's signed manifest.
	Manifest string
	// Results is the hex digest of the current results object of the run (its newest
	// evaluation); empty when the run was never evaluated (evaluation failed or skipped).
	Results string
	// EvaluatedBy is the run whose manifest names Results.
	EvaluatedBy string
	// Note is the run's note (why its evaluation failed, for instance).
	Note string
	// Connectors are the run's connector instances (only those of Period.Connectors when
	// that is set), by instance name.
	Connectors []PeriodConnector
}

// PeriodConnector is one connector instance's part of a run.
type PeriodConnector struct {
	Instance, Type string
	Outcome        string
	Error          string
}

// PeriodRuns lists the sealed collection runs of the period, oldest first.
func (ix *Index) PeriodRuns(ctx context.Context, p Period) ([]PeriodRun, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT r.id, r.started_at, coalesce(r.manifest_digest, ''),
		coalesce(s.results_digest, ''), coalesce(s.manifest_run, ''), r.outcome, coalesce(r.note, '')
		FROM runs r LEFT JOIN result_sets s ON s.evidence_run = r.id AND s.current = 1
		WHERE r.type = 'collection' AND r.started_at >= ? AND r.started_at <= ?
		AND r.manifest_digest IS NOT NULL
		ORDER BY r.started_at, r.id`, p.bounds()...)
	if err != nil {
		return nil, fmt.Errorf("could not list the runs of the period: %w", err)
	}
	out := []PeriodRun{}
	at := map[string]int{}
	for rows.Next() {
		var r PeriodRun
		var started string
		if err := rows.Scan(&r.ID, &started, &r.Manifest, &r.Results, &r.EvaluatedBy, &r.Outcome, &r.Note); err != nil {
			rows.Close()
			return nil, err
		}
		r.StartedAt = ParseTime(started).UTC()
		at[r.ID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	cond, cargs := p.connectorCond("c.instance")
	rows, err = ix.db.QueryContext(ctx, `SELECT c.run_id, c.instance, c.type, c.outcome, coalesce(c.error, '')
		FROM runs r JOIN connector_runs c ON c.run_id = r.id
		WHERE r.type = 'collection' AND r.started_at >= ? AND r.started_at <= ?`+cond+`
		ORDER BY c.run_id, c.instance`, append(p.bounds(), cargs...)...)
	if err != nil {
		return nil, fmt.Errorf("could not list the connector runs of the period: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var run string
		var c PeriodConnector
		if err := rows.Scan(&run, &c.Instance, &c.Type, &c.Outcome, &c.Error); err != nil {
			return nil, err
		}
		if i, ok := at[run]; ok {
			out[i].Connectors = append(out[i].Connectors, c)
		}
	}
	return out, rows.Err()
}

// RuleRunSummary is what one rule made of one connector instance's evidence in one run (the
// run's current evaluation): outcome counts, the newest artefact judged and one rendered
// failure.
type RuleRunSummary struct {
	RunID                                        string
	RunStartedAt                                 time.Time
	Rule                                         string
	Connector                                    string
	Version                                      int
	Pass, Fail, Error, NotApplicable, NoEvidence int
	// NewestCollected is the collection time of the newest artefact the rule judged (pass,
	// fail or not_applicable); zero when it judged none.
	NewestCollected time.Time
	// Detail is the first fail, error or no_evidence, rendered ("subject: detail").
	Detail string
}

// RuleSummaries calls fn with every rule × connector summary of the period's current
// evaluations, in run start order. It reads the summary table in one range scan (the table
// is clustered by run start), never the per-artefact results.
func (ix *Index) RuleSummaries(ctx context.Context, p Period, fn func(RuleRunSummary) error) error {
	runOf := map[int64]string{}
	rows, err := ix.db.QueryContext(ctx, `SELECT id, evidence_run FROM result_sets
		WHERE current = 1 AND run_started_at >= ? AND run_started_at <= ?`, p.bounds()...)
	if err != nil {
		return fmt.Errorf("could not list the evaluations of the period: %w", err)
	}
	for rows.Next() {
		var id int64
		var run string
		if err := rows.Scan(&id, &run); err != nil {
			rows.Close()
			return err
		}
		runOf[id] = run
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	cond, cargs := p.connectorCond("connector")
	rows, err = ix.db.QueryContext(ctx, `SELECT run_started_at, set_id, rule, connector, version, pass, fail,
		error, not_applicable, no_evidence, coalesce(last_collected_at, ''), coalesce(detail, '')
		FROM result_summary
		WHERE run_started_at >= ? AND run_started_at <= ? AND current = 1`+cond, append(p.bounds(), cargs...)...)
	if err != nil {
		return fmt.Errorf("could not summarise results: %w", err)
	}
	defer rows.Close()
	var lastAt string
	var started time.Time
	for rows.Next() {
		var s RuleRunSummary
		var at, collected string
		var set int64
		if err := rows.Scan(&at, &set, &s.Rule, &s.Connector, &s.Version, &s.Pass, &s.Fail, &s.Error,
			&s.NotApplicable, &s.NoEvidence, &collected, &s.Detail); err != nil {
			return err
		}
		if at != lastAt {
			started, lastAt = ParseTime(at).UTC(), at
		}
		s.RunStartedAt, s.RunID = started, runOf[set]
		if collected != "" {
			s.NewestCollected = ParseTime(collected).UTC()
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Attestation is manual evidence naming one control.
type Attestation struct {
	Framework, Control string
	Kind               string
	Document           string
	File               evidence.ObjectRef
	FileName           string
	EffectiveDate      time.Time
	Expires            *time.Time
	Note               string
	// RunID and Manifest name the manual run that sealed it.
	RunID, Manifest string
}

// Attestations lists the manual evidence valid at some time in [from, to], oldest
// effective date first.
func (ix *Index) Attestations(ctx context.Context, from, to time.Time) ([]Attestation, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT a.framework, a.control, a.kind, a.document_digest, a.file_digest,
		a.file_size, a.file_name, a.effective_date, a.expires, coalesce(a.note, ''), s.manifest_run,
		coalesce(r.manifest_digest, '')
		FROM attestations a JOIN result_sets s ON s.id = a.set_id LEFT JOIN runs r ON r.id = s.manifest_run
		WHERE a.effective_date <= ? AND (a.expires IS NULL OR a.expires >= ?)
		ORDER BY a.effective_date`, FormatTime(to), FormatTime(from))
	if err != nil {
		return nil, fmt.Errorf("could not list manual evidence: %w", err)
	}
	defer rows.Close()
	var out []Attestation
	for rows.Next() {
		var a Attestation
		var fileDigest, eff string
		var expires sql.NullString
		if err := rows.Scan(&a.Framework, &a.Control, &a.Kind, &a.Document, &fileDigest, &a.File.Size, &a.FileName,
			&eff, &expires, &a.Note, &a.RunID, &a.Manifest); err != nil {
			return nil, err
		}
		d, err := evidence.ParseDigest(fileDigest)
		if err != nil {
			return nil, fmt.Errorf("attestation of %s %s: %w", a.Framework, a.Control, err)
		}
		a.File.Digest = d
		a.EffectiveDate = ParseTime(eff).UTC()
		if expires.Valid {
			t := ParseTime(expires.String).UTC()
			a.Expires = &t
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Result is one rule verdict on one artefact, with where the artefact is.
type Result struct {
	RunID, Manifest string
	Rule            string
	Version         int
	Outcome         string
	Kind, Subject   string
	Connector       string
	CollectedAt     time.Time
	Document        evidence.Digest
	Seq             int
	Message         string
	// Values and Failing are the JSON the results object holds (decisive values, failing
	// items); nil when absent.
	Values, Failing json.RawMessage
}

// PeriodResults calls fn with the current results of the given rules in the period, oldest
// run first and in results-object order within a run.
func (ix *Index) PeriodResults(ctx context.Context, p Period, rules []string, fn func(Result) error) error {
	if len(rules) == 0 {
		return nil
	}
	cond, cargs := p.connectorCond("r.connector")
	args := append(p.bounds(), cargs...)
	for _, r := range rules {
		args = append(args, r)
	}
	cond += " AND r.rule IN (?" + strings.Repeat(", ?", len(rules)-1) + ")"
	rows, err := ix.db.QueryContext(ctx, `SELECT r.rule, r.version, r.outcome, r.kind, r.subject, r.connector,
		coalesce(r.collected_at, ''), coalesce(r.document_digest, ''), r.seq, coalesce(r.message, ''),
		coalesce(r.vals, ''), coalesce(r.failing, ''), s.evidence_run, coalesce(ru.manifest_digest, '')
		FROM result_sets s JOIN results r ON r.set_id = s.id LEFT JOIN runs ru ON ru.id = s.evidence_run
		WHERE s.current = 1 AND s.run_started_at >= ? AND s.run_started_at <= ?`+cond+`
		ORDER BY s.run_started_at, s.id, r.line`, args...)
	if err != nil {
		return fmt.Errorf("could not list evidence: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Result
		var collected, doc, vals, failing string
		if err := rows.Scan(&e.Rule, &e.Version, &e.Outcome, &e.Kind, &e.Subject, &e.Connector, &collected, &doc,
			&e.Seq, &e.Message, &vals, &failing, &e.RunID, &e.Manifest); err != nil {
			return err
		}
		if collected != "" {
			e.CollectedAt = ParseTime(collected).UTC()
		}
		if doc != "" {
			if e.Document, err = evidence.ParseDigest(doc); err != nil {
				return err
			}
		}
		if vals != "" {
			e.Values = json.RawMessage(vals)
		}
		if failing != "" {
			e.Failing = json.RawMessage(failing)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}
