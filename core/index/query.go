package index

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
)

// ErrNotFound is returned when no run matches an id.
var ErrNotFound = errors.New("not found in the index")

// Run is one run as the index knows it.
type Run struct {
	ID        string
	Type      manifest.Type
	Outcome   string // a manifest.Outcome, or OutcomeRunning while unsealed
	StartedAt time.Time
	EndedAt   time.Time
	// Manifest is the sealed manifest's digest; nil while the run is running.
	Manifest     *evidence.Digest
	ManifestSize int64
	Ref          *evidence.Digest
	Previous     *evidence.Digest
	Results      *evidence.Digest
	Evaluates    *evidence.Digest
	Signer       string
	Host         string
	Version      string
	Note         string
	Artefacts    int
	Gaps         int
}

// RunFilter selects runs; zero fields select everything.
type RunFilter struct {
	Since, Until time.Time // started_at in [Since, Until)
	Type         manifest.Type
	Limit        int
}

const runColumns = `id, type, outcome, started_at, ended_at, manifest_digest, manifest_size,
	ref_digest, previous, results_digest, evaluates, signer, host, exhibit_version, note, artefacts, gaps`

// Runs lists runs, newest first.
func (ix *Index) Runs(ctx context.Context, f RunFilter) ([]Run, error) {
	var where []string
	var args []any
	if !f.Since.IsZero() {
		where, args = append(where, "started_at >= ?"), append(args, FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "started_at < ?"), append(args, FormatTime(f.Until))
	}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, string(f.Type))
	}
	q := `SELECT ` + runColumns + ` FROM runs` + whereClause(where) + ` ORDER BY started_at DESC, id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := ix.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("could not list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("could not list runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run returns one run and its connector runs. id may be a unique prefix of a run id or of
// a manifest digest (at least 6 characters).
func (ix *Index) Run(ctx context.Context, id string) (Run, []manifest.ConnectorRun, error) {
	if id == "" {
		return Run{}, nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
	}
	matches, err := ix.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id)
	if err != nil {
		return Run{}, nil, err
	}
	if len(matches) == 0 && len(id) >= 6 {
		ms, err := ix.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE substr(id, 1, length(?1)) = ?1
			OR substr(manifest_digest, 1, length(?1)) = lower(?1) ORDER BY started_at`, id)
		if err != nil {
			return Run{}, nil, err
		}
		matches = ms
	}
	switch len(matches) {
	case 0:
		return Run{}, nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
	case 1:
	default:
		ids := make([]string, len(matches))
		for i, m := range matches {
			ids[i] = m.ID
		}
		return Run{}, nil, fmt.Errorf("run %q is ambiguous: it matches %s", id, strings.Join(ids, ", "))
	}
	r := matches[0]
	crs, err := ix.ConnectorRuns(ctx, r.ID)
	return r, crs, err
}

