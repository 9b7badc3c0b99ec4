package amove

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/amove/amove-go/internal/jobs"
	"github.com/amove/amove-go/transfer"
)

// The transfers of a Client with TransferOptions.AgentID are carried by
// the store's job queue (internal/jobs, on river), so that several agents
// on one store divide them: docs/scale-out.md. This file adapts the queue
// to the engine (transfer.Scheduler) and the engine to the queue (the
// runner of a transfer's slices).

// transferKind is the queue's job kind for a transfer; its args name the
// transfer.
const transferKind = "transfer"

type transferArgs struct {
	Transfer string `json:"transfer"`
}

func argsOf(id string) json.RawMessage {
	b, _ := json.Marshal(transferArgs{Transfer: id}) // a struct of one string: cannot fail
	return b
}

// transferTopic is the queue event topic of transfer events.
const transferTopic = "transfer"

// queueScheduler is the engine's transfer.Scheduler on the job queue.
type queueScheduler struct{ q *jobs.Queue }

var _ transfer.Scheduler = queueScheduler{}

func (s queueScheduler) Schedule(ctx context.Context, id string, local bool) error {
	_, err := s.q.Enqueue(ctx, transferKind, argsOf(id), jobs.EnqueueOptions{Local: local, Unique: true})
	return err
}

// latest returns the newest queue job of transfer id; found is false when
// there is none (never scheduled, or cleaned from the queue long after it
// ended).
func (s queueScheduler) latest(ctx context.Context, id string) (info jobs.Info, found bool, err error) {
	info, err = s.q.Latest(ctx, transferKind, argsOf(id))
	if errors.Is(err, jobs.ErrNotFound) {
		return jobs.Info{}, false, nil
	}
	return info, err == nil, err
}

func (s queueScheduler) Pause(ctx context.Context, id string) (bool, error) {
	info, found, err := s.latest(ctx, id)
	if err != nil || !found {
		return false, err
	}
	if err := s.q.Pause(ctx, info.ID); err != nil {
		if errors.Is(err, jobs.ErrFinished) {
			return false, nil
		}
		return false, err
	}
	return info.State == rivertype.JobStateRunning, nil
}

func (s queueScheduler) Resume(ctx context.Context, id string, local bool) error {
	info, found, err := s.latest(ctx, id)
	switch {
	case err != nil:
		return err
	case !found:
		return s.Schedule(ctx, id, local)
	}
	switch info.State {
	case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
		// Its last run ended (failed, or paused by the agent's own
		// refusal): a new job, on the queue of the agent whose local
		// paths the transfer uses.
		_, err := s.q.Enqueue(ctx, transferKind, argsOf(id), jobs.EnqueueOptions{Queue: info.Queue, Unique: true})
		return err
	}
	return s.q.Resume(ctx, info.ID)
}

func (s queueScheduler) Cancel(ctx context.Context, id string) (bool, error) {
	info, found, err := s.latest(ctx, id)
	if err != nil || !found {
		return false, err
	}
	state, err := s.q.Cancel(ctx, info.ID)
	return state == rivertype.JobStateRunning, err
}

// runSlice is the queue's runner of transfer jobs: one slice of one
// transfer, in this Client's engine.
func (c *Client) runSlice(ctx context.Context, job jobs.Job) error {
	var a transferArgs
	if err := json.Unmarshal(job.Args, &a); err != nil || a.Transfer == "" {
		return jobs.Permanent(fmt.Errorf("amove: transfer job %d: bad args", job.ID))
	}
	// The queue's stop causes become the engine's.
	tctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	translate := func() {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, jobs.ErrPaused):
			cancel(transfer.ErrPaused)
		case errors.Is(cause, jobs.ErrCancelled):
			cancel(transfer.ErrCancelled)
		default:
			cancel(cause)
		}
	}
	if ctx.Err() != nil {
		translate() // at once: the engine checks the cause as it starts
	} else {
		defer context.AfterFunc(ctx, translate)()
	}
	err := c.engine.RunSlice(tctx, a.Transfer, job.SliceEnd)
	switch {
	case errors.Is(err, transfer.ErrContinue):
		return jobs.ErrContinue
	case err == nil && errors.Is(context.Cause(ctx), jobs.ErrPaused):
		// Paused through the queue: the queue keeps the job, waiting
		// for Resume, unless the transfer ended before the pause took.
		if st, lerr := c.engine.Lookup(context.WithoutCancel(ctx), a.Transfer); lerr == nil && st.State == transfer.Paused {
			return jobs.ErrPaused
		}
	}
	return err
}

