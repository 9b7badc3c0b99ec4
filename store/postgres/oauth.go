package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

// PutOAuthState implements store.OAuthStore.
func (s *Store) PutOAuthState(ctx context.Context, st store.OAuthState) error {
	return mapErr(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Abandoned authorizations would pile up otherwise.
		if _, err := tx.Exec(ctx, `DELETE FROM oauth_states WHERE expires_at < $1`, st.Created); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO oauth_states (key, tenant_id, user_id, cloud_type, redirect_url,
			cloud_name, shared, verifier, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			st.Key, st.TenantID, st.UserID, int(st.CloudType), st.RedirectURL, st.CloudName, st.Shared, st.Verifier,
			st.Created, st.Expires)
		return err
	}))
}

// TakeOAuthState implements store.OAuthStore.
func (s *Store) TakeOAuthState(ctx context.Context, key string) (store.OAuthState, error) {
	var st store.OAuthState
	var cloudType int
	err := s.pool.QueryRow(ctx, `DELETE FROM oauth_states WHERE key = $1 RETURNING key, tenant_id::text,
		user_id::text, cloud_type, redirect_url, cloud_name, shared, verifier, created_at, expires_at`, key).Scan(
		&st.Key, &st.TenantID, &st.UserID, &cloudType, &st.RedirectURL, &st.CloudName, &st.Shared, &st.Verifier,
		&st.Created, &st.Expires)
	if err != nil {
		return store.OAuthState{}, mapErr(err)
	}
	st.CloudType = provider.CloudType(cloudType)
	st.Created, st.Expires = st.Created.UTC(), st.Expires.UTC()
	return st, nil
}

// UpdateCredentials implements store.OAuthStore.
func (s *Store) UpdateCredentials(ctx context.Context, tenantID, id, credentialsData string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE cloud_accounts SET credentials_data = $1, updated_at = $2
		WHERE id = $3 AND tenant_id = $4 AND deleted_at IS NULL`, credentialsData, at, id, tenantID)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}
