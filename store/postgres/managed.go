package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/amove/amove-go/store"
)

// ManagedAccounts implements store.ManagedStore.
func (s *Store) ManagedAccounts(ctx context.Context, tenantID string) ([]store.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE managed_id <> '' AND deleted_at IS NULL AND ($1 = '' OR tenant_id::text = $1)
		ORDER BY id`, tenantID)
	if err != nil {
		return nil, mapErr(err)
	}
	return scanAccounts(rows)
}

// PutUsageSample implements store.ManagedStore.
func (s *Store) PutUsageSample(ctx context.Context, u store.UsageSample) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO usage_samples (tenant_id, account_id, tier, bytes, objects, sampled_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, u.TenantID, u.AccountID, u.Tier, u.Bytes, u.Objects, u.At)
	return mapErr(err)
}

func scanSamples(rows pgx.Rows, err error) ([]store.UsageSample, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.UsageSample
	for rows.Next() {
		var u store.UsageSample
		if err := rows.Scan(&u.TenantID, &u.AccountID, &u.Tier, &u.Bytes, &u.Objects, &u.At); err != nil {
			return nil, mapErr(err)
		}
		u.At = u.At.UTC()
		out = append(out, u)
	}
	return out, mapErr(rows.Err())
}

// UsageSamples implements store.ManagedStore.
func (s *Store) UsageSamples(ctx context.Context, tenantID string, since time.Time) ([]store.UsageSample, error) {
	return scanSamples(s.pool.Query(ctx, `SELECT tenant_id::text, account_id::text, tier, bytes, objects, sampled_at
		FROM usage_samples WHERE tenant_id = $1 AND sampled_at >= $2 ORDER BY sampled_at, account_id`, tenantID, since))
}

// LatestUsage implements store.ManagedStore.
func (s *Store) LatestUsage(ctx context.Context, tenantID string) ([]store.UsageSample, error) {
	// ctid breaks a tie of two samples taken at the same instant.
	return scanSamples(s.pool.Query(ctx, `SELECT DISTINCT ON (u.account_id) u.tenant_id::text, u.account_id::text,
		u.tier, u.bytes, u.objects, u.sampled_at
		FROM usage_samples u JOIN cloud_accounts a ON a.id = u.account_id AND a.deleted_at IS NULL
		WHERE u.tenant_id = $1 ORDER BY u.account_id, u.sampled_at DESC, u.ctid DESC`, tenantID))
}

// DeleteUsageSamples implements store.ManagedStore.
func (s *Store) DeleteUsageSamples(ctx context.Context, before time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM usage_samples WHERE sampled_at < $1`, before)
	return mapErr(err)
}
