// Package jobspg is the PostgreSQL jobs.Backend: river's pgx driver, this
// package's SQL on a pgx pool, and LISTEN/NOTIFY between the agents. It
// lives apart from package jobs so that only a program that imports the
// PostgreSQL store links pgx.
package jobspg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/amove/amove-go/internal/jobs"
)

// migrateLockKey is the advisory lock that serializes migrations of agents
// starting at the same time ("amovejob" in ASCII). It differs from the
// store's key so that neither waits on the other.
const migrateLockKey = 0x616d6f76656a6f62

// Backend is a jobs.Backend on a PostgreSQL pool, normally the store's.
type Backend struct {
	db
	driver *riverpgxv5.Driver

	mu       sync.Mutex
	schema   string // current_schema(), once read; see channel
	schemaOK bool
}

var _ jobs.Backend = (*Backend)(nil)

// New returns a Backend on pool. It connects to nothing until used.
func New(pool *pgxpool.Pool) *Backend {
	return &Backend{db: db{pool: pool, q: pool}, driver: riverpgxv5.New(pool)}
}

// NewClient implements jobs.Backend.
func (b *Backend) NewClient(cfg *river.Config) (jobs.RiverClient, error) {
	return river.NewClient(b.driver, cfg)
}

// Migrate implements jobs.Backend. rivermigrate takes no lock of its own
// (rivermigrate/river_migrate.go) and its MigrateTx is deprecated, so the
// advisory lock is a session lock, held on one connection around Migrate
// and our transaction.
func (b *Backend) Migrate(ctx context.Context, log *slog.Logger, own func(ctx context.Context, tx jobs.DB) error) error {
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		// A failed unlock leaves the lock to die with the session; close
		// the connection so that happens now.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey)); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	m, err := rivermigrate.New(b.driver, &rivermigrate.Config{Logger: log})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		return own(ctx, db{pool: b.pool, q: tx, inTx: true})
	})
}

// LatestJob implements jobs.Backend.
func (b *Backend) LatestJob(ctx context.Context, kind string, args json.RawMessage) (int64, error) {
	var id int64
	err := b.pool.QueryRow(ctx, `SELECT id FROM river_job WHERE kind = $1 AND args = $2::jsonb ORDER BY id DESC LIMIT 1`,
		kind, string(args)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, jobs.ErrNotFound
	}
	return id, err
}

// Notifier implements jobs.Backend: LISTEN/NOTIFY.
func (b *Backend) Notifier() jobs.Notifier { return notifier{b} }

// channel returns the NOTIFY channel of name: prefixed with the schema,
// like river's (riverpgxv5 Listener.Connect), because channels are per
// database and agents in different schemas of one database must not hear
// each other.
func (b *Backend) channel(ctx context.Context, name string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.schemaOK {
		if err := b.pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&b.schema); err != nil {
			return "", err
		}
		b.schemaOK = true
	}
	return b.schema + "." + name, nil
}

// db is jobs.DB on a pool or, inside Tx, on a transaction.
type db struct {
	pool *pgxpool.Pool
	q    querier
	inTx bool
}

// querier is what a pool, a connection and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Exec implements jobs.DB. Without args pgx uses the simple protocol,
// which runs several statements at once.
func (d db) Exec(ctx context.Context, query string, args ...any) error {
	_, err := d.q.Exec(ctx, query, args...)
	return err
}

// Query implements jobs.DB.
func (d db) Query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := d.q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Tx implements jobs.DB.
func (d db) Tx(ctx context.Context, fn func(tx jobs.DB) error) error {
	if d.inTx {
		return fn(d)
	}
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		return fn(db{pool: d.pool, q: tx, inTx: true})
	})
}

// notifier is jobs.Notifier on LISTEN/NOTIFY.
type notifier struct{ b *Backend }

// Notify implements jobs.Notifier.
func (n notifier) Notify(ctx context.Context, channel, payload string) error {
	ch, err := n.b.channel(ctx, channel)
	if err != nil {
		return err
	}
	_, err = n.b.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, ch, payload)
	return err
}

// Listen implements jobs.Notifier. It holds one pool connection, which it
// closes rather than hands back to the pool in the LISTENing state.
func (n notifier) Listen(ctx context.Context, channels []string, deliver func(channel, payload string), log *slog.Logger) (func(), error) {
	l := &listener{pool: n.b.pool, names: map[string]string{}, deliver: deliver, log: log}
	for _, name := range channels {
		ch, err := n.b.channel(ctx, name)
		if err != nil {
			return nil, err
		}
		l.names[ch] = name
	}
	if err := l.connect(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(bg)
	}()
	return func() { cancel(); <-done }, nil
}

// listener is one Listen: its connection and what it delivers to.
type listener struct {
	pool    *pgxpool.Pool
	names   map[string]string // NOTIFY channel -> name given to Listen
	deliver func(channel, payload string)
	log     *slog.Logger
	conn    *pgxpool.Conn // owned by run; nil while reconnecting
}

func (l *listener) connect(ctx context.Context) error {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	for ch := range l.names {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			conn.Release()
			return err
		}
	}
	l.conn = conn
	return nil
}

// drop closes the listening connection.
func (l *listener) drop(ctx context.Context) {
	_ = l.conn.Conn().Close(context.WithoutCancel(ctx))
	l.conn.Release()
	l.conn = nil
}

// run delivers notifications until ctx ends, reconnecting after errors.
func (l *listener) run(ctx context.Context) {
	defer func() {
		if l.conn != nil {
			l.drop(ctx)
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if l.conn == nil {
			if err := l.connect(ctx); err != nil {
				if ctx.Err() == nil {
					l.log.WarnContext(ctx, "jobs: listen: reconnect", "err", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
		}
		msg, err := l.conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() == nil {
				l.log.WarnContext(ctx, "jobs: listen", "err", err)
				l.drop(ctx)
			}
			continue
		}
		if name, ok := l.names[msg.Channel]; ok {
			l.deliver(name, msg.Payload)
		}
	}
}
