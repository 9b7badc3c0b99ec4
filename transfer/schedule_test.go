package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// sliceScheduler is a one-process Scheduler: a goroutine per job calls
// RunSlice with short slices until the job stops, as the river-backed
// scheduler's workers do across agents. It stands in for the queue so
// these tests exercise the engine's side of the contract; the queue
// itself is tested in internal/jobs and with the engine in package amove.
type sliceScheduler struct {
	e     *transfer.Engine
	slice time.Duration

	mu      sync.Mutex
	running map[string]*context.CancelCauseFunc
	paused  map[string]bool
	slices  atomic.Int64
	// now and most count the slices running at once.
	now, most atomic.Int64
	wg        sync.WaitGroup
}

func newSliceScheduler(slice time.Duration) *sliceScheduler {
	return &sliceScheduler{slice: slice, running: map[string]*context.CancelCauseFunc{}, paused: map[string]bool{}}
}

func (s *sliceScheduler) Schedule(ctx context.Context, id string, local bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[id]; ok {
		return nil // idempotent
	}
	rctx, cancel := context.WithCancelCause(context.Background())
	mine := &cancel
	s.running[id] = mine
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			if s.running[id] == mine {
				delete(s.running, id)
			}
			s.mu.Unlock()
		}()
		for rctx.Err() == nil {
			s.slices.Add(1)
			sctx, stop := context.WithCancelCause(rctx)
			// The slice's hard end comes a little after its soft one.
			t := time.AfterFunc(s.slice+time.Second, func() { stop(errors.New("slice over")) })
			if n := s.now.Add(1); n > s.most.Load() {
				s.most.Store(n)
			}
			err := s.e.RunSlice(sctx, id, time.Now().Add(s.slice))
			s.now.Add(-1)
			t.Stop()
			stop(nil)
			if !errors.Is(err, transfer.ErrContinue) {
				return
			}
		}
		// Paused or cancelled while between slices: run once more so the
		// engine records it, as a worker that finds the flag would.
		_ = s.e.RunSlice(rctx, id, time.Now())
	}()
	return nil
}

// stop ends job id's runs with cause; a Schedule after it starts a new
// run, which waits (ErrContinue) until this one has wound down.
func (s *sliceScheduler) stop(id string, cause error) bool {
	s.mu.Lock()
	cancel, ok := s.running[id]
	delete(s.running, id)
	s.mu.Unlock()
	if ok {
		(*cancel)(cause)
	}
	return ok
}

func (s *sliceScheduler) Pause(ctx context.Context, id string) (bool, error) {
	return s.stop(id, transfer.ErrPaused), nil
}

func (s *sliceScheduler) Resume(ctx context.Context, id string, local bool) error {
	return s.Schedule(ctx, id, local)
}

func (s *sliceScheduler) Cancel(ctx context.Context, id string) (bool, error) {
	return s.stop(id, transfer.ErrCancelled), nil
}

// TestScheduledSlices: a job run a slice at a time through a Scheduler
// completes with the bytes intact and every part sent once, whatever the
// number of slices; Pause, Resume, Cancel and Wait go through the
// scheduler.
func TestScheduledSlices(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	slow := &slowStorage{Storage: mem, delay: 20 * time.Millisecond}
	counting := &countingStorage{slowStorage: slow}
	sch := newSliceScheduler(60 * time.Millisecond)
	e := transfer.New(transfer.Options{Open: accounts{"m": counting}.open, PartSize: 5 << 20, Concurrency: 2, Scheduler: sch})
	sch.e = e
	defer func() {
		e.Close()
		sch.wg.Wait()
	}()
	dir := t.TempDir()
	files := writeTree(t, dir, map[string]int{"big": 40 << 20})

	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "big"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "big"}})
	if err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Completed || !st.ChecksumVerified {
		t.Fatalf("scheduled upload: %+v", st)
	}
	if got := readObject(t, mem, "b", "big"); !bytes.Equal(got, files["big"]) {
		t.Error("the object differs from the file")
	}
	if n := counting.n.Load(); n != 8 {
		t.Errorf("%d parts sent for 8 over %d slices: a slice end must not resend finished or in-flight parts", n, sch.slices.Load())
	}
	if sch.slices.Load() < 2 {
		t.Errorf("ran in %d slice(s); the test wants several", sch.slices.Load())
	}

	// Pause and Resume through the scheduler.
	slow.delay = 0
	counting.n.Store(0)
	id, err = e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "big"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "big2"}})
	if err != nil {
		t.Fatal(err)
	}
	slow.delay = 20 * time.Millisecond
	if err := e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	st = wait(t, e, id)
	if st.State != transfer.Paused {
		t.Fatalf("after Pause: %s", st.State)
	}
	if err := e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st = wait(t, e, id); st.State != transfer.Completed {
		t.Fatalf("after Resume: %+v", st)
	}
	if got := readObject(t, mem, "b", "big2"); !bytes.Equal(got, files["big"]) {
		t.Error("the resumed object differs from the file")
	}

	// Cancel through the scheduler aborts the multipart upload once.
	id, err = e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "big"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "big3"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := e.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st = wait(t, e, id); st.State != transfer.Cancelled {
		t.Fatalf("after Cancel: %s", st.State)
	}
	if ups, _ := mem.ListUploads(ctx, "b", "big3"); len(ups) != 0 {
		t.Errorf("cancel left %d multipart uploads", len(ups))
	}
	if _, err := mem.Stat(ctx, "b", "big3"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("cancelled object exists: %v", err)
	}
}

