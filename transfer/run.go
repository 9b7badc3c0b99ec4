package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/amove/amove-go/provider"
)

// job is a running or resumable transfer. rec is the authority on the plan;
// counters are atomics so parts update them without the lock.
type job struct {
	e   *Engine
	mu  sync.Mutex
	rec *JobRecord
	// state and err mirror rec.State/rec.Error under mu.
	state  State
	err    string
	cancel context.CancelCauseFunc
	done   chan struct{}
	// softEnd is when a scheduled run's slice ends (RunSlice): no part
	// starts after it. Zero for a run with no slice.
	softEnd time.Time

	bytesDone   atomic.Int64
	bytesTotal  int64
	filesDone   atomic.Int64
	filesFailed atomic.Int64
	rate        float64 // bytes/s, smoothed; under mu
	limiter     *rate.Limiter
	partHash    partHashes    // the digest the destination reports for parts
	journalQ    *journalQueue // nil when the journal is no JournalBatcher

	src, dst provider.Storage // opened per run
	root     *os.Root         // a download's folder, opened per run (localfs.go); under mu
	noAnon   atomic.Bool      // unnamed files (createAnon) failed here: use partial files
	// Per download run, under mu (localfs.go): the protected paths
	// resolved, the folders prepared, and whether their file systems
	// may be synced whole (durable.go).
	protected  []string
	folders    map[string]*folder
	sharedSync bool
	pending    *pendingCommits // small downloads committing outside their slot (durable.go)
	guard      *sourceGuard    // an upload run's checks of its files (localfs.go); under mu

	ready chan struct{} // P2P: closed when the push is under way (p2p.go); under mu
}

func newJob(e *Engine, rec *JobRecord) *job {
	j := &job{e: e, rec: rec, state: rec.State, err: rec.Error, done: closedChan(), journalQ: newJournalQueue(e.journal, rec.ID)}
	c := rec.Counts()
	j.bytesTotal = c.BytesTotal
	j.bytesDone.Store(c.BytesDone)
	j.filesDone.Store(int64(c.FilesDone))
	j.filesFailed.Store(int64(c.FilesFailed))
	if bps := rec.Options.BytesPerSecond; bps > 0 {
		j.limiter = rate.NewLimiter(rate.Limit(bps), int(min(max(bps/10, 64<<10), 16<<20)))
	}
	return j
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func (j *job) status() Status {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := Status{
		ID:             j.rec.ID,
		Owner:          j.rec.Owner,
		LocalPath:      j.rec.LocalPath,
		Source:         j.rec.Source,
		Dest:           j.rec.Dest,
		Kind:           j.rec.Kind,
		State:          j.state,
		Error:          j.err,
		BytesDone:      j.bytesDone.Load(),
		BytesTotal:     j.bytesTotal,
		FilesDone:      int(j.filesDone.Load()),
		FilesTotal:     len(j.rec.Items),
		FilesFailed:    int(j.filesFailed.Load()),
		BytesPerSecond: j.rate,
		Created:        j.rec.Created,
		Updated:        j.rec.Updated,
		Meta:           j.rec.Meta,
		Push:           j.pushStatus(),
		Group:          j.rec.Group,
		PausedDuration: j.rec.PausedFor,
	}
	if !j.rec.PausedAt.IsZero() {
		st.PausedDuration += time.Since(j.rec.PausedAt)
	}
	if j.rate > 0 && st.BytesTotal > st.BytesDone && j.state == Running {
		st.ETA = time.Duration(float64(st.BytesTotal-st.BytesDone) / j.rate * float64(time.Second))
	}
	verified := len(j.rec.Items) > 0
	for _, it := range j.rec.Items {
		verified = verified && it.Verified
	}
	st.ChecksumVerified = verified
	return st
}

// setState records a state change in the journal and tells subscribers.
func (j *job) setState(ctx context.Context, s State, errMsg string) {
	j.mu.Lock()
	now := time.Now().UTC()
	switch {
	case s == Paused && j.rec.State != Paused:
		j.rec.PausedAt = now
	case s != Paused && !j.rec.PausedAt.IsZero():
		j.rec.PausedFor += now.Sub(j.rec.PausedAt)
		j.rec.PausedAt = time.Time{}
	}
	j.state, j.err = s, errMsg
	j.rec.State, j.rec.Error = s, errMsg
	j.rec.Updated = now
	rec := j.rec.clone()
	j.mu.Unlock()
	if err := j.e.journal.Put(context.WithoutCancel(ctx), rec); err != nil {
		j.e.log.Error("transfer: journal", "job", rec.ID, "err", err)
	}
	j.e.settleGroup(ctx, rec)
	j.e.emit(Event{Type: EventState, Status: j.status()})
}

// progressLoop emits progress events at most every ProgressInterval while
// the job runs, and keeps the smoothed rate.
func (j *job) progressLoop(ctx context.Context) {
	t := time.NewTicker(j.e.opts.ProgressInterval)
	defer t.Stop()
	last, lastAt := j.bytesDone.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			done := j.bytesDone.Load()
			if done == last {
				continue
			}
			inst := float64(done-last) / now.Sub(lastAt).Seconds()
			j.mu.Lock()
			if j.rate == 0 {
				j.rate = inst
			} else {
				j.rate = 0.7*j.rate + 0.3*inst
			}
			j.mu.Unlock()
			last, lastAt = done, now
			j.e.emit(Event{Type: EventProgress, Status: j.status()})
		}
	}
}

