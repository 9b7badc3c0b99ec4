package postgres_test

import (
	"context"
	"testing"

	"github.com/amove/amove-go/internal/store"
	"github.com/amove/amove-go/internal/store/postgres"
	"github.com/amove/amove-go/internal/store/postgres/pgtest"
	"github.com/amove/amove-go/internal/store/storetest"
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
