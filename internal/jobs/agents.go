package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// Agent is one row of amove_agents: an agent that opened a Queue on this
// database, live or not.
type Agent struct {
	ID        string
	Queues    []string  // the queues it works: agent_<id> and shared
	Started   time.Time // when its current (or last) run began
	Heartbeat time.Time // its last heartbeat
	Stopped   time.Time // when it drained; zero while it runs or after it died
}

// migrations of this package's own tables, applied in order after river's.
// The statements are valid in both PostgreSQL and SQLite (bigint and text
// are affinities SQLite understands), so there is one list. Times are Unix
// milliseconds from the agents' clocks: one type for both databases, and
// readable enough for `amove agents`.
var migrations = []string{
	1: `
CREATE TABLE amove_agents (
	id           text PRIMARY KEY,
	client_id    text NOT NULL,
	queues       text NOT NULL,
	started_ms   bigint NOT NULL,
	heartbeat_ms bigint NOT NULL,
	stopped_ms   bigint
);
CREATE TABLE amove_job_pauses (
	job_id    bigint PRIMARY KEY,
	paused_ms bigint NOT NULL
);`,
}

// migrateLockKey is the PostgreSQL advisory lock that serializes migrations
// of agents starting at the same time ("amovejob" in ASCII). It differs from
// the store's key so neither waits on the other.
const migrateLockKey = 0x616d6f76656a6f62

// sqliteMigrate serializes migrations of Queues opened in one process on
// SQLite; SQLite's own locking covers other processes.
var sqliteMigrate sync.Mutex

// migrate brings river's tables and ours up to date. Several agents may
// start at once: on PostgreSQL the first takes an advisory lock and the
// others wait for it, then find nothing left to do. rivermigrate takes no
// lock of its own (rivermigrate/river_migrate.go), and its MigrateTx is
// deprecated, so the lock is held on a separate connection around Migrate.
func (q *Queue) migrate(ctx context.Context) error {
	if q.cfg.Pool != nil {
		conn, err := q.cfg.Pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("jobs: migrate: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
			return fmt.Errorf("jobs: migrate: lock: %w", err)
		}
		defer func() {
			// A failed unlock leaves the lock to die with the session; drop
			// the connection so that happens now.
			if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey)); err != nil {
				_ = conn.Conn().Close(context.WithoutCancel(ctx))
			}
		}()
		m, err := rivermigrate.New(riverpgxv5.New(q.cfg.Pool), &rivermigrate.Config{Logger: q.log})
		if err != nil {
			return fmt.Errorf("jobs: migrate: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("jobs: migrate river: %w", err)
		}
	} else {
		sqliteMigrate.Lock()
		defer sqliteMigrate.Unlock()
		m, err := rivermigrate.New(riversqlite.New(q.cfg.DB), &rivermigrate.Config{Logger: q.log})
		if err != nil {
			return fmt.Errorf("jobs: migrate: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("jobs: migrate river: %w", err)
		}
	}
	return q.migrateOwn(ctx)
}

