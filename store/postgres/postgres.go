// Package postgres is the shared store: PostgreSQL through pgx, for several
// agents working on the same users and accounts.
//
// Every write is a single statement, so READ COMMITTED is enough: the
// ownership check and the change happen in one UPDATE, and concurrent
// writers never see a serialization failure.
//
// Importing the package registers it with package store for DSNs of the
// form "postgres://..." and "postgresql://...":
//
//	import _ "github.com/amove/amove-go/store/postgres"
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/amove/amove-go/internal/jobs/jobspg"
	"github.com/amove/amove-go/internal/migrate"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serializes migrations when
// several agents start at once against the same database.
const migrationLock = 0x616d6f7665 // "amove"

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	jobs *jobspg.Backend // the job queue's database: the same pool
}

var _ store.Store = (*Store)(nil)

func init() {
	open := func(ctx context.Context, dsn string) (store.Store, error) { return Open(ctx, dsn) }
	store.Register("postgres", open)
	store.Register("postgresql", open)
}

// Open connects with a pgx DSN (postgres://...) and applies pending
// migrations. Unknown DSN parameters such as search_path become run-time
// parameters of every connection.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx errors can quote the DSN, password included: drop the detail.
		return nil, errors.New("postgres: invalid DSN")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, jobs: jobspg.New(pool)}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	steps, err := migrate.Steps(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if err := migrate.Up(ctx, pgTarget{tx}, steps); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		return nil
	})
}

// pgTarget is the PostgreSQL dialect of the migration runner; the advisory
// lock taken before it keeps other agents' migrators waiting.
type pgTarget struct{ tx pgx.Tx }

func (t pgTarget) Current(ctx context.Context) (int, error) {
	if _, err := t.tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return 0, err
	}
	var v int
	err := t.tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}

func (t pgTarget) Apply(ctx context.Context, s migrate.Step) error {
	// No arguments: pgx uses the simple protocol, which runs several
	// statements at once.
	if _, err := t.tx.Exec(ctx, s.SQL); err != nil {
		return err
	}
	_, err := t.tx.Exec(ctx, `INSERT INTO schema_version (version, applied_at) VALUES ($1, now())`, s.Version)
	return err
}

// mapErr turns constraint violations into the store sentinels. A malformed
// uuid can only name a row that does not exist.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", store.ErrDuplicate, pe.ConstraintName)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %s", store.ErrNotFound, pe.ConstraintName)
		case "22P02": // invalid_text_representation (bad uuid)
			return store.ErrNotFound
		}
	}
	return fmt.Errorf("postgres: %w", err)
}

// CreateTenant implements store.Store.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant, owner store.User) error {
	return mapErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`,
			t.ID, t.Name, t.Created); err != nil {
			return err
		}
		return insertUser(ctx, tx, owner)
	}))
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertUser(ctx context.Context, db execer, u store.User) error {
	_, err := db.Exec(ctx, `INSERT INTO users (id, tenant_id, username, email, role, password_hash, active, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ID, u.TenantID, u.Username, u.Email, int(u.Role), u.PasswordHash, u.Active, u.Created)
	return err
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return mapErr(insertUser(ctx, s.pool, u))
}

// SetUserActive implements store.Store.
func (s *Store) SetUserActive(ctx context.Context, tenantID, id string, active bool) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET active = $1 WHERE id = $2 AND tenant_id = $3`, active, id, tenantID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

const userCols = `id::text, tenant_id::text, username, email, role, password_hash, active, created_at`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	var role int
	if err := row.Scan(&u.ID, &u.TenantID, &u.Username, &u.Email, &role, &u.PasswordHash, &u.Active, &u.Created); err != nil {
		return store.User{}, mapErr(err)
	}
	u.Role = store.Role(role)
	u.Created = u.Created.UTC()
	return u, nil
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

// GetUserByUsername implements store.Store.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
}

// InsertAccount implements store.Store.
func (s *Store) InsertAccount(ctx context.Context, a store.Account) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cloud_accounts (id, tenant_id, user_id, cloud_type, name, region, endpoint,
		service_url, access_key, secret_key, credentials_data, shared, active, internal_storage, storage_tier, created_at, updated_at,
		driver, managed_family, managed_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		a.ID, a.TenantID, a.UserID, int(a.CloudType), a.Name, a.Region, a.Endpoint, a.ServiceURL,
		a.AccessKey, a.SecretKey, a.CredentialsData, a.Shared, a.Active, a.InternalStorage, a.StorageTier,
		a.Created, a.Updated, a.Driver, a.ManagedFamily, a.ManagedID)
	return mapErr(err)
}

const accountCols = `id::text, tenant_id::text, user_id::text, cloud_type, name, region, endpoint, service_url, access_key,
	secret_key, credentials_data, shared, active, internal_storage, storage_tier, created_at, updated_at, driver,
	managed_family, managed_id`

func scanAccount(row pgx.Row) (store.Account, error) {
	var a store.Account
	var cloudType int
	err := row.Scan(&a.ID, &a.TenantID, &a.UserID, &cloudType, &a.Name, &a.Region, &a.Endpoint, &a.ServiceURL,
		&a.AccessKey, &a.SecretKey, &a.CredentialsData, &a.Shared, &a.Active, &a.InternalStorage, &a.StorageTier,
		&a.Created, &a.Updated, &a.Driver, &a.ManagedFamily, &a.ManagedID)
	if err != nil {
		return store.Account{}, mapErr(err)
	}
	a.CloudType = provider.CloudType(cloudType)
	a.Created, a.Updated = a.Created.UTC(), a.Updated.UTC()
	return a, nil
}

// GetAccount implements store.Store.
func (s *Store) GetAccount(ctx context.Context, tenantID, id string) (store.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, id, tenantID))
}

// ListAccounts implements store.Store.
func (s *Store) ListAccounts(ctx context.Context, q store.AccountQuery) ([]store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE tenant_id = $1 AND deleted_at IS NULL AND active AND (user_id = $2 OR ($3 AND shared))
		ORDER BY name, id`, q.TenantID, q.UserID, q.IncludeShared)
	if err != nil {
		return nil, mapErr(err)
	}
	return scanAccounts(rows)
}

// scanAccounts reads every row of an accountCols query and closes rows.
func scanAccounts(rows pgx.Rows) ([]store.Account, error) {
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

// ownerUpdate runs an UPDATE restricted to a live account of its owner, so
// the ownership check and the change are one atomic statement.
func (s *Store) ownerUpdate(ctx context.Context, set string, arg any, tenantID, ownerID, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE cloud_accounts SET `+set+`, updated_at = $2
		WHERE id = $3 AND tenant_id = $4 AND user_id = $5 AND deleted_at IS NULL`,
		arg, at, id, tenantID, ownerID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// SetShared implements store.Store.
func (s *Store) SetShared(ctx context.Context, tenantID, ownerID, id string, shared bool, at time.Time) error {
	return s.ownerUpdate(ctx, "shared = $1", shared, tenantID, ownerID, id, at)
}

// DeleteAccount implements store.Store.
func (s *Store) DeleteAccount(ctx context.Context, tenantID, ownerID, id string, at time.Time) error {
	return s.ownerUpdate(ctx, "deleted_at = $1", at, tenantID, ownerID, id, at)
}
