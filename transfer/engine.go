package transfer

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/amove/amove-go/provider"
)

// Options configure an Engine.
type Options struct {
	// Open resolves a Location's account to a driver. Required for jobs that
	// touch cloud storage.
	Open func(ctx context.Context, account string) (provider.Storage, error)
	// Journal persists jobs; nil means an in-memory journal (no resume after
	// a restart).
	Journal Journal
	// Concurrency bounds the parts (or small files) in flight across all
	// jobs, and with PartSize the memory the engine holds in buffers.
	// Default 16.
	Concurrency int
	// PartSize is the default part size. Default 16 MiB.
	PartSize int64
	// MaxAttempts bounds the tries of one idempotent step. Default 5.
	MaxAttempts int
	// RetryBase and RetryMax shape the exponential backoff (with full
	// jitter). Defaults 200 ms and 15 s. A provider's Retry-After wins when
	// longer.
	RetryBase, RetryMax time.Duration
	// ProgressInterval is the least time between two progress events of a
	// job. Default 100 ms (10 a second).
	ProgressInterval time.Duration
	// NoDownloadChecksums skips the end-to-end check of downloads (a
	// digest of every byte against the source's, see docs/integrity.md):
	// faster, and the bytes are still length-checked, but ChecksumVerified
	// stays false unless the driver's reader checked the ranges itself.
	NoDownloadChecksums bool
	// Retention is how long a finished job (completed, failed, cancelled)
	// stays in the journal after its last change. Restore and an hourly
	// sweep delete older ones (see Expire). Default 30 days; negative keeps
	// them for ever.
	Retention time.Duration
	// Scheduler, when set, runs the jobs through a queue that several
	// agents on one journal share: Start, Resume and Restore hand jobs to
	// it, Pause and Cancel reach the agent that runs a job, and its
	// workers call RunSlice. Nil runs every job in this engine.
	Scheduler Scheduler
	// Protected are local paths (files or folders) no job reads or writes,
	// whatever name, symlink or hard link reaches them: the agent's key,
	// database and configuration. An upload of a folder that holds one is
	// refused whole; a download skips (fails) the items that would land in
	// one. See ErrProtected.
	Protected []string
	// MayRun, when set, is asked before every run of a job (its start, a
	// resume, a restore after a restart): an error leaves the job paused
	// with that error instead, so a job whose owner lost access to its
	// accounts meanwhile never runs.
	MayRun func(ctx context.Context, st Status) error
	Logger *slog.Logger
}

// DefaultRetention is Options.Retention's default.
const DefaultRetention = 30 * 24 * time.Hour

// expireEvery is how often a running engine deletes expired jobs.
const expireEvery = time.Hour

// Engine runs transfer jobs. It is safe for concurrent use.
type Engine struct {
	opts    Options
	policy  provider.RetryPolicy
	journal Journal
	sem     *semaphore.Weighted
	bufs    bufferPool
	log     *slog.Logger
	base    context.Context
	stop    context.CancelFunc

	// ctl serializes adopting a job from the journal with starting or
	// cancelling it, so one process never runs a job twice.
	ctl sync.Mutex

	mu     sync.Mutex
	jobs   map[string]*job
	subs   map[int]chan Event
	nextID int
	closed bool
	wg     sync.WaitGroup // job runs
	loops  sync.WaitGroup // the expiry loop

	// barriers make small downloads durable with shared syncs, one per
	// file system (durable.go).
	barriers fsBarriers
}

