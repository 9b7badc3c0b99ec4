// Package jobs runs amove's long jobs (transfers) on river
// (github.com/riverqueue/river) so that several agents can share one
// PostgreSQL database: each job runs on one agent at a time, a dead agent's
// shared jobs are taken over by another, and pause, resume, cancel and
// events reach every agent. On the embedded SQLite default the same code
// runs with river's SQLite driver and one agent.
//
// The database specifics are behind Backend: jobspg implements it on a pgx
// pool, jobssqlite on a database/sql SQLite handle, and the store packages
// register a function that finds the one for their store (BackendFor), so
// that this package links neither pgx nor SQLite.
//
// Lifecycle: Open migrates, registers the agent and readies river; from
// then on jobs can be enqueued, inspected and controlled, and events
// published. Start makes the agent work its queues. Drain stops it.
//
// The package is internal: SDK users configure an agent id and a store and
// never name a queue, a river job id or a slice; amove.Client wires this
// package to the transfer engine and the store, and keeping it internal
// leaves us free to change how jobs are carried.
//
// What owns what: river's tables (river_job and friends, created by
// rivermigrate) carry the job: its kind, its arguments (a transfer id), its
// queue, its state and who runs it. The transfer journal carries the plan
// and the finished parts. amove_agents lists the agents and their
// heartbeats; amove_job_pauses the jobs paused now. Those two tables are
// migrated by internal/migrate from the files in migrations/, their version
// kept in amove_jobs_migration.
//
// Placement: a job that touches a local path goes to the queue
// "agent_<id>" of the agent that enqueued it and runs nowhere else; any
// other job goes to the queue "shared" that every agent works.
//
// Slices: river has no heartbeat for a running job. Its rescuer, run by
// the elected leader every 30 seconds, hands back to the queue any job
// that has been running for longer than RescueStuckJobsAfter, alive or not
// (internal/maintenance/job_rescuer.go). So a runner works in slices: it
// gets Config.Slice, then its context ends, the job is snoozed (which does
// not count as an attempt) and taken again, by this agent or, for a shared
// job, by any other, which resumes from the journal. A dead agent's job
// thus runs again within RescueAfter + 30 s (rescuer interval) + 5 s
// (scheduler interval) + 1 s (fetch poll): 56 s with the defaults.
package jobs

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// SharedQueue is the queue every agent works: jobs that touch no local path.
const SharedQueue = "shared"

// Defaults of Config.
const (
	DefaultSlice         = 10 * time.Second
	DefaultSliceGrace    = 5 * time.Second
	DefaultRescueAfter   = 20 * time.Second
	DefaultHeartbeat     = 5 * time.Second
	DefaultLocalWorkers  = 2
	DefaultSharedWorkers = 4
	DefaultMaxAttempts   = 10
)

// Errors. The stop causes (ErrCancelled, ErrPaused, ErrDraining,
// ErrSliceEnd) are what context.Cause returns for a runner's context once
// it is done, so the runner knows whether to clean up (cancel) or only stop
// (the rest).
var (
	ErrInvalid   = errors.New("jobs: invalid")
	ErrNotFound  = errors.New("jobs: job not found")
	ErrClosed    = errors.New("jobs: queue drained")
	ErrFinished  = errors.New("jobs: job finished")
	ErrTooLarge  = errors.New("jobs: event too large")
	ErrCancelled = errors.New("jobs: job cancelled")
	ErrPaused    = errors.New("jobs: job paused")
	ErrDraining  = errors.New("jobs: agent draining")
	ErrSliceEnd  = errors.New("jobs: slice ended")

	// ErrContinue, returned by a runner, says it stopped at the end of its
	// slice with work left: the job is taken again at once, here or
	// elsewhere.
	ErrContinue = errors.New("jobs: continue later")
)

