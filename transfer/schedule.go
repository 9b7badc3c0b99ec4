package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Scheduler hands jobs to the agents that run them, when several agents
// share one journal (docs/scale-out.md). With Options.Scheduler set, Start,
// Resume and Restore give jobs to it instead of running them here, Pause
// and Cancel reach whichever agent runs a job, and the scheduler's workers
// run each job a slice at a time through Engine.RunSlice.
//
// Ids are the engine's job ids. Every method must be safe for concurrent
// use and, for Schedule, idempotent: a job already waiting or running is
// not scheduled twice.
type Scheduler interface {
	// Schedule asks for job id to be run: on this agent when local is set
	// (the job reads or writes local paths, which exist only here), on any
	// agent otherwise.
	Schedule(ctx context.Context, id string, local bool) error
	// Pause stops job id wherever it runs and keeps it from running until
	// Resume. running reports whether an agent was running it: then that
	// agent records the pause; otherwise the caller does.
	Pause(ctx context.Context, id string) (running bool, err error)
	// Resume undoes Pause and schedules the job again (as Schedule).
	Resume(ctx context.Context, id string, local bool) error
	// Cancel ends job id for good. running reports whether an agent was
	// running it: then that agent cleans up (aborts multipart uploads,
	// removes partial files) and records the cancel; otherwise the caller
	// does.
	Cancel(ctx context.Context, id string) (running bool, err error)
}

// The causes a scheduler gives the context of RunSlice (context.Cause) to
// say why it ended: ErrPaused and ErrCancelled stop the job as Pause and
// Cancel do; any other cause ends the slice with the job still running,
// to be continued by the next RunSlice here or on another agent.
var (
	ErrPaused    = errPause
	ErrCancelled = errCancel
)

// ErrContinue is what RunSlice returns when the job stopped with work left:
// its slice ended, its agent is stopping, or an earlier slice of it is
// still winding down here. The scheduler runs it again.
var ErrContinue = errors.New("transfer: continue later")

// errYield ends a run at the slice's end: in-flight parts finish, no new
// ones start, and the job stays running in the journal.
var errYield = errors.New("transfer: slice ended")

// local reports whether a job of kind k reads or writes local paths, so
// that it must run on the agent that planned it.
func (k Kind) local() bool { return k == Upload || k == Download }

// RunSlice runs job id from its journal record until it ends (completed,
// failed, cancelled, paused: nil), or until softEnd, after which it starts
// no new part and returns ErrContinue once the parts in flight are done,
// or until ctx ends. A context ended with ErrPaused or ErrCancelled pauses
// or cancels the job; with any other cause the job stops where it is and
// RunSlice returns ErrContinue. A job the journal holds in a final or
// paused state, or no longer holds, is not run: nil. The job's events are
// emitted here, on the agent that runs the slice.
func (e *Engine) RunSlice(ctx context.Context, id string, softEnd time.Time) error {
	if e.isClosed() {
		return ErrContinue
	}
	e.ctl.Lock()
	if held, err := e.job(id); err == nil && held.active() {
		e.ctl.Unlock()
		return ErrContinue
	}
	// ctx may have ended already (a pause that came as the job was
	// taken): the journal is still read, so the pause is recorded.
	rec, err := e.journal.Get(context.WithoutCancel(ctx), id)
	if errors.Is(err, ErrUnknownJob) {
		e.ctl.Unlock()
		return nil // deleted: nothing left to run
	}
	if err != nil {
		e.ctl.Unlock()
		return fmt.Errorf("transfer: journal: %w", err)
	}
	if rec.State != Running && rec.State != Pending || len(rec.Shards) > 0 {
		e.ctl.Unlock()
		return nil // at rest, or a group (its shards run)
	}
	j := e.register(rec)
	// The run's context ends with the engine (Close) or with ctx, its cause
	// translated: a pause or cancel as such, anything else a yield.
	jctx, cancel := context.WithCancelCause(e.base)
	translate := func() {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errPause), errors.Is(cause, errCancel):
			cancel(cause)
		default:
			cancel(errYield)
		}
	}
	stop := func() bool { return false }
	if ctx.Err() != nil {
		translate() // at once, so the run starts nothing
	} else {
		stop = context.AfterFunc(ctx, translate)
	}
	done := make(chan struct{})
	j.mu.Lock()
	j.cancel, j.done, j.softEnd = cancel, done, softEnd
	j.mu.Unlock()
	e.wg.Add(1)
	e.ctl.Unlock()
	defer e.wg.Done()
	defer close(done)
	defer stop()
	defer cancel(nil)
	j.run(jctx)
	if s := j.currentState(); s != Running && s != Pending {
		return nil
	}
	// A pause or cancel that came as the slice ended (or before it began)
	// may have found the run yielding: apply it now, so the journal never
	// says running for a job nobody will run.
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errPause):
		j.setState(ctx, Paused, "")
		return nil
	case errors.Is(cause, errCancel):
		cctx, closeOpened := trackOpens(context.WithoutCancel(ctx))
		j.cleanup(cctx)
		closeOpened()
		j.setState(ctx, Cancelled, "")
		return nil
	}
	return ErrContinue
}