// New returns an Engine. Call Restore to pick up jobs of an earlier process
// from the journal, and Close to stop.
func New(opts Options) *Engine {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.PartSize <= 0 {
		opts.PartSize = 16 << 20
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 200 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 15 * time.Second
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 100 * time.Millisecond
	}
	if opts.Journal == nil {
		opts.Journal = NewMemJournal()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if open := opts.Open; open != nil {
		opts.Open = func(ctx context.Context, account string) (provider.Storage, error) {
			st, err := open(ctx, account)
			if err == nil {
				track(ctx, st)
			}
			return st, err
		}
	}
	base, stop := context.WithCancel(context.Background())
	e := &Engine{
		opts:    opts,
		policy:  provider.RetryPolicy{Attempts: opts.MaxAttempts, Base: opts.RetryBase, Max: opts.RetryMax, Outer: true},
		journal: opts.Journal,
		sem:     semaphore.NewWeighted(int64(opts.Concurrency)),
		log:     opts.Logger,
		base:    base,
		stop:    stop,
		jobs:    map[string]*job{},
		subs:    map[int]chan Event{},
	}
	e.loops.Add(1)
	go e.sweepLoop()
	return e
}

// finishedInMemory is how long a finished job keeps its full record in
// memory (for Wait and live status); the journal answers for it after
// that, so an agent that runs many jobs does not hold them all.
const finishedInMemory = 10 * time.Minute

// sweepLoop drops finished jobs from memory and, hourly, deletes expired
// jobs from the journal, until the engine closes.
func (e *Engine) sweepLoop() {
	defer e.loops.Done()
	t := time.NewTicker(finishedInMemory)
	defer t.Stop()
	lastExpire := time.Now()
	for {
		select {
		case <-e.base.Done():
			return
		case now := <-t.C:
			e.pruneFinished(now.Add(-finishedInMemory))
			if e.opts.Retention <= 0 || now.Sub(lastExpire) < expireEvery {
				continue
			}
			lastExpire = now
			if _, err := e.Expire(e.base); err != nil && e.base.Err() == nil {
				e.log.Warn("transfer: deleting expired jobs", "err", err)
			}
		}
	}
}

// pruneFinished drops from memory the finished jobs last changed before
// cutoff, and reports how many it dropped.
func (e *Engine) pruneFinished(cutoff time.Time) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for id, j := range e.jobs {
		j.mu.Lock()
		old := j.state.Final() && j.rec.Updated.Before(cutoff)
		j.mu.Unlock()
		if old && !j.active() {
			delete(e.jobs, id)
			n++
		}
	}
	return n
}

// opened collects the drivers opened under a context (see trackOpens), so
// whoever made the context closes them all when the work is done.
type opened struct {
	mu  sync.Mutex
	all []provider.Storage
}

type openedKey struct{}

// trackOpens returns a context under which every driver the engine opens
// is recorded, and a function that closes them.
func trackOpens(ctx context.Context) (context.Context, func()) {
	o := &opened{}
	return context.WithValue(ctx, openedKey{}, o), func() {
		o.mu.Lock()
		all := o.all
		o.all = nil
		o.mu.Unlock()
		for _, st := range all {
			_ = st.Close()
		}
	}
}

