package transfer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestMayRun: a job that MayRun refuses stays paused with the reason, on
// start and on resume, and writes nothing; once allowed, a resume runs it.
func TestMayRun(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	var allowed atomic.Bool
	revoked := errors.New("the owner lost access")
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open, MayRun: func(_ context.Context, st transfer.Status) error {
		if st.Owner != "t/alice" {
			t.Errorf("MayRun got owner %q", st.Owner)
		}
		if !allowed.Load() {
			return revoked
		}
		return nil
	}})
	defer e.Close()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: p, Owner: "t/alice", Dest: transfer.Location{Account: "m", Bucket: "b", Key: "f"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if i > 0 {
			if err := e.Resume(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		st := wait(t, e, id)
		if st.State != transfer.Paused || st.Error != revoked.Error() {
			t.Fatalf("refused job: %+v", st)
		}
		if _, err := mem.Stat(ctx, "b", "f"); !errors.Is(err, provider.ErrNotFound) {
			t.Fatalf("a refused job wrote: %v", err)
		}
	}
	allowed.Store(true)
	if err := e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, e, id); st.State != transfer.Completed {
		t.Fatalf("allowed job: %+v", st)
	}
}