func (j *job) run(ctx context.Context) {
	// The drivers opened for this run (execute, a cancel's clean-up) are
	// closed when it ends; the next run opens its own.
	ctx, closeOpened := trackOpens(ctx)
	defer func() {
		closeOpened()
		j.closeLocalDir()
		j.mu.Lock()
		j.guard = nil // the next run sees the mounts and paths of its time
		j.mu.Unlock()
		j.src, j.dst = nil, nil
	}()
	var err error
	if may := j.e.opts.MayRun; may != nil {
		// A refusal leaves the job paused with the reason; an answer cut
		// short by a pause, cancel or close is that stop, handled below.
		if err = may(ctx, j.status()); err != nil && ctx.Err() == nil {
			j.setState(ctx, Paused, err.Error())
			return
		}
	}
	if err == nil {
		// Stopped before it began: nothing to mark running.
		err = ctx.Err()
	}
	if err == nil {
		if j.currentState() != Running {
			// A slice that continues a running job changes nothing.
			j.setState(ctx, Running, "")
		}
		pctx, stopProgress := context.WithCancel(ctx)
		go j.progressLoop(pctx)
		err = j.execute(ctx)
		stopProgress()
	}
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		// Done, even when a pause or cancel came too late to stop it (a
		// P2P push that completed on the source meanwhile).
		j.setState(ctx, Completed, "")
	case errors.Is(cause, errPause), errors.Is(cause, errClose):
		state := Paused
		if errors.Is(cause, errClose) {
			// Leave the journal saying running: a new engine's Restore
			// continues the job on its own.
			state = Running
		}
		j.setState(ctx, state, "")
	case errors.Is(cause, errCancel):
		j.cleanup(context.WithoutCancel(ctx))
		j.setState(ctx, Cancelled, "")
	case errors.Is(err, errYield), errors.Is(cause, errYield):
		// The slice is over with work left: the job stays running in the
		// journal for the next slice, here or on another agent.
	case j.refused(ctx):
		// It failed because its owner lost an account it uses meanwhile
		// (a deleted account no longer opens): paused, as the revocation
		// that is on its way would have left it.
	default:
		j.setState(ctx, Failed, err.Error())
	}
	j.mu.Lock()
	j.rate = 0
	j.mu.Unlock()
}

// execute opens the storages and runs every unfinished item, parts of all
// items sharing the job's and the engine's concurrency bounds.
func (j *job) execute(ctx context.Context) error {
	// The engine retries whole steps; drivers try each request once.
	ctx = provider.WithoutRetries(ctx)
	e := j.e
	rec := j.rec
	var err error
	switch rec.Kind {
	case ServerTransfer, P2P:
		return j.executeRemote(ctx)
	case Upload:
		j.dst, err = e.open(ctx, rec.Dest.Account)
	case Download:
		j.src, err = e.open(ctx, rec.Source.Account)
	case Copy:
		if j.src, err = e.open(ctx, rec.Source.Account); err == nil {
			j.dst, err = e.open(ctx, rec.Dest.Account)
		}
	}
	if err != nil {
		return err
	}
	conc := rec.Options.Concurrency
	if conc <= 0 {
		conc = e.opts.Concurrency
	}
	g := newWorkers(conc)
	var firstErr error
	var errOnce sync.Once
	fail := func(i int, err error) {
		if ctx.Err() != nil {
			return // paused or cancelled: not the item's fault
		}
		errOnce.Do(func() { firstErr = fmt.Errorf("%s: %w", rec.Items[i].Src, err) })
		// Keep the upload id: a resume continues the upload from its
		// finished parts instead of orphaning it.
		j.mu.Lock()
		uploadID := rec.Items[i].UploadID
		j.mu.Unlock()
		j.markItem(ctx, i, ItemUpdate{UploadID: uploadID, Failed: err.Error()})
	}
	j.pending = newPendingCommits(conc, fail)
	for i := range rec.Items {
		if ctx.Err() != nil || j.yielding() {
			break
		}
		j.mu.Lock()
		it := rec.Items[i]
		j.mu.Unlock()
		if it.Done || it.Failed != "" && it.Dst == "" {
			continue // done, or refused at plan time (unsafe key)
		}
		if it.Failed != "" {
			// A failed item gets another chance on resume.
			j.filesFailed.Add(-1)
			j.markItem(ctx, i, ItemUpdate{UploadID: it.UploadID})
		}
		if err := j.startItem(ctx, g, i, fail); err != nil {
			fail(i, err)
		}
	}
	g.Wait()
	j.pending.wait() // a deferred commit's fallback may still take a slot
	if err := ctx.Err(); err != nil {
		return err
	}
	if j.yielding() && j.unfinished() {
		return errYield
	}
	if n := j.filesFailed.Load(); n > 0 {
		return fmt.Errorf("%d of %d items failed; first: %w", n, len(rec.Items), firstErr)
	}
	return nil
}

