package index

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
)

// migration is one versioned step of the index schema. Versions are applied in order, each
// in its own transaction, and recorded in schema_migrations; a version once released is
// never edited (add a new one). Versions 1–99 are the runner's (baseMigrations), 100+ the
// controls engine's (resultsMigrations in schema_results.go).
type migration struct {
	version int
	name    string
	sql     string
}

// migrations is the whole schema history.
var migrations = append(baseMigrations, resultsMigrations...)

// Times are stored as fixed-width UTC text (timeLayout) so that string comparison is time
// comparison and the database stays readable with the sqlite3 shell. Digests are lower-case
// hex. The index is derived data: every row can be rebuilt from the store (Reindex), so
// the schema carries no foreign-key enforcement and Reindex may empty every table.
var baseMigrations = []migration{
	{version: 1, name: "runs, connector runs, artefacts", sql: `
CREATE TABLE runs (
	id              TEXT PRIMARY KEY,
	type            TEXT NOT NULL,
	started_at      TEXT NOT NULL,
	ended_at        TEXT,
	outcome         TEXT NOT NULL,          -- complete, partial, failed, interrupted; running while unsealed
	manifest_digest TEXT,                   -- NULL while running
	manifest_size   INTEGER,
	ref_digest      TEXT,
	previous        TEXT,
	signer          TEXT,
	host            TEXT,
	exhibit_version TEXT,
	results_digest  TEXT,
	evaluates       TEXT,
	note            TEXT,
	artefacts       INTEGER NOT NULL DEFAULT 0,
	gaps            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_started ON runs(started_at);
CREATE UNIQUE INDEX runs_manifest ON runs(manifest_digest) WHERE manifest_digest IS NOT NULL;

CREATE TABLE connector_runs (
	run_id     TEXT NOT NULL,
	instance   TEXT NOT NULL,
	type       TEXT NOT NULL,
	version    TEXT NOT NULL,
	outcome    TEXT NOT NULL,
	started_at TEXT NOT NULL,
	ended_at   TEXT,
	artefacts  INTEGER NOT NULL,
	gaps       INTEGER NOT NULL,
	error      TEXT,
	late       INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, instance)
);
CREATE INDEX connector_runs_instance ON connector_runs(instance, started_at);

CREATE TABLE artefacts (
	run_id            TEXT NOT NULL,
	seq               INTEGER NOT NULL,     -- position in the run manifest, from 0
	kind              TEXT NOT NULL,
	subject           TEXT NOT NULL,
	connector         TEXT NOT NULL,        -- instance name
	connector_type    TEXT NOT NULL,
	connector_version TEXT NOT NULL,
	status            TEXT NOT NULL,
	collected_at      TEXT NOT NULL,
	document_digest   TEXT,
	document_size     INTEGER,
	exchanges         INTEGER NOT NULL,
	error             TEXT,
	PRIMARY KEY (run_id, seq)
);
CREATE INDEX artefacts_kind ON artefacts(kind, collected_at);
CREATE INDEX artefacts_connector ON artefacts(connector, collected_at);
CREATE INDEX artefacts_collected ON artefacts(collected_at);
CREATE INDEX artefacts_document ON artefacts(document_digest);

CREATE VIEW gaps AS
	SELECT * FROM artefacts WHERE status <> 'ok';
`},
	// Manifest schema v2 says why a connector run was late: "late" now holds catch_up.
	{version: 2, name: "connector runs over the run deadline", sql: `
ALTER TABLE connector_runs ADD COLUMN over_deadline INTEGER NOT NULL DEFAULT 0;
`},
}

// migrate applies the migrations the database has not seen yet.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("could not create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("could not read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ms := append([]migration(nil), migrations...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if i > 0 && ms[i-1].version == m.version {
			return fmt.Errorf("index schema: migration version %d defined twice", m.version)
		}
		if applied[m.version] {
			continue
		}
		tx, err := db.BeginTx(ctx, nil) // immediate: holds the write lock from here
		if err != nil {
			return err
		}
		// Another process may have applied it since we looked.
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&done); err != nil {
			tx.Rollback()
			return err
		}
		if done > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("index schema migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, formatTime(nowUTC())); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("index schema migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
