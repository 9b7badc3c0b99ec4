package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/amove/amove-go/internal/jobs"
	"github.com/amove/amove-go/internal/jobs/jobstest"
	"github.com/amove/amove-go/internal/pgtest"
	"github.com/amove/amove-go/store"
	"github.com/amove/amove-go/store/postgres"
	"github.com/amove/amove-go/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.Schema(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestJournal(t *testing.T) {
	storetest.RunJournal(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), pgtest.Schema(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestJournalRestart(t *testing.T) {
	dsn := pgtest.Schema(t)
	storetest.JournalRestart(t, func(t *testing.T) store.Store {
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestMigrateTwice checks that a second agent opening a migrated database
// changes nothing.
func TestMigrateTwice(t *testing.T) {
	dsn := pgtest.Schema(t)
	for range 2 {
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

// TestOpenByDSN opens the store through the registry, as a Client does,
// and shows an older program refuses a schema a newer one migrated.
func TestOpenByDSN(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*postgres.Store); !ok {
		t.Fatalf("store.Open(postgres DSN) = %T, want *postgres.Store", s)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO schema_version (version, applied_at) VALUES (9999, now())`); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(ctx, dsn); !errors.Is(err, store.ErrSchemaTooNew) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("opening a schema at version 9999 = %v, want ErrTooNew", err)
	}
}

// TestJobsBackend: the store gives the job queue a working backend on its
// database; another type of store gets none.
func TestJobsBackend(t *testing.T) {
	s, err := postgres.Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	jobstest.Run(t, s)
	var wrapped struct{ store.Store }
	wrapped.Store = s
	if _, ok := jobs.BackendFor(wrapped); ok {
		t.Error("BackendFor(a wrapper of the store) found a backend")
	}
}
