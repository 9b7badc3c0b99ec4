package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/amove/amove-go/store"
)

// ManagedAccounts implements store.ManagedStore.
func (s *Store) ManagedAccounts(ctx context.Context, tenantID string) ([]store.Account, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+accountCols+` FROM cloud_accounts
		WHERE managed_id <> '' AND deleted_at IS NULL AND (? = '' OR tenant_id = ?)
		ORDER BY id`, tenantID, tenantID)
	if err != nil {
		return nil, mapErr(err)
	}
	return scanAccounts(rows)
}

// PutUsageSample implements store.ManagedStore.
func (s *Store) PutUsageSample(ctx context.Context, u store.UsageSample) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO usage_samples (tenant_id, account_id, tier, bytes, objects, sampled_at)
		VALUES (?, ?, ?, ?, ?, ?)`, u.TenantID, u.AccountID, u.Tier, u.Bytes, u.Objects, fmtTime(u.At))
	return mapErr(err)
}

const sampleCols = `tenant_id, account_id, tier, bytes, objects, sampled_at`

func scanSamples(rows *sql.Rows, err error) ([]store.UsageSample, error) {
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.UsageSample
	for rows.Next() {
		var u store.UsageSample
		var at string
		if err := rows.Scan(&u.TenantID, &u.AccountID, &u.Tier, &u.Bytes, &u.Objects, &at); err != nil {
			return nil, mapErr(err)
		}
		if u.At, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err())
}

// UsageSamples implements store.ManagedStore.
func (s *Store) UsageSamples(ctx context.Context, tenantID string, since time.Time) ([]store.UsageSample, error) {
	return scanSamples(s.r.QueryContext(ctx, `SELECT `+sampleCols+` FROM usage_samples
		WHERE tenant_id = ? AND sampled_at >= ? ORDER BY sampled_at, account_id`, tenantID, fmtTime(since)))
}

// LatestUsage implements store.ManagedStore.
func (s *Store) LatestUsage(ctx context.Context, tenantID string) ([]store.UsageSample, error) {
	// The newest sample per account; rowid breaks a tie of two samples
	// taken at the same instant in favour of the later insert.
	return scanSamples(s.r.QueryContext(ctx, `SELECT u.tenant_id, u.account_id, u.tier, u.bytes, u.objects, u.sampled_at
		FROM usage_samples u JOIN cloud_accounts a ON a.id = u.account_id AND a.deleted_at IS NULL
		WHERE u.tenant_id = ? AND u.rowid = (SELECT l.rowid FROM usage_samples l WHERE l.account_id = u.account_id
			ORDER BY l.sampled_at DESC, l.rowid DESC LIMIT 1)
		ORDER BY u.account_id`, tenantID))
}

// DeleteUsageSamples implements store.ManagedStore.
func (s *Store) DeleteUsageSamples(ctx context.Context, before time.Time) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM usage_samples WHERE sampled_at < ?`, fmtTime(before))
	return mapErr(err)
}
