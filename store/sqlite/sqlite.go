// Package sqlite is the embedded store: a single SQLite file in WAL mode,
// driven by the pure-Go modernc.org/sqlite.
//
// SQLite allows one writer at a time. Rather than let concurrent writers race
// for the lock (and surface "database is locked" when busy_timeout runs out
// under load), every write goes through a pool of exactly one connection, so
// writers queue in Go. Reads use a separate pool; in WAL mode they never wait
// for the writer.
//
// Importing the package registers it with package store for DSNs of the
// form "sqlite:<path>":
//
//	import _ "github.com/amove/amove-go/store/sqlite"
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/amove/amove-go/internal/jobs/jobssqlite"
	"github.com/amove/amove-go/internal/migrate"
	"github.com/amove/amove-go/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// timeFormat is fixed-width so stored times sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

// Store is a store.Store on one SQLite file.
type Store struct {
	w *sql.DB // exactly one connection: all writes
	r *sql.DB // reads

	// jobs is the job queue's database, on w. There is one per Store so
	// that the Queues of one Store share its migration lock.
	jobs *jobssqlite.Backend

	// The journal's per-file and per-part statements, prepared once on the
	// writer's one connection: parsing them again for every transaction
	// cost a job of small files more CPU than executing them (journal.go).
	addPart, finishItem *sql.Stmt

	// The reads every API request makes (the caller's user, the account it
	// names), prepared once on the read pool: parsing the SQL again for
	// each request cost more CPU than running it.
	getUser, getAccount *sql.Stmt
}

var _ store.Store = (*Store)(nil)

func init() {
	store.Register("sqlite", func(ctx context.Context, dsn string) (store.Store, error) {
		return Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	})
}

// Open opens (creating if needed) the database at path and applies pending
// migrations. The directory is created with mode 0700 and a new file with
// 0600 because the file holds sealed credentials and password hashes; the
// mode of an existing file is left to its owner.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// Create the file private before SQLite does: SQLite gives the -wal and
	// -shm files the database file's mode, and they hold the same data.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	// Pragmas are per connection, so they go in the DSN. synchronous=NORMAL
	// is safe in WAL mode: a crash loses no committed transaction, only a
	// power cut may lose the last few.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	rq := url.Values{"_pragma": append([]string{"query_only(1)"}, q["_pragma"]...)}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// fails half-way when it upgrades from read to write.
	q.Set("_txlock", "immediate")

	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	// The read pool is opened after the writer has switched the file to
	// WAL (in migrate, below, before any read); query_only guards against
	// a write slipping onto it.
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{w: w, r: r, jobs: jobssqlite.New(w)}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepareJournal(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepareReads(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepareReads prepares getUser and getAccount. database/sql prepares a
// statement again on each read connection it runs on, once.
func (s *Store) prepareReads(ctx context.Context) error {
	var err error
	if s.getUser, err = s.r.PrepareContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if s.getAccount, err = s.r.PrepareContext(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL`); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	for _, st := range []*sql.Stmt{s.addPart, s.finishItem, s.getUser, s.getAccount} {
		if st != nil {
			st.Close()
		}
	}
	return errors.Join(s.w.Close(), s.r.Close())
}

func (s *Store) migrate(ctx context.Context) error {
	steps, err := migrate.Steps(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	// BEGIN IMMEDIATE (the writer's _txlock) takes the write lock first, so
	// two processes opening one new file migrate one after the other.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if err := migrate.Up(ctx, sqliteTarget{tx}, steps); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return tx.Commit()
}

// sqliteTarget is the SQLite dialect of the migration runner.
type sqliteTarget struct{ tx *sql.Tx }

func (t sqliteTarget) Current(ctx context.Context) (int, error) {
	if _, err := t.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return 0, err
	}
	var v int
	err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}

func (t sqliteTarget) Apply(ctx context.Context, s migrate.Step) error {
	if _, err := t.tx.ExecContext(ctx, s.SQL); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`, s.Version, fmtTime(time.Now()))
	return err
}

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) { return time.Parse(timeFormat, s) }

// mapErr turns constraint violations into the store sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", store.ErrDuplicate, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %v", store.ErrNotFound, err)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return fmt.Errorf("sqlite: %w", err)
}

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant, owner store.User) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`,
		t.ID, t.Name, fmtTime(t.Created)); err != nil {
		return mapErr(err)
	}
	if err := insertUser(ctx, tx, owner); err != nil {
		return err
	}
	return mapErr(tx.Commit())
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertUser(ctx context.Context, db execer, u store.User) error {
	_, err := db.ExecContext(ctx, `INSERT INTO users (id, tenant_id, username, email, role, password_hash, active, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.TenantID, u.Username, u.Email, int(u.Role), u.PasswordHash, u.Active, fmtTime(u.Created))
	if err != nil {
		return mapErr(err)
	}
	return nil
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return insertUser(ctx, s.w, u)
}

