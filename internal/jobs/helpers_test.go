package jobs

import (
	"context"
	"database/sql"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"

	"github.com/amove/amove-go/internal/testenv"
)

// Deadlines, not expectations: a test fails only when an event has not
// happened after this long.
const (
	deadline       = 30 * time.Second
	rescueDeadline = 2 * time.Minute
)

// schemaDSN gives the test its own schema in the test database and returns
// a DSN whose connections use it (like internal/store/postgres/pgtest,
// which is moving while this is written).
func schemaDSN(t *testing.T) string {
	t.Helper()
	dsn := testenv.RequirePostgres(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer conn.Close(ctx)
	schema := "jobs_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("postgres: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("postgres: %v", err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("postgres: bad DSN: %v", err)
	}
	v := u.Query()
	v.Set("search_path", schema)
	u.RawQuery = v.Encode()
	return u.String()
}

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
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

func sqlitePath(t *testing.T) string { return filepath.Join(t.TempDir(), "amove.db") }

// quiet logs warnings and errors only: river logs every start and stop.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// testConfig has slices long enough that they do not end during a test
// unless the test wants them to.
func testConfig(agent string, runners map[string]Runner) Config {
	return Config{
		AgentID:     agent,
		Runners:     runners,
		Slice:       20 * time.Second,
		SliceGrace:  2 * time.Second,
		RescueAfter: 30 * time.Second,
		Heartbeat:   time.Second,
		Logger:      quiet,
	}
}

func open(t *testing.T, cfg Config) *Queue {
	t.Helper()
	q, err := Open(context.Background(), cfg)
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
	job   Job
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

func (p *probe) runners(agent string) map[string]Runner {
	return map[string]Runner{
		"hold": RunnerFunc(func(ctx context.Context, job Job) error {
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
		"quick": RunnerFunc(func(ctx context.Context, job Job) error {
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
func waitState(t *testing.T, q *Queue, id int64, state State, d time.Duration) Info {
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
