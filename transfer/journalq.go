package transfer

import "context"

// journalQueue writes a job's item updates and parts through a
// JournalBatcher with group commit (groupCommit): sixteen workers
// finishing small files share one transaction instead of queueing for
// sixteen, and a lone writer pays one commit as before.
type journalQueue struct {
	b  JournalBatcher
	j  Journal // per-entry fallback when a batch fails
	id string
	gc groupCommit[JournalEntry]
}

func newJournalQueue(j Journal, id string) *journalQueue {
	b, ok := j.(JournalBatcher)
	if !ok {
		return nil
	}
	q := &journalQueue{b: b, j: j, id: id}
	q.gc.commit = q.commit
	return q
}

// write records e and returns once it is committed.
func (q *journalQueue) write(ctx context.Context, e JournalEntry) error {
	return q.gc.do(ctx, e)
}

// commit records entries in one transaction. Should that fail, each entry
// is recorded on its own, so one bad entry (an item the journal no longer
// has) costs no other its record; the first error is returned.
func (q *journalQueue) commit(ctx context.Context, entries []JournalEntry) error {
	err := q.b.Batch(ctx, q.id, entries)
	if err == nil || len(entries) == 1 {
		return err
	}
	err = nil
	for _, e := range entries {
		var eerr error
		if e.Part != nil {
			eerr = q.j.AddPart(ctx, q.id, e.Index, *e.Part)
		} else {
			eerr = q.j.UpdateItem(ctx, q.id, e.Index, e.Update)
		}
		if err == nil {
			err = eerr
		}
	}
	return err
}
