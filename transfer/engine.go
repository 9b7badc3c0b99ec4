package transfer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
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
	// NoDownloadChecksums skips the end-to-end check of downloads (an MD5
	// of every byte where the source's checksum allows one): faster, and
	// the bytes are still length-checked, but ChecksumVerified stays false.
	NoDownloadChecksums bool
	Logger              *slog.Logger
}

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

	mu     sync.Mutex
	jobs   map[string]*job
	subs   map[int]chan Event
	nextID int
	closed bool
	wg     sync.WaitGroup
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
	base, stop := context.WithCancel(context.Background())
	return &Engine{
		opts:    opts,
		policy:  provider.RetryPolicy{Attempts: opts.MaxAttempts, Base: opts.RetryBase, Max: opts.RetryMax},
		journal: opts.Journal,
		sem:     semaphore.NewWeighted(int64(opts.Concurrency)),
		log:     opts.Logger,
		base:    base,
		stop:    stop,
		jobs:    map[string]*job{},
		subs:    map[int]chan Event{},
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
	rec, err := e.plan(ctx, req)
	if err != nil {
		return "", err
	}
	if err := e.journal.Put(ctx, rec); err != nil {
		return "", fmt.Errorf("transfer: journal: %w", err)
	}
	j := e.register(rec)
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

// Pause stops a running job: in-flight parts are abandoned within moments
// and the finished ones stay in the journal for Resume.
func (e *Engine) Pause(ctx context.Context, id string) error {
	j, err := e.job(id)
	if err != nil {
		return err
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

// Resume continues a paused or failed job from its journal.
func (e *Engine) Resume(ctx context.Context, id string) error {
	j, err := e.job(id)
	if err != nil {
		return err
	}
	j.mu.Lock()
	state := j.state
	if state != Paused && state != Failed {
		j.mu.Unlock()
		return fmt.Errorf("%w: job %s is %s", ErrBadState, id, state)
	}
	j.state = Pending
	j.err = ""
	j.mu.Unlock()
	e.launch(j)
	return nil
}

// Cancel stops a job for good: unfinished multipart uploads are aborted and
// partial local files removed. Finished items stay where they are.
func (e *Engine) Cancel(ctx context.Context, id string) error {
	j, err := e.job(id)
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
	j.cleanup(ctx)
	j.setState(ctx, Cancelled, "")
	return nil
}

// Status returns a snapshot of the job.
func (e *Engine) Status(id string) (Status, error) {
	j, err := e.job(id)
	if err != nil {
		return Status{}, err
	}
	return j.status(), nil
}

// List returns every job the engine knows, oldest first.
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
	j, err := e.job(id)
	if err != nil {
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

// Restore loads the journal's jobs after a restart: running or pending jobs
// start again from their last finished parts; paused and failed ones wait
// for Resume; finished ones are listed.
func (e *Engine) Restore(ctx context.Context) error {
	recs, err := e.journal.List(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, err := e.job(r.ID); err == nil {
			continue
		}
		full, err := e.journal.Get(ctx, r.ID)
		if err != nil {
			return err
		}
		j := e.register(full)
		if full.State == Running || full.State == Pending {
			e.launch(j)
		}
	}
	return nil
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
	return nil
}
