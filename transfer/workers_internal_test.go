package transfer

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkers: every task runs, never more than limit at once, on at most
// limit goroutines (reused, not one per task), and Wait returns only
// after the last one.
func TestWorkers(t *testing.T) {
	const limit, tasks = 4, 500
	w := newWorkers(limit)
	var running, peak, ran atomic.Int32
	for k := range tasks {
		w.Go(func() {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if k%50 == 0 {
				time.Sleep(time.Millisecond) // let others pile up
			}
			running.Add(-1)
			ran.Add(1)
		})
	}
	w.Wait()
	if ran.Load() != tasks {
		t.Errorf("%d of %d tasks ran before Wait returned", ran.Load(), tasks)
	}
	if p := peak.Load(); p > limit || p < 1 {
		t.Errorf("%d tasks ran at once, limit %d", p, limit)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n > limit {
		t.Errorf("%d goroutines started for %d tasks, limit %d", w.n, tasks, limit)
	}
}
