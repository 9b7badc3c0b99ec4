package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

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

// Reseal runs in one transaction; SELECT ... FOR UPDATE locks the rows, so
// a concurrent write (an OAuth token refreshed by another agent) waits and
// then applies to the resealed row instead of being overwritten by it.
func (s *Store) Reseal(ctx context.Context, fn func(store.Sealed) (string, error)) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, t := range sealedColumns {
			rows, err := tx.Query(ctx, `SELECT `+t.id+`::text, `+t.tenant+`::text, `+t.user+`::text, `+
				strings.Join(t.cols, ", ")+` FROM `+t.table+` ORDER BY `+t.id+` FOR UPDATE`)
			if err != nil {
				return mapErr(err)
			}
			type row struct {
				id, tenant, user string
				vals             []string
			}
			var all []row
			for rows.Next() {
				r := row{vals: make([]string, len(t.cols))}
				dest := []any{&r.id, &r.tenant, &r.user}
				for i := range r.vals {
					dest = append(dest, &r.vals[i])
				}
				if err := rows.Scan(dest...); err != nil {
					rows.Close()
					return mapErr(err)
				}
				all = append(all, r)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return mapErr(err)
			}
			for _, r := range all {
				for i, col := range t.cols {
					if r.vals[i] == "" {
						continue
					}
					nv, err := fn(store.Sealed{Table: t.table, ID: r.id, Column: col, TenantID: r.tenant, UserID: r.user, Value: r.vals[i]})
					if err != nil {
						return err
					}
					if nv == r.vals[i] {
						continue
					}
					if _, err := tx.Exec(ctx, `UPDATE `+t.table+` SET `+col+` = $1 WHERE `+t.id+` = $2`, nv, r.id); err != nil {
						return mapErr(err)
					}
				}
			}
		}
		return nil
	})
}
