package transfer

import (
	"context"
	"sync"
	"testing"
	"time"
)

// slowBatcher is a MemJournal whose commits take a while, as a database's
// do, and that counts them.
type slowBatcher struct {
	*MemJournal
	mu      sync.Mutex
	batches int
}

func (s *slowBatcher) Batch(ctx context.Context, id string, entries []JournalEntry) error {
	time.Sleep(5 * time.Millisecond)
	s.mu.Lock()
	s.batches++
	s.mu.Unlock()
	return s.MemJournal.Batch(ctx, id, entries)
}

// TestJournalQueueGroupCommit: writers that arrive while a commit is under
// way share the next one, and each returns only once its own entry is in
// the journal.
func TestJournalQueueGroupCommit(t *testing.T) {
	ctx := context.Background()
	const n = 64
	rec := &JobRecord{ID: "j", Items: make([]ItemRecord, n)}
	j := &slowBatcher{MemJournal: NewMemJournal()}
	if err := j.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	q := newJournalQueue(j, rec.ID)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := q.write(ctx, JournalEntry{Index: i, Update: ItemUpdate{Done: true}}); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
			got, err := j.Get(ctx, rec.ID)
			if err != nil || !got.Items[i].Done {
				t.Errorf("item %d not done in the journal when write returned: %v", i, err)
			}
		})
	}
	wg.Wait()
	if j.batches >= n/2 {
		t.Errorf("%d commits for %d concurrent writes: no group commit", j.batches, n)
	}
	t.Logf("%d commits for %d writes", j.batches, n)

	// A batch the journal refuses (an item outside the plan) is recorded
	// entry by entry: the good entries stay, the bad one is an error.
	q.gc.mu.Lock()
	q.gc.cur.vals = append(q.gc.cur.vals, JournalEntry{Index: n + 1, Update: ItemUpdate{Done: true}})
	q.gc.mu.Unlock()
	if err := q.write(ctx, JournalEntry{Index: 0, Update: ItemUpdate{Failed: "x"}}); err == nil {
		t.Error("a batch with an item outside the plan: no error")
	}
	if got, _ := j.Get(ctx, rec.ID); got.Items[0].Failed != "x" {
		t.Errorf("the good entry of a refused batch was lost: %+v", got.Items[0])
	}
}

// gatedBatcher holds every commit after the first until gate is closed.
type gatedBatcher struct {
	*MemJournal
	mu      sync.Mutex
	calls   int
	started chan struct{} // closed when the first commit started
	gate    chan struct{}
}

func (g *gatedBatcher) Batch(ctx context.Context, id string, entries []JournalEntry) error {
	g.mu.Lock()
	g.calls++
	n := g.calls
	g.mu.Unlock()
	if n == 1 {
		close(g.started)
		time.Sleep(20 * time.Millisecond) // the second writer queues meanwhile
	} else {
		<-g.gate
	}
	return g.MemJournal.Batch(ctx, id, entries)
}

// TestJournalQueueLeaderReturns: the writer that commits a batch returns
// once its own batch is committed; the next batch is committed by one of
// its own writers, so no worker is held committing for others.
func TestJournalQueueLeaderReturns(t *testing.T) {
	ctx := context.Background()
	j := &gatedBatcher{MemJournal: NewMemJournal(), started: make(chan struct{}), gate: make(chan struct{})}
	if err := j.Put(ctx, &JobRecord{ID: "j", Items: make([]ItemRecord, 2)}); err != nil {
		t.Fatal(err)
	}
	q := newJournalQueue(j, "j")
	first := make(chan error, 1)
	go func() { first <- q.write(ctx, JournalEntry{Index: 0, Update: ItemUpdate{Done: true}}) }()
	<-j.started
	second := make(chan error, 1)
	go func() { second <- q.write(ctx, JournalEntry{Index: 1, Update: ItemUpdate{Done: true}}) }()
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first writer is still committing the second writer's batch")
	}
	close(j.gate)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if got, _ := j.Get(ctx, "j"); !got.Items[0].Done || !got.Items[1].Done {
		t.Fatalf("items %+v", got.Items)
	}
}
