package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/jobs"
)

// TestBeforeStart: an opened Queue enqueues, inspects and controls jobs and
// carries events before Start, runs none, and runs them once started.
func TestBeforeStart(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			p := newProbe()
			q := openIdle(t, be.with(t)(testConfig("a", p.runners("a"))))
			ctx := context.Background()

			if agents, err := q.Agents(ctx); err != nil || len(agents) != 1 || agents[0].ID != "a" {
				t.Fatalf("agents: %+v %v", agents, err)
			}
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			events := q.Subscribe(sctx)
			if err := q.Publish(ctx, "progress", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			select {
			case e := <-events:
				if e.Agent != "a" || e.Topic != "progress" {
					t.Fatalf("event: %+v", e)
				}
			case <-time.After(deadline):
				t.Fatal("no event")
			}

			quick, err := q.Enqueue(ctx, "quick", []byte(`{"transfer":"t1"}`), jobs.EnqueueOptions{Local: true})
			if err != nil {
				t.Fatal(err)
			}
			if info, err := q.Get(ctx, quick); err != nil || info.State != "available" {
				t.Fatalf("get: %+v %v", info, err)
			}
			if info, err := q.Latest(ctx, "quick", []byte(`{"transfer": "t1"}`)); err != nil || info.ID != quick {
				t.Fatalf("latest: %+v %v, want job %d", info, err, quick)
			}
			held, err := q.Enqueue(ctx, "hold", nil, jobs.EnqueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Pause(ctx, held); err != nil {
				t.Fatal(err)
			}
			if info, err := q.Get(ctx, held); err != nil || !info.Paused {
				t.Fatalf("paused: %+v %v", info, err)
			}
			if err := q.Resume(ctx, held); err != nil {
				t.Fatal(err)
			}
			cancelled, err := q.Enqueue(ctx, "hold", nil, jobs.EnqueueOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if state, err := q.Cancel(ctx, cancelled); err != nil || state != "cancelled" {
				t.Fatalf("cancel: %s %v", state, err)
			}

			time.Sleep(500 * time.Millisecond)
			if runs := p.all(func(run) bool { return true }); len(runs) != 0 {
				t.Fatalf("runs before Start: %+v", runs)
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			waitState(t, q, quick, "completed", deadline)
			p.wait(t, deadline, 1, started(held))
			p.release(held)
			waitState(t, q, held, "completed", deadline)
			if runs := p.all(started(cancelled)); len(runs) != 0 {
				t.Fatalf("cancelled job ran: %+v", runs)
			}
		})
	}
}

// TestDrainUnstarted: a Queue never started drains, and cannot start after.
func TestDrainUnstarted(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			p := newProbe()
			q := openIdle(t, be.with(t)(testConfig("a", p.runners("a"))))
			ctx := context.Background()
			drain(t, q)
			if err := q.Start(ctx); !errors.Is(err, jobs.ErrClosed) {
				t.Fatalf("start after drain: %v, want ErrClosed", err)
			}
			agents, err := q.Agents(ctx)
			if err != nil || len(agents) != 1 || agents[0].Stopped.IsZero() {
				t.Fatalf("agents after drain: %+v %v", agents, err)
			}
		})
	}
}

// TestLatest: Latest finds the newest job of a kind with equal args.
func TestLatest(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			p := newProbe()
			q := openIdle(t, be.with(t)(testConfig("a", p.runners("a"))))
			ctx := context.Background()
			enqueue := func(kind, args string) int64 {
				t.Helper()
				id, err := q.Enqueue(ctx, kind, json.RawMessage(args), jobs.EnqueueOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			enqueue("hold", `{"transfer":"t1"}`)
			newest := enqueue("hold", `{"transfer":"t1"}`)
			other := enqueue("hold", `{"transfer":"t2"}`)
			quick := enqueue("quick", `{"transfer":"t1"}`)

			for _, tt := range []struct {
				kind, args string
				want       int64
			}{
				{"hold", `{"transfer":"t1"}`, newest},
				{"hold", " {\n \"transfer\" : \"t1\" } ", newest},
				{"hold", `{"transfer":"t2"}`, other},
				{"quick", `{"transfer":"t1"}`, quick},
				{"hold", `{"transfer":"t3"}`, 0},
				{"hold", `{"transfer":"t1","x":1}`, 0},
				{"nope", `{"transfer":"t1"}`, 0},
			} {
				info, err := q.Latest(ctx, tt.kind, json.RawMessage(tt.args))
				switch {
				case tt.want == 0 && !errors.Is(err, jobs.ErrNotFound):
					t.Errorf("latest %s %s: %+v %v, want ErrNotFound", tt.kind, tt.args, info, err)
				case tt.want != 0 && (err != nil || info.ID != tt.want || info.Kind != tt.kind):
					t.Errorf("latest %s %s: %+v %v, want job %d", tt.kind, tt.args, info, err, tt.want)
				}
			}
			if _, err := q.Latest(ctx, "hold", json.RawMessage(`{`)); !errors.Is(err, jobs.ErrInvalid) {
				t.Errorf("latest with bad args: %v, want ErrInvalid", err)
			}
		})
	}
}

// TestBackendForUnknown: a store no package registered has no backend.
func TestBackendForUnknown(t *testing.T) {
	for _, s := range []any{nil, 42, "sqlite:amove.db", &struct{}{}} {
		if b, ok := jobs.BackendFor(s); ok || b != nil {
			t.Errorf("BackendFor(%T) = %v, %v; want none", s, b, ok)
		}
	}
}
