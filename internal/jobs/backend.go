package jobs

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Backend is what a Queue needs of its database. The database specifics
// live in the packages that implement it, jobspg (PostgreSQL, pgx) and
// jobssqlite (SQLite, database/sql), so that this package, and the root
// package that imports it, link no database driver: a program links pgx or
// SQLite only when it imports the store that uses them.
type Backend interface {
	// DB runs this package's own SQL.
	DB

	// NewClient creates a river client on the database, not started.
	NewClient(cfg *river.Config) (RiverClient, error)

	// Migrate brings river's tables up to date and then calls own in one
	// transaction, holding all along a lock that makes a concurrent
	// Migrate on the same database wait, so agents starting together
	// migrate once. river's logs go to log.
	Migrate(ctx context.Context, log *slog.Logger, own func(ctx context.Context, tx DB) error) error

	// LatestJob returns the id of the newest river job of kind whose args
	// equal args as JSON, spacing aside, or ErrNotFound.
	LatestJob(ctx context.Context, kind string, args json.RawMessage) (int64, error)

	// Notifier returns what carries events and control messages to the
	// other agents on the database, or nil where there are none to reach
	// (SQLite: one agent per file), and events stay in the process.
	Notifier() Notifier
}

// DB is the SQL this package runs on its own tables. Statements use $N
// placeholders, which both PostgreSQL and modernc.org/sqlite read, and
// types both understand (bigint, text), so each is written once.
type DB interface {
	// Exec runs a statement. Without args, it may hold several statements
	// separated by ';'.
	Exec(ctx context.Context, query string, args ...any) error

	// Query calls row for each result row; row reads it with scan.
	Query(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error

	// Tx runs fn in one transaction, committing when fn returns nil and
	// rolling back otherwise. On the DB of a transaction, fn runs in that
	// transaction.
	Tx(ctx context.Context, fn func(tx DB) error) error
}

// RiverClient is what a Queue uses of a river.Client[TTx]. Both
// river.Client[pgx.Tx] and river.Client[*sql.Tx] have these methods, so the
// Queue has one code path for both databases and names neither
// transaction type.
type RiverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

// Notifier carries short text messages between the agents sharing a
// database (PostgreSQL's LISTEN/NOTIFY). Delivery is at most once: a
// listener that reconnects misses what was sent meanwhile.
type Notifier interface {
	// Notify sends payload on channel to every listener of the channel on
	// the database, this agent's included. Channel names are plain
	// identifiers; the Notifier keeps agents of different schemas apart.
	Notify(ctx context.Context, channel, payload string) error

	// Listen listens on channels and returns once it does, so that every
	// message notified afterwards is heard. From then on it calls deliver
	// for each message, from one goroutine, reconnecting after errors
	// (which it logs to log), until stop is called; stop returns once
	// deliver will not be called again.
	Listen(ctx context.Context, channels []string, deliver func(channel, payload string), log *slog.Logger) (stop func(), err error)
}

// backends holds the functions registered by RegisterBackend: the one piece
// of global state of the package, as in database/sql, so that a program
// links only the database packages it imports.
var backends struct {
	sync.RWMutex
	find []func(store any) (Backend, bool)
}

// RegisterBackend adds a function that recognises a store and returns a
// Backend on its database. Store packages call it from init, as drivers
// call sql.Register; find reports false for a store that is not its own.
// It panics when find is nil.
func RegisterBackend(find func(store any) (Backend, bool)) {
	if find == nil {
		panic("jobs: RegisterBackend of a nil func")
	}
	backends.Lock()
	defer backends.Unlock()
	backends.find = append(backends.find, find)
}

// BackendFor returns a Backend on the database of store, from the first
// registered function that recognises it. It reports false for any other
// store (one of the caller's own, or a wrapper around ours): such a store
// has no queue, and its transfers run in the process.
func BackendFor(store any) (Backend, bool) {
	backends.RLock()
	defer backends.RUnlock()
	for _, find := range backends.find {
		if b, ok := find(store); ok && b != nil {
			return b, true
		}
	}
	return nil, false
}
