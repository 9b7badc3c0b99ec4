package jobs

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/amove/amove-go/internal/migrate"
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

//go:embed migrations/*.sql
var migrations embed.FS

// migrate brings river's tables and ours up to date, under the Backend's
// lock. Ours are migrated by internal/migrate, like the store's, with their
// versions in amove_jobs_migration: a table of their own, so that the
// store's versions and ours never collide when they share a database.
func (q *Queue) migrate(ctx context.Context) error { return migrateAll(ctx, q.cfg.Backend, q.log) }

func migrateAll(ctx context.Context, b Backend, log *slog.Logger) error {
	steps, err := migrate.Steps(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	err = b.Migrate(ctx, log, func(ctx context.Context, tx DB) error {
		return migrate.Up(ctx, migrationTarget{tx}, steps)
	})
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return nil
}

// migrationTarget is the migrate.Target of this package's tables; the
// statements are valid in both dialects. Backend.Migrate runs it in a
// transaction and under a lock, as migrate.Target requires.
type migrationTarget struct{ tx DB }

func (t migrationTarget) Current(ctx context.Context) (int, error) {
	if err := t.tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS amove_jobs_migration (
		version    bigint PRIMARY KEY,
		applied_ms bigint NOT NULL
	)`); err != nil {
		return 0, err
	}
	var v int
	err := t.tx.Query(ctx, `SELECT COALESCE(MAX(version), 0) FROM amove_jobs_migration`, nil,
		func(scan func(...any) error) error { return scan(&v) })
	return v, err
}

func (t migrationTarget) Apply(ctx context.Context, s migrate.Step) error {
	// No arguments: both databases then run several statements at once.
	if err := t.tx.Exec(ctx, s.SQL); err != nil {
		return err
	}
	return t.tx.Exec(ctx, `INSERT INTO amove_jobs_migration (version, applied_ms) VALUES ($1, $2)`,
		s.Version, time.Now().UnixMilli())
}

// register records this agent as started, replacing the row of its
// previous run.
func (q *Queue) register(ctx context.Context) error {
	now := time.Now().UnixMilli()
	err := q.db.Exec(ctx, `INSERT INTO amove_agents (id, client_id, queues, started_ms, heartbeat_ms, stopped_ms)
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
		if err := q.db.Exec(ctx, `UPDATE amove_agents SET heartbeat_ms = $2 WHERE id = $1 AND client_id = $3`,
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
	return q.db.Exec(ctx, `UPDATE amove_agents SET stopped_ms = $2 WHERE id = $1 AND client_id = $3`,
		q.cfg.AgentID, time.Now().UnixMilli(), q.clientID)
}

// Agents lists every agent that ever opened a Queue on this database, by id.
func (q *Queue) Agents(ctx context.Context) ([]Agent, error) { return listAgents(ctx, q.db) }

// ListAgents lists the agents of the database b is on without joining
// them, for a program that only looks (amove agents). It migrates the
// tables first, so a database no agent ever used lists none.
func ListAgents(ctx context.Context, b Backend, log *slog.Logger) ([]Agent, error) {
	if err := migrateAll(ctx, b, log); err != nil {
		return nil, err
	}
	return listAgents(ctx, b)
}

func listAgents(ctx context.Context, db DB) ([]Agent, error) {
	var out []Agent
	err := db.Query(ctx, `SELECT id, queues, started_ms, heartbeat_ms, stopped_ms FROM amove_agents ORDER BY id`, nil,
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
	err := q.db.Query(ctx, `SELECT job_id FROM amove_job_pauses`, nil, func(scan func(...any) error) error {
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
	err := q.db.Query(ctx, `SELECT 1 FROM amove_job_pauses WHERE job_id = $1`, []any{id}, func(scan func(...any) error) error {
		paused = true
		var one int
		return scan(&one)
	})
	return paused, err
}