// Config configures Open. AgentID, Backend and Runners are required.
type Config struct {
	// AgentID names this agent; it is stable across restarts (it comes
	// from the agent's config) and unique among the agents sharing the
	// database. Lower-case letters and digits, single '_' or '-' between
	// them, at most 50 characters: it becomes the queue name agent_<id>.
	AgentID string

	// Backend is the database, normally the store's (BackendFor). On
	// PostgreSQL the Queue holds two pool connections while it is open
	// (river's listener and ours), so size the pool accordingly.
	Backend Backend

	// Runners maps job kinds to the code that runs them. A kind must be
	// registered on every agent that may take it.
	Runners map[string]Runner

	// LocalWorkers and SharedWorkers bound how many jobs of this agent's
	// queue and of the shared queue run here at once.
	LocalWorkers, SharedWorkers int

	// Slice is how long a runner works on a job before handing it back;
	// SliceGrace is how long after that its context ends (Job.SliceEnd is
	// the soft end). RescueAfter is river's RescueStuckJobsAfter: a job
	// running for longer is taken to be on a dead agent. It must exceed
	// Slice + SliceGrace + 1s.
	Slice, SliceGrace, RescueAfter time.Duration

	// Heartbeat is how often the agent updates amove_agents.
	Heartbeat time.Duration

	// MaxAttempts bounds the failed runs of a job (errors and rescues;
	// slices and pauses do not count) before river discards it.
	MaxAttempts int

	// Logger receives the package's and river's logs; slog.Default if nil.
	Logger *slog.Logger
}

// nameRE is river's rule for queue names (client.go, validateQueueName).
var nameRE = regexp.MustCompile(`^(?:[a-z0-9])+(?:[_|\-]?[a-z0-9]+)*$`)

// kindRE is river's rule for job kinds (internal/rivercommon).
var kindRE = regexp.MustCompile(`\A[\w][\w\-\[\]<>\/.·:+]+\z`)

func (c *Config) check() error {
	if c.AgentID == "" || len(c.AgentID) > 50 || !nameRE.MatchString(c.AgentID) {
		return fmt.Errorf("%w: agent id %q: lower-case letters and digits, '_' or '-' between them, at most 50", ErrInvalid, c.AgentID)
	}
	if c.Backend == nil {
		return fmt.Errorf("%w: no backend", ErrInvalid)
	}
	if len(c.Runners) == 0 {
		return fmt.Errorf("%w: no runners", ErrInvalid)
	}
	for kind, r := range c.Runners {
		if !kindRE.MatchString(kind) || r == nil {
			return fmt.Errorf("%w: runner for kind %q", ErrInvalid, kind)
		}
	}
	c.LocalWorkers = cmp.Or(c.LocalWorkers, DefaultLocalWorkers)
	c.SharedWorkers = cmp.Or(c.SharedWorkers, DefaultSharedWorkers)
	c.Slice = cmp.Or(c.Slice, DefaultSlice)
	c.SliceGrace = cmp.Or(c.SliceGrace, DefaultSliceGrace)
	c.RescueAfter = cmp.Or(c.RescueAfter, DefaultRescueAfter)
	c.Heartbeat = cmp.Or(c.Heartbeat, DefaultHeartbeat)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.RescueAfter <= c.jobTimeout() {
		return fmt.Errorf("%w: RescueAfter %s must exceed Slice + SliceGrace + 1s (%s)", ErrInvalid, c.RescueAfter, c.jobTimeout())
	}
	return nil
}

// jobTimeout is river's JobTimeout: a backstop one second after our own
// slice deadline, so that a runner's context normally ends with our cause.
// The rescuer leaves alone a job younger than this
// (internal/maintenance/job_rescuer.go, makeRetryDecision).
func (c *Config) jobTimeout() time.Duration { return c.Slice + c.SliceGrace + time.Second }

// Queue is one agent's view of the jobs: it runs the jobs of its own queue
// and of the shared queue once started, and enqueues and controls any job.
type Queue struct {
	cfg      Config
	log      *slog.Logger
	db       DB
	client   RiverClient
	clientID string

	hub    hub
	notify Notifier // nil on SQLite: events stay in the process

	mu       sync.Mutex
	running  map[int64]context.CancelCauseFunc
	draining bool

	// life orders Start and Drain, so that a Start racing a Drain either
	// starts river before Drain stops it or finds the queue closed.
	life   sync.Mutex
	closed bool

	stop       context.CancelFunc // ends the heartbeat
	stopListen func()             // ends the listener; nil without a Notifier
	done       sync.WaitGroup
	drainErr   error
	drained    sync.Once
}

// Channels of the Notifier: events for Publish, control for Pause.
const (
	eventsChannel  = "amove_events"
	controlChannel = "amove_control"
)

