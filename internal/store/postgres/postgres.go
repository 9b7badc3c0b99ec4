// Package postgres is the shared store: PostgreSQL through pgx, for several
// agents working on the same users and accounts.
//
// Every write is a single statement, so READ COMMITTED is enough: the
// ownership check and the change happen in one UPDATE, and concurrent
// writers never see a serialization failure.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/amove/amove-go/internal/store"
	"github.com/amove/amove-go/provider"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key that serializes migrations when
// several agents start at once against the same database.
const migrationLock = 0x616d6f7665 // "amove"

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

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
	s := &Store{pool: pool}
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
		files, err := fs.Glob(migrations, "migrations/*.sql")
		if err != nil {
			return err
		}
		sort.Strings(files)
		for _, f := range files {
			v, err := strconv.Atoi(strings.SplitN(filepath.Base(f), "_", 2)[0])
			if err != nil {
				return fmt.Errorf("postgres: migration %s: bad name", f)
			}
			if v <= current {
				continue
			}
			body, err := migrations.ReadFile(f)
			if err != nil {
				return err
			}
			// No arguments: pgx uses the simple protocol, which runs
			// several statements at once.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", f, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version, applied_at) VALUES ($1, now())`, v); err != nil {
				return fmt.Errorf("postgres: migration %s: %w", f, err)
			}
		}
		return nil
	})
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

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return mapErr(insertUser(ctx, s.pool, u))
}

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

func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
}

func (s *Store) InsertAccount(ctx context.Context, a store.Account) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cloud_accounts (id, tenant_id, user_id, cloud_type, name, region, endpoint,
		service_url, access_key, secret_key, credentials_data, shared, active, internal_storage, storage_tier, created_at, updated_at,
		driver)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		a.ID, a.TenantID, a.UserID, int(a.CloudType), a.Name, a.Region, a.Endpoint, a.ServiceURL,
		a.AccessKey, a.SecretKey, a.CredentialsData, a.Shared, a.Active, a.InternalStorage, a.StorageTier,
		a.Created, a.Updated, a.Driver)
	return mapErr(err)
}

const accountCols = `id::text, tenant_id::text, user_id::text, cloud_type, name, region, endpoint, service_url, access_key,
	secret_key, credentials_data, shared, active, internal_storage, storage_tier, created_at, updated_at, driver`

func scanAccount(row pgx.Row) (store.Account, error) {
	var a store.Account
	var cloudType int
	err := row.Scan(&a.ID, &a.TenantID, &a.UserID, &cloudType, &a.Name, &a.Region, &a.Endpoint, &a.ServiceURL,
		&a.AccessKey, &a.SecretKey, &a.CredentialsData, &a.Shared, &a.Active, &a.InternalStorage, &a.StorageTier,
		&a.Created, &a.Updated, &a.Driver)
	if err != nil {
		return store.Account{}, mapErr(err)
	}
	a.CloudType = provider.CloudType(cloudType)
	a.Created, a.Updated = a.Created.UTC(), a.Updated.UTC()
	return a, nil
}

func (s *Store) GetAccount(ctx context.Context, tenantID, id string) (store.Account, error) {
	return scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, id, tenantID))
}

func (s *Store) ListAccounts(ctx context.Context, q store.AccountQuery) ([]store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE tenant_id = $1 AND deleted_at IS NULL AND active AND (user_id = $2 OR ($3 AND shared))
		ORDER BY name, id`, q.TenantID, q.UserID, q.IncludeShared)
	if err != nil {
		return nil, mapErr(err)
	}
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

func (s *Store) SetShared(ctx context.Context, tenantID, ownerID, id string, shared bool, at time.Time) error {
	return s.ownerUpdate(ctx, "shared = $1", shared, tenantID, ownerID, id, at)
}

func (s *Store) DeleteAccount(ctx context.Context, tenantID, ownerID, id string, at time.Time) error {
	return s.ownerUpdate(ctx, "deleted_at = $1", at, tenantID, ownerID, id, at)
}
