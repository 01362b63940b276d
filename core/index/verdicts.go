package index

import (
	"context"
	"database/sql"
	"fmt"
)

// Verdict is one rule result recorded for a run's evidence.
type Verdict struct {
	Rule, Kind, Subject, Connector string
	Outcome                        string
	Message                        string
	Values                         string // JSON [{"path","value"}], as the results record them
}

// Verdicts calls fn for every rule result of the current evaluation of runID's evidence,
// ordered by rule, connector and subject. A run without results yields nothing and
// evaluated is false.
func (ix *Index) Verdicts(ctx context.Context, runID string, fn func(Verdict) error) (evaluated bool, err error) {
	var set int64
	err = ix.db.QueryRowContext(ctx, `SELECT id FROM result_sets WHERE evidence_run = ? AND current = 1
		ORDER BY evaluated_at DESC LIMIT 1`, runID).Scan(&set)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("could not query the results of run %s: %w", runID, err)
	}
	rows, err := ix.db.QueryContext(ctx, `SELECT rule, kind, subject, connector, outcome, message, vals
		FROM results WHERE set_id = ? ORDER BY rule, connector, subject, line`, set)
	if err != nil {
		return true, fmt.Errorf("could not query the results of run %s: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v Verdict
		var msg, vals sql.NullString
		if err := rows.Scan(&v.Rule, &v.Kind, &v.Subject, &v.Connector, &v.Outcome, &msg, &vals); err != nil {
			return true, fmt.Errorf("could not query the results of run %s: %w", runID, err)
		}
		v.Message, v.Values = msg.String, vals.String
		if err := fn(v); err != nil {
			return true, err
		}
	}
	return true, rows.Err()
}
