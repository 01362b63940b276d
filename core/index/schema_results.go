package index

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/exhibit-dev/exhibit/core/controls/results"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// resultsMigrations are the controls engine's tables (versions 100 and up).
//
// result_sets     one row per results object, i.e. per sealed manifest with Results: which
//
//	run's evidence it judged (evidence_run, run_started_at) and whether it is the
//	newest evaluation of that run (current = 1); re-evaluations keep old sets.
//
// result_summary  per set × rule × connector instance: outcome counts, the newest collection
//
//	time and one detail of a failure. Control status over a period reads only
//	these rows (365 runs × 150 rules is ~55,000 rows), never the results.
//
// results         one row per result line, for evidence references (re-performance).
// result_rules    the rules as applied per set (version, params, disabled + justification).
// attestations    manual evidence: one row per named control.
var resultsMigrations = []migration{
	{version: 100, name: "evaluation results", sql: `
CREATE TABLE result_sets (
	id              INTEGER PRIMARY KEY,
	results_digest  TEXT NOT NULL,
	manifest_run    TEXT NOT NULL,          -- the run whose manifest references the results
	evidence_run    TEXT NOT NULL,          -- the run whose artefacts were judged
	run_started_at  TEXT NOT NULL,          -- start of evidence_run
	evaluated_at    TEXT NOT NULL,
	current         INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX result_sets_manifest_run ON result_sets(manifest_run);
CREATE INDEX result_sets_evidence ON result_sets(evidence_run, evaluated_at);
CREATE INDEX result_sets_period ON result_sets(run_started_at) WHERE current = 1;

CREATE TABLE result_rules (
	set_id        INTEGER NOT NULL,
	rule          TEXT NOT NULL,
	version       INTEGER NOT NULL,
	kind          TEXT NOT NULL,
	title         TEXT NOT NULL,
	severity      TEXT NOT NULL,
	disabled      INTEGER NOT NULL,
	justification TEXT,
	params        TEXT,                     -- JSON
	PRIMARY KEY (set_id, rule)
);

CREATE TABLE result_summary (
	run_started_at    TEXT NOT NULL,
	set_id            INTEGER NOT NULL,
	rule              TEXT NOT NULL,
	connector         TEXT NOT NULL,
	current           INTEGER NOT NULL,     -- copy of result_sets.current, so period queries need no join
	version           INTEGER NOT NULL,
	pass              INTEGER NOT NULL,
	fail              INTEGER NOT NULL,
	error             INTEGER NOT NULL,
	not_applicable    INTEGER NOT NULL,
	no_evidence       INTEGER NOT NULL,
	last_collected_at TEXT,                 -- newest artefact judged (freshness)
	detail            TEXT,                 -- the first fail, error or no_evidence, rendered
	PRIMARY KEY (run_started_at, set_id, rule, connector)
) WITHOUT ROWID;                            -- clustered by time: a period is one range scan
CREATE INDEX result_summary_set ON result_summary(set_id);
CREATE INDEX result_summary_rule ON result_summary(rule, run_started_at);

CREATE TABLE results (
	set_id          INTEGER NOT NULL,
	line            INTEGER NOT NULL,       -- position in the results object, from 0
	seq             INTEGER NOT NULL,       -- the artefact's position in the judged run's manifest
	rule            TEXT NOT NULL,
	version         INTEGER NOT NULL,
	outcome         TEXT NOT NULL,
	kind            TEXT NOT NULL,
	subject         TEXT NOT NULL,
	connector       TEXT NOT NULL,
	collected_at    TEXT,
	document_digest TEXT,
	message         TEXT,
	vals            TEXT,                   -- JSON [{"path","value"}]
	failing         TEXT,                   -- JSON ["…"]
	PRIMARY KEY (set_id, line)
);
CREATE INDEX results_rule ON results(rule, set_id);

CREATE TABLE attestations (
	set_id         INTEGER NOT NULL,
	seq            INTEGER NOT NULL,
	framework      TEXT NOT NULL,
	control        TEXT NOT NULL,
	kind           TEXT NOT NULL,
	subject        TEXT NOT NULL,
	document_digest TEXT NOT NULL,
	file_digest    TEXT NOT NULL,
	file_size      INTEGER NOT NULL,
	file_name      TEXT NOT NULL,
	effective_date TEXT NOT NULL,
	expires        TEXT,
	note           TEXT,
	PRIMARY KEY (set_id, seq, framework, control)
);
CREATE INDEX attestations_control ON attestations(framework, control);
`},
}

