package amove_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/store/sqlite"
)

// TestNewDefaults opens the default store and key file under the user's
// configuration directory.
func TestNewDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	cfg, err := os.UserConfigDir()
	if err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	c, err := amove.New(ctx, amove.Options{Logger: slog.New(slog.DiscardHandler)})
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
	c, err = amove.New(ctx, amove.Options{Logger: slog.New(slog.DiscardHandler)})
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
	var su amove.StoredUser
	if su, err = s.GetUser(ctx, u.ID); err != nil || su.Username != "given" {
		t.Errorf("store after Client.Close: %+v, %v", su, err)
	}
}