func track(ctx context.Context, st provider.Storage) {
	if o, ok := ctx.Value(openedKey{}).(*opened); ok {
		o.mu.Lock()
		o.all = append(o.all, st)
		o.mu.Unlock()
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40 // a version 4 UUID, the API's id format
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Start plans req and starts it. The returned id names the job in every
// other call. Planning lists the source, so errors such as a missing bucket
// or file come back here.
func (e *Engine) Start(ctx context.Context, req Request) (string, error) {
	if e.isClosed() {
		return "", ErrClosed
	}
	pctx, closeOpened := trackOpens(ctx)
	rec, err := e.plan(pctx, req)
	closeOpened()
	if err != nil {
		return "", err
	}
	if s := e.opts.Scheduler; s != nil {
		if shards := split(rec); shards != nil {
			if err := e.startGroup(ctx, s, rec, shards); err != nil {
				return "", err
			}
			return rec.ID, nil
		}
	}
	if err := e.journal.Put(ctx, rec); err != nil {
		return "", fmt.Errorf("transfer: journal: %w", err)
	}
	j := e.register(rec)
	if s := e.opts.Scheduler; s != nil {
		if err := s.Schedule(ctx, rec.ID, rec.Kind.local()); err != nil {
			j.setState(ctx, Failed, "could not schedule: "+err.Error())
			return "", fmt.Errorf("transfer: schedule: %w", err)
		}
		return rec.ID, nil
	}
	e.launch(j)
	return rec.ID, nil
}

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

func (e *Engine) register(rec *JobRecord) *job {
	j := newJob(e, rec)
	e.mu.Lock()
	e.jobs[rec.ID] = j
	e.mu.Unlock()
	return j
}

func (e *Engine) job(id string) (*job, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	return j, nil
}

// launch runs j in the background.
func (e *Engine) launch(j *job) {
	ctx, cancel := context.WithCancelCause(e.base)
	done := make(chan struct{})
	j.mu.Lock()
	j.cancel, j.done = cancel, done
	j.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer close(done)
		j.run(ctx)
	}()
}

var (
	errPause  = errors.New("transfer: paused")
	errCancel = errors.New("transfer: cancelled")
	errClose  = errors.New("transfer: engine closing")
)

// active reports whether a run of j is under way in this engine.
func (j *job) active() bool {
	j.mu.Lock()
	done := j.done
	j.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// notHere explains why a job this engine does not run cannot be paused:
// ErrUnknownJob, or ErrBadState naming the state the journal holds.
func (e *Engine) notHere(ctx context.Context, id string) error {
	rec, err := e.journal.Get(ctx, id)
	if err != nil {
		return err
	}
	if rec.State == Running || rec.State == Pending {
		return fmt.Errorf("%w: job %s is %s in another process", ErrBadState, id, rec.State)
	}
	return fmt.Errorf("%w: job %s is %s", ErrBadState, id, rec.State)
}

// adopt returns the job for Resume or Cancel. A job this engine runs is
// returned as it is. Any other comes from the journal, the authority on jobs
// at rest (another process may have resumed or cancelled it since this
// engine last ran it): one the journal says is running or pending belongs to
// another process (ErrBadState); the rest are loaded into this engine, which
// adopts them. e.ctl must be held.
func (e *Engine) adopt(ctx context.Context, id string) (*job, error) {
	held, err := e.job(id)
	if err == nil && held.active() {
		return held, nil
	}
	rec, err := e.journal.Get(ctx, id)
	switch {
	case errors.Is(err, ErrUnknownJob) && held != nil:
		return held, nil // the journal lost it: go on with what we hold
	case err != nil:
		return nil, err
	case rec.State == Running || rec.State == Pending:
		return nil, fmt.Errorf("%w: job %s is %s in another process", ErrBadState, id, rec.State)
	case rec.State == Completed || rec.State == Cancelled:
		return nil, fmt.Errorf("%w: job %s is %s", ErrBadState, id, rec.State)
	}
	return e.register(rec), nil
}

// Pause stops a job this engine runs: in-flight parts are abandoned within
// moments and the finished ones stay in the journal for Resume. A job that
// runs in another process on the same journal is ErrBadState: pause it
// there.
func (e *Engine) Pause(ctx context.Context, id string) error {
	if s := e.opts.Scheduler; s != nil {
		return e.scheduledPause(ctx, s, id)
	}
	j, err := e.job(id)
	if err != nil || !j.active() {
		return e.notHere(ctx, id)
	}
	j.mu.Lock()
	state, cancel, done := j.state, j.cancel, j.done
	j.mu.Unlock()
	if state != Running && state != Pending {
		return fmt.Errorf("%w: job %s is %s", ErrBadState, id, state)
	}
	cancel(errPause)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Resume continues a paused or failed job from its journal, in this engine:
// a job paused or failed in another process on the same journal (or before
// a restart) is adopted and runs here from then on. A job the journal says
// is running or pending is ErrBadState: it belongs to another process (or
// to one that crashed, whose jobs the next Restore picks up).
func (e *Engine) Resume(ctx context.Context, id string) error {
	if e.isClosed() {
		return ErrClosed
	}
	if s := e.opts.Scheduler; s != nil {
		return e.scheduledResume(ctx, s, id)
	}
	e.ctl.Lock()
	defer e.ctl.Unlock()
	j, err := e.adopt(ctx, id)
	if err != nil {
		return err
	}
	j.mu.Lock()
	state := j.state
	if state != Paused && state != Failed {
		j.mu.Unlock()
		return fmt.Errorf("%w: job %s is %s", ErrBadState, id, state)
	}
	j.mu.Unlock()
	// Pending goes to the journal before the run starts, so other
	// processes on it no longer take the job for one at rest.
	j.setState(ctx, Pending, "")
	e.launch(j)
	return nil
}

// Cancel stops a job for good: unfinished multipart uploads are aborted and
// partial local files removed. Finished items stay where they are. Like
// Resume, Cancel adopts a paused or failed job of another process and
// refuses one running there (ErrBadState).
func (e *Engine) Cancel(ctx context.Context, id string) error {
	if s := e.opts.Scheduler; s != nil {
		return e.scheduledCancel(ctx, s, id)
	}
	e.ctl.Lock()
	defer e.ctl.Unlock()
	j, err := e.adopt(ctx, id)
	if err != nil {
		return err
	}
	j.mu.Lock()
	state, cancel, done := j.state, j.cancel, j.done
	j.mu.Unlock()
	// A failed job may still hold multipart uploads and partial files:
	// cancelling it cleans them up.
	if state == Completed || state == Cancelled {
		return fmt.Errorf("%w: job %s is %s", ErrBadState, id, state)
	}
	if state == Running || state == Pending {
		cancel(errCancel)
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	// Paused (or restored but not running): nothing in flight, clean up here.
	cctx, closeOpened := trackOpens(ctx)
	j.cleanup(cctx)
	closeOpened()
	j.setState(ctx, Cancelled, "")
	return nil
}

// Status returns a snapshot of a job this engine holds (see Lookup for
// any job of the journal).
func (e *Engine) Status(id string) (Status, error) {
	j, err := e.job(id)
	if err != nil {
		return Status{}, err
	}
	return j.status(), nil
}

// Lookup returns a snapshot of any job of the journal: the live status
// of a job this engine runs, the journal's record of any other (run by
// another process on the same journal, or at rest).
func (e *Engine) Lookup(ctx context.Context, id string) (Status, error) {
	held, herr := e.job(id)
	if herr == nil && held.active() {
		return held.status(), nil
	}
	rec, err := e.journal.Get(ctx, id)
	if err != nil {
		if herr == nil {
			return held.status(), nil // the journal failed or lost it
		}
		return Status{}, err
	}
	if len(rec.Shards) > 0 {
		return e.groupStatus(ctx, *rec)
	}
	return e.summaryStatus(rec.summary()), nil
}

// ListJournal returns the jobs of the journal f selects, oldest first: the
// live status of the jobs this engine runs, the journal's record of the
// others (run by other processes on the same journal, or at rest).
func (e *Engine) ListJournal(ctx context.Context, f ListFilter) ([]Status, error) {
	sums, err := e.journal.List(ctx, f)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	held := maps.Clone(e.jobs)
	e.mu.Unlock()
	out := make([]Status, 0, len(sums))
	for _, s := range sums {
		switch {
		case s.Group != "":
			delete(held, s.ID)
			continue // listed as its group
		case len(s.Shards) > 0:
			st, err := e.groupStatus(ctx, s.JobRecord)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
			continue
		}
		if j := held[s.ID]; j != nil && j.active() {
			out = append(out, j.status())
		} else {
			out = append(out, e.summaryStatus(s))
		}
		delete(held, s.ID)
	}
	// A running job the journal did not list (a journal write failed, or
	// its state there did not match f yet) is still shown if it matches.
	for _, j := range held {
		if !j.active() || j.rec.Group != "" {
			continue
		}
		if st := j.status(); f.Match(st.Owner, st.State, st.Updated) {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b Status) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// summaryStatus is the status of a job at rest or run elsewhere: the
// journal's counts, no rate.
func (e *Engine) summaryStatus(s JobSummary) Status {
	rec := s.JobRecord
	st := newJob(e, &rec).status()
	st.BytesDone, st.BytesTotal = s.BytesDone, s.BytesTotal
	st.FilesDone, st.FilesFailed, st.FilesTotal = s.FilesDone, s.FilesFailed, s.FilesTotal
	st.ChecksumVerified = s.Verified
	return st
}

// List returns every job the engine holds (started, restored or adopted by
// it), oldest first. ListJournal lists those of every process.
func (e *Engine) List() []Status {
	e.mu.Lock()
	jobs := slices.Collect(maps.Values(e.jobs))
	e.mu.Unlock()
	out := make([]Status, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.status())
	}
	slices.SortFunc(out, func(a, b Status) int { return a.Created.Compare(b.Created) })
	return out
}

// Wait blocks until the job reaches a final state or is paused, and returns
// its status.
func (e *Engine) Wait(ctx context.Context, id string) (Status, error) {
	if e.opts.Scheduler != nil {
		return e.waitJournal(ctx, id)
	}
	j, err := e.job(id)
	if err != nil {
		// Finished long ago (pruneFinished) or run by another process: the
		// journal's word, when it is final.
		st, lerr := e.Lookup(ctx, id)
		if lerr == nil && (st.State.Final() || st.State == Paused) {
			return st, nil
		}
		return Status{}, err
	}
	for {
		j.mu.Lock()
		done := j.done
		j.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return j.status(), ctx.Err()
		}
		st := j.status()
		if st.State.Final() || st.State == Paused {
			return st, nil
		}
		// Resumed meanwhile: wait for the new run.
		j.mu.Lock()
		same := j.done == done
		j.mu.Unlock()
		if same {
			return st, nil
		}
	}
}

// Subscribe returns a channel of events of every job and a function that
// ends the subscription. Progress events are dropped for a subscriber whose
// buffer is full; state events are delivered unless the buffer stays full
// for a second.
func (e *Engine) Subscribe(buffer int) (<-chan Event, func()) {
	if buffer <= 0 {
		buffer = 64
	}
	ch := make(chan Event, buffer)
	e.mu.Lock()
	id := e.nextID
	e.nextID++
	e.subs[id] = ch
	e.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.subs, id)
			e.mu.Unlock()
			close(ch)
		})
	}
}

