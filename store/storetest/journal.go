package storetest

import (
	"context"
	"testing"

	"github.com/amove/amove-go/store"
	"github.com/amove/amove-go/transfer"
	"github.com/amove/amove-go/transfer/journaltest"
)

// RunJournal runs the transfer.Journal conformance suite on the store's
// Journal. open returns a fresh, empty store for each subtest; RunJournal
// closes it.
func RunJournal(t *testing.T, open func(t *testing.T) store.Store) {
	journaltest.Run(t, func(t *testing.T) transfer.Journal {
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s.Journal()
	})
}

// JournalRestart stands for an agent restart: a job recorded through one
// store is read back, complete, through another store on the same
// database. reopen returns a new store on that database at every call;
// JournalRestart closes it.
func JournalRestart(t *testing.T, reopen func(t *testing.T) store.Store) {
	ctx := context.Background()
	rec := journaltest.Plan("job-restart", 3)
	s := reopen(t)
	j := s.Journal()
	if err := j.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	steps := []error{
		j.UpdateItem(ctx, rec.ID, 0, transfer.ItemUpdate{Done: true, Verified: true}),
		j.UpdateItem(ctx, rec.ID, 1, transfer.ItemUpdate{UploadID: "u1"}),
		j.AddPart(ctx, rec.ID, 1, journaltest.Part(1, "u1")),
		j.AddPart(ctx, rec.ID, 1, journaltest.Part(2, "u1")),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Items[0].Done, rec.Items[0].Verified = true, true
	rec.Items[1].UploadID = "u1"
	rec.Items[1].Parts = []transfer.PartRecord{journaltest.Part(1, "u1"), journaltest.Part(2, "u1")}

	s = reopen(t)
	defer s.Close()
	got, err := s.Journal().Get(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	journaltest.Equal(t, "Get after reopen", got, rec)
	list, err := s.Journal().List(ctx, transfer.ListFilter{})
	if err != nil || len(list) != 1 || list[0].ID != rec.ID || list[0].State != rec.State {
		t.Fatalf("List after reopen = %+v, %v", list, err)
	}
}
