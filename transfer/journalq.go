package transfer

import (
	"context"
	"sync"
)

// journalQueue writes a job's item updates and parts through a
// JournalBatcher with group commit: a writer that finds no commit under way
// commits its entry at once; writers that come while a commit is under way
// join the next batch, which the first of them commits as soon as that
// commit ends, in one transaction, while the others wait for it. So no
// entry waits for a timer, a lone writer pays one commit as before,
// sixteen workers finishing small files share one commit instead of
// queueing for sixteen, and no writer commits more than its own batch.
type journalQueue struct {
	b  JournalBatcher
	j  Journal // per-entry fallback when a batch fails
	id string

	mu       sync.Mutex
	cur      *journalBatch // the batch being filled
	flushing bool          // a commit is under way; cur is empty when false
}

// journalBatch is the entries of one commit and, once done is closed, the
// commit's outcome. lead is closed when the commit before it ended: the
// batch's first writer then commits it.
type journalBatch struct {
	entries []JournalEntry
	lead    chan struct{}
	done    chan struct{}
	err     error
}

func newBatch() *journalBatch {
	return &journalBatch{lead: make(chan struct{}), done: make(chan struct{})}
}

func newJournalQueue(j Journal, id string) *journalQueue {
	b, ok := j.(JournalBatcher)
	if !ok {
		return nil
	}
	return &journalQueue{b: b, j: j, id: id, cur: newBatch()}
}

// write records e and returns once it is committed.
func (q *journalQueue) write(ctx context.Context, e JournalEntry) error {
	q.mu.Lock()
	b := q.cur
	b.entries = append(b.entries, e)
	switch {
	case !q.flushing:
		q.flushing = true // no commit under way: commit b now
	case len(b.entries) > 1:
		q.mu.Unlock()
		<-b.done // b's first writer commits it
		return b.err
	default:
		q.mu.Unlock()
		<-b.lead // b's turn: the commit under way ended
		q.mu.Lock()
	}
	q.cur = newBatch()
	q.mu.Unlock()
	b.err = q.commit(ctx, b.entries)
	close(b.done)
	q.mu.Lock()
	if len(q.cur.entries) > 0 {
		close(q.cur.lead) // its first writer commits it next
	} else {
		q.flushing = false
	}
	q.mu.Unlock()
	return b.err
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
