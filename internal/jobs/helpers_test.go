package jobs_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"

	"github.com/amove/amove-go/internal/jobs"
	"github.com/amove/amove-go/internal/jobs/jobspg"
	"github.com/amove/amove-go/internal/jobs/jobssqlite"
)

// Deadlines, not expectations: a test fails only when an event has not
// happened after this long.
const (
	deadline       = 30 * time.Second
	rescueDeadline = 2 * time.Minute
)

// pgBackend returns a backend on a new pool on dsn.
func pgBackend(t testing.TB, dsn string) *jobspg.Backend {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return jobspg.New(pool)
}

// openSQLite opens a SQLite file as the store's writer does.
func openSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// sqliteBackend returns a backend on the SQLite file at path.
func sqliteBackend(t testing.TB, path string) *jobssqlite.Backend {
	t.Helper()
	return jobssqlite.New(openSQLite(t, path))
}

func sqlitePath(t *testing.T) string { return filepath.Join(t.TempDir(), "amove.db") }

// quiet logs warnings and errors only: river logs every start and stop.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// testConfig has slices long enough that they do not end during a test
// unless the test wants them to.
func testConfig(agent string, runners map[string]jobs.Runner) jobs.Config {
	return jobs.Config{
		AgentID:     agent,
		Runners:     runners,
		Slice:       20 * time.Second,
		SliceGrace:  2 * time.Second,
		RescueAfter: 30 * time.Second,
		Heartbeat:   time.Second,
		Logger:      quiet,
	}
}

// open opens and starts a Queue, drained when the test ends.
func open(t *testing.T, cfg jobs.Config) *jobs.Queue {
	t.Helper()
	q := openIdle(t, cfg)
	if err := q.Start(context.Background()); err != nil {
		t.Fatalf("start %s: %v", cfg.AgentID, err)
	}
	return q
}

// openIdle opens a Queue without starting it, drained when the test ends.
func openIdle(t *testing.T, cfg jobs.Config) *jobs.Queue {
	t.Helper()
	q, err := jobs.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg.AgentID, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := q.Drain(ctx); err != nil {
			t.Errorf("drain %s: %v", cfg.AgentID, err)
		}
	})
	return q
}

// run is the start or the end of one call of a probe's runner.
type run struct {
	agent string
	job   jobs.Job
	ended bool
	cause error // why it ended: nil when released or done, the context's cause otherwise
}

// probe records the runs of its runners. Its "hold" runner works until
// released or stopped; its "quick" runner finishes at once.
type probe struct {
	mu       sync.Mutex
	runs     []run
	kick     chan struct{} // closed and replaced on every new run
	released map[int64]chan struct{}
}

func newProbe() *probe {
	return &probe{kick: make(chan struct{}), released: map[int64]chan struct{}{}}
}

func (p *probe) add(r run) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs = append(p.runs, r)
	close(p.kick)
	p.kick = make(chan struct{})
}

func (p *probe) releaseCh(id int64) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.released[id]
	if !ok {
		ch = make(chan struct{})
		p.released[id] = ch
	}
	return ch
}

func (p *probe) release(id int64) { close(p.releaseCh(id)) }

func (p *probe) runners(agent string) map[string]jobs.Runner {
	return map[string]jobs.Runner{
		"hold": jobs.RunnerFunc(func(ctx context.Context, job jobs.Job) error {
			p.add(run{agent: agent, job: job})
			select {
			case <-ctx.Done():
				p.add(run{agent: agent, job: job, ended: true, cause: context.Cause(ctx)})
				return ctx.Err()
			case <-p.releaseCh(job.ID):
				p.add(run{agent: agent, job: job, ended: true})
				return nil
			}
		}),
		"quick": jobs.RunnerFunc(func(ctx context.Context, job jobs.Job) error {
			p.add(run{agent: agent, job: job})
			p.add(run{agent: agent, job: job, ended: true})
			return nil
		}),
	}
}

// all returns the runs that match.
func (p *probe) all(match func(run) bool) []run {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []run
	for _, r := range p.runs {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// wait returns the n-th run (from 1) that matches, failing the test when
// there is none after d.
func (p *probe) wait(t *testing.T, d time.Duration, n int, match func(run) bool) run {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		p.mu.Lock()
		kick := p.kick
		p.mu.Unlock()
		if rs := p.all(match); len(rs) >= n {
			return rs[n-1]
		}
		select {
		case <-kick:
		case <-timer.C:
			t.Fatalf("no matching run after %s; runs: %+v", d, p.all(func(run) bool { return true }))
			return run{}
		}
	}
}

// started and ended match the start or end of job id's runs.
func started(id int64) func(run) bool { return func(r run) bool { return r.job.ID == id && !r.ended } }
func ended(id int64) func(run) bool   { return func(r run) bool { return r.job.ID == id && r.ended } }

// waitState polls job id until it is in state, failing the test after d.
func waitState(t *testing.T, q *jobs.Queue, id int64, state jobs.State, d time.Duration) jobs.Info {
	t.Helper()
	end := time.Now().Add(d)
	for {
		info, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if info.State == state {
			return info
		}
		if time.Now().After(end) {
			t.Fatalf("job %d: state %s after %s, want %s", id, info.State, d, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
