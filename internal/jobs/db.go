package jobs

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// db is the little SQL this package runs on its own tables, over either
// PostgreSQL (pgx) or SQLite (database/sql). Both dialects accept $1-style
// placeholders (modernc.org/sqlite reads $N as the N-th argument), so every
// statement is written once.
type db interface {
	exec(ctx context.Context, query string, args ...any) error
	// query calls row for each result row; row scans it.
	query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error
	// tx runs fn in one transaction, committing when fn returns nil.
	tx(ctx context.Context, fn func(db) error) error
}

type pgDB struct {
	pool *pgxpool.Pool
	t    pgx.Tx // nil outside a transaction
}

func (p pgDB) querier() interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
} {
	if p.t != nil {
		return p.t
	}
	return p.pool
}

func (p pgDB) exec(ctx context.Context, query string, args ...any) error {
	var err error
	if p.t != nil {
		_, err = p.t.Exec(ctx, query, args...)
	} else {
		_, err = p.pool.Exec(ctx, query, args...)
	}
	return err
}

func (p pgDB) query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := p.querier().Query(ctx, query, args...)
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

func (p pgDB) tx(ctx context.Context, fn func(db) error) error {
	return pgx.BeginFunc(ctx, p.pool, func(t pgx.Tx) error { return fn(pgDB{pool: p.pool, t: t}) })
}

type sqliteDB struct {
	db *sql.DB
	t  *sql.Tx // nil outside a transaction
}

type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s sqliteDB) runner() sqlRunner {
	if s.t != nil {
		return s.t
	}
	return s.db
}

func (s sqliteDB) exec(ctx context.Context, query string, args ...any) error {
	_, err := s.runner().ExecContext(ctx, query, args...)
	return err
}

func (s sqliteDB) query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := s.runner().QueryContext(ctx, query, args...)
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

func (s sqliteDB) tx(ctx context.Context, fn func(db) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqliteDB{db: s.db, t: t}); err != nil {
		return errors.Join(err, t.Rollback())
	}
	return t.Commit()
}
