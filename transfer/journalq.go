package transfer

import (
	"context"
	"sync"
)

// journalQueue writes a job's item updates and parts through a
// JournalBatcher with group commit: a writer that finds no commit under way
// commits its entry at once, and keeps committing, each time in one
// transaction, whatever other writers queued meanwhile; they wait for the
// commit that holds their entry. So no entry waits for a timer, a lone
// writer pays one commit as before, and sixteen workers finishing small
// files share one commit instead of queueing for sixteen.
type journalQueue struct {
	b  JournalBatcher
	j  Journal // per-entry fallback when a batch fails
	id string

	mu       sync.Mutex
	cur      *journalBatch // the batch being filled
	flushing bool          // a writer is committing batches
}

// journalBatch is the entries of one commit and, once done is closed, the
// commit's outcome.
type journalBatch struct {
	entries []JournalEntry
	done    chan struct{}
	err     error
}

func newJournalQueue(j Journal, id string) *journalQueue {
	b, ok := j.(JournalBatcher)
	if !ok {
		return nil
	}
	return &journalQueue{b: b, j: j, id: id, cur: &journalBatch{done: make(chan struct{})}}
}

// write records e and returns once it is committed.
func (q *journalQueue) write(ctx context.Context, e JournalEntry) error {
	q.mu.Lock()
	mine := q.cur
	mine.entries = append(mine.entries, e)
	if q.flushing {
		q.mu.Unlock()
		<-mine.done
		return mine.err
	}
	q.flushing = true
	for len(q.cur.entries) > 0 {
		b := q.cur
		q.cur = &journalBatch{done: make(chan struct{})}
		q.mu.Unlock()
		b.err = q.commit(ctx, b.entries)
		close(b.done)
		q.mu.Lock()
	}
	q.flushing = false
	q.mu.Unlock()
	return mine.err // mine was the first batch committed above
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
