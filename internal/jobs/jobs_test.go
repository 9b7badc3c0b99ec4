package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/jobs"
	"github.com/amove/amove-go/internal/pgtest"
)

func TestConfigCheck(t *testing.T) {
	runners := map[string]jobs.Runner{"copy": jobs.RunnerFunc(func(context.Context, jobs.Job) error { return nil })}
	be := sqliteBackend(t, sqlitePath(t))
	tests := []struct {
		name string
		edit func(*jobs.Config)
		ok   bool
	}{
		{"defaults", func(*jobs.Config) {}, true},
		{"no agent id", func(c *jobs.Config) { c.AgentID = "" }, false},
		{"upper-case agent id", func(c *jobs.Config) { c.AgentID = "Agent1" }, false},
		{"agent id with a dot", func(c *jobs.Config) { c.AgentID = "a.b" }, false},
		{"agent id too long", func(c *jobs.Config) { c.AgentID = strings.Repeat("a", 51) }, false},
		{"agent id with separators", func(c *jobs.Config) { c.AgentID = "eu-west_2" }, true},
		{"no backend", func(c *jobs.Config) { c.Backend = nil }, false},
		{"no runners", func(c *jobs.Config) { c.Runners = nil }, false},
		{"bad kind", func(c *jobs.Config) { c.Runners = map[string]jobs.Runner{"a kind": runners["copy"]} }, false},
		{"rescue before slice ends", func(c *jobs.Config) { c.Slice, c.RescueAfter = time.Minute, time.Minute }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := jobs.Config{AgentID: "a1", Backend: be, Runners: runners}
			tt.edit(&cfg)
			err := cfg.Check()
			if tt.ok && err != nil {
				t.Fatalf("check: %v", err)
			}
			if !tt.ok && !errors.Is(err, jobs.ErrInvalid) {
				t.Fatalf("check: %v, want jobs.ErrInvalid", err)
			}
		})
	}
	cfg := jobs.Config{AgentID: "a1", Backend: be, Runners: runners}
	if err := cfg.Check(); err != nil || cfg.RescueAfter != jobs.DefaultRescueAfter || cfg.Slice != jobs.DefaultSlice {
		t.Fatalf("defaults: %v %+v", err, cfg)
	}
}

// backend opens Queues of several agents on one database.
type backend struct {
	name string
	// agents is how many agents may share the database.
	agents int
	// with returns the config given, set to use a database of the test.
	with func(t *testing.T) func(jobs.Config) jobs.Config
}

var backends = []backend{
	{"postgres", 2, func(t *testing.T) func(jobs.Config) jobs.Config {
		be := pgBackend(t, pgtest.Schema(t))
		return func(c jobs.Config) jobs.Config { c.Backend = be; return c }
	}},
	{"sqlite", 1, func(t *testing.T) func(jobs.Config) jobs.Config {
		be := sqliteBackend(t, sqlitePath(t))
		return func(c jobs.Config) jobs.Config { c.Backend = be; return c }
	}},
}

