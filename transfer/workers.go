package transfer

import "sync"

// workers runs a job's tasks on at most limit goroutines, each of which
// takes task after task, rather than on a new goroutine per task. A task
// of a small file is one whole request through a deep SDK call stack: on a
// fresh goroutine that stack grows (and is copied) three or four times per
// file, which cost 10 to 17 % of the CPU of uploading many 4 KiB files
// (pprof: runtime.newstack / copystack under the S3 client). A goroutine
// that is reused keeps its grown stack from one task to the next.
type workers struct {
	tasks chan func()
	limit int

	mu sync.Mutex
	n  int // goroutines started
	wg sync.WaitGroup
}

func newWorkers(limit int) *workers {
	return &workers{tasks: make(chan func()), limit: max(limit, 1)}
}

// Go runs f on an idle worker, else on a new one while fewer than limit
// run, else waits until a worker is idle (as errgroup's Go does under
// SetLimit). It must not be called after Wait.
func (w *workers) Go(f func()) {
	select {
	case w.tasks <- f:
		return
	default:
	}
	w.mu.Lock()
	if w.n < w.limit {
		w.n++
		w.mu.Unlock()
		w.wg.Add(1)
		go w.loop(f)
		return
	}
	w.mu.Unlock()
	w.tasks <- f
}

func (w *workers) loop(f func()) {
	defer w.wg.Done()
	f()
	for f := range w.tasks {
		f()
	}
}

// Wait returns once every task given to Go has run; the workers end.
func (w *workers) Wait() {
	close(w.tasks)
	w.wg.Wait()
}