func (ix *Index) queryRuns(ctx context.Context, q string, args ...any) ([]Run, error) {
	rows, err := ix.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("could not query runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ConnectorRuns returns the connector runs of run id, by instance name.
func (ix *Index) ConnectorRuns(ctx context.Context, id string) ([]manifest.ConnectorRun, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT instance, type, version, outcome, started_at, ended_at,
		artefacts, gaps, error, late, over_deadline FROM connector_runs WHERE run_id = ? ORDER BY instance`, id)
	if err != nil {
		return nil, fmt.Errorf("could not query the connector runs of %s: %w", id, err)
	}
	defer rows.Close()
	var out []manifest.ConnectorRun
	for rows.Next() {
		var c manifest.ConnectorRun
		var outcome string
		var started, ended, errText sql.NullString
		if err := rows.Scan(&c.Instance, &c.Type, &c.Version, &outcome, &started, &ended, &c.Artefacts, &c.Gaps, &errText, &c.CatchUp, &c.OverDeadline); err != nil {
			return nil, err
		}
		c.Outcome = manifest.Outcome(outcome)
		c.StartedAt, c.EndedAt, c.Error = parseTime(started), parseTime(ended), errText.String
		out = append(out, c)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(s scanner) (Run, error) {
	var r Run
	var typ string
	var started, ended, manifestD, ref, prev, results, evaluates, signer, host, version, note sql.NullString
	var size sql.NullInt64
	if err := s.Scan(&r.ID, &typ, &r.Outcome, &started, &ended, &manifestD, &size, &ref, &prev, &results,
		&evaluates, &signer, &host, &version, &note, &r.Artefacts, &r.Gaps); err != nil {
		return r, err
	}
	r.Type = manifest.Type(typ)
	r.StartedAt, r.EndedAt = parseTime(started), parseTime(ended)
	r.ManifestSize = size.Int64
	r.Signer, r.Host, r.Version, r.Note = signer.String, host.String, version.String, note.String
	var err error
	for _, p := range []struct {
		dst **evidence.Digest
		src sql.NullString
	}{{&r.Manifest, manifestD}, {&r.Ref, ref}, {&r.Previous, prev}, {&r.Results, results}, {&r.Evaluates, evaluates}} {
		if !p.src.Valid || p.src.String == "" {
			continue
		}
		d, perr := evidence.ParseDigest(p.src.String)
		if perr != nil {
			err = fmt.Errorf("run %s: %w", r.ID, perr)
			continue
		}
		*p.dst = &d
	}
	return r, err
}

// Artefact is one indexed envelope.
type Artefact struct {
	RunID            string
	Seq              int // position in the run manifest
	Kind             string
	Subject          string
	Connector        string // instance name
	ConnectorType    string
	ConnectorVersion string
	Status           evidence.Status
	CollectedAt      time.Time
	Document         *evidence.ObjectRef
	Exchanges        int
	Error            string
}

// ArtefactFilter selects artefacts; zero fields select everything.
type ArtefactFilter struct {
	RunID     string
	Kind      string
	Connector string             // instance name
	Since     time.Time          // collected_at >= Since
	Until     time.Time          // collected_at < Until
	GapsOnly  bool               // only artefacts whose status is not ok
	Sealed    bool               // only artefacts of sealed runs
	Outcomes  []manifest.Outcome // only runs with one of these outcomes
	Limit     int
}

// Artefacts calls fn for each matching artefact, ordered by collection time, in the
// calling goroutine, without holding them all in memory.
func (ix *Index) Artefacts(ctx context.Context, f ArtefactFilter, fn func(Artefact) error) error {
	var where []string
	var args []any
	add := func(cond string, arg any) { where, args = append(where, cond), append(args, arg) }
	if f.RunID != "" {
		add("a.run_id = ?", f.RunID)
	}
	if f.Kind != "" {
		add("a.kind = ?", f.Kind)
	}
	if f.Connector != "" {
		add("a.connector = ?", f.Connector)
	}
	if !f.Since.IsZero() {
		add("a.collected_at >= ?", FormatTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("a.collected_at < ?", FormatTime(f.Until))
	}
	if f.GapsOnly {
		where = append(where, "a.status <> 'ok'")
	}
	if f.Sealed {
		where = append(where, "r.manifest_digest IS NOT NULL")
	}
	if len(f.Outcomes) > 0 {
		ph := make([]string, len(f.Outcomes))
		for i, o := range f.Outcomes {
			ph[i] = "?"
			args = append(args, string(o))
		}
		where = append(where, "r.outcome IN ("+strings.Join(ph, ", ")+")")
	}
	q := `SELECT a.run_id, a.seq, a.kind, a.subject, a.connector, a.connector_type, a.connector_version,
		a.status, a.collected_at, a.document_digest, a.document_size, a.exchanges, a.error
		FROM artefacts a JOIN runs r ON r.id = a.run_id` + whereClause(where) + ` ORDER BY a.collected_at, a.run_id, a.seq`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := ix.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("could not query artefacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Artefact
		var status string
		var collected, doc, errText sql.NullString
		var size sql.NullInt64
		if err := rows.Scan(&a.RunID, &a.Seq, &a.Kind, &a.Subject, &a.Connector, &a.ConnectorType, &a.ConnectorVersion,
			&status, &collected, &doc, &size, &a.Exchanges, &errText); err != nil {
			return fmt.Errorf("could not query artefacts: %w", err)
		}
		a.Status, a.CollectedAt, a.Error = evidence.Status(status), parseTime(collected), errText.String
		if doc.Valid {
			d, err := evidence.ParseDigest(doc.String)
			if err != nil {
				return fmt.Errorf("artefact %s/%d: %w", a.RunID, a.Seq, err)
			}
			a.Document = &evidence.ObjectRef{Digest: d, Size: size.Int64}
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LastSuccess returns, per connector instance, the start of its newest connector run that
// collected something (outcome complete or partial). The scheduler's catch-up compares it
// with the previous scheduled time.
func (ix *Index) LastSuccess(ctx context.Context) (map[string]time.Time, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT instance, max(started_at) FROM connector_runs
		WHERE outcome IN ('complete', 'partial') GROUP BY instance`)
	if err != nil {
		return nil, fmt.Errorf("could not query the last successful runs: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var inst string
		var started sql.NullString
		if err := rows.Scan(&inst, &started); err != nil {
			return nil, err
		}
		out[inst] = parseTime(started)
	}
	return out, rows.Err()
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}
