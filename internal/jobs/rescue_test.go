package jobs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/jobs"
	"github.com/amove/amove-go/internal/pgtest"
)

// Environment of the helper agent process.
const (
	envHelper      = "AMOVE_JOBS_HELPER" // "postgres" or "sqlite"
	envHelperDB    = "AMOVE_JOBS_HELPER_DB"
	envHelperAgent = "AMOVE_JOBS_HELPER_AGENT"
)

// deathConfig has the short rescue bound of the tests that kill an agent.
func deathConfig(agent string, runners map[string]jobs.Runner) jobs.Config {
	cfg := testConfig(agent, runners)
	cfg.Slice, cfg.SliceGrace, cfg.RescueAfter = time.Second, 500*time.Millisecond, 3*time.Second
	return cfg
}

// TestHelperAgent is not a test: run by startAgent as a separate process,
// it is an agent that enqueues one "hold" job (local on SQLite, shared on
// PostgreSQL), starts running it, says so on stdout, and hangs until it is
// killed.
func TestHelperAgent(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("helper process only")
	}
	runners := map[string]jobs.Runner{"hold": jobs.RunnerFunc(func(ctx context.Context, job jobs.Job) error {
		fmt.Printf("HELPER RUN %d\n", job.ID)
		select {} // hung: only SIGKILL ends this agent
	})}
	cfg := deathConfig(os.Getenv(envHelperAgent), runners)
	if mode == "postgres" {
		cfg.Backend = pgBackend(t, os.Getenv(envHelperDB))
	} else {
		cfg.Backend = sqliteBackend(t, os.Getenv(envHelperDB))
	}
	q, err := jobs.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(context.Background(), "hold", []byte(`{"transfer":"t1"}`), jobs.EnqueueOptions{Local: mode == "sqlite"}); err != nil {
		t.Fatal(err)
	}
	select {}
}

// startAgent runs TestHelperAgent in a new process and returns the id of
// the job it runs once it runs it, and a function that SIGKILLs it.
func startAgent(t *testing.T, mode, db, agent string) (int64, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgent$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envHelperDB+"="+db, envHelperAgent+"="+agent)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() {
		_ = cmd.Process.Kill() // SIGKILL: no drain, no last words
		_ = cmd.Wait()
	}
	t.Cleanup(kill)
	ids := make(chan int64, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			var id int64
			if _, err := fmt.Sscanf(s.Text(), "HELPER RUN %d", &id); err == nil {
				ids <- id
			}
		}
	}()
	select {
	case id := <-ids:
		return id, kill
	case <-time.After(deadline * 2):
		t.Fatal("helper agent did not start its job")
		return 0, nil
	}
}

// TestRescueDeadAgent: an agent dies (SIGKILL) while it runs a shared job;
// another agent takes the job over within the rescue bound, as a
// continuation.
func TestRescueDeadAgent(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Schema(t)
	id, kill := startAgent(t, "postgres", dsn, "a")
	kill()
	killed := time.Now()

	p := newProbe()
	p.release(id)
	cfg := deathConfig("b", p.runners("b"))
	cfg.Backend = pgBackend(t, dsn)
	b := open(t, cfg)
	r := p.wait(t, rescueDeadline, 1, started(id))
	t.Logf("job %d rescued by %s %s after the kill", id, r.agent, time.Since(killed).Round(time.Second))
	if r.agent != "b" || !r.job.Resumed || r.job.Attempt != 2 {
		t.Fatalf("rescued run: %+v", r)
	}
	info := waitState(t, b, id, "completed", deadline)
	if len(info.Errors) != 1 || !strings.Contains(info.Errors[0], "rescued") {
		t.Errorf("errors of the rescued job: %q", info.Errors)
	}
}

// TestRestartResumesLocalJob: on SQLite, an agent killed while it runs a
// local job resumes the job when it comes back.
func TestRestartResumesLocalJob(t *testing.T) {
	t.Parallel()
	path := sqlitePath(t)
	id, kill := startAgent(t, "sqlite", path, "solo")
	kill()
	killed := time.Now()

	p := newProbe()
	p.release(id)
	cfg := deathConfig("solo", p.runners("solo"))
	cfg.Backend = sqliteBackend(t, path)
	q := open(t, cfg)
	r := p.wait(t, rescueDeadline, 1, started(id))
	t.Logf("job %d resumed %s after the kill", id, time.Since(killed).Round(time.Second))
	if !r.job.Resumed || !r.job.Local {
		t.Fatalf("resumed run: %+v", r)
	}
	waitState(t, q, id, "completed", deadline)
}
