package transfer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/transfer"
	"github.com/amove/amove-go/transfer/journaltest"
)

func statusIDs(list []transfer.Status) []string {
	ids := []string{}
	for _, st := range list {
		ids = append(ids, st.ID)
	}
	return ids
}

// TestRestoreAndRetention: Restore deletes the finished jobs older than the
// retention (cleaning up after the failed ones) and loads only the jobs
// that run; the rest stay in the journal, listed.
func TestRestoreAndRetention(t *testing.T) {
	ctx := context.Background()
	j := transfer.NewMemJournal()
	now := time.Now().UTC()
	old := now.Add(-31 * 24 * time.Hour)
	dl := filepath.Join(t.TempDir(), "f.bin")
	partial := dl + ".amove-0000old-.partial" // the partial file of job 0000old-failed
	if err := os.WriteFile(partial, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id      string
		state   transfer.State
		updated time.Time
	}{
		{"0000old-done", transfer.Completed, old},
		{"0000old-cancelled", transfer.Cancelled, old},
		{"0000old-failed", transfer.Failed, old},
		{"0000new-done", transfer.Completed, now},
		{"0000new-failed", transfer.Failed, now},
		{"0000old-paused", transfer.Paused, old},
	} {
		rec := journaltest.Plan(r.id, 1)
		rec.State, rec.Updated = r.state, r.updated
		if r.id == "0000old-failed" {
			rec.Kind, rec.LocalPath = transfer.Download, dl
			rec.Source, rec.Dest = transfer.Location{Account: "m", Bucket: "b", Key: "f.bin"}, transfer.Location{}
			rec.Items[0].Src, rec.Items[0].Dst = "f.bin", dl
		}
		if err := j.Put(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	e := transfer.New(transfer.Options{Open: accounts{"m": newMemory(t, "b")}.open, Journal: j})
	defer e.Close()
	if err := e.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := e.ListJournal(ctx, transfer.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statusIDs(list), []string{"0000new-done", "0000new-failed", "0000old-paused"}; !slices.Equal(got, want) {
		t.Errorf("after Restore the journal lists %v, want %v", got, want)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial file of the expired failed download: %v", err)
	}
	if held := e.List(); len(held) != 0 {
		t.Errorf("Restore loaded %v; nothing runs", statusIDs(held))
	}
	if st, err := e.Lookup(ctx, "0000old-paused"); err != nil || st.State != transfer.Paused {
		t.Errorf("Lookup of a paused job: %+v, %v", st, err)
	}
	if _, err := e.Lookup(ctx, "0000old-done"); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("Lookup of an expired job: %v", err)
	}

	// A shorter retention, and none.
	short := transfer.New(transfer.Options{Journal: j, Retention: time.Nanosecond})
	defer short.Close()
	never := transfer.New(transfer.Options{Journal: j, Retention: -1})
	defer never.Close()
	if n, err := never.Expire(ctx); n != 0 || err != nil {
		t.Errorf("Expire without retention = %d, %v", n, err)
	}
	if n, err := short.Expire(ctx); n != 2 || err != nil {
		t.Errorf("Expire with 1ns retention = %d, %v; want the two new finished jobs", n, err)
	}
	list, _ = e.ListJournal(ctx, transfer.ListFilter{})
	if got, want := statusIDs(list), []string{"0000old-paused"}; !slices.Equal(got, want) {
		t.Errorf("after Expire the journal lists %v, want %v", got, want)
	}
}

// TestJobsOfAnotherEngine: two engines on one journal stand for the agent
// and a CLI run on one store. Each lists the other's jobs with their
// journaled state and bytes; a job running in one cannot be controlled from
// the other; a paused one is adopted by the engine that resumes it.
func TestJobsOfAnotherEngine(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	slow := &slowStorage{Storage: mem, delay: 30 * time.Millisecond, parts: make(chan int, 100)}
	j := transfer.NewMemJournal()
	agent := transfer.New(transfer.Options{Open: accounts{"m": slow}.open, Journal: j, PartSize: 5 << 20, Concurrency: 1})
	defer agent.Close()
	cli := transfer.New(transfer.Options{Open: accounts{"m": slow}.open, Journal: j, PartSize: 5 << 20})
	defer cli.Close()

	dir := t.TempDir()
	files := writeTree(t, dir, map[string]int{"big": 40 << 20})
	id, err := agent.Start(ctx, transfer.Request{Kind: transfer.Upload, Owner: "t/u", LocalPath: filepath.Join(dir, "big"),
		Dest: transfer.Location{Account: "m", Bucket: "b", Key: "big"}})
	if err != nil {
		t.Fatal(err)
	}
	<-slow.parts
	<-slow.parts

	list, err := cli.ListJournal(ctx, transfer.ListFilter{Owner: "t/u"})
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].State != transfer.Running || list[0].BytesTotal != 40<<20 {
		t.Fatalf("the other engine lists %+v, %v", list, err)
	}
	if list, _ := cli.ListJournal(ctx, transfer.ListFilter{Owner: "t/other"}); len(list) != 0 {
		t.Errorf("another owner's filter lists %v", statusIDs(list))
	}
	for name, op := range map[string]func(context.Context, string) error{"Pause": cli.Pause, "Resume": cli.Resume, "Cancel": cli.Cancel} {
		if err := op(ctx, id); !errors.Is(err, transfer.ErrBadState) || !strings.Contains(err.Error(), "another process") {
			t.Errorf("%s of a job running in another engine: %v", name, err)
		}
	}
	if err := cli.Pause(ctx, "no-such-job"); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("Pause of an unknown job: %v", err)
	}

	if err := agent.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	paused, _ := agent.Status(id)
	st, err := cli.Lookup(ctx, id)
	if err != nil || st.State != transfer.Paused || st.BytesDone != paused.BytesDone || st.BytesDone == 0 {
		t.Fatalf("the other engine sees %+v, %v; the agent %+v", st, err, paused)
	}

	// The CLI resumes the paused job: it runs there from now on.
	go func() {
		for range slow.parts {
		}
	}()
	if err := cli.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := agent.Resume(ctx, id); !errors.Is(err, transfer.ErrBadState) {
		t.Errorf("the agent resumes a job the CLI runs: %v", err)
	}
	if st := wait(t, cli, id); st.State != transfer.Completed || !st.ChecksumVerified {
		t.Fatalf("adopted job: %+v", st)
	}
	if got := readObject(t, mem, "b", "big"); !slices.Equal(got, files["big"]) {
		t.Error("adopted upload differs")
	}
	// The agent still holds its paused copy; the journal is the authority.
	if st, err := agent.Lookup(ctx, id); err != nil || st.State != transfer.Completed {
		t.Errorf("the agent looks up %+v, %v", st, err)
	}
	if list, err := agent.ListJournal(ctx, transfer.ListFilter{}); err != nil || len(list) != 1 || list[0].State != transfer.Completed || list[0].BytesDone != 40<<20 {
		t.Errorf("the agent lists %+v, %v", list, err)
	}
	if err := agent.Cancel(ctx, id); !errors.Is(err, transfer.ErrBadState) {
		t.Errorf("Cancel of a completed job: %v", err)
	}
}

