package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/store"
)

// keepOpen keeps the shared memory driver open when the Client closes it.
type keepOpen struct{ *memory.Storage }

func (keepOpen) Close() error { return nil }

// TestKeysRotate: `amove keys rotate` on a store with a cloud account seals
// its credentials again with a new key (the account still opens, the row
// names the new key), makes new active keys in the keyring file, and a
// token issued before it still authenticates.
func TestKeysRotate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AMOVE_CONFIG", filepath.Join(dir, "none.json"))
	ctx := context.Background()
	dsn, keyFile := "sqlite:"+filepath.Join(dir, "a.db"), filepath.Join(dir, "secret.key")
	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(ctx, "media", ""); err != nil {
		t.Fatal(err)
	}
	open := func() *amove.Client {
		t.Helper()
		c, err := amove.New(ctx, amove.Options{DSN: dsn, KeyFile: keyFile, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			OpenStorage: func(context.Context, provider.Config) (provider.Storage, error) { return keepOpen{mem}, nil }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The agent: the local admin, an account, a token.
	c := open()
	s := settings{DSN: dsn, KeyFile: keyFile}
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	admin, err := s.localAdmin(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.InsertAccount(ctx, admin.Principal(), amove.NewAccount{CloudType: provider.S3Generic, Name: "mem",
		Endpoint: "http://memory.invalid", AccessKey: "memory-access-key", SecretKey: "memory-secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.IssueToken(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	ringPath := filepath.Join(dir, "secret.keyring")
	activeSeal := func() string {
		t.Helper()
		b, err := os.ReadFile(ringPath)
		if err != nil {
			t.Fatal(err)
		}
		var k struct{ Seal, Sign string }
		if err := json.Unmarshal(b, &k); err != nil {
			t.Fatal(err)
		}
		return k.Seal
	}
	before := activeSeal()

	var out bytes.Buffer
	if err := runCLI(ctx, &out, io.Discard, "keys", "rotate", "-dsn", dsn, "-key-file", keyFile); err != nil {
		t.Fatalf("amove keys rotate: %v\n%s", err, out.String())
	}
	after := activeSeal()
	if after == before {
		t.Fatal("the keyring has the same active seal key after rotation")
	}
	for _, want := range []string{"new seal key " + after, "2 stored values sealed again", "stay valid until they expire", "active", "retired"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "memory-secret-key") {
		t.Errorf("output holds a secret:\n%s", out.String())
	}

	// The running agent and a new one open the account and take the old
	// token.
	c2 := open()
	defer c2.Close()
	defer c.Close()
	for i, cl := range []*amove.Client{c, c2} {
		if _, err := cl.ListBuckets(ctx, admin.Principal(), a.ID); err != nil {
			t.Errorf("agent %d after rotation: %v", i, err)
		}
		if _, err := cl.Authenticate(ctx, tok.Token); err != nil {
			t.Errorf("agent %d: the token issued before the rotation: %v", i, err)
		}
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	row, err := st.GetAccount(ctx, admin.TenantID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(row.SecretKey, "v2:"+after+":") || !strings.HasPrefix(row.AccessKey, "v2:"+after+":") {
		t.Errorf("the row is not sealed with the new key: %q", row.SecretKey)
	}

	// `keys` alone, or another word, is a usage error.
	for _, args := range [][]string{nil, {"spin"}, {"rotate", "extra"}} {
		if err := runCLI(ctx, io.Discard, io.Discard, append([]string{"keys"}, args...)...); !errors.Is(err, errUsage) {
			t.Errorf("amove keys %v = %v, want usage", args, err)
		}
	}
	// A user that is not an operator may not rotate.
	std, err := c.CreateUser(ctx, admin.Principal(), amove.NewUser{Username: "std", Role: amove.RoleStandardUser})
	if err != nil {
		t.Fatal(err)
	}
	err = runCLI(ctx, io.Discard, io.Discard, "keys", "rotate", "-dsn", dsn, "-key-file", keyFile, "-user", std.Username)
	if !errors.Is(err, amove.ErrForbidden) || activeSeal() != after {
		t.Errorf("amove keys rotate -user std = %v, want ACCESS and no rotation", err)
	}
}
