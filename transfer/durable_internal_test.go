package transfer

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waiter is one caller of the barrier under test: the syncs begun before
// it called, and the sync that served it.
type waiter struct {
	begunBefore int64
	servedBy    int64
}

// countingSync is a barrier commit that takes a while, as a syncfs does,
// numbers the syncs as they begin and end, and stamps its batch.
type countingSync struct {
	begun, ended atomic.Int64
	fail         atomic.Pointer[error]
}

func (c *countingSync) commit(_ context.Context, batch []*waiter) error {
	n := c.begun.Add(1)
	time.Sleep(3 * time.Millisecond)
	for _, w := range batch {
		w.servedBy = n
	}
	c.ended.Add(1)
	if err := c.fail.Load(); err != nil {
		return *err
	}
	return nil
}

// TestBarrierCoalesces: N concurrent callers share few syncs, and each
// returns only after a sync that began after its call and has ended.
func TestBarrierCoalesces(t *testing.T) {
	ctx := context.Background()
	var c countingSync
	g := &groupCommit[*waiter]{commit: c.commit}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i%4 == 0 {
				runtime.Gosched() // callers arrive while syncs run, too
			}
			w := &waiter{begunBefore: c.begun.Load()}
			if err := g.do(ctx, w); err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			if w.servedBy <= w.begunBefore {
				t.Errorf("caller %d returned after sync %d, which began before its call (%d had begun)", i, w.servedBy, w.begunBefore)
			}
			if ended := c.ended.Load(); ended < w.servedBy {
				t.Errorf("caller %d returned before sync %d ended (%d ended)", i, w.servedBy, ended)
			}
		})
	}
	wg.Wait()
	if got := c.begun.Load(); got > n/4 {
		t.Errorf("%d syncs for %d concurrent callers: no coalescing", got, n)
	}
	t.Logf("%d syncs for %d callers", c.begun.Load(), n)
}

// TestBarrierErrorReachesEveryWaiter: a failed sync is the error of every
// caller it served; the next sync starts afresh.
func TestBarrierErrorReachesEveryWaiter(t *testing.T) {
	ctx := context.Background()
	var c countingSync
	errDisk := errors.New("syncfs: input/output error")
	c.fail.Store(&errDisk)
	g := &groupCommit[*waiter]{commit: c.commit}
	const n = 50
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range n {
		wg.Go(func() {
			if err := g.do(ctx, &waiter{}); errors.Is(err, errDisk) {
				failed.Add(1)
			} else {
				t.Errorf("a caller of a failed sync got %v", err)
			}
		})
	}
	wg.Wait()
	if failed.Load() != n {
		t.Fatalf("%d of %d callers saw the error", failed.Load(), n)
	}
	c.fail.Store(nil)
	if err := g.do(ctx, &waiter{}); err != nil {
		t.Fatalf("the sync after a failed one: %v", err)
	}
}

// TestBarrierOnThisFileSystem: the engine's barrier of a real folder
// syncs it (where the file system has one: fsID), and one file system has
// one barrier.
func TestBarrierOnThisFileSystem(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	d1, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	d2, err := os.Open(dir + "/sub")
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	var b fsBarriers
	g := b.of(d1)
	if _, ok := fsID(d1); !ok {
		if g != nil {
			t.Fatal("a barrier where syncfs does not suffice")
		}
		t.Skip("no shared sync on this file system or system")
	}
	if g == nil || b.of(d2) != g {
		t.Fatal("two folders of one file system: not one barrier")
	}
	if err := g.do(context.Background(), int(d1.Fd())); err != nil {
		t.Fatal(err)
	}
}