// openQueue joins the store's job queue as agent id: the engine hands its
// transfers to the queue, and this Client's events go to every agent.
func (c *Client) openQueue(ctx context.Context, id string) (*jobs.Queue, error) {
	be, ok := jobs.BackendFor(c.store)
	if !ok {
		return nil, fmt.Errorf("amove: TransferOptions.AgentID needs a store that carries a job queue (store/sqlite, store/postgres); %T does not", c.store)
	}
	q, err := jobs.Open(ctx, jobs.Config{
		AgentID: id,
		Backend: be,
		Runners: map[string]jobs.Runner{transferKind: jobs.RunnerFunc(c.runSlice)},
		Logger:  c.log,
	})
	if err != nil {
		return nil, fmt.Errorf("amove: transfer queue: %w", err)
	}
	return q, nil
}

// publishEvents sends the events of the transfers this agent runs to the
// other agents, until the engine's subscription ends.
func (c *Client) publishEvents(in <-chan transfer.Event) {
	for ev := range in {
		b, err := json.Marshal(ev)
		if err == nil {
			err = c.queue.Publish(context.Background(), transferTopic, b)
		}
		if err != nil && !errors.Is(err, jobs.ErrClosed) {
			// A lost event costs a subscriber elsewhere one update; the
			// transfer's status is in the journal.
			c.log.Debug("amove: transfer event not sent to the other agents", "transfer", ev.Status.ID, "err", err)
		}
	}
}

// remoteEvents returns the transfer events of the other agents until ctx
// ends; nil without a queue.
func (c *Client) remoteEvents(ctx context.Context) <-chan transfer.Event {
	if c.queue == nil {
		return nil
	}
	in := c.queue.Subscribe(ctx)
	out := make(chan transfer.Event, subscribeBuffer)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Agent == c.queue.AgentID() || ev.Topic != transferTopic {
				continue // our own come from the engine directly
			}
			var te transfer.Event
			if json.Unmarshal(ev.Payload, &te) != nil {
				continue
			}
			select {
			case out <- te:
			default: // the reader fell behind
			}
		}
	}()
	return out
}

// Agent is one agent of the store's transfer queue, as Agents lists it.
type Agent struct {
	ID string
	// Queues are the queues it works: its own (agent_<id>: the uploads
	// and downloads it started) and the shared one.
	Queues []string
	// Started is when its current or last run began; Heartbeat its last
	// sign of life (every few seconds while it runs); Stopped when it
	// stopped cleanly, zero while it runs or after it died.
	Started, Heartbeat, Stopped time.Time
}

// Agents lists the agents that ever ran transfers on the store, for an
// admin (ACCESS otherwise). A Client need not be an agent to list them.
func (c *Client) Agents(ctx context.Context, p Principal) ([]Agent, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if !p.Role.IsAdmin() {
		return nil, &Error{Code: CodeAccess, Message: "only an admin may list the agents"}
	}
	var (
		list []jobs.Agent
		err  error
	)
	if c.queue != nil {
		list, err = c.queue.Agents(ctx)
	} else if be, ok := jobs.BackendFor(c.store); ok {
		list, err = jobs.ListAgents(ctx, be, c.log)
	} else {
		return nil, nil // a store without a queue has no agents
	}
	if err != nil {
		return nil, fmt.Errorf("amove: agents: %w", err)
	}
	out := make([]Agent, len(list))
	for i, a := range list {
		out[i] = Agent{ID: a.ID, Queues: a.Queues, Started: a.Started, Heartbeat: a.Heartbeat, Stopped: a.Stopped}
	}
	return out, nil
}

// drainTimeout bounds how long StopTransfers waits for this agent's
// transfers to hand back their slices.
const drainTimeout = 30 * time.Second
