package index

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/exhibit-dev/exhibit/evidence"
	"github.com/exhibit-dev/exhibit/evidence/manifest"
	"github.com/exhibit-dev/exhibit/evidence/store"
)

// OutcomeRunning marks a run that has started and is not sealed yet. A run left in this
// state by a killed process is replaced when the runner recovers it (sealed interrupted).
const OutcomeRunning = "running"

// StartRun records a run that has just started, so that it shows in `runs list` while it
// collects. Its artefacts are added with AddArtefacts and it is completed by RecordRun.
func (ix *Index) StartRun(ctx context.Context, h manifest.Header) error {
	id := h.ID
	err := ix.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO runs(id, type, started_at, outcome, host, exhibit_version, note)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			id, string(h.Type), formatTime(h.StartedAt), OutcomeRunning, nullString(h.Host), nullString(h.Version), nullString(h.Note))
		return err
	})
	if err != nil {
		return fmt.Errorf("could not record the start of run %s in the index: %w", id, err)
	}
	return nil
}

// AddArtefacts records envelopes of run runID in one transaction; first is the position
// of envs[0] in the run manifest. Callers batch (the runner writes a few hundred at a time)
// because one transaction per artefact would cost an fsync each.
func (ix *Index) AddArtefacts(ctx context.Context, runID string, first int, envs []evidence.Envelope) error {
	if len(envs) == 0 {
		return nil
	}
	err := ix.write(ctx, func(tx *sql.Tx) error { return insertArtefacts(ctx, tx, runID, first, envs) })
	if err != nil {
		return fmt.Errorf("could not index %d artefacts of run %s: %w", len(envs), runID, err)
	}
	return nil
}

func insertArtefacts(ctx context.Context, tx *sql.Tx, runID string, first int, envs []evidence.Envelope) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO artefacts(run_id, seq, kind, subject,
		connector, connector_type, connector_version, status, collected_at, document_digest,
		document_size, exchanges, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, e := range envs {
		var doc, size any
		if e.Document != nil {
			doc, size = e.Document.Digest.String(), e.Document.Size
		}
		if _, err := stmt.ExecContext(ctx, runID, first+i, e.Kind, e.Subject, e.Connector.Instance,
			e.Connector.Type, e.Connector.Version, string(e.Status), formatTime(e.CollectedAt),
			doc, size, len(e.Exchanges), nullString(e.Error)); err != nil {
			return err
		}
	}
	return nil
}

// RecordRun records a sealed run: its header, connector runs and counts, and (through
// indexResults) its evaluation results. The run's artefacts must have been added before
// (AddArtefacts); RecordRun replaces any earlier record of the same run.
func (ix *Index) RecordRun(ctx context.Context, objects store.Store, s *manifest.Sealed) error {
	h := s.Header
	var resultsErr error
	record := func(withResults bool) func(tx *sql.Tx) error {
		return func(tx *sql.Tx) error {
			if err := upsertRun(ctx, tx, s); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM connector_runs WHERE run_id = ?`, h.ID); err != nil {
				return err
			}
			for _, c := range h.Connectors {
				if _, err := tx.ExecContext(ctx, `INSERT INTO connector_runs(run_id, instance, type, version,
					outcome, started_at, ended_at, artefacts, gaps, error, late, over_deadline)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					h.ID, c.Instance, c.Type, c.Version, string(c.Outcome), formatTime(c.StartedAt), nullTime(c.EndedAt),
					c.Artefacts, c.Gaps, nullString(c.Error), c.CatchUp, c.OverDeadline); err != nil {
					return err
				}
			}
			if withResults && h.Results != nil {
				if err := indexResults(ctx, tx, objects, h.ID, h); err != nil {
					resultsErr = fmt.Errorf("could not index the results of run %s: %w", h.ID, err)
					return resultsErr
				}
			}
			return nil
		}
	}
	err := ix.write(ctx, record(true))
	if err != nil && resultsErr != nil {
		// The run itself is still worth recording: its artefacts are queryable and the
		// results can be indexed again by Reindex once the problem is fixed.
		if err2 := ix.write(ctx, record(false)); err2 == nil {
			return resultsErr
		}
	}
	if err != nil {
		return fmt.Errorf("could not record run %s in the index: %w", h.ID, err)
	}
	return nil
}

func upsertRun(ctx context.Context, tx *sql.Tx, s *manifest.Sealed) error {
	h := s.Header
	var prev, results, evaluates, ref any
	if h.Previous != nil {
		prev = h.Previous.String()
	}
	if h.Results != nil {
		results = h.Results.Digest.String()
	}
	if h.Evaluates != nil {
		evaluates = h.Evaluates.String()
	}
	if !s.RefDigest.IsZero() {
		ref = s.RefDigest.String()
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, h.ID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO runs(id, type, started_at, ended_at, outcome,
		manifest_digest, manifest_size, ref_digest, previous, signer, host, exhibit_version,
		results_digest, evaluates, note, artefacts, gaps)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
			(SELECT count(*) FROM artefacts WHERE run_id = ?),
			(SELECT count(*) FROM artefacts WHERE run_id = ? AND status <> 'ok'))`,
		h.ID, string(h.Type), formatTime(h.StartedAt), nullTime(h.EndedAt), string(h.Outcome),
		s.Digest.String(), s.Size, ref, prev, nullString(h.Signer), nullString(h.Host), nullString(h.Version),
		results, evaluates, nullString(h.Note), h.ID, h.ID)
	return err
}

// DeleteRun forgets everything the index holds about run id (runs, connector runs,
// artefacts). Results rows are replaced by indexResults when the run is recorded again.
func (ix *Index) DeleteRun(ctx context.Context, id string) error {
	err := ix.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM artefacts WHERE run_id = ?`, `DELETE FROM connector_runs WHERE run_id = ?`, `DELETE FROM runs WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("could not delete run %s from the index: %w", id, err)
	}
	return nil
}

// reset empties every table except schema_migrations, including the controls engine's,
// since all of it is derived from the store.
func (ix *Index) reset(ctx context.Context) error {
	return ix.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
			AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'`)
		if err != nil {
			return err
		}
		var tables []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			tables = append(tables, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range tables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM "`+t+`"`); err != nil {
				return fmt.Errorf("could not empty %s: %w", t, err)
			}
		}
		return nil
	})
}