// yielding reports whether the job's slice has ended: no new part starts.
func (j *job) yielding() bool {
	j.mu.Lock()
	end := j.softEnd
	j.mu.Unlock()
	return !end.IsZero() && time.Now().After(end)
}

// scheduledPause pauses a job through the scheduler; see Pause.
func (e *Engine) scheduledPause(ctx context.Context, s Scheduler, id string) error {
	rec, err := e.journal.Get(ctx, id)
	if err != nil {
		return err
	}
	if len(rec.Shards) > 0 {
		return e.eachShard(ctx, rec, e.Pause)
	}
	if rec.State != Running && rec.State != Pending {
		return fmt.Errorf("%w: job %s is %s", ErrBadState, id, rec.State)
	}
	running, err := s.Pause(ctx, id)
	if err != nil {
		return err
	}
	// The agent that runs the job, or the first to take it now, records
	// the pause in the journal: only a runner writes a running job's
	// state, so a pause written here could be overwritten by a slice
	// that started meanwhile. Wait for it a while.
	wait := pauseTaken
	if running {
		wait = pauseStopped
	}
	deadline := time.Now().Add(wait)
	for {
		if rec, err = e.journal.Get(ctx, id); err != nil {
			return err
		}
		if rec.State != Running && rec.State != Pending {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if running {
		return nil // it stops at the latest when its slice ends
	}
	// No agent took it (the one whose queue it is on is down): record
	// the pause here; the scheduler keeps it from running until Resume.
	e.ctl.Lock()
	defer e.ctl.Unlock()
	if rec, err = e.journal.Get(ctx, id); err != nil {
		return err
	}
	if rec.State == Running || rec.State == Pending {
		e.register(rec).setState(ctx, Paused, "")
	}
	return nil
}

// How long Pause waits for the agent that runs a job (pauseStopped) or
// the first agent that takes it (pauseTaken) to record its pause.
const (
	pauseStopped = 15 * time.Second
	pauseTaken   = 3 * time.Second
)

// scheduledResume resumes a paused or failed job through the scheduler.
func (e *Engine) scheduledResume(ctx context.Context, s Scheduler, id string) error {
	e.ctl.Lock()
	rec, err := e.journal.Get(ctx, id)
	if err != nil {
		e.ctl.Unlock()
		return err
	}
	if len(rec.Shards) > 0 {
		e.ctl.Unlock()
		if err := e.eachShard(ctx, rec, e.Resume); err != nil {
			return err
		}
		// The group reads as running again (it may have been settled
		// as failed).
		rec.State, rec.Error = Pending, ""
		return e.journal.Put(ctx, rec)
	}
	if rec.State != Paused && rec.State != Failed {
		e.ctl.Unlock()
		return fmt.Errorf("%w: job %s is %s", ErrBadState, id, rec.State)
	}
	// Pending goes to the journal first: a runner that takes the job
	// runs only what the journal says is running or pending.
	e.register(rec).setState(ctx, Pending, "")
	e.ctl.Unlock()
	return s.Resume(ctx, id, rec.Kind.local())
}

// scheduledCancel cancels a job through the scheduler.
func (e *Engine) scheduledCancel(ctx context.Context, s Scheduler, id string) error {
	rec, err := e.journal.Get(ctx, id)
	if err != nil {
		return err
	}
	if len(rec.Shards) > 0 {
		return e.eachShard(ctx, rec, e.Cancel)
	}
	if rec.State == Completed || rec.State == Cancelled {
		return fmt.Errorf("%w: job %s is %s", ErrBadState, id, rec.State)
	}
	running, err := s.Cancel(ctx, id)
	if err != nil || running {
		return err
	}
	// At rest (or between slices, now that the scheduler will not run it
	// again): clean up here, once.
	e.ctl.Lock()
	defer e.ctl.Unlock()
	if rec, err = e.journal.Get(ctx, id); err != nil {
		return err
	}
	if rec.State == Completed || rec.State == Cancelled {
		return nil // finished meanwhile
	}
	j := e.register(rec)
	cctx, closeOpened := trackOpens(ctx)
	j.cleanup(cctx)
	closeOpened()
	j.setState(ctx, Cancelled, "")
	return nil
}

// waitJournal waits for a job that runs through the scheduler, on any
// agent, by watching the journal until the job ends or pauses.
func (e *Engine) waitJournal(ctx context.Context, id string) (Status, error) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := e.Lookup(ctx, id)
		if err != nil {
			return Status{}, err
		}
		if st.State.Final() || st.State == Paused {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}

// currentState returns the job's state.
func (j *job) currentState() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// unfinished reports whether an item is neither done nor failed.
func (j *job) unfinished() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, it := range j.rec.Items {
		if !it.Done && it.Failed == "" {
			return true
		}
	}
	return false
}
