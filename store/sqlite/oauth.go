package sqlite

import (
	"context"
	"time"

	"github.com/amove/amove-go/store"
)

// PutOAuthState implements store.OAuthStore.
func (s *Store) PutOAuthState(ctx context.Context, st store.OAuthState) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	// Abandoned authorizations would pile up otherwise.
	if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < ?`, fmtTime(st.Created)); err != nil {
		return mapErr(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO oauth_states (key, tenant_id, user_id, cloud_type, redirect_url,
		cloud_name, shared, verifier, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		st.Key, st.TenantID, st.UserID, int(st.CloudType), st.RedirectURL, st.CloudName, st.Shared, st.Verifier,
		fmtTime(st.Created), fmtTime(st.Expires))
	if err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// TakeOAuthState implements store.OAuthStore.
func (s *Store) TakeOAuthState(ctx context.Context, key string) (store.OAuthState, error) {
	var st store.OAuthState
	var created, expires string
	err := s.w.QueryRowContext(ctx, `DELETE FROM oauth_states WHERE key = ? RETURNING key, tenant_id, user_id,
		cloud_type, redirect_url, cloud_name, shared, verifier, created_at, expires_at`, key).Scan(
		&st.Key, &st.TenantID, &st.UserID, &st.CloudType, &st.RedirectURL, &st.CloudName, &st.Shared, &st.Verifier,
		&created, &expires)
	if err != nil {
		return store.OAuthState{}, mapErr(err)
	}
	if st.Created, err = parseTime(created); err != nil {
		return store.OAuthState{}, err
	}
	if st.Expires, err = parseTime(expires); err != nil {
		return store.OAuthState{}, err
	}
	return st, nil
}

// UpdateCredentials implements store.OAuthStore.
func (s *Store) UpdateCredentials(ctx context.Context, tenantID, id, credentialsData string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE cloud_accounts SET credentials_data = ?, updated_at = ?
		WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL`, credentialsData, fmtTime(at), id, tenantID)
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
