package transfer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/amove/amove-go/transfer"
	"github.com/amove/amove-go/transfer/journaltest"
)

func TestMemJournal(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) transfer.Journal { return transfer.NewMemJournal() })
}

func TestFileJournal(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) transfer.Journal { return openFileJournal(t, t.TempDir()) })
}

func openFileJournal(t *testing.T, dir string) *transfer.FileJournal {
	t.Helper()
	j, err := transfer.NewFileJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// fileJournalJob writes a job with progress to a FileJournal in dir, closes
// it, and returns what Get must return.
func fileJournalJob(t *testing.T, dir string) *transfer.JobRecord {
	t.Helper()
	ctx := context.Background()
	j := openFileJournal(t, dir)
	rec := journaltest.Plan("job-restart", 3)
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
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	rec.Items[0].Done, rec.Items[0].Verified = true, true
	rec.Items[1].UploadID = "u1"
	rec.Items[1].Parts = []transfer.PartRecord{journaltest.Part(1, "u1"), journaltest.Part(2, "u1")}
	return rec
}

// TestFileJournalReopen stands for an agent restart: a new FileJournal on
// the same directory returns everything the old one recorded.
func TestFileJournalReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	want := fileJournalJob(t, dir)
	j := openFileJournal(t, dir)
	got, err := j.Get(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	journaltest.Equal(t, "Get after reopen", got, want)
	list, err := j.List(ctx, transfer.ListFilter{})
	if err != nil || len(list) != 1 || list[0].ID != want.ID || list[0].State != want.State {
		t.Fatalf("List after reopen = %+v, %v", list, err)
	}
	// The reopened journal goes on where the old one stopped.
	if err := j.AddPart(ctx, want.ID, 1, journaltest.Part(3, "u1")); err != nil {
		t.Fatal(err)
	}
	want.Items[1].Parts = append(want.Items[1].Parts, journaltest.Part(3, "u1"))
	got, err = j.Get(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	journaltest.Equal(t, "Get after AddPart", got, want)
}

// TestFileJournalTornLine: a crash in the middle of an append leaves half a
// line; Get ignores it, and lines appended after the restart are not lost
// behind it.
func TestFileJournalTornLine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	want := fileJournalJob(t, dir)
	f, err := os.OpenFile(filepath.Join(dir, want.ID+".log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"i":1,"p":{"n":3,"si`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	j := openFileJournal(t, dir)
	got, err := j.Get(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	journaltest.Equal(t, "Get with a torn last line", got, want)

	if err := j.AddPart(ctx, want.ID, 1, journaltest.Part(4, "u1")); err != nil {
		t.Fatal(err)
	}
	want.Items[1].Parts = append(want.Items[1].Parts, journaltest.Part(4, "u1"))
	got, err = j.Get(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	journaltest.Equal(t, "Get after an append behind the torn line", got, want)
}