// SetUserActive implements store.Store.
func (s *Store) SetUserActive(ctx context.Context, tenantID, id string, active bool) error {
	res, err := s.w.ExecContext(ctx, `UPDATE users SET active = ? WHERE id = ? AND tenant_id = ?`, active, id, tenantID)
	if err != nil {
		return mapErr(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

const userCols = `id, tenant_id, username, email, role, password_hash, active, created_at`

func scanUser(row *sql.Row) (store.User, error) {
	var u store.User
	var created string
	if err := row.Scan(&u.ID, &u.TenantID, &u.Username, &u.Email, &u.Role, &u.PasswordHash, &u.Active, &created); err != nil {
		return store.User{}, mapErr(err)
	}
	var err error
	u.Created, err = parseTime(created)
	return u, err
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.getUser.QueryRowContext(ctx, id))
}

// GetUserByUsername implements store.Store.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	return scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, username))
}

// InsertAccount implements store.Store.
func (s *Store) InsertAccount(ctx context.Context, a store.Account) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO cloud_accounts (id, tenant_id, user_id, cloud_type, name, region, endpoint,
		service_url, access_key, secret_key, credentials_data, shared, active, internal_storage, storage_tier, created_at, updated_at,
		driver, managed_family, managed_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TenantID, a.UserID, int(a.CloudType), a.Name, a.Region, a.Endpoint, a.ServiceURL,
		a.AccessKey, a.SecretKey, a.CredentialsData, a.Shared, a.Active, a.InternalStorage, a.StorageTier,
		fmtTime(a.Created), fmtTime(a.Updated), a.Driver, a.ManagedFamily, a.ManagedID)
	if err != nil {
		return mapErr(err)
	}
	return nil
}

const accountCols = `id, tenant_id, user_id, cloud_type, name, region, endpoint, service_url, access_key, secret_key,
	credentials_data, shared, active, internal_storage, storage_tier, created_at, updated_at, driver,
	managed_family, managed_id`

type scanner interface{ Scan(dest ...any) error }

func scanAccount(row scanner) (store.Account, error) {
	var a store.Account
	var created, updated string
	err := row.Scan(&a.ID, &a.TenantID, &a.UserID, &a.CloudType, &a.Name, &a.Region, &a.Endpoint, &a.ServiceURL,
		&a.AccessKey, &a.SecretKey, &a.CredentialsData, &a.Shared, &a.Active, &a.InternalStorage, &a.StorageTier,
		&created, &updated, &a.Driver, &a.ManagedFamily, &a.ManagedID)
	if err != nil {
		return store.Account{}, mapErr(err)
	}
	if a.Created, err = parseTime(created); err != nil {
		return store.Account{}, err
	}
	if a.Updated, err = parseTime(updated); err != nil {
		return store.Account{}, err
	}
	return a, nil
}

// GetAccount implements store.Store.
func (s *Store) GetAccount(ctx context.Context, tenantID, id string) (store.Account, error) {
	return scanAccount(s.getAccount.QueryRowContext(ctx, id, tenantID))
}

// ListAccounts implements store.Store.
func (s *Store) ListAccounts(ctx context.Context, q store.AccountQuery) ([]store.Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE tenant_id = ? AND deleted_at IS NULL AND active AND (user_id = ? OR (? AND shared))
		ORDER BY name, id`, q.TenantID, q.UserID, q.IncludeShared)
	if err != nil {
		return nil, mapErr(err)
	}
	return scanAccounts(rows)
}

// scanAccounts reads every row of an accountCols query and closes rows.
func scanAccounts(rows *sql.Rows) ([]store.Account, error) {
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// ownerUpdate runs an UPDATE restricted to a live account of its owner and
// reports ErrNotFound when nothing matched, so the ownership check and the
// change are one atomic statement.
func (s *Store) ownerUpdate(ctx context.Context, set string, arg any, tenantID, ownerID, id string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE cloud_accounts SET `+set+`, updated_at = ?
		WHERE id = ? AND tenant_id = ? AND user_id = ? AND deleted_at IS NULL`,
		arg, fmtTime(at), id, tenantID, ownerID)
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// SetShared implements store.Store.
func (s *Store) SetShared(ctx context.Context, tenantID, ownerID, id string, shared bool, at time.Time) error {
	return s.ownerUpdate(ctx, "shared = ?", shared, tenantID, ownerID, id, at)
}

// DeleteAccount implements store.Store.
func (s *Store) DeleteAccount(ctx context.Context, tenantID, ownerID, id string, at time.Time) error {
	return s.ownerUpdate(ctx, "deleted_at = ?", fmtTime(at), tenantID, ownerID, id, at)
}