// Open migrates the database (river's tables and this package's, once even
// when several agents start together), registers the agent, creates its
// river client and starts listening to the other agents. The Queue then
// enqueues, inspects and controls jobs and carries events, but runs none
// until Start. Call Drain to close it, started or not.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	q := &Queue{
		cfg:      cfg,
		log:      cfg.Logger.With("agent", cfg.AgentID),
		db:       cfg.Backend,
		clientID: cfg.AgentID + "-" + randomHex(4),
		running:  map[int64]context.CancelCauseFunc{},
		notify:   cfg.Backend.Notifier(),
	}
	if err := q.migrate(ctx); err != nil {
		return nil, err
	}
	if err := q.register(ctx); err != nil {
		return nil, err
	}

	workers := river.NewWorkers()
	for kind := range cfg.Runners {
		river.AddWorkerArgs(workers, rawArgs{kind: kind}, &worker{q: q})
	}
	var err error
	q.client, err = cfg.Backend.NewClient(&river.Config{
		ID:     q.clientID,
		Logger: q.log,
		Queues: map[string]river.QueueConfig{
			q.localQueue(): {MaxWorkers: cfg.LocalWorkers},
			SharedQueue:    {MaxWorkers: cfg.SharedWorkers},
		},
		Workers:              workers,
		JobTimeout:           cfg.jobTimeout(),
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          cfg.MaxAttempts,
		RetryPolicy:          retryPolicy{},
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river: %w", err)
	}

	// The listener is up before the first job can start, so that a pause
	// sent meanwhile is not missed (the heartbeat would catch it later
	// anyway).
	if q.notify != nil {
		q.stopListen, err = q.notify.Listen(ctx, []string{eventsChannel, controlChannel}, q.deliver, q.log)
		if err != nil {
			return nil, fmt.Errorf("jobs: listen: %w", err)
		}
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	q.stop = stop
	q.done.Go(func() { q.heartbeat(bg) })
	return q, nil
}

// Start makes the agent work its own queue and the shared queue until
// Drain, whatever becomes of ctx (river stops softly when its Start context
// ends, and the agent must not stop that way). After Drain it returns
// ErrClosed; a second Start does nothing.
func (q *Queue) Start(ctx context.Context) error {
	q.life.Lock()
	defer q.life.Unlock()
	if q.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := q.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start river: %w", err)
	}
	return nil
}

// AgentID returns the id of this agent.
func (q *Queue) AgentID() string { return q.cfg.AgentID }

func (q *Queue) localQueue() string { return "agent_" + q.cfg.AgentID }

func (q *Queue) queues() []string { return []string{q.localQueue(), SharedQueue} }

// EnqueueOptions says where a job runs and whether it may be a duplicate.
type EnqueueOptions struct {
	// Local places the job on this agent's queue: it runs here and nowhere
	// else, waiting for this agent if it is down. Jobs that read or write
	// a local path must be local; the others go to the shared queue.
	Local bool

	// Queue, when set, is the queue the job goes to, overriding Local: the
	// Info.Queue of an earlier job, so that a job run again goes back to
	// the agent whose local paths it uses.
	Queue string

	// Unique makes Enqueue idempotent: when a live job (waiting, running or
	// to be retried: not completed, cancelled or discarded) of the same
	// kind, queue and args exists, Enqueue returns its id instead of
	// adding one. A finished job does not count, so a job can be run
	// again once its last run ended.
	Unique bool
}

// liveStates are the states Unique compares with: river requires
// available, pending, running and scheduled among them.
var liveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// Enqueue adds a job of a registered kind with args (JSON, typically the
// transfer id) and returns its id.
func (q *Queue) Enqueue(ctx context.Context, kind string, args json.RawMessage, opts EnqueueOptions) (int64, error) {
	if _, ok := q.cfg.Runners[kind]; !ok {
		return 0, fmt.Errorf("%w: no runner for kind %q", ErrInvalid, kind)
	}
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if !json.Valid(args) {
		return 0, fmt.Errorf("%w: args are not JSON", ErrInvalid)
	}
	io := &river.InsertOpts{Queue: SharedQueue}
	switch {
	case opts.Queue != "":
		if opts.Queue != SharedQueue && !strings.HasPrefix(opts.Queue, "agent_") {
			return 0, fmt.Errorf("%w: queue %q", ErrInvalid, opts.Queue)
		}
		io.Queue = opts.Queue
	case opts.Local:
		io.Queue = q.localQueue()
	}
	if opts.Unique {
		io.UniqueOpts = river.UniqueOpts{ByArgs: true, ByQueue: true, ByState: liveStates}
	}
	res, err := q.client.Insert(ctx, rawArgs{kind: kind, raw: args}, io)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: %w", kind, err)
	}
	return res.Job.ID, nil
}

