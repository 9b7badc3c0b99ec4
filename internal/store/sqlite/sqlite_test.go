package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/store"
	"github.com/amove/amove-go/internal/store/sqlite"
	"github.com/amove/amove-go/internal/store/storetest"
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
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
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
	var versions int
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_version`).Scan(&versions); err != nil || versions != 1 {
		t.Errorf("schema_version rows = %d, %v; want 1", versions, err)
	}
}