func (e *Engine) emit(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range e.subs {
		select {
		case ch <- ev:
			continue
		default:
		}
		if ev.Type == EventState {
			select {
			case ch <- ev:
			case <-time.After(time.Second):
			}
		}
	}
}

// Restore picks up the journal's jobs after a restart: running or pending
// jobs start again from their last finished parts. Paused and failed ones
// stay in the journal, listed by ListJournal, until Resume or Cancel adopts
// them; finished ones older than the retention are deleted first (Expire).
func (e *Engine) Restore(ctx context.Context) error {
	if _, err := e.Expire(ctx); err != nil {
		e.log.Warn("transfer: deleting expired jobs", "err", err)
	}
	sums, err := e.journal.List(ctx, ListFilter{States: []State{Pending, Running}})
	if err != nil {
		return err
	}
	if sch := e.opts.Scheduler; sch != nil {
		// The scheduler carries the jobs it was given; this hands it the
		// ones it never got (a journal from before it, or a stop between
		// the journal write and the scheduling). Schedule is idempotent.
		for _, s := range sums {
			if len(s.Shards) > 0 {
				continue // a group: its shards are listed too
			}
			if err := sch.Schedule(ctx, s.ID, s.Kind.local()); err != nil {
				return fmt.Errorf("transfer: schedule %s: %w", s.ID, err)
			}
		}
		return nil
	}
	e.ctl.Lock()
	defer e.ctl.Unlock()
	for _, s := range sums {
		if _, err := e.job(s.ID); err == nil || len(s.Shards) > 0 {
			continue
		}
		full, err := e.journal.Get(ctx, s.ID)
		if errors.Is(err, ErrUnknownJob) {
			continue // deleted since the listing
		}
		if err != nil {
			return err
		}
		if full.State == Running || full.State == Pending {
			e.launch(e.register(full))
		}
	}
	return nil
}

