// Package jobstest checks that a store's job-queue backend works: the
// store packages run it on the backend jobs.BackendFor finds for them.
package jobstest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/jobs"
)

// Run opens a Queue on the backend jobs.BackendFor finds for store, runs a
// job there and finds it again with Latest; it fails the test when there
// is no backend or the job does not complete.
func Run(t *testing.T, store any) {
	t.Helper()
	be, ok := jobs.BackendFor(store)
	if !ok {
		t.Fatalf("BackendFor(%T): no backend", store)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ran := make(chan json.RawMessage, 1)
	q, err := jobs.Open(ctx, jobs.Config{
		AgentID: "a1",
		Backend: be,
		Runners: map[string]jobs.Runner{"copy": jobs.RunnerFunc(func(_ context.Context, job jobs.Job) error {
			ran <- job.Args
			return nil
		})},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer func() {
		if err := q.Drain(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("drain: %v", err)
		}
	}()
	args := json.RawMessage(`{"transfer":"t1"}`)
	id, err := q.Enqueue(ctx, "copy", args, jobs.EnqueueOptions{Local: true})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	select {
	case got := <-ran:
		// PostgreSQL hands back jsonb's spelling of the args.
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(args, &w) != nil || !reflect.DeepEqual(g, w) {
			t.Errorf("runner got args %s, want %s", got, args)
		}
	case <-ctx.Done():
		t.Fatal("job did not run")
	}
	for {
		info, err := q.Latest(ctx, "copy", args)
		if err != nil {
			t.Fatalf("latest: %v", err)
		}
		if info.ID != id {
			t.Fatalf("latest: job %d, want %d", info.ID, id)
		}
		if info.State == "completed" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job state %s, want completed", info.State)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := q.Latest(ctx, "copy", json.RawMessage(`{"transfer":"t2"}`)); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("latest of no job: %v, want ErrNotFound", err)
	}
	if agents, err := q.Agents(ctx); err != nil || len(agents) != 1 || agents[0].ID != "a1" {
		t.Errorf("agents: %+v %v", agents, err)
	}
}
