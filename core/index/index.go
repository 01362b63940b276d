// Package index is the queryable index of runs, artefacts and (from the controls engine)
// results: SQLite (modernc.org/sqlite, pure Go) in WAL mode at <data_dir>/index.db.
//
// The index only speeds up queries. The store is the source of truth: Reindex rebuilds the
// whole index from the signed run manifests, so losing or deleting index.db loses nothing.
package index

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// BusyTimeout is how long a statement waits for another process's write lock (e.g. a
// `runs list` while `serve` records a run) before it fails with SQLITE_BUSY.
const BusyTimeout = 10 * time.Second

// Index is an open index database. It is safe for concurrent use; writes of one process
// are serialised so that concurrent runs never fail each other with SQLITE_BUSY.
type Index struct {
	db   *sql.DB
	path string
	wmu  sync.Mutex // serialises write transactions of this process
}

// Open opens (creating it if needed) the index at path and applies pending migrations.
func Open(ctx context.Context, path string) (*Index, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("could not create the index directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL is durable enough in WAL mode for derived data: a crash may lose the last
	// transactions, never corrupt the database, and Reindex restores them from the store.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("could not open the index %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("could not open the index %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("could not migrate the index %s: %w", path, err)
	}
	return &Index{db: db, path: path}, nil
}

// DB returns the database for read queries of other packages. Write through the Index's
// methods (or, for the controls engine, inside indexResults) so writes stay serialised.
func (ix *Index) DB() *sql.DB { return ix.db }

// Path returns the database file.
func (ix *Index) Path() string { return ix.path }

// Close closes the database.
func (ix *Index) Close() error { return ix.db.Close() }

// write runs fn in one write transaction.
func (ix *Index) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// TimeLayout is how times are stored: fixed-width UTC, so text order is time order.
// Use FormatTime for query parameters.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime formats t as stored in the index (UTC, TimeLayout).
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

func formatTime(t time.Time) string { return FormatTime(t) }

// nullTime formats t, or NULL for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return FormatTime(t)
}

func parseTime(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	return ParseTime(s.String)
}

// ParseTime reads a time the index stored (FormatTime's TimeLayout, or RFC 3339); "" or
// an unreadable value is the zero time.
func ParseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		t, _ = time.Parse(time.RFC3339Nano, s)
	}
	return t
}

func nowUTC() time.Time { return time.Now().UTC() }

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