// TestPlacement: a local job runs only on its agent, also while that agent
// is busy or away; shared jobs run on any agent.
func TestPlacement(t *testing.T) {
	t.Parallel()
	with := backends[0].with(t)
	p := newProbe()
	cfgA := with(testConfig("a", p.runners("a")))
	cfgA.LocalWorkers = 1
	a := open(t, cfgA)
	b := open(t, with(testConfig("b", p.runners("b"))))
	ctx := context.Background()

	// A busy: its one local worker holds l1, so l2 waits for it.
	l1, err := a.Enqueue(ctx, "hold", []byte(`{"n":1}`), jobs.EnqueueOptions{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.wait(t, deadline, 1, started(l1)); r.agent != "a" || r.job.Resumed || !r.job.Local {
		t.Fatalf("l1 first run: %+v", r)
	}
	l2, err := a.Enqueue(ctx, "hold", []byte(`{"n":2}`), jobs.EnqueueOptions{Local: true})
	if err != nil {
		t.Fatal(err)
	}
	// Shared jobs run meanwhile, on whichever agent takes them.
	for i := range 4 {
		id, err := b.Enqueue(ctx, "quick", []byte(`{"i":`+string(rune('0'+i))+`}`), jobs.EnqueueOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r := p.wait(t, deadline, 1, ended(id)); r.job.Local {
			t.Fatalf("shared job %d ran as local: %+v", id, r)
		}
		waitState(t, b, id, "completed", deadline)
	}
	if info, err := b.Get(ctx, l2); err != nil || info.State != "available" {
		t.Fatalf("l2 while a is busy: %+v %v", info, err)
	}

	// A away: l1 goes back to a's queue and both wait there, while b keeps
	// taking shared work.
	drain(t, a)
	if r := p.wait(t, deadline, 1, ended(l1)); !errors.Is(r.cause, jobs.ErrDraining) {
		t.Fatalf("l1 on drain: %+v", r)
	}
	waitState(t, b, l1, "available", deadline)
	s, err := b.Enqueue(ctx, "quick", nil, jobs.EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.wait(t, deadline, 1, ended(s)); r.agent != "b" {
		t.Fatalf("shared job with a away: %+v", r)
	}
	for _, id := range []int64{l1, l2} {
		if info, _ := b.Get(ctx, id); info.State != "available" {
			t.Fatalf("local job %d with a away: %+v", id, info)
		}
	}

	// A back: it runs both, l1 as a continuation.
	p.release(l1)
	p.release(l2)
	open(t, cfgA)
	if r := p.wait(t, deadline, 2, started(l1)); r.agent != "a" || !r.job.Resumed {
		t.Fatalf("l1 after restart: %+v", r)
	}
	// l2 may be Resumed: the draining agent may have fetched it and handed
	// it back without running it.
	if r := p.wait(t, deadline, 1, started(l2)); r.agent != "a" {
		t.Fatalf("l2: %+v", r)
	}
	waitState(t, b, l1, "completed", deadline)
	waitState(t, b, l2, "completed", deadline)
	for _, r := range p.all(func(r run) bool { return r.job.Local && r.agent != "a" }) {
		t.Errorf("local job ran on %s: %+v", r.agent, r)
	}
}

func drain(t *testing.T, q *jobs.Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := q.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// TestDrainHandsBackSharedJob: a draining agent's shared job is taken by
// another agent at once, as a continuation.
func TestDrainHandsBackSharedJob(t *testing.T) {
	t.Parallel()
	with := backends[0].with(t)
	p := newProbe()
	a := open(t, with(testConfig("a", p.runners("a"))))
	ctx := context.Background()
	id, err := a.Enqueue(ctx, "hold", nil, jobs.EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.wait(t, deadline, 1, started(id))
	b := open(t, with(testConfig("b", p.runners("b"))))
	drain(t, a)
	if r := p.wait(t, deadline, 2, started(id)); r.agent != "b" || !r.job.Resumed {
		t.Fatalf("after drain: %+v", r)
	}
	p.release(id)
	waitState(t, b, id, "completed", deadline)

	agents, err := b.Agents(ctx)
	if err != nil || len(agents) != 2 {
		t.Fatalf("agents: %+v %v", agents, err)
	}
	if ag := agents[0]; ag.ID != "a" || ag.Stopped.IsZero() || strings.Join(ag.Queues, ",") != "agent_a,shared" {
		t.Errorf("drained agent: %+v", ag)
	}
	if ag := agents[1]; ag.ID != "b" || !ag.Stopped.IsZero() || ag.Heartbeat.Before(ag.Started) {
		t.Errorf("running agent: %+v", ag)
	}
}

// TestControl: pause, resume and cancel reach the runner on the agent that
// runs the job, sent from another agent (PostgreSQL) or the same (SQLite).
func TestControl(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			with := be.with(t)
			p := newProbe()
			runner := open(t, with(testConfig("a", p.runners("a"))))
			control := runner
			if be.agents > 1 {
				control = open(t, with(testConfig("b", p.runners("b"))))
			}
			ctx := context.Background()

			id, err := runner.Enqueue(ctx, "hold", nil, jobs.EnqueueOptions{Local: true})
			if err != nil {
				t.Fatal(err)
			}
			p.wait(t, deadline, 1, started(id))
			if err := control.Pause(ctx, id); err != nil {
				t.Fatal(err)
			}
			if r := p.wait(t, deadline, 1, ended(id)); !errors.Is(r.cause, jobs.ErrPaused) {
				t.Fatalf("pause: %+v", r)
			}
			if info := waitState(t, control, id, "scheduled", deadline); !info.Paused {
				t.Fatalf("paused job: %+v", info)
			}
			if err := control.Resume(ctx, id); err != nil {
				t.Fatal(err)
			}
			if r := p.wait(t, deadline, 2, started(id)); !r.job.Resumed || r.agent != "a" {
				t.Fatalf("resume: %+v", r)
			}

			if state, err := control.Cancel(ctx, id); err != nil || state != "running" {
				t.Fatalf("cancel: %s, %v", state, err)
			}
			if r := p.wait(t, deadline, 2, ended(id)); !errors.Is(r.cause, jobs.ErrCancelled) {
				t.Fatalf("cancel: %+v", r)
			}
			waitState(t, control, id, "cancelled", deadline)

			// A job not running is cancelled at once, and says so.
			id2, err := runner.Enqueue(ctx, "hold", nil, jobs.EnqueueOptions{Local: true})
			if err != nil {
				t.Fatal(err)
			}
			p.wait(t, deadline, 1, started(id2))
			if err := control.Pause(ctx, id2); err != nil {
				t.Fatal(err)
			}
			waitState(t, control, id2, "scheduled", deadline)
			if state, err := control.Cancel(ctx, id2); err != nil || state != "cancelled" {
				t.Fatalf("cancel paused job: %s, %v", state, err)
			}
			if err := control.Pause(ctx, id2); !errors.Is(err, jobs.ErrFinished) {
				t.Fatalf("pause cancelled job: %v", err)
			}
			if state, err := control.Cancel(ctx, id2); err != nil || state != "cancelled" {
				t.Fatalf("cancel again: %s, %v", state, err)
			}

			if _, err := control.Cancel(ctx, 1<<40); !errors.Is(err, jobs.ErrNotFound) {
				t.Fatalf("cancel unknown job: %v", err)
			}
			if err := control.Pause(ctx, 1<<40); !errors.Is(err, jobs.ErrNotFound) {
				t.Fatalf("pause unknown job: %v", err)
			}
		})
	}
}

// TestSliceEnd: a job outliving its slice goes back to the queue and
// continues.
func TestSliceEnd(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			p := newProbe()
			cfg := be.with(t)(testConfig("a", p.runners("a")))
			cfg.Slice, cfg.SliceGrace, cfg.RescueAfter = 300*time.Millisecond, 200*time.Millisecond, 3*time.Second
			q := open(t, cfg)
			id, err := q.Enqueue(context.Background(), "hold", nil, jobs.EnqueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r := p.wait(t, deadline, 1, ended(id)); !errors.Is(r.cause, jobs.ErrSliceEnd) || r.job.Resumed {
				t.Fatalf("first slice: %+v", r)
			}
			r := p.wait(t, deadline, 2, started(id))
			if !r.job.Resumed || r.job.Attempt != 1 {
				t.Fatalf("second slice: %+v", r)
			}
			p.release(id)
			waitState(t, q, id, "completed", deadline)
		})
	}
}

// TestEvents: an event published on one agent reaches every agent's
// subscribers.
func TestEvents(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			with := be.with(t)
			p := newProbe()
			a := open(t, with(testConfig("a", p.runners("a"))))
			b := a
			if be.agents > 1 {
				b = open(t, with(testConfig("b", p.runners("b"))))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			events := b.Subscribe(ctx)
			payload := []byte(`{"transfer":"t1","bytes":42}`)
			if err := a.Publish(ctx, "progress", payload); err != nil {
				t.Fatal(err)
			}
			select {
			case e := <-events:
				if e.Agent != "a" || e.Topic != "progress" || string(e.Payload) != string(payload) {
					t.Fatalf("event: %+v", e)
				}
			case <-time.After(deadline):
				t.Fatal("no event")
			}

			for _, tt := range []struct {
				topic   string
				payload []byte
				want    error
			}{
				{"progress", make([]byte, jobs.MaxEventSize), jobs.ErrTooLarge},
				{"", nil, jobs.ErrInvalid},
				{"a\nb", nil, jobs.ErrInvalid},
				{"progress", []byte{0xff}, jobs.ErrInvalid},
				{"progress", []byte("a\x00b"), jobs.ErrInvalid},
				{"progress", []byte(strings.Repeat("x", jobs.MaxEventSize-len("a")-len("progress")-2)), nil},
			} {
				if err := a.Publish(ctx, tt.topic, tt.payload); !errors.Is(err, tt.want) {
					t.Errorf("publish %q, %d bytes: %v, want %v", tt.topic, len(tt.payload), err, tt.want)
				}
			}
			cancel()
			for range events { // closed once ctx ends
			}
		})
	}
}