// Expire deletes from the journal, and from the engine, the finished jobs
// (completed, failed, cancelled) last changed longer than
// Options.Retention ago, with their items and parts, and returns how many
// went from the journal. A failed job is cleaned up first as Cancel would:
// its unfinished multipart uploads are aborted and partial files removed.
// The engine calls it at Restore and every hour.
func (e *Engine) Expire(ctx context.Context) (int, error) {
	if e.opts.Retention < 0 {
		return 0, nil
	}
	cutoff := time.Now().Add(-e.opts.Retention)
	failed, err := e.journal.List(ctx, ListFilter{States: []State{Failed}, UpdatedBefore: cutoff})
	if err != nil {
		return 0, err
	}
	for _, s := range failed {
		e.expireFailed(ctx, s.ID, cutoff)
	}
	n, err := e.journal.DeleteFinished(ctx, cutoff)
	if err != nil {
		return n, err
	}
	e.pruneFinished(cutoff)
	return n, nil
}

// expireFailed cleans up after a failed job that is about to expire.
func (e *Engine) expireFailed(ctx context.Context, id string, cutoff time.Time) {
	e.ctl.Lock()
	defer e.ctl.Unlock()
	if held, err := e.job(id); err == nil && held.active() {
		return
	}
	rec, err := e.journal.Get(ctx, id)
	if err != nil || rec.State != Failed || !rec.Updated.Before(cutoff) {
		return
	}
	cctx, closeOpened := trackOpens(ctx)
	defer closeOpened()
	newJob(e, rec).cleanup(cctx)
}

// Close pauses every running job (they resume after Restore in a new
// Engine) and waits for them to stop.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	jobs := slices.Collect(maps.Values(e.jobs))
	e.mu.Unlock()
	for _, j := range jobs {
		j.mu.Lock()
		if j.cancel != nil {
			j.cancel(errClose)
		}
		j.mu.Unlock()
	}
	e.wg.Wait()
	e.stop()
	e.loops.Wait()
	return nil
}