// State is a job's state in river: available, scheduled (also a paused or
// snoozed job), running, retryable, completed, cancelled, discarded or
// pending.
type State = rivertype.JobState

// Info describes a job.
type Info struct {
	ID      int64
	Kind    string
	Queue   string
	State   State
	Attempt int
	Agent   string // the agent running it or that ran it last; empty if none yet
	Paused  bool
	Errors  []string // one per failed attempt or rescue, oldest first
}

// Get returns what river and amove_job_pauses know about job id.
func (q *Queue) Get(ctx context.Context, id int64) (Info, error) {
	row, err := q.client.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return Info{}, fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return Info{}, fmt.Errorf("jobs: get %d: %w", id, err)
	}
	paused, err := q.isPaused(ctx, id)
	if err != nil {
		return Info{}, fmt.Errorf("jobs: get %d: %w", id, err)
	}
	info := Info{ID: row.ID, Kind: row.Kind, Queue: row.Queue, State: row.State, Attempt: row.Attempt, Paused: paused}
	if n := len(row.AttemptedBy); n > 0 {
		info.Agent = agentOf(row.AttemptedBy[n-1])
	}
	for _, e := range row.Errors {
		info.Errors = append(info.Errors, e.Error)
	}
	return info, nil
}

// Latest returns the newest job of kind whose args equal args as JSON
// (spacing aside; key order counts on SQLite), or ErrNotFound when there is none,
// or none left: river deletes finished jobs after a day (cancelled and
// completed) or a week (discarded). It maps a transfer id to the job that
// carries it.
func (q *Queue) Latest(ctx context.Context, kind string, args json.RawMessage) (Info, error) {
	if !json.Valid(args) {
		return Info{}, fmt.Errorf("%w: args are not JSON", ErrInvalid)
	}
	id, err := q.cfg.Backend.LatestJob(ctx, kind, args)
	if errors.Is(err, ErrNotFound) {
		return Info{}, fmt.Errorf("%w: %s %s", ErrNotFound, kind, args)
	}
	if err != nil {
		return Info{}, fmt.Errorf("jobs: latest %s: %w", kind, err)
	}
	return q.Get(ctx, id)
}

// agentOf turns a river client id (<agent id>-<8 hex>) into the agent id.
func agentOf(clientID string) string {
	if i := len(clientID) - 9; i > 0 && clientID[i] == '-' {
		return clientID[:i]
	}
	return clientID
}

// Cancel cancels job id, whichever agent runs it, and returns the job's
// state after the call. "running": the runner sees its context end with
// ErrCancelled (on PostgreSQL through river's LISTEN/NOTIFY control
// channel, on SQLite through river's notification table) and cleans up
// itself. "cancelled": the job was not running and is cancelled at once; no
// runner will see it, so the caller cleans up (aborts the multipart
// upload). "completed" or "discarded": it had ended, nothing was cancelled.
func (q *Queue) Cancel(ctx context.Context, id int64) (State, error) {
	row, err := q.client.JobCancel(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return "", fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return "", fmt.Errorf("jobs: cancel %d: %w", id, err)
	}
	if err := q.db.Exec(ctx, `DELETE FROM amove_job_pauses WHERE job_id = $1`, id); err != nil {
		q.log.WarnContext(ctx, "jobs: cancel: clear pause", "job", id, "err", err)
	}
	return row.State, nil
}

// pauseRecheck is how long a paused job sleeps between looks at its pause.
// Resume wakes it at once; the recheck only repairs a resume that met the
// job while it was still stopping.
const pauseRecheck = time.Minute

// resumeWait bounds how long Resume waits for a running job to leave the
// running state (a runner stops within its slice's grace).
const resumeWait = DefaultSlice + DefaultSliceGrace