// TestUnique: a unique job is enqueued once.
func TestUnique(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			p := newProbe()
			q := open(t, be.with(t)(testConfig("a", p.runners("a"))))
			ctx := context.Background()
			first, err := q.Enqueue(ctx, "hold", []byte(`{"transfer":"t1"}`), jobs.EnqueueOptions{Unique: true})
			if err != nil {
				t.Fatal(err)
			}
			again, err := q.Enqueue(ctx, "hold", []byte(`{"transfer":"t1"}`), jobs.EnqueueOptions{Unique: true})
			if err != nil || again != first {
				t.Fatalf("again: %d %v, want %d", again, err, first)
			}
			other, err := q.Enqueue(ctx, "hold", []byte(`{"transfer":"t2"}`), jobs.EnqueueOptions{Unique: true})
			if err != nil || other == first {
				t.Fatalf("other: %d %v", other, err)
			}
			if _, err := q.Enqueue(ctx, "nope", nil, jobs.EnqueueOptions{}); !errors.Is(err, jobs.ErrInvalid) {
				t.Fatalf("unknown kind: %v", err)
			}
			if _, err := q.Enqueue(ctx, "hold", []byte(`{`), jobs.EnqueueOptions{}); !errors.Is(err, jobs.ErrInvalid) {
				t.Fatalf("bad args: %v", err)
			}
			p.release(first)
			p.release(other)
		})
	}
}

// TestConcurrentOpen: agents starting together on an empty database
// migrate it once and all start.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	be := pgBackend(t, pgtest.Schema(t))
	p := newProbe()
	var wg sync.WaitGroup
	queues := make([]*jobs.Queue, 3)
	errs := make([]error, 3)
	for i := range queues {
		wg.Go(func() {
			cfg := testConfig(string(rune('a'+i)), p.runners("x"))
			cfg.Backend = be
			queues[i], errs[i] = jobs.Open(context.Background(), cfg)
		})
	}
	wg.Wait()
	for i, q := range queues {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		drain(t, q)
	}
	agents, err := queues[0].Agents(context.Background())
	if err != nil || len(agents) != 3 {
		t.Fatalf("agents: %+v %v", agents, err)
	}
}