// TestRunSliceAtRest: RunSlice leaves alone a job the journal holds at
// rest or no longer holds.
func TestRunSliceAtRest(t *testing.T) {
	ctx := context.Background()
	e := transfer.New(transfer.Options{Open: accounts{"m": newMemory(t, "b")}.open})
	defer e.Close()
	if err := e.RunSlice(ctx, "no-such-job", time.Now().Add(time.Second)); err != nil {
		t.Errorf("RunSlice of an unknown job = %v, want nil", err)
	}
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Copy, Source: transfer.Location{Account: "m", Bucket: "b", Key: "x/"},
		Dest: transfer.Location{Account: "m", Bucket: "b", Key: "y/"}})
	if err != nil && !errors.Is(err, provider.ErrNotFound) {
		t.Fatal(err)
	}
	if err == nil {
		wait(t, e, id)
		if err := e.RunSlice(ctx, id, time.Now().Add(time.Second)); err != nil {
			t.Errorf("RunSlice of a finished job = %v, want nil", err)
		}
	}
}

// TestRunSliceStoppedBeforeStart: a slice whose context ended before it
// began (the scheduler took a job as it was paused or cancelled) records
// the pause or the cancel in the journal.
func TestRunSliceStoppedBeforeStart(t *testing.T) {
	for _, tc := range []struct {
		cause error
		want  transfer.State
	}{
		{transfer.ErrPaused, transfer.Paused},
		{transfer.ErrCancelled, transfer.Cancelled},
		{errors.New("slice over"), transfer.Pending},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			ctx := context.Background()
			e := transfer.New(transfer.Options{Open: accounts{"m": newMemory(t, "b")}.open, Scheduler: noRun{}})
			defer e.Close()
			dir := t.TempDir()
			writeTree(t, dir, map[string]int{"f": 1 << 20})
			id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "f"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "f"}})
			if err != nil {
				t.Fatal(err)
			}
			stopped, cancel := context.WithCancelCause(ctx)
			cancel(tc.cause)
			err = e.RunSlice(stopped, id, time.Now().Add(time.Hour))
			if st, _ := e.Lookup(ctx, id); st.State != tc.want {
				t.Errorf("after a slice stopped by %v before it began: %s (RunSlice = %v), want %s", tc.cause, st.State, err, tc.want)
			}
		})
	}
}

// noRun is a Scheduler that runs nothing: the test runs the slices.
type noRun struct{}

func (noRun) Schedule(context.Context, string, bool) error { return nil }
func (noRun) Pause(context.Context, string) (bool, error)  { return false, nil }
func (noRun) Resume(context.Context, string, bool) error   { return nil }
func (noRun) Cancel(context.Context, string) (bool, error) { return false, nil }

