package sqlite

import (
	"context"
	"database/sql"

	"github.com/amove/amove-go/store"
)

var _ store.Resealer = (*Store)(nil)

// sealedColumns are the tables holding sealed values: the id, tenant and
// owner columns, then the sealed ones.
var sealedColumns = []struct {
	table, id, tenant, user string
	cols                    []string
}{
	{"cloud_accounts", "id", "tenant_id", "user_id", []string{"access_key", "secret_key", "credentials_data"}},
	{"oauth_states", "key", "tenant_id", "user_id", []string{"verifier"}},
}

// Reseal runs in one write transaction: BEGIN IMMEDIATE holds the write
// lock throughout, so no other writer changes a row between its read and
// its update.
func (s *Store) Reseal(ctx context.Context, fn func(store.Sealed) (string, error)) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	for _, t := range sealedColumns {
		for _, col := range t.cols {
			vals, err := readSealed(ctx, tx, t.table, t.id, t.tenant, t.user, col)
			if err != nil {
				return err
			}
			for _, v := range vals {
				nv, err := fn(v)
				if err != nil {
					return err
				}
				if nv == v.Value {
					continue
				}
				if _, err := tx.ExecContext(ctx, `UPDATE `+t.table+` SET `+col+` = ? WHERE `+t.id+` = ?`, nv, v.ID); err != nil {
					return mapErr(err)
				}
			}
		}
	}
	return mapErr(tx.Commit())
}

// readSealed reads a whole column before any update: the transaction has
// one connection, which a rows iteration would hold.
func readSealed(ctx context.Context, tx *sql.Tx, table, id, tenant, user, col string) ([]store.Sealed, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+id+`, `+tenant+`, `+user+`, `+col+` FROM `+table+
		` WHERE `+col+` <> '' ORDER BY `+id)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []store.Sealed
	for rows.Next() {
		v := store.Sealed{Table: table, Column: col}
		if err := rows.Scan(&v.ID, &v.TenantID, &v.UserID, &v.Value); err != nil {
			return nil, mapErr(err)
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}
