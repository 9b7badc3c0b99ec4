package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amove/amove-go/internal/jobs"
	"github.com/amove/amove-go/internal/jobs/jobstest"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
	"github.com/amove/amove-go/store/sqlite"
	"github.com/amove/amove-go/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "amove.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestJournal(t *testing.T) {
	storetest.RunJournal(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "amove.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestJournalRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amove.db")
	storetest.JournalRestart(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen checks that migrations are idempotent, data survives a restart
// and the file is private.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "amove.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tn := store.Tenant{ID: "7d1c1a47-54a4-4a55-9b8f-03c1f2b07e51", Name: "t", Created: time.Now()}
	u := store.User{ID: "0b8a1a47-54a4-4a55-9b8f-03c1f2b07e51", TenantID: tn.ID, Username: "a", Role: store.RoleStandardUser, Active: true, Created: time.Now()}
	if err := s.CreateTenant(ctx, tn, u); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	// One row per migration file.
	files, _ := filepath.Glob("migrations/*.sql")
	var versions int
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&versions); err != nil || versions != len(files) {
		t.Errorf("schema_version rows = %d, %v; want %d", versions, err, len(files))
	}
}

// TestTwoStoresOneFile stands for two agents sharing one database file: each
// has its own writer connection, so here SQLite's lock and busy_timeout
// (not the Go pool) keep 50 concurrent writers from failing.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "amove.db")
	var stores [2]*sqlite.Store
	for i := range stores {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	tn := store.Tenant{ID: uuid.NewString(), Name: "t", Created: time.Now()}
	u := store.User{ID: uuid.NewString(), TenantID: tn.ID, Username: "a", Role: store.RoleDesktopAdmin, Active: true, Created: time.Now()}
	if err := stores[0].CreateTenant(ctx, tn, u); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			a := store.Account{ID: uuid.NewString(), TenantID: tn.ID, UserID: u.ID, CloudType: provider.AWS,
				Name: "a", Active: true, Created: time.Now(), Updated: time.Now()}
			if err := s.InsertAccount(ctx, a); err != nil {
				errs <- err
				return
			}
			if err := s.SetShared(ctx, tn.ID, u.ID, a.ID, true, time.Now()); err != nil {
				errs <- err
				return
			}
			if err := stores[(i+1)%2].DeleteAccount(ctx, tn.ID, u.ID, a.ID, time.Now()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := stores[1].ListAccounts(ctx, store.AccountQuery{TenantID: tn.ID, UserID: u.ID})
	if err != nil || len(list) != 0 {
		t.Errorf("%d accounts left, %v", len(list), err)
	}
}

// TestOpenByDSN opens the store through the registry, as a Client does,
// and shows an older program refuses a file a newer one migrated.
func TestOpenByDSN(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "amove.db")
	s, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*sqlite.Store); !ok {
		t.Fatalf("store.Open(sqlite DSN) = %T, want *sqlite.Store", s)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_version (version, applied_at) VALUES (9999, 'x')`); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(ctx, "sqlite:"+path); !errors.Is(err, store.ErrSchemaTooNew) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("opening a file at version 9999 = %v, want ErrTooNew", err)
	}
}

// TestJobsBackend: the store gives the job queue a working backend on its
// writer; another type of store gets none.
func TestJobsBackend(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "amove.db"))
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
