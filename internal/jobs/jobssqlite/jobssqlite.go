// Package jobssqlite is the SQLite jobs.Backend: river's SQLite driver and
// this package's SQL on a database/sql handle (modernc.org/sqlite, driver
// name "sqlite"). It lives apart from package jobs so that only a program
// that imports the SQLite store links SQLite. There is no Notifier: one
// agent uses a database file, and its events stay in its process.
package jobssqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/amove/amove-go/internal/jobs"
)

// Backend is a jobs.Backend on a SQLite database, normally the store's
// writer.
type Backend struct {
	db
	driver *riversqlite.Driver

	// migrating serializes the Migrate calls of this Backend's Queues:
	// rivermigrate reads the applied versions before it applies the rest,
	// outside any transaction, so two at once would both apply them. Other
	// processes on the file are not kept out; one agent uses a file.
	migrating sync.Mutex
}

var _ jobs.Backend = (*Backend)(nil)

// New returns a Backend on d. d should have one open connection
// (SetMaxOpenConns(1)), WAL and a busy timeout, as the SQLite store's
// writer has: river runs queries concurrently, and SQLite answers
// SQLITE_BUSY otherwise (riversqlite's package doc). Queues opened in one
// process on one file should share one Backend, so that they migrate one
// after the other.
func New(d *sql.DB) *Backend {
	return &Backend{db: db{sqlDB: d, q: d}, driver: riversqlite.New(d)}
}

// NewClient implements jobs.Backend.
func (b *Backend) NewClient(cfg *river.Config) (jobs.RiverClient, error) {
	return river.NewClient(b.driver, cfg)
}

// Migrate implements jobs.Backend.
func (b *Backend) Migrate(ctx context.Context, log *slog.Logger, own func(ctx context.Context, tx jobs.DB) error) error {
	b.migrating.Lock()
	defer b.migrating.Unlock()
	m, err := rivermigrate.New(b.driver, &rivermigrate.Config{Logger: log})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	return b.Tx(ctx, func(tx jobs.DB) error { return own(ctx, tx) })
}

// LatestJob implements jobs.Backend. river stores args as JSONB, which
// json() turns into text as it turns the argument, so both compare alike.
// args is bound as text: a blob would be read as JSONB.
func (b *Backend) LatestJob(ctx context.Context, kind string, args json.RawMessage) (int64, error) {
	var id int64
	err := b.sqlDB.QueryRowContext(ctx, `SELECT id FROM river_job WHERE kind = $1 AND json(args) = json($2) ORDER BY id DESC LIMIT 1`,
		kind, string(args)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, jobs.ErrNotFound
	}
	return id, err
}

// Notifier implements jobs.Backend: there is none on SQLite.
func (b *Backend) Notifier() jobs.Notifier { return nil }

// db is jobs.DB on the database or, inside Tx, on a transaction.
type db struct {
	sqlDB *sql.DB
	q     querier
	inTx  bool
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Exec implements jobs.DB. modernc.org/sqlite runs every statement of a
// query.
func (d db) Exec(ctx context.Context, query string, args ...any) error {
	_, err := d.q.ExecContext(ctx, query, args...)
	return err
}

// Query implements jobs.DB.
func (d db) Query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := d.q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Tx implements jobs.DB.
func (d db) Tx(ctx context.Context, fn func(tx jobs.DB) error) error {
	if d.inTx {
		return fn(d)
	}
	t, err := d.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(db{sqlDB: d.sqlDB, q: t, inTx: true}); err != nil {
		return errors.Join(err, t.Rollback())
	}
	return t.Commit()
}
