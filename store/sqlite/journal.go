package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/amove/amove-go/transfer"
)

// Journal returns the store as a transfer.Journal, so jobs survive an agent
// restart. Writes go through the single writer connection like every other
// write: concurrent AddPart calls queue in Go and never see "database is
// locked".
func (s *Store) Journal() transfer.Journal { return journal{s} }

// journal keeps jobs in the transfers, transfer_items and transfer_parts
// tables (migration 0002).
type journal struct{ s *Store }

// planJSON is rec without parts and without the items' progress, which live
// in their own rows. Items is never null, so json_array_length counts it.
func planJSON(rec *transfer.JobRecord) ([]byte, error) {
	c := *rec
	c.Items = make([]transfer.ItemRecord, len(rec.Items))
	for i, it := range rec.Items {
		it.UploadID, it.Done, it.Verified, it.Failed, it.Parts = "", false, false, "", nil
		c.Items[i] = it
	}
	return json.Marshal(&c)
}

func (j journal) Put(ctx context.Context, rec *transfer.JobRecord) error {
	plan, err := planJSON(rec)
	if err != nil {
		return err
	}
	tx, err := j.s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	var oldItems int
	err = tx.QueryRowContext(ctx, `SELECT json_array_length(record, '$.items') FROM transfers WHERE id = ?`, rec.ID).Scan(&oldItems)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return mapErr(err)
	}
	if err == nil && oldItems == len(rec.Items) {
		// The same plan again (the engine re-puts on every state change):
		// keep the stored items and their progress and parts, which only
		// UpdateItem and AddPart change.
		_, err := tx.ExecContext(ctx, `UPDATE transfers SET kind = ?, state = ?, error = ?,
			record = json_set(?, '$.items', record -> '$.items'), created_at = ?, updated_at = ?
			WHERE id = ?`,
			string(rec.Kind), string(rec.State), rec.Error, string(plan), fmtTime(rec.Created), fmtTime(rec.Updated), rec.ID)
		if err != nil {
			return mapErr(err)
		}
		return mapErr(tx.Commit())
	}
	// A new job or a new plan: the old items go, with their parts
	// (ON DELETE CASCADE).
	if _, err := tx.ExecContext(ctx, `DELETE FROM transfer_items WHERE transfer_id = ?`, rec.ID); err != nil {
		return mapErr(err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO transfers (id, kind, state, error, record, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, state = excluded.state, error = excluded.error,
			record = excluded.record, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		rec.ID, string(rec.Kind), string(rec.State), rec.Error, string(plan), fmtTime(rec.Created), fmtTime(rec.Updated))
	if err != nil {
		return mapErr(err)
	}
	items, err := tx.PrepareContext(ctx, `INSERT INTO transfer_items (transfer_id, idx, upload_id, done, verified, failed)
		VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return mapErr(err)
	}
	defer items.Close()
	parts := tx.StmtContext(ctx, j.s.addPart)
	defer parts.Close()
	for i, it := range rec.Items {
		if _, err := items.ExecContext(ctx, rec.ID, i, it.UploadID, it.Done, it.Verified, it.Failed); err != nil {
			return mapErr(err)
		}
		for _, p := range it.Parts {
			if _, err := parts.ExecContext(ctx, rec.ID, i, p.Number, p.Size, p.ETag, p.Checksum.String(), p.Sum.String()); err != nil {
				return mapErr(err)
			}
		}
	}
	return mapErr(tx.Commit())
}

// noItem explains why item index of job id does not exist: an unknown job
// (ErrUnknownJob) or an index outside its plan.
func (j journal) noItem(ctx context.Context, id string, index int) error {
	var one int
	err := j.s.r.QueryRowContext(ctx, `SELECT 1 FROM transfers WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: %s", transfer.ErrUnknownJob, id)
	case err != nil:
		return mapErr(err)
	}
	return fmt.Errorf("sqlite: job %s has no item %d", id, index)
}

func (j journal) UpdateItem(ctx context.Context, id string, index int, u transfer.ItemUpdate) error {
	tx, err := j.s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	var uploadID string
	err = tx.QueryRowContext(ctx, `SELECT upload_id FROM transfer_items WHERE transfer_id = ? AND idx = ?`, id, index).Scan(&uploadID)
	if errors.Is(err, sql.ErrNoRows) {
		tx.Rollback()
		return j.noItem(ctx, id, index)
	}
	if err != nil {
		return mapErr(err)
	}
	if uploadID != u.UploadID {
		// A new upload starts from nothing.
		if _, err := tx.ExecContext(ctx, `DELETE FROM transfer_parts WHERE transfer_id = ? AND idx = ?`, id, index); err != nil {
			return mapErr(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE transfer_items SET upload_id = ?, done = ?, verified = ?, failed = ?
		WHERE transfer_id = ? AND idx = ?`, u.UploadID, u.Done, u.Verified, u.Failed, id, index); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// Batch implements transfer.JournalBatcher: the entries in one write
// transaction, so the items of a job of many small files cost a commit per
// batch instead of one each. An update that keeps the item's upload id (a
// file done) is one statement; one that changes it clears the old parts
// first, as UpdateItem does.
func (j journal) Batch(ctx context.Context, id string, entries []transfer.JournalEntry) error {
	tx, err := j.s.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	b := batch{s: j.s, tx: tx, id: id}
	defer b.close()
	for _, e := range entries {
		err := b.write(ctx, e)
		var se *sqlite.Error
		if errors.Is(err, sql.ErrNoRows) || errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			b.close()
			tx.Rollback()
			return j.noItem(ctx, id, e.Index)
		}
		if err != nil {
			return mapErr(err)
		}
	}
	return mapErr(tx.Commit())
}

// batch is one Batch transaction with the Store's two prepared statements
// bound to it (on first use).
type batch struct {
	s            *Store
	tx           *sql.Tx
	id           string
	part, update *sql.Stmt
}

func (b *batch) close() {
	for _, st := range []*sql.Stmt{b.part, b.update} {
		if st != nil {
			st.Close()
		}
	}
	b.part, b.update = nil, nil
}

// write writes one entry; a missing item is sql.ErrNoRows or a foreign key
// error.
func (b *batch) write(ctx context.Context, e transfer.JournalEntry) error {
	if p := e.Part; p != nil {
		if b.part == nil {
			b.part = b.tx.StmtContext(ctx, b.s.addPart)
		}
		_, err := b.part.ExecContext(ctx, b.id, e.Index, p.Number, p.Size, p.ETag, p.Checksum.String(), p.Sum.String())
		return err
	}
	if b.update == nil {
		b.update = b.tx.StmtContext(ctx, b.s.finishItem)
	}
	u := e.Update
	res, err := b.update.ExecContext(ctx, u.Done, u.Verified, u.Failed, b.id, e.Index, u.UploadID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	// A new upload id, or no such item: the item's row tells which.
	var one int
	if err := b.tx.QueryRowContext(ctx, `SELECT 1 FROM transfer_items WHERE transfer_id = ? AND idx = ?`, b.id, e.Index).Scan(&one); err != nil {
		return err
	}
	if _, err := b.tx.ExecContext(ctx, `DELETE FROM transfer_parts WHERE transfer_id = ? AND idx = ?`, b.id, e.Index); err != nil {
		return err
	}
	_, err = b.tx.ExecContext(ctx, `UPDATE transfer_items SET upload_id = ?, done = ?, verified = ?, failed = ?
		WHERE transfer_id = ? AND idx = ?`, u.UploadID, u.Done, u.Verified, u.Failed, b.id, e.Index)
	return err
}

// addPartSQL records a finished part, replacing an earlier record of it.
const addPartSQL = `INSERT INTO transfer_parts (transfer_id, idx, number, size, etag, checksum, sum)
	VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (transfer_id, idx, number) DO UPDATE SET size = excluded.size, etag = excluded.etag, checksum = excluded.checksum, sum = excluded.sum`

// prepareJournal prepares the statements every finished file or part runs.
// The writer pool has one connection, so database/sql keeps them prepared
// on it and a transaction's Stmt reuses them instead of parsing again.
func (s *Store) prepareJournal(ctx context.Context) error {
	var err error
	if s.addPart, err = s.w.PrepareContext(ctx, addPartSQL); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	// An item whose upload id is unchanged (a file done): the common case.
	s.finishItem, err = s.w.PrepareContext(ctx, `UPDATE transfer_items SET done = ?, verified = ?, failed = ?
		WHERE transfer_id = ? AND idx = ? AND upload_id = ?`)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// AddPart is one statement: it runs for every part, and the foreign key
// tells a missing job or item apart from success without a prior read.
func (j journal) AddPart(ctx context.Context, id string, index int, p transfer.PartRecord) error {
	_, err := j.s.addPart.ExecContext(ctx, id, index, p.Number, p.Size, p.ETag, p.Checksum.String(), p.Sum.String())
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		return j.noItem(ctx, id, index)
	}
	return mapErr(err)
}

func (j journal) Get(ctx context.Context, id string) (*transfer.JobRecord, error) {
	// One read transaction: in WAL mode it sees one snapshot, so the plan,
	// items and parts agree even while the writer goes on.
	tx, err := j.s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, mapErr(err)
	}
	defer tx.Rollback()
	var plan string
	err = tx.QueryRowContext(ctx, `SELECT record FROM transfers WHERE id = ?`, id).Scan(&plan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", transfer.ErrUnknownJob, id)
	}
	if err != nil {
		return nil, mapErr(err)
	}
	var rec transfer.JobRecord
	if err := json.Unmarshal([]byte(plan), &rec); err != nil {
		return nil, fmt.Errorf("sqlite: job %s: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT idx, upload_id, done, verified, failed FROM transfer_items WHERE transfer_id = ?`, id)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var u transfer.ItemUpdate
		if err := rows.Scan(&i, &u.UploadID, &u.Done, &u.Verified, &u.Failed); err != nil {
			return nil, mapErr(err)
		}
		if i < 0 || i >= len(rec.Items) {
			return nil, fmt.Errorf("sqlite: job %s: item %d outside the plan", id, i)
		}
		it := &rec.Items[i]
		it.UploadID, it.Done, it.Verified, it.Failed = u.UploadID, u.Done, u.Verified, u.Failed
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT idx, number, size, etag, checksum, sum FROM transfer_parts
		WHERE transfer_id = ? ORDER BY idx, number`, id)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var p transfer.PartRecord
		var sum, checksum string
		if err := rows.Scan(&i, &p.Number, &p.Size, &p.ETag, &checksum, &sum); err != nil {
			return nil, mapErr(err)
		}
		if err := errors.Join(p.Checksum.UnmarshalText([]byte(checksum)), p.Sum.UnmarshalText([]byte(sum))); err != nil {
			return nil, fmt.Errorf("sqlite: job %s: %w", id, err)
		}
		if i < 0 || i >= len(rec.Items) {
			return nil, fmt.Errorf("sqlite: job %s: part of item %d outside the plan", id, i)
		}
		rec.Items[i].Parts = append(rec.Items[i].Parts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return &rec, nil
}

// List decodes the plans without their items (a job of many files would
// otherwise cost its whole plan here) and counts the items and parts in
// SQL. Item sizes live only in the plan, hence json_each.
func (j journal) List(ctx context.Context, f transfer.ListFilter) ([]transfer.JobSummary, error) {
	where, args := listWhere(f)
	rows, err := j.s.r.QueryContext(ctx, `WITH sel AS (SELECT id, record, created_at FROM transfers WHERE `+where+`),
		sizes AS (
			SELECT sel.id, e.key AS idx, e.value ->> '$.size' AS size
			FROM sel, json_each(sel.record, '$.items') AS e),
		items AS (
			SELECT sizes.id,
				sum(sizes.size) AS bytes_total,
				count(*) AS files_total,
				coalesce(sum(CASE WHEN i.done THEN sizes.size ELSE 0 END), 0) AS bytes_done,
				coalesce(sum(i.done <> 0), 0) AS files_done,
				coalesce(sum(i.done = 0 AND i.failed <> ''), 0) AS files_failed,
				min(coalesce(i.verified, 0)) AS verified
			FROM sizes LEFT JOIN transfer_items i ON i.transfer_id = sizes.id AND i.idx = sizes.idx
			GROUP BY sizes.id),
		parts AS (
			SELECT i.transfer_id AS id, sum(p.size) AS bytes
			FROM sel JOIN transfer_items i ON i.transfer_id = sel.id AND i.done = 0 AND i.failed = ''
			JOIN transfer_parts p ON p.transfer_id = i.transfer_id AND p.idx = i.idx
			GROUP BY i.transfer_id)
		SELECT json_remove(sel.record, '$.items'),
			coalesce(items.bytes_total, 0), coalesce(items.files_total, 0),
			coalesce(items.bytes_done, 0) + coalesce(parts.bytes, 0),
			coalesce(items.files_done, 0), coalesce(items.files_failed, 0), coalesce(items.verified, 0)
		FROM sel LEFT JOIN items ON items.id = sel.id LEFT JOIN parts ON parts.id = sel.id
		ORDER BY sel.created_at, sel.id`, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []transfer.JobSummary
	for rows.Next() {
		var plan string
		var s transfer.JobSummary
		if err := rows.Scan(&plan, &s.BytesTotal, &s.FilesTotal, &s.BytesDone, &s.FilesDone, &s.FilesFailed, &s.Verified); err != nil {
			return nil, mapErr(err)
		}
		if err := json.Unmarshal([]byte(plan), &s.JobRecord); err != nil {
			return nil, fmt.Errorf("sqlite: transfers: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err)
	}
	return out, nil
}

// listWhere is the condition on transfers that selects what f selects.
func listWhere(f transfer.ListFilter) (string, []any) {
	conds, args := []string{"1"}, []any{}
	if f.Owner != "" {
		conds = append(conds, `coalesce(record ->> '$.owner', '') = ?`)
		args = append(args, f.Owner)
	}
	if f.OwnerPrefix != "" {
		conds = append(conds, `substr(coalesce(record ->> '$.owner', ''), 1, length(?)) = ?`)
		args = append(args, f.OwnerPrefix, f.OwnerPrefix)
	}
	if len(f.States) > 0 {
		conds = append(conds, `state IN (`+strings.Repeat(", ?", len(f.States))[2:]+`)`)
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	if !f.UpdatedBefore.IsZero() {
		conds = append(conds, `updated_at < ?`)
		args = append(args, fmtTime(f.UpdatedBefore))
	}
	return strings.Join(conds, " AND "), args
}

// Delete is a hard delete: items and parts go by ON DELETE CASCADE. Nobody
// audits the part lists of finished jobs.
func (j journal) Delete(ctx context.Context, id string) error {
	_, err := j.s.w.ExecContext(ctx, `DELETE FROM transfers WHERE id = ?`, id)
	return mapErr(err)
}

// DeleteFinished is one statement: the state and time are checked on the
// rows it deletes.
func (j journal) DeleteFinished(ctx context.Context, t time.Time) (int, error) {
	res, err := j.s.w.ExecContext(ctx, `DELETE FROM transfers WHERE state IN (?, ?, ?) AND updated_at < ?`,
		string(transfer.Completed), string(transfer.Failed), string(transfer.Cancelled), fmtTime(t))
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return int(n), mapErr(err)
}