// Pause pauses job id, whichever agent runs it: a running runner sees its
// context end with ErrPaused, and the job is not run again until Resume.
func (q *Queue) Pause(ctx context.Context, id int64) error {
	row, err := q.client.JobGet(ctx, id)
	if errors.Is(err, rivertype.ErrNotFound) {
		return fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("jobs: pause %d: %w", id, err)
	}
	if row.FinalizedAt != nil {
		return fmt.Errorf("%w: %d is %s", ErrFinished, id, row.State)
	}
	if err := q.db.Exec(ctx, `INSERT INTO amove_job_pauses (job_id, paused_ms) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING`,
		id, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("jobs: pause %d: %w", id, err)
	}
	// A job waiting for a later time (snoozed, to be retried) is made
	// available, so an agent takes it at once and its runner hears of the
	// pause (see Runner).
	if row.State == rivertype.JobStateScheduled || row.State == rivertype.JobStateRetryable {
		if _, err := q.client.JobRetry(ctx, id); err != nil {
			return fmt.Errorf("jobs: pause %d: %w", id, err)
		}
	}
	// The flag is written first: a runner that starts now reads it, one
	// that runs already gets this signal.
	if q.notify != nil {
		if err := q.notify.Notify(ctx, controlChannel, "pause "+strconv.FormatInt(id, 10)); err != nil {
			return fmt.Errorf("jobs: pause %d: notify: %w", id, err)
		}
		return nil
	}
	q.stopRunning(id, ErrPaused)
	return nil
}

// Resume undoes Pause: the job becomes available at once.
func (q *Queue) Resume(ctx context.Context, id int64) error {
	if err := q.db.Exec(ctx, `DELETE FROM amove_job_pauses WHERE job_id = $1`, id); err != nil {
		return fmt.Errorf("jobs: resume %d: %w", id, err)
	}
	// JobRetry makes a snoozed (scheduled) job available now and leaves a
	// running one alone (riverpgxv5 JobRetry query). A job still running
	// may be a paused runner winding down that read the pause before it
	// was lifted and is about to snooze for pauseRecheck: retry it until
	// it has left the running state.
	for deadline := time.Now().Add(resumeWait); ; {
		row, err := q.client.JobRetry(ctx, id)
		switch {
		case errors.Is(err, rivertype.ErrNotFound):
			return fmt.Errorf("%w: %d", ErrNotFound, id)
		case err != nil:
			return fmt.Errorf("jobs: resume %d: %w", id, err)
		case row.State != rivertype.JobStateRunning || time.Now().After(deadline):
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Drain stops the agent for SIGTERM: it takes no new jobs, ends the
// context of every running job with ErrDraining and waits (until ctx ends)
// for the runners to return; their jobs go back to their queue, so shared
// jobs are taken by other agents at once and local ones wait for this
// agent. Then it stops the heartbeat and the listener and marks the agent
// stopped. It works on a Queue that was never started too. The Queue cannot
// be used afterwards except for Drain, which returns the same.
func (q *Queue) Drain(ctx context.Context) error {
	q.drained.Do(func() {
		q.life.Lock()
		defer q.life.Unlock()
		q.closed = true
		q.mu.Lock()
		q.draining = true
		for _, cancel := range q.running {
			cancel(ErrDraining)
		}
		q.mu.Unlock()
		var errs []error
		if err := q.client.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("jobs: drain: %w", err))
			// Runners that ignore their context are left to river's hard
			// stop; their jobs are rescued later like a dead agent's.
			hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.cfg.SliceGrace)
			_ = q.client.StopAndCancel(hard)
			cancel()
		}
		q.stop()
		q.done.Wait()
		if q.stopListen != nil {
			q.stopListen()
		}
		if err := q.markStopped(context.WithoutCancel(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("jobs: drain: mark stopped: %w", err))
		}
		q.hub.close()
		q.drainErr = errors.Join(errs...)
	})
	return q.drainErr
}

// retryPolicy retries a failed or rescued job after 2^(attempt-1) seconds,
// at most 5 minutes. river's default (attempt^4 s) would keep a job that
// was rescued a few times off the queue for many minutes, far past the
// rescue bound.
type retryPolicy struct{}

func (retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	d := time.Second << min(max(job.Attempt-1, 0), 9)
	return time.Now().Add(min(d, 5*time.Minute))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
