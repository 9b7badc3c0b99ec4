package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/amove/amove-go/transfer"
)

// Journal returns the store as a transfer.Journal, so jobs survive an agent
// restart. A job is owned by the agent running it: several agents may share
// the database, but not a job.
func (s *Store) Journal() transfer.Journal { return journal{s} }

// journal keeps jobs in the transfers, transfer_items and transfer_parts
// tables (migration 0002).
type journal struct{ s *Store }

// planJSON is rec without parts and without the items' progress, which live
// in their own rows. Items is never null, so jsonb_array_length counts it.
func planJSON(rec *transfer.JobRecord) (json.RawMessage, error) {
	c := *rec
	c.Items = make([]transfer.ItemRecord, len(rec.Items))
	for i, it := range rec.Items {
		it.UploadID, it.Done, it.Verified, it.Failed, it.Parts = "", false, false, "", nil
		c.Items[i] = it
	}
	return json.Marshal(&c)
}

const upsertPart = `INSERT INTO transfer_parts (transfer_id, idx, number, size, etag, checksum, sum)
	VALUES ($1, $2, $3, $4, $5, $6, $7)
	ON CONFLICT (transfer_id, idx, number) DO UPDATE SET size = excluded.size, etag = excluded.etag, checksum = excluded.checksum, sum = excluded.sum`