// migrateOwn applies this package's migrations that amove_jobs_migration
// does not list yet, each in its own transaction.
func (q *Queue) migrateOwn(ctx context.Context) error {
	if err := q.db.exec(ctx, `CREATE TABLE IF NOT EXISTS amove_jobs_migration (
		version    bigint PRIMARY KEY,
		applied_ms bigint NOT NULL
	)`); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	applied := map[int]bool{}
	err := q.db.query(ctx, `SELECT version FROM amove_jobs_migration`, nil, func(scan func(...any) error) error {
		var v int
		if err := scan(&v); err != nil {
			return err
		}
		applied[v] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	for v := 1; v < len(migrations); v++ {
		if applied[v] {
			continue
		}
		err := q.db.tx(ctx, func(tx db) error {
			// pgx runs several statements in one Exec only without
			// arguments, and SQLite's Exec likewise; split to be plain.
			for stmt := range strings.SplitSeq(migrations[v], ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if err := tx.exec(ctx, stmt); err != nil {
					return err
				}
			}
			return tx.exec(ctx, `INSERT INTO amove_jobs_migration (version, applied_ms) VALUES ($1, $2)`, v, time.Now().UnixMilli())
		})
		if err != nil {
			return fmt.Errorf("jobs: migration %d: %w", v, err)
		}
	}
	return nil
}

// register records this agent as started, replacing the row of its
// previous run.
func (q *Queue) register(ctx context.Context) error {
	now := time.Now().UnixMilli()
	err := q.db.exec(ctx, `INSERT INTO amove_agents (id, client_id, queues, started_ms, heartbeat_ms, stopped_ms)
		VALUES ($1, $2, $3, $4, $4, NULL)
		ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id, queues = excluded.queues,
			started_ms = excluded.started_ms, heartbeat_ms = excluded.heartbeat_ms, stopped_ms = NULL`,
		q.cfg.AgentID, q.clientID, strings.Join(q.queues(), ","), now)
	if err != nil {
		return fmt.Errorf("jobs: register agent: %w", err)
	}
	return nil
}

// heartbeat updates this agent's heartbeat every cfg.Heartbeat until ctx
// ends, and on the same tick looks for pauses of the jobs it runs, in case
// a pause notification was lost while the listener reconnected.
func (q *Queue) heartbeat(ctx context.Context) {
	t := time.NewTicker(q.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := q.db.exec(ctx, `UPDATE amove_agents SET heartbeat_ms = $2 WHERE id = $1 AND client_id = $3`,
			q.cfg.AgentID, time.Now().UnixMilli(), q.clientID); err != nil && ctx.Err() == nil {
			q.log.WarnContext(ctx, "jobs: heartbeat", "agent", q.cfg.AgentID, "err", err)
		}
		if q.runningCount() == 0 {
			continue
		}
		paused, err := q.pausedIDs(ctx)
		if err != nil {
			if ctx.Err() == nil {
				q.log.WarnContext(ctx, "jobs: read pauses", "err", err)
			}
			continue
		}
		for _, id := range paused {
			q.stopRunning(id, ErrPaused)
		}
	}
}

// markStopped records a drain in amove_agents.
func (q *Queue) markStopped(ctx context.Context) error {
	return q.db.exec(ctx, `UPDATE amove_agents SET stopped_ms = $2 WHERE id = $1 AND client_id = $3`,
		q.cfg.AgentID, time.Now().UnixMilli(), q.clientID)
}

// Agents lists every agent that ever opened a Queue on this database, by id.
func (q *Queue) Agents(ctx context.Context) ([]Agent, error) {
	var out []Agent
	err := q.db.query(ctx, `SELECT id, queues, started_ms, heartbeat_ms, stopped_ms FROM amove_agents ORDER BY id`, nil,
		func(scan func(...any) error) error {
			var (
				a                  Agent
				queues             string
				started, heartbeat int64
				stopped            *int64
			)
			if err := scan(&a.ID, &queues, &started, &heartbeat, &stopped); err != nil {
				return err
			}
			a.Queues = strings.Split(queues, ",")
			a.Started = time.UnixMilli(started)
			a.Heartbeat = time.UnixMilli(heartbeat)
			if stopped != nil {
				a.Stopped = time.UnixMilli(*stopped)
			}
			out = append(out, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("jobs: list agents: %w", err)
	}
	return out, nil
}

// pausedIDs returns the ids of every paused job. The table holds only jobs
// paused now, so it stays small.
func (q *Queue) pausedIDs(ctx context.Context) ([]int64, error) {
	var ids []int64
	err := q.db.query(ctx, `SELECT job_id FROM amove_job_pauses`, nil, func(scan func(...any) error) error {
		var id int64
		if err := scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// isPaused reports whether job id is paused.
func (q *Queue) isPaused(ctx context.Context, id int64) (bool, error) {
	paused := false
	err := q.db.query(ctx, `SELECT 1 FROM amove_job_pauses WHERE job_id = $1`, []any{id}, func(scan func(...any) error) error {
		paused = true
		var one int
		return scan(&one)
	})
	return paused, err
}
