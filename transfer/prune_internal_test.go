package transfer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// TestPruneFinished: finished jobs leave memory after finishedInMemory, and
// Wait and Lookup still answer for them from the journal.
func TestPruneFinished(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(ctx, "b", ""); err != nil {
		t.Fatal(err)
	}
	e := New(Options{Open: func(context.Context, string) (provider.Storage, error) { return mem, nil }})
	defer e.Close()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := e.Start(ctx, Request{Kind: Upload, LocalPath: p, Dest: Location{Account: "m", Bucket: "b", Key: "f"}})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := e.Wait(ctx, id); err != nil || st.State != Completed {
		t.Fatalf("Wait: %+v %v", st, err)
	}
	if n := e.pruneFinished(time.Now().Add(-time.Hour)); n != 0 {
		t.Fatalf("pruned %d jobs finished just now", n)
	}
	if n := e.pruneFinished(time.Now().Add(time.Second)); n != 1 {
		t.Fatalf("pruned %d jobs, want 1", n)
	}
	if _, err := e.job(id); err == nil {
		t.Fatal("the finished job is still in memory")
	}
	st, err := e.Wait(ctx, id)
	if err != nil || st.State != Completed || st.BytesDone != 5 {
		t.Fatalf("Wait from the journal: %+v %v", st, err)
	}
	if st, err := e.Lookup(ctx, id); err != nil || st.State != Completed {
		t.Fatalf("Lookup from the journal: %+v %v", st, err)
	}
}