// markItem applies u to item i in memory and in the journal.
func (j *job) markItem(ctx context.Context, i int, u ItemUpdate) {
	j.mu.Lock()
	wasFailed := j.rec.Items[i].Failed != ""
	_ = j.rec.apply(i, u)
	j.mu.Unlock()
	if u.Done {
		j.filesDone.Add(1)
	}
	if u.Failed != "" && !wasFailed {
		j.filesFailed.Add(1)
	}
	j.record(ctx, JournalEntry{Index: i, Update: u})
}

func (j *job) addPart(ctx context.Context, i int, p PartRecord) {
	j.mu.Lock()
	_ = j.rec.mergePart(i, p)
	j.mu.Unlock()
	j.record(ctx, JournalEntry{Index: i, Part: &p})
}

// record writes e to the journal and returns once it is there, so what
// the job counts as done survives a crash; batched with the entries of
// other workers when the journal can (journalq.go).
func (j *job) record(ctx context.Context, e JournalEntry) {
	ctx = context.WithoutCancel(ctx)
	var err error
	switch {
	case j.journalQ != nil:
		err = j.journalQ.write(ctx, e)
	case e.Part != nil:
		err = j.e.journal.AddPart(ctx, j.rec.ID, e.Index, *e.Part)
	default:
		err = j.e.journal.UpdateItem(ctx, j.rec.ID, e.Index, e.Update)
	}
	if err != nil {
		j.e.log.Error("transfer: journal", "job", j.rec.ID, "err", err)
	}
}

// slot takes one place in the engine-wide pool for the duration of f.
func (j *job) slot(ctx context.Context, f func() error) error {
	if err := j.e.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	defer j.e.sem.Release(1)
	if j.yielding() {
		return errYield // the slice is over: the next one does this
	}
	return f()
}

// cleanup aborts unfinished multipart uploads and removes partial files of a
// cancelled job.
func (j *job) cleanup(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rec := j.rec
	if rec.Kind == ServerTransfer || rec.Kind == P2P {
		j.cleanupRemote(ctx)
		return
	}
	if rec.Kind == Download {
		for _, it := range rec.Items {
			if !it.Done && it.Dst != "" {
				_ = os.Remove(partialPath(it.Dst, rec.ID))
			}
		}
		return
	}
	dst := j.cleanupDest(ctx)
	if dst == nil {
		return
	}
	mu, ok := provider.Capability[provider.MultipartUploader](dst)
	if !ok {
		return
	}
	for i, it := range rec.Items {
		if it.Done || it.UploadID == "" {
			continue
		}
		u := provider.Upload{Bucket: rec.Dest.Bucket, Key: it.Dst, ID: it.UploadID}
		if err := mu.AbortMultipart(ctx, u); err != nil && !errors.Is(err, provider.ErrNotFound) {
			j.e.log.Warn("transfer: abort multipart upload", "job", rec.ID, "key", it.Dst, "err", err)
			continue
		}
		j.markItem(ctx, i, ItemUpdate{})
	}
}

// cleanupDest is the destination a clean-up aborts uploads on: the run's,
// or one opened for it (nil, logged, when it cannot be opened).
func (j *job) cleanupDest(ctx context.Context) provider.Storage {
	if j.dst != nil {
		return j.dst
	}
	dst, err := j.e.open(ctx, j.rec.Dest.Account)
	if err != nil {
		j.e.log.Warn("transfer: cancel clean-up", "job", j.rec.ID, "err", err)
		return nil
	}
	return dst
}

// refused asks MayRun once more after a failure, and pauses the job with
// the reason when it may no longer run.
func (j *job) refused(ctx context.Context) bool {
	may := j.e.opts.MayRun
	if may == nil {
		return false
	}
	err := may(context.WithoutCancel(ctx), j.status())
	if err == nil {
		return false
	}
	j.setState(ctx, Paused, err.Error())
	return true
}