// indexResults records the evaluation results a sealed manifest references (h.Results),
// inside the transaction that records the run. It is called for every manifest with
// Results, on collection and on Reindex, and replaces any rows it wrote before for runID.
// The results object is read strictly (results.Read): a malformed one fails the recording
// of the run rather than indexing half of it.
func indexResults(ctx context.Context, tx *sql.Tx, objects store.Store, runID string, h manifest.Header) error {
	if err := deleteResults(ctx, tx, runID); err != nil {
		return err
	}
	rc, err := objects.Get(ctx, h.Results.Digest)
	if err != nil {
		return fmt.Errorf("could not read results object %s: %w", h.Results.Digest, err)
	}
	defer rc.Close()

	// The header comes first in the object; the set row needs it, so results are inserted
	// into a set id reserved up front and the set row written once the header is known.
	var setID int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM result_sets`).Scan(&setID); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO results(set_id, line, seq, rule, version, outcome, kind,
		subject, connector, collected_at, document_digest, message, vals, failing)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	type sumKey struct{ rule, connector string }
	type sum struct {
		version                    int
		pass, fail, errs, na, noev int
		lastCollected              time.Time
		detail                     string
	}
	sums := map[sumKey]*sum{}
	line := 0
	rh, err := results.Read(rc, func(seq int, r *results.Result) error {
		var vals, failing any
		if len(r.Values) > 0 {
			b, _ := json.Marshal(r.Values)
			vals = string(b)
		}
		if len(r.Failing) > 0 {
			b, _ := json.Marshal(r.Failing)
			failing = string(b)
		}
		var doc any
		if !r.Document.IsZero() {
			doc = r.Document.String()
		}
		if _, err := ins.ExecContext(ctx, setID, line, seq, r.Rule, r.Version, string(r.Outcome), r.Kind,
			r.Subject, r.Connector, nullTime(r.CollectedAt), doc, nullString(r.Message), vals, failing); err != nil {
			return err
		}
		line++
		k := sumKey{r.Rule, r.Connector}
		s := sums[k]
		if s == nil {
			s = &sum{version: r.Version}
			sums[k] = s
		}
		switch r.Outcome {
		case results.Pass:
			s.pass++
		case results.Fail:
			s.fail++
		case results.Error:
			s.errs++
		case results.NotApplicable:
			s.na++
		case results.NoEvidence:
			s.noev++
		}
		if r.Outcome != results.NoEvidence && r.Outcome != results.Error && r.CollectedAt.After(s.lastCollected) {
			s.lastCollected = r.CollectedAt
		}
		if s.detail == "" && (r.Outcome == results.Fail || r.Outcome == results.Error || r.Outcome == results.NoEvidence) {
			s.detail = r.Subject + ": " + r.Detail()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("results object %s: %w", h.Results.Digest, err)
	}
	evidenceRun, started := rh.Run, rh.RunStartedAt
	if h.Type == manifest.TypeCollection && rh.Run == runID {
		started = h.StartedAt
	}
	if h.Type != manifest.TypeCollection && rh.Run != runID && started.IsZero() {
		var s sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT started_at FROM runs WHERE id = ?`, rh.Run).Scan(&s); err != nil {
			return fmt.Errorf("results of run %s judge run %s, which the index does not know: %w", runID, rh.Run, err)
		}
		started = parseTime(s)
	}
	if started.IsZero() {
		started = h.StartedAt
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO result_sets(id, results_digest, manifest_run, evidence_run,
		run_started_at, evaluated_at, current) VALUES (?, ?, ?, ?, ?, ?, 1)`,
		setID, h.Results.Digest.String(), runID, evidenceRun, formatTime(started), formatTime(rh.EvaluatedAt)); err != nil {
		return err
	}
	insRule, err := tx.PrepareContext(ctx, `INSERT INTO result_rules(set_id, rule, version, kind, title, severity,
		disabled, justification, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insRule.Close()
	for _, ri := range rh.Rules {
		var params any
		if len(ri.Params) > 0 {
			b, _ := json.Marshal(ri.Params)
			params = string(b)
		}
		if _, err := insRule.ExecContext(ctx, setID, ri.ID, ri.Version, ri.Kind, ri.Title, ri.Severity, ri.Disabled,
			nullString(ri.Justification), params); err != nil {
			return err
		}
	}
	insSum, err := tx.PrepareContext(ctx, `INSERT INTO result_summary(run_started_at, set_id, rule, connector,
		current, version, pass, fail, error, not_applicable, no_evidence, last_collected_at, detail)
		VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insSum.Close()
	for k, s := range sums {
		if _, err := insSum.ExecContext(ctx, formatTime(started), setID, k.rule, k.connector, s.version,
			s.pass, s.fail, s.errs, s.na, s.noev, nullTime(s.lastCollected), nullString(s.detail)); err != nil {
			return err
		}
	}
	for _, a := range rh.Attestations {
		for fw, ids := range a.Controls {
			for _, id := range ids {
				var expires any
				if a.Expires != nil {
					expires = formatTime(*a.Expires)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO attestations(set_id, seq, framework, control, kind,
					subject, document_digest, file_digest, file_size, file_name, effective_date, expires, note)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					setID, a.Seq, fw, id, a.Kind, a.Subject, a.Document.String(), a.File.Digest.String(), a.File.Size,
					a.FileName, formatTime(a.EffectiveDate), expires, nullString(a.Note)); err != nil {
					return err
				}
			}
		}
	}
	// The newest evaluation of a run is the current one; older sets stay for history.
	return markCurrent(ctx, tx, evidenceRun)
}

// deleteResults removes the rows indexResults wrote for the manifest of runID.
func deleteResults(ctx context.Context, tx *sql.Tx, runID string) error {
	var setID int64
	var evidenceRun string
	err := tx.QueryRowContext(ctx, `SELECT id, evidence_run FROM result_sets WHERE manifest_run = ?`, runID).Scan(&setID, &evidenceRun)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM results WHERE set_id = ?`, `DELETE FROM result_summary WHERE set_id = ?`,
		`DELETE FROM result_rules WHERE set_id = ?`, `DELETE FROM attestations WHERE set_id = ?`,
		`DELETE FROM result_sets WHERE id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, setID); err != nil {
			return err
		}
	}
	return markCurrent(ctx, tx, evidenceRun)
}

// markCurrent makes the newest evaluation of evidenceRun the current one, in result_sets
// and in the copy result_summary keeps.
func markCurrent(ctx context.Context, tx *sql.Tx, evidenceRun string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE result_sets SET current = (id = (
		SELECT id FROM result_sets s WHERE s.evidence_run = result_sets.evidence_run
		ORDER BY s.evaluated_at DESC, s.id DESC LIMIT 1)) WHERE evidence_run = ?`, evidenceRun); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE result_summary SET current = (
		SELECT current FROM result_sets WHERE id = result_summary.set_id)
		WHERE set_id IN (SELECT id FROM result_sets WHERE evidence_run = ?)`, evidenceRun)
	return err
}