func (j journal) Put(ctx context.Context, rec *transfer.JobRecord) error {
	plan, err := planJSON(rec)
	if err != nil {
		return err
	}
	return mapErr(pgx.BeginFunc(ctx, j.s.pool, func(tx pgx.Tx) error {
		var oldItems int
		err := tx.QueryRow(ctx, `SELECT jsonb_array_length(record -> 'items') FROM transfers WHERE id = $1 FOR UPDATE`,
			rec.ID).Scan(&oldItems)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err == nil && oldItems == len(rec.Items) {
			// The same plan again (the engine re-puts on every state
			// change): keep the stored items and their progress and
			// parts, which only UpdateItem and AddPart change.
			_, err := tx.Exec(ctx, `UPDATE transfers SET kind = $2, state = $3, error = $4,
				record = $5::jsonb || jsonb_build_object('items', record -> 'items'), created_at = $6, updated_at = $7
				WHERE id = $1`,
				rec.ID, string(rec.Kind), string(rec.State), rec.Error, plan, rec.Created, rec.Updated)
			return err
		}
		// A new job or a new plan: the old items go, with their parts
		// (ON DELETE CASCADE).
		if _, err := tx.Exec(ctx, `DELETE FROM transfer_items WHERE transfer_id = $1`, rec.ID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO transfers (id, kind, state, error, record, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, state = excluded.state, error = excluded.error,
				record = excluded.record, created_at = excluded.created_at, updated_at = excluded.updated_at`,
			rec.ID, string(rec.Kind), string(rec.State), rec.Error, plan, rec.Created, rec.Updated)
		if err != nil {
			return err
		}
		// COPY: a plan can have tens of thousands of items.
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"transfer_items"},
			[]string{"transfer_id", "idx", "upload_id", "done", "verified", "failed"},
			pgx.CopyFromSlice(len(rec.Items), func(i int) ([]any, error) {
				it := rec.Items[i]
				return []any{rec.ID, i, it.UploadID, it.Done, it.Verified, it.Failed}, nil
			}))
		if err != nil {
			return err
		}
		// Parts in a plan are rare (a job imported mid-way); an upsert
		// each keeps a part listed twice from failing the Put.
		var b pgx.Batch
		for i, it := range rec.Items {
			for _, p := range it.Parts {
				b.Queue(upsertPart, rec.ID, i, p.Number, p.Size, p.ETag, p.Checksum.String(), p.Sum.String())
			}
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, &b).Close()
	}))
}

// noItem explains why item index of job id does not exist: an unknown job
// (ErrUnknownJob) or an index outside its plan.
func (j journal) noItem(ctx context.Context, id string, index int) error {
	var one int
	err := j.s.pool.QueryRow(ctx, `SELECT 1 FROM transfers WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %s", transfer.ErrUnknownJob, id)
	case err != nil:
		return mapErr(err)
	}
	return fmt.Errorf("postgres: job %s has no item %d", id, index)
}

var errNoItem = errors.New("no item")

func (j journal) UpdateItem(ctx context.Context, id string, index int, u transfer.ItemUpdate) error {
	// Most updates keep the upload id (a small file done, a multipart
	// upload completed): then no part goes and one statement, one commit,
	// is enough. That matters for jobs of many small files.
	tag, err := j.s.pool.Exec(ctx, `UPDATE transfer_items SET done = $4, verified = $5, failed = $6
		WHERE transfer_id = $1 AND idx = $2 AND upload_id = $3`, id, index, u.UploadID, u.Done, u.Verified, u.Failed)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	err = pgx.BeginFunc(ctx, j.s.pool, func(tx pgx.Tx) error {
		// FOR UPDATE holds off AddPart on this item (its foreign key check
		// locks the same row) until the parts of an old upload are gone,
		// so none lands after the clear.
		var uploadID string
		err := tx.QueryRow(ctx, `SELECT upload_id FROM transfer_items WHERE transfer_id = $1 AND idx = $2 FOR UPDATE`,
			id, index).Scan(&uploadID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoItem
		}
		if err != nil {
			return err
		}
		if uploadID != u.UploadID {
			// A new upload starts from nothing.
			if _, err := tx.Exec(ctx, `DELETE FROM transfer_parts WHERE transfer_id = $1 AND idx = $2`, id, index); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE transfer_items SET upload_id = $3, done = $4, verified = $5, failed = $6
			WHERE transfer_id = $1 AND idx = $2`, id, index, u.UploadID, u.Done, u.Verified, u.Failed)
		return err
	})
	if errors.Is(err, errNoItem) {
		return j.noItem(ctx, id, index)
	}
	return mapErr(err)
}

// Batch implements transfer.JournalBatcher: the entries in one
// transaction, so the items of a job of many small files cost a commit per
// batch instead of one each. An update that keeps the item's upload id (a
// file done) is one statement; one that changes it locks the item and
// clears the old parts first, as UpdateItem does.
func (j journal) Batch(ctx context.Context, id string, entries []transfer.JournalEntry) error {
	if len(entries) == 1 {
		// Alone, an entry is one autocommitted statement (no BEGIN and
		// COMMIT round trips) on the common path.
		e := entries[0]
		if e.Part != nil {
			return j.AddPart(ctx, id, e.Index, *e.Part)
		}
		return j.UpdateItem(ctx, id, e.Index, e.Update)
	}
	bad := -1
	err := pgx.BeginFunc(ctx, j.s.pool, func(tx pgx.Tx) error {
		for _, e := range entries {
			err := batchEntry(ctx, tx, id, e)
			var pe *pgconn.PgError
			if errors.Is(err, pgx.ErrNoRows) || errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
				bad = e.Index
				return errNoItem
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errNoItem) {
		return j.noItem(ctx, id, bad)
	}
	return mapErr(err)
}

// batchEntry writes one entry of Batch; a missing item is pgx.ErrNoRows or
// a foreign key violation.
func batchEntry(ctx context.Context, tx pgx.Tx, id string, e transfer.JournalEntry) error {
	if p := e.Part; p != nil {
		_, err := tx.Exec(ctx, upsertPart, id, e.Index, p.Number, p.Size, p.ETag, p.Checksum.String(), p.Sum.String())
		return err
	}
	u := e.Update
	tag, err := tx.Exec(ctx, `UPDATE transfer_items SET done = $4, verified = $5, failed = $6
		WHERE transfer_id = $1 AND idx = $2 AND upload_id = $3`, id, e.Index, u.UploadID, u.Done, u.Verified, u.Failed)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	var uploadID string
	if err := tx.QueryRow(ctx, `SELECT upload_id FROM transfer_items WHERE transfer_id = $1 AND idx = $2 FOR UPDATE`,
		id, e.Index).Scan(&uploadID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM transfer_parts WHERE transfer_id = $1 AND idx = $2`, id, e.Index); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE transfer_items SET upload_id = $3, done = $4, verified = $5, failed = $6
		WHERE transfer_id = $1 AND idx = $2`, id, e.Index, u.UploadID, u.Done, u.Verified, u.Failed)
	return err
}

// AddPart is one statement: it runs for every part, and the foreign key
// tells a missing job or item apart from success without a prior read.
func (j journal) AddPart(ctx context.Context, id string, index int, p transfer.PartRecord) error {
	_, err := j.s.pool.Exec(ctx, upsertPart, id, index, p.Number, p.Size, p.ETag, p.Checksum.String(), p.Sum.String())
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
		return j.noItem(ctx, id, index)
	}
	return mapErr(err)
}

func (j journal) Get(ctx context.Context, id string) (*transfer.JobRecord, error) {
	var rec transfer.JobRecord
	// REPEATABLE READ: plan, items and parts from one snapshot, so they
	// agree even while AddPart goes on.
	err := pgx.BeginTxFunc(ctx, j.s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var plan []byte
		err := tx.QueryRow(ctx, `SELECT record FROM transfers WHERE id = $1`, id).Scan(&plan)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(plan, &rec); err != nil {
			return fmt.Errorf("job %s: %w", id, err)
		}
		rows, err := tx.Query(ctx, `SELECT idx, upload_id, done, verified, failed FROM transfer_items WHERE transfer_id = $1`, id)
		if err != nil {
			return err
		}
		var i int
		var u transfer.ItemUpdate
		_, err = pgx.ForEachRow(rows, []any{&i, &u.UploadID, &u.Done, &u.Verified, &u.Failed}, func() error {
			if i < 0 || i >= len(rec.Items) {
				return fmt.Errorf("job %s: item %d outside the plan", id, i)
			}
			it := &rec.Items[i]
			it.UploadID, it.Done, it.Verified, it.Failed = u.UploadID, u.Done, u.Verified, u.Failed
			return nil
		})
		if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT idx, number, size, etag, checksum, sum FROM transfer_parts
			WHERE transfer_id = $1 ORDER BY idx, number`, id)
		if err != nil {
			return err
		}
		var p transfer.PartRecord
		var checksum, sum string
		_, err = pgx.ForEachRow(rows, []any{&i, &p.Number, &p.Size, &p.ETag, &checksum, &sum}, func() error {
			if i < 0 || i >= len(rec.Items) {
				return fmt.Errorf("job %s: part of item %d outside the plan", id, i)
			}
			if err := errors.Join(p.Checksum.UnmarshalText([]byte(checksum)), p.Sum.UnmarshalText([]byte(sum))); err != nil {
				return fmt.Errorf("job %s: %w", id, err)
			}
			rec.Items[i].Parts = append(rec.Items[i].Parts, p)
			return nil
		})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", transfer.ErrUnknownJob, id)
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return &rec, nil
}

// List decodes the plans without their items (a job of many files would
// otherwise cost its whole plan here) and counts the items and parts in
// SQL. Item sizes live only in the plan, hence jsonb_array_elements.
func (j journal) List(ctx context.Context, f transfer.ListFilter) ([]transfer.JobSummary, error) {
	where, args := listWhere(f)
	rows, err := j.s.pool.Query(ctx, `WITH sel AS (SELECT id, record, created_at FROM transfers WHERE `+where+`),
		sizes AS (
			SELECT sel.id, (e.ord - 1)::int AS idx, (e.item ->> 'size')::bigint AS size
			FROM sel, jsonb_array_elements(sel.record -> 'items') WITH ORDINALITY AS e(item, ord)),
		items AS (
			SELECT sizes.id,
				sum(sizes.size) AS bytes_total,
				count(*) AS files_total,
				coalesce(sum(sizes.size) FILTER (WHERE i.done), 0) AS bytes_done,
				count(*) FILTER (WHERE i.done) AS files_done,
				count(*) FILTER (WHERE NOT i.done AND i.failed <> '') AS files_failed,
				bool_and(coalesce(i.verified, false)) AS verified
			FROM sizes LEFT JOIN transfer_items i ON i.transfer_id = sizes.id AND i.idx = sizes.idx
			GROUP BY sizes.id),
		parts AS (
			SELECT i.transfer_id AS id, sum(p.size) AS bytes
			FROM sel JOIN transfer_items i ON i.transfer_id = sel.id AND NOT i.done AND i.failed = ''
			JOIN transfer_parts p ON p.transfer_id = i.transfer_id AND p.idx = i.idx
			GROUP BY i.transfer_id)
		SELECT sel.record - 'items',
			coalesce(items.bytes_total, 0)::bigint, coalesce(items.files_total, 0)::bigint,
			(coalesce(items.bytes_done, 0) + coalesce(parts.bytes, 0))::bigint,
			coalesce(items.files_done, 0)::bigint, coalesce(items.files_failed, 0)::bigint, coalesce(items.verified, false)
		FROM sel LEFT JOIN items ON items.id = sel.id LEFT JOIN parts ON parts.id = sel.id
		ORDER BY sel.created_at, sel.id COLLATE "C"`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	var out []transfer.JobSummary
	var plan []byte
	var s transfer.JobSummary
	var total, done, failed int64
	_, err = pgx.ForEachRow(rows, []any{&plan, &s.BytesTotal, &total, &s.BytesDone, &done, &failed, &s.Verified}, func() error {
		var rec transfer.JobRecord
		if err := json.Unmarshal(plan, &rec); err != nil {
			return fmt.Errorf("transfers: %w", err)
		}
		s.JobRecord = rec
		s.FilesTotal, s.FilesDone, s.FilesFailed = int(total), int(done), int(failed)
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// listWhere is the condition on transfers that selects what f selects.
func listWhere(f transfer.ListFilter) (string, []any) {
	conds, args := []string{"true"}, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Owner != "" {
		conds = append(conds, `coalesce(record ->> 'owner', '') = `+arg(f.Owner))
	}
	if f.OwnerPrefix != "" {
		conds = append(conds, `starts_with(coalesce(record ->> 'owner', ''), `+arg(f.OwnerPrefix)+`)`)
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		conds = append(conds, `state = ANY(`+arg(states)+`)`)
	}
	if !f.UpdatedBefore.IsZero() {
		conds = append(conds, `updated_at < `+arg(f.UpdatedBefore))
	}
	return strings.Join(conds, " AND "), args
}

// Delete is a hard delete: items and parts go by ON DELETE CASCADE. Nobody
// audits the part lists of finished jobs.
func (j journal) Delete(ctx context.Context, id string) error {
	_, err := j.s.pool.Exec(ctx, `DELETE FROM transfers WHERE id = $1`, id)
	return mapErr(err)
}

// DeleteFinished is one statement: the state and time are checked on the
// rows it deletes.
func (j journal) DeleteFinished(ctx context.Context, t time.Time) (int, error) {
	tag, err := j.s.pool.Exec(ctx, `DELETE FROM transfers WHERE state = ANY($1) AND updated_at < $2`,
		[]string{string(transfer.Completed), string(transfer.Failed), string(transfer.Cancelled)}, t)
	if err != nil {
		return 0, mapErr(err)
	}
	return int(tag.RowsAffected()), nil
}
