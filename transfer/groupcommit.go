package transfer

import (
	"context"
	"sync"
)

// groupCommit runs commit over the values of concurrent callers, group
// commit style: a caller that finds no commit under way commits its value
// at once; callers that come while a commit is under way join the next
// batch, which the first of them commits as soon as that commit ends, in
// one call, while the others wait for it. So no caller waits for a timer,
// a lone caller pays one commit, many concurrent callers share one, no
// caller commits more than its own batch, and every caller returns after
// a commit that began after it arrived, with that commit's error. The
// first value of a batch is its committer's own (the durability barrier
// syncs through the committer's descriptor, which stays open while it
// commits). The zero value is ready once commit is set.
//
// Used for the journal's item updates (journalq.go) and for the syncs that
// make small downloads durable (durable.go).
type groupCommit[T any] struct {
	commit func(ctx context.Context, batch []T) error

	mu       sync.Mutex
	cur      *commitBatch[T] // the batch being filled
	flushing bool            // a commit is under way; cur is empty when false
}

// commitBatch is the values of one commit and, once done is closed, the
// commit's outcome. lead is closed when the commit before it ended: the
// batch's first caller then commits it.
type commitBatch[T any] struct {
	vals []T
	lead chan struct{}
	done chan struct{}
	err  error
}

func newCommitBatch[T any]() *commitBatch[T] {
	return &commitBatch[T]{lead: make(chan struct{}), done: make(chan struct{})}
}

// do adds v to the next commit and returns that commit's error once it
// ended. It does not return early when ctx ends: a batch's first caller
// must commit it for the others.
func (g *groupCommit[T]) do(ctx context.Context, v T) error {
	g.mu.Lock()
	if g.cur == nil {
		g.cur = newCommitBatch[T]()
	}
	b := g.cur
	b.vals = append(b.vals, v)
	switch {
	case !g.flushing:
		g.flushing = true // no commit under way: commit b now
	case len(b.vals) > 1:
		g.mu.Unlock()
		<-b.done // b's first caller commits it
		return b.err
	default:
		g.mu.Unlock()
		<-b.lead // b's turn: the commit under way ended
		g.mu.Lock()
	}
	g.cur = newCommitBatch[T]()
	g.mu.Unlock()
	b.err = g.commit(ctx, b.vals)
	close(b.done)
	g.mu.Lock()
	if len(g.cur.vals) > 0 {
		close(g.cur.lead) // its first caller commits it next
	} else {
		g.flushing = false
	}
	g.mu.Unlock()
	return b.err
}
