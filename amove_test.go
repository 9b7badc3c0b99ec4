package amove_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/store"
	"github.com/amove/amove-go/store/sqlite"
	"github.com/amove/amove-go/transfer"
)

// TestOpenDefault opens the default store and key file under the user's
// configuration directory.
func TestOpenDefault(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	cfg, err := os.UserConfigDir()
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	c, err := amove.OpenDefault(ctx, amove.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, u, err := c.CreateTenant(ctx, "t", amove.NewUser{Username: "a", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for name, mode := range map[string]os.FileMode{"amove.db": 0o600, "secret.keyring": 0o600} {
		fi, err := os.Stat(filepath.Join(cfg, "amove", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	// A second start finds the same key and data: tokens stay valid.
	cloud := newFakeCloud(t)
	c, err = amove.OpenDefault(ctx, amove.Options{Logger: slog.New(slog.DiscardHandler), OpenStorage: cloud.open})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, err := c.IssueToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, tok.Token); err != nil {
		t.Error(err)
	}
	// The whole folder is the Client's own: no transfer reads or writes
	// its files, the store and keyring nor anything else put there.
	a, err := c.InsertAccount(ctx, u.Principal(), goodAccount("media", false))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(cfg, "amove", "notes.txt")
	if err := os.WriteFile(other, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(cfg, "amove", "amove.db"), filepath.Join(cfg, "amove", "secret.keyring"), other} {
		if _, err := c.Upload(ctx, u.Principal(), amove.UploadRequest{AccountID: a.ID, Bucket: "media", LocalPath: path}); !errors.Is(err, transfer.ErrProtected) {
			t.Errorf("upload of %s: %v, want transfer.ErrProtected", path, err)
		}
	}
	if _, err := c.Download(ctx, u.Principal(), amove.DownloadRequest{AccountID: a.ID, Bucket: "media", Key: "x", LocalPath: other, Overwrite: true}); !errors.Is(err, transfer.ErrProtected) {
		t.Errorf("download onto %s: %v, want transfer.ErrProtected", other, err)
	}
}

// TestNewOpensOnlyWhatOptionsName: New without a store or a key refuses,
// says what to set, and writes nothing under the configuration directory
// (or anywhere else: HOME is an empty folder here).
func TestNewOpensOnlyWhatOptionsName(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "a.db")
	for _, tc := range []struct {
		opts amove.Options
		want string
	}{
		{amove.Options{}, "Options.DSN"},
		{amove.Options{SecretKey: make([]byte, 32)}, "Options.DSN"},
		{amove.Options{DSN: dsn}, "Options.KeyFile"},
	} {
		c, err := amove.New(ctx, tc.opts)
		if err == nil {
			c.Close()
			t.Fatalf("New(%+v) opened a Client", tc.opts)
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "OpenDefault") {
			t.Errorf("New(%+v) = %v, want it to name %s and OpenDefault", tc.opts, err, tc.want)
		}
	}
	if _, err := store.Open(ctx, ""); err == nil {
		t.Error("store.Open(\"\") opened a store")
	}
	if ents, err := os.ReadDir(home); err != nil || len(ents) != 0 {
		t.Errorf("the home folder after the refusals: %v %v, want it empty", ents, err)
	}
}

func TestNewErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := amove.New(ctx, amove.Options{DSN: "mysql://root:hunter2hunter2@db/amove", SecretKey: make([]byte, 32)})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unsupported DSN: %v", err)
	}
	_, err = amove.New(ctx, amove.Options{DSN: "postgres://u:hunter2hunter2@127.0.0.1:1/x?connect_timeout=1", SecretKey: make([]byte, 32)})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unreachable postgres: %v", err)
	}
	if _, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), SecretKey: make([]byte, 16)}); err == nil {
		t.Error("a 16-byte key was accepted")
	}
	key := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "b.db"), KeyFile: key}); err == nil {
		t.Error("a world-readable key file was accepted")
	}
}

// TestWrongKey: a store opened with another key cannot read the secrets and
// says so, without returning anything sealed or in clear.
func TestWrongKey(t *testing.T) {
	ctx := context.Background()
	cloud := newFakeCloud(t)
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "a.db")
	key := make([]byte, 32)
	c, err := amove.New(ctx, amove.Options{DSN: dsn, SecretKey: key, OpenStorage: cloud.open, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, u, err := c.CreateTenant(ctx, "t", amove.NewUser{Username: "a", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	a, err := keep(c.InsertAccount(ctx, u.Principal(), goodAccount("x", false)))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	key[0] = 1
	c, err = amove.New(ctx, amove.Options{DSN: dsn, SecretKey: key, OpenStorage: cloud.open, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = keep(c.GetAccount(ctx, u.Principal(), a.ID))
	if err == nil || !strings.Contains(err.Error(), "cannot decrypt") || errors.Is(err, amove.ErrValidation) {
		t.Errorf("GetAccount with the wrong key = %v, want an internal decrypt error", err)
	}
}

// TestGivenStore: a Store passed in Options is used as is and left open.
func TestGivenStore(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "given.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := amove.New(ctx, amove.Options{Store: s, SecretKey: make([]byte, 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, u, err := c.CreateTenant(ctx, "t", amove.NewUser{Username: "given", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var su store.User
	if su, err = s.GetUser(ctx, u.ID); err != nil || su.Username != "given" {
		t.Errorf("store after Client.Close: %+v, %v", su, err)
	}
}

// auditStore is a Store written outside the store packages, as an SDK user
// would: it wraps the SQLite store and counts the accounts written through
// it. Registering it under its own scheme makes it reachable by DSN.
type auditStore struct {
	store.Store
	inserts *atomic.Int32
}

func (s auditStore) InsertAccount(ctx context.Context, a store.Account) error {
	s.inserts.Add(1)
	return s.Store.InsertAccount(ctx, a)
}

var auditInserts atomic.Int32

func init() {
	store.Register("audit", func(ctx context.Context, dsn string) (store.Store, error) {
		inner, err := sqlite.Open(ctx, strings.TrimPrefix(dsn, "audit:"))
		if err != nil {
			return nil, err
		}
		return auditStore{Store: inner, inserts: &auditInserts}, nil
	})
}

// TestRegisteredStore: a Client opened with the DSN of a store registered
// from outside uses it for every write, and closes it.
func TestRegisteredStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mem := memory.New(memory.Options{})
	c, err := amove.New(ctx, amove.Options{DSN: "audit:" + filepath.Join(dir, "a.db"), SecretKey: make([]byte, 32), Logger: slog.New(slog.DiscardHandler),
		OpenStorage: func(context.Context, provider.Config) (provider.Storage, error) { return nopClose{mem}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, u, err := c.CreateTenant(ctx, "t", amove.NewUser{Username: "audited", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	before := auditInserts.Load()
	if _, err := c.InsertAccount(ctx, u.Principal(), goodAccount("audited", false)); err != nil {
		t.Fatal(err)
	}
	if got := auditInserts.Load() - before; got != 1 {
		t.Errorf("the registered store saw %d account inserts, want 1", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed by the Client: the file is free for another store to open and
	// holds the account.
	s, err := sqlite.Open(ctx, filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accts, err := s.ListAccounts(ctx, store.AccountQuery{TenantID: u.TenantID, UserID: u.ID})
	if err != nil || len(accts) != 1 {
		t.Errorf("accounts in the file: %v, %v; want the one inserted", accts, err)
	}
}