// TestScheduledGroup: a copy of many objects run through a Scheduler is
// split into shards that run at once; the job the caller holds sums them,
// is listed alone, pauses, resumes and completes with every object copied
// intact.
func TestScheduledGroup(t *testing.T) {
	ctx := context.Background()
	src, dst := newMemory(t, "s"), newMemory(t, "d")
	const n = 600
	want := map[string][]byte{}
	for i := range n {
		key := fmt.Sprintf("many/%04d", i)
		want[key] = randBytes(i, 1000+i)
		if _, err := src.Write(ctx, "s", key, bytes.NewReader(want[key]), int64(len(want[key])), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sch := newSliceScheduler(30 * time.Millisecond)
	j := transfer.NewMemJournal()
	e := transfer.New(transfer.Options{Open: accounts{"s": src, "d": dst}.open, Journal: j, Scheduler: sch})
	sch.e = e
	events, unsubscribe := e.Subscribe(4096)
	defer func() {
		e.Close()
		sch.wg.Wait()
		unsubscribe()
	}()
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Copy, Source: transfer.Location{Account: "s", Bucket: "s", Key: "many/"},
		Dest: transfer.Location{Account: "d", Bucket: "d", Key: "copy/"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Pause(ctx, id); err != nil {
		t.Fatalf("Pause of the group: %v", err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Paused {
		t.Fatalf("the group after Pause: %s", st.State)
	}
	if err := e.Resume(ctx, id); err != nil {
		t.Fatalf("Resume of the group: %v", err)
	}
	st = wait(t, e, id)
	if st.State != transfer.Completed || st.FilesTotal != n || st.FilesDone != n || !st.ChecksumVerified {
		t.Fatalf("the group: %+v; want %d of %d files done, verified", st, n, n)
	}
	for key, data := range want {
		if got := readObject(t, dst, "d", "copy/"+strings.TrimPrefix(key, "many/")); !bytes.Equal(got, data) {
			t.Fatalf("%s differs after the copy", key)
		}
	}
	sawGroupEnd := false
	for timeout := time.After(10 * time.Second); !sawGroupEnd; {
		select {
		case ev := <-events:
			sawGroupEnd = ev.Type == transfer.EventState && ev.Status.ID == id && ev.Status.State == transfer.Completed
		case <-timeout:
			t.Fatal("no state event said the group completed")
		}
	}
	if !sawGroupEnd {
		t.Error("no state event said the group completed")
	}
	if sch.most.Load() < 2 {
		t.Errorf("at most %d slice(s) ran at once: the shards must run side by side", sch.most.Load())
	}
	list, err := e.ListJournal(ctx, transfer.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].FilesTotal != n {
		t.Errorf("the journal lists %d jobs (%v), want the group alone with %d files", len(list), statusIDs(list), n)
	}
	rec, err := j.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Shards) < 2 || rec.State != transfer.Completed {
		t.Errorf("the group's record: %d shards, state %s; want several shards, settled completed", len(rec.Shards), rec.State)
	}
}

// TestPausedDuration: the time a job spends paused is added up across
// pauses, counts while it is paused, and survives in the journal.
func TestPausedDuration(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	slow := &slowStorage{Storage: mem, delay: 50 * time.Millisecond, parts: make(chan int, 100)}
	j := transfer.NewMemJournal()
	e := transfer.New(transfer.Options{Open: accounts{"m": slow}.open, Journal: j, PartSize: 5 << 20, Concurrency: 1})
	defer e.Close()
	dir := t.TempDir()
	writeTree(t, dir, map[string]int{"f": 30 << 20})
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "f"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "f"}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range slow.parts {
		}
	}()
	const pause = 200 * time.Millisecond
	for range 2 {
		if err := e.Pause(ctx, id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pause)
		if st, _ := e.Lookup(ctx, id); st.PausedDuration < pause {
			t.Errorf("while paused: PausedDuration %s, want at least %s", st.PausedDuration, pause)
		}
		if err := e.Resume(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	st := wait(t, e, id)
	if st.State != transfer.Completed || st.PausedDuration < 2*pause {
		t.Errorf("after two pauses of %s: %s, PausedDuration %s", pause, st.State, st.PausedDuration)
	}
	rec, err := j.Get(ctx, id)
	if err != nil || rec.PausedFor != st.PausedDuration {
		t.Errorf("the journal keeps %s (%v), the status says %s", rec.PausedFor, err, st.PausedDuration)
	}
}
