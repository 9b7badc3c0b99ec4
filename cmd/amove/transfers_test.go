package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestTransfersListsEveryProcess: `amove transfers` lists the transfers of
// the agent and of earlier CLI runs on the same store: one completed and
// one paused by CLI runs that have closed, one of the running agent.
func TestTransfersListsEveryProcess(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AMOVE_CONFIG", filepath.Join(dir, "none.json"))
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dsn, keyFile := "sqlite:"+filepath.Join(dir, "a.db"), filepath.Join(dir, "secret.key")
	open := func(agent bool) (*amove.Client, amove.User) {
		t.Helper()
		s := settings{DSN: dsn, KeyFile: keyFile, Addr: "127.0.0.1:0"}
		if err := s.load(); err != nil {
			t.Fatal(err)
		}
		c, err := s.open(ctx, log, "")
		if err != nil {
			t.Fatal(err)
		}
		if agent { // as cmdServe
			if err := c.RestoreTransfers(ctx); err != nil {
				t.Fatal(err)
			}
		}
		u, err := s.localAdmin(ctx, c)
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		return c, u
	}

	// The agent, with its embedded local storage.
	agent, admin := open(true)
	defer agent.Close()
	s := settings{DSN: dsn, KeyFile: keyFile, Addr: "127.0.0.1:0"}
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	stop, err := s.startLocalStorage(ctx, agent, admin, log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var account string
	list, err := agent.ListAccounts(ctx, admin.Principal())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.CloudType == provider.LocalHttp {
			account = a.ID
		}
	}
	if account == "" {
		t.Fatal("no local storage account")
	}
	// The files live outside the agent's folder, which no transfer may read.
	files := t.TempDir()
	small, big := filepath.Join(files, "small.txt"), filepath.Join(files, "big.bin")
	if err := os.WriteFile(small, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, bytes.Repeat([]byte("amove"), 64<<20/5), 0o600); err != nil {
		t.Fatal(err)
	}
	upload := func(c *amove.Client, p amove.Principal, path, key string) string {
		t.Helper()
		id, err := c.Upload(ctx, p, amove.UploadRequest{AccountID: account, Bucket: localBucket, Key: key, LocalPath: path})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	waitFor := func(c *amove.Client, id string, want transfer.State) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if st, err := c.WaitTransfer(wctx, admin.Principal(), id); err != nil || st.State != want {
			t.Fatalf("transfer %s: %+v, %v; want %s", id, st, err, want)
		}
	}

	// An earlier CLI run completed an upload; another paused one.
	cli, u := open(false)
	completed := upload(cli, u.Principal(), small, "small.txt")
	waitFor(cli, completed, transfer.Completed)
	cli.Close()
	cli, u = open(false)
	paused := upload(cli, u.Principal(), big, "big.bin")
	if err := cli.PauseTransfer(ctx, u.Principal(), paused); err != nil {
		t.Fatal(err)
	}
	waitFor(cli, paused, transfer.Paused)
	cli.Close()
	// The agent's own.
	byAgent := upload(agent, admin.Principal(), small, "agent.txt")
	waitFor(agent, byAgent, transfer.Completed)

	var out bytes.Buffer
	if err := runCLI(ctx, &out, io.Discard, "transfers", "-dsn", dsn, "-key-file", keyFile); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	for id, want := range map[string][]string{
		completed: {"upload", "completed", "5/5", "1/1"},
		paused:    {"upload", "paused"},
		byAgent:   {"upload", "completed", "5/5", "1/1"},
	} {
		got := rows[id]
		if len(got) < 1+len(want) || !slices.Equal(got[1:1+len(want)], want) {
			t.Errorf("transfer %s: row %q, want %q\n%s", id, got, want, out.String())
		}
	}
	if len(rows) != 3 {
		t.Errorf("%d transfers listed, want 3:\n%s", len(rows), out.String())
	}
}
