package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Runner runs one kind of job. Run works on the job until it is done (nil),
// until ctx ends (return ctx's error or anything wrapping it: the job is
// continued later, or cancelled if context.Cause(ctx) is ErrCancelled), or
// until job.SliceEnd passes (return ErrContinue). Any other error is a
// failure: the job is retried with backoff, up to Config.MaxAttempts.
//
// A job may run many times (slices, pauses, drains, an agent's death), on
// any agent for a shared job: Run continues from the journal, and
// job.Resumed says whether there may be something to continue from.
// Run must return promptly once ctx ends: a runner still working after
// RescueAfter may find the job run a second time elsewhere. A paused job
// taken from the queue is handed to its runner with ctx already ended
// (cause ErrPaused), so the runner can record the pause where it keeps the
// job's own state.
type Runner interface {
	Run(ctx context.Context, job Job) error
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, job Job) error

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, job Job) error { return f(ctx, job) }

// Job is one run (slice) of a job, as a Runner sees it.
type Job struct {
	ID      int64
	Kind    string
	Args    json.RawMessage // as enqueued; PostgreSQL respells it (jsonb)
	Local   bool            // on an agent's own queue (it touches a local path)
	Attempt int             // river's attempt: failures and rescues, not slices

	// Resumed is false only on the job's first run. True means the job was
	// taken before and handed back (slice end, pause, drain, failure, or
	// its agent died), so the journal may hold finished work. It is a hint:
	// a job fetched while its agent drained is handed back without running,
	// and the journal decides what is done.
	Resumed bool

	// SliceEnd is when the runner should stop starting new work and return
	// ErrContinue; its context ends Config.SliceGrace later.
	SliceEnd time.Time
}

// Permanent marks err as a failure not worth retrying: the job ends at once
// (river records it as cancelled, with err in its errors).
func Permanent(err error) error { return river.JobCancel(err) }

// rawArgs carries any registered kind through river: river looks its Kind
// up to find the worker (river.AddWorkerArgs registers one instance per
// kind) and stores the JSON as the job's args.
type rawArgs struct {
	kind string
	raw  json.RawMessage
}

func (a rawArgs) Kind() string                 { return a.kind }
func (a rawArgs) MarshalJSON() ([]byte, error) { return a.raw, nil }
func (a *rawArgs) UnmarshalJSON(b []byte) error {
	a.raw = append(json.RawMessage(nil), b...)
	return nil
}

// worker is the river worker of every kind; it turns a river job into a
// Job for the kind's Runner and the runner's outcome back into river's
// terms.
type worker struct {
	river.WorkerDefaults[rawArgs]
	q *Queue
}

func (w *worker) Work(ctx context.Context, rj *river.Job[rawArgs]) error {
	q := w.q
	row := rj.JobRow

	// The job's own context: river's ends on remote cancel, its timeout
	// and hard stop; ours also on pause, drain and slice end. It does not
	// inherit river's directly so that its cause is always ours.
	jctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	stopRiver := context.AfterFunc(ctx, func() { cancel(riverCause(ctx)) })
	defer stopRiver()
	start := time.Now()
	jctx, cancelDeadline := context.WithDeadlineCause(jctx, start.Add(q.cfg.Slice+q.cfg.SliceGrace), ErrSliceEnd)
	defer cancelDeadline()

	// Registered before the pause flag is read: a Pause writes the flag
	// and then signals, so either the read sees it or the signal finds us.
	if !q.track(row.ID, cancel) {
		return river.JobSnooze(0) // draining: back to the queue
	}
	defer q.untrack(row.ID)
	paused, err := q.isPaused(jctx, row.ID)
	if err != nil {
		return err
	}
	job := Job{
		ID:       row.ID,
		Kind:     row.Kind,
		Args:     rj.Args.raw,
		Local:    row.Queue != SharedQueue,
		Attempt:  row.Attempt,
		Resumed:  row.Attempt > 1 || len(row.Errors) > 0 || snoozes(row) > 0,
		SliceEnd: start.Add(q.cfg.Slice),
	}
	if paused {
		// The runner still hears of the pause, with its context ended at
		// once: a pause that came as the job was fetched must be recorded
		// by whoever keeps the job's own state (the transfer journal).
		cancel(ErrPaused)
	}
	runErr := q.cfg.Runners[row.Kind].Run(jctx, job)
	cause := context.Cause(jctx)

	switch {
	case errors.Is(cause, ErrCancelled):
		if runErr == nil {
			return nil // finished before it saw the cancel
		}
		return river.JobCancel(runErr)
	case runErr == nil:
		return nil
	case errors.Is(cause, ErrPaused):
		// Resume may have come while the runner was stopping; then the
		// job goes back to the queue now rather than after pauseRecheck.
		if still, err := q.isPaused(context.WithoutCancel(ctx), row.ID); err == nil && !still {
			return river.JobSnooze(0)
		}
		return river.JobSnooze(pauseRecheck)
	case cause != nil, errors.Is(runErr, ErrContinue):
		return river.JobSnooze(0)
	default:
		return runErr
	}
}

// riverCause maps why river ended a job's context onto our causes.
func riverCause(ctx context.Context) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, rivertype.ErrJobCancelledRemotely):
		return ErrCancelled
	case errors.Is(cause, context.DeadlineExceeded):
		return ErrSliceEnd
	default:
		return ErrDraining // river's hard stop
	}
}

// snoozes reads river's count of a job's snoozes from its metadata
// (internal/jobexecutor, NextSnoozeCount).
func snoozes(row *rivertype.JobRow) int {
	var md struct {
		Snoozes int `json:"snoozes"`
	}
	_ = json.Unmarshal(row.Metadata, &md) // absent or odd metadata reads as no snoozes
	return md.Snoozes
}

// track records a running job so that pause and drain can stop it; it
// reports false when the agent is draining.
func (q *Queue) track(id int64, cancel context.CancelCauseFunc) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.draining {
		return false
	}
	q.running[id] = cancel
	return true
}

func (q *Queue) untrack(id int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.running, id)
}

// stopRunning ends job id's context with cause if it runs here.
func (q *Queue) stopRunning(id int64, cause error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cancel, ok := q.running[id]; ok {
		cancel(cause)
	}
}

func (q *Queue) runningCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.running)
}