// closeCounter is a driver that counts its opens and closes.
type closeCounter struct {
	*memory.Storage
	opened, closed *atomic.Int64
	once           sync.Once
}

func (c *closeCounter) Close() error {
	c.once.Do(func() { c.closed.Add(1) })
	return nil
}

// TestEngineClosesDrivers: every driver the engine opens, to plan, to run,
// to clean up after a cancel, is closed when that work is done.
func TestEngineClosesDrivers(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	var opened, closed atomic.Int64
	open := func(ctx context.Context, account string) (provider.Storage, error) {
		opened.Add(1)
		return &closeCounter{Storage: mem, opened: &opened, closed: &closed}, nil
	}
	e := transfer.New(transfer.Options{Open: open, PartSize: 5 << 20})
	defer e.Close()
	balanced := func(what string) {
		t.Helper()
		if o, c := opened.Load(), closed.Load(); o == 0 || o != c {
			t.Errorf("%s: %d drivers opened, %d closed", what, o, c)
		}
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]int{"f": 12 << 20, "g": 1})
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: dir, Dest: transfer.Location{Account: "m", Bucket: "b", Key: "in/"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, e, id); st.State != transfer.Completed {
		t.Fatalf("upload: %+v", st)
	}
	balanced("upload")
	id, err = e.Start(ctx, transfer.Request{Kind: transfer.Copy, Source: transfer.Location{Account: "m", Bucket: "b", Key: "in/"},
		Dest: transfer.Location{Account: "m", Bucket: "b", Key: "copy/"}})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e, id)
	balanced("copy")
	if _, err := e.Start(ctx, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "m", Bucket: "b", Key: "missing"},
		LocalPath: t.TempDir()}); err == nil {
		t.Fatal("download of a missing object started")
	}
	balanced("a plan that failed")
	id, err = e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "f"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "f2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Pause(ctx, id); err != nil && !errors.Is(err, transfer.ErrBadState) {
		t.Fatal(err)
	}
	wait(t, e, id)
	if err := e.Cancel(ctx, id); err != nil && !errors.Is(err, transfer.ErrBadState) {
		t.Fatal(err)
	}
	balanced("pause and cancel")
}
