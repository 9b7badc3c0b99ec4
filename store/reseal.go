package store

import "context"

// Sealed is one sealed column of one row, with the row's tenant and owner:
// what the associated data of the value binds it to.
type Sealed struct {
	Table    string // "cloud_accounts" or "oauth_states"
	ID       string // the row's id (oauth_states: its key)
	Column   string // "access_key", "secret_key", "credentials_data", "verifier"
	TenantID string
	UserID   string
	Value    string // never empty
}

// Resealer is implemented by stores that can replace every sealed value at
// once, for key rotation. The SQLite and PostgreSQL stores implement it.
type Resealer interface {
	// Reseal calls fn for every non-empty sealed value of every row,
	// soft-deleted accounts included, and stores what fn returns, all in
	// one transaction that also keeps concurrent writers of those rows
	// waiting. An error from fn rolls everything back and is returned.
	Reseal(ctx context.Context, fn func(Sealed) (string, error)) error
}
