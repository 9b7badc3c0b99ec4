package amove_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestTransfers uploads and downloads through the Client and checks who may
// see and control a transfer.
func TestTransfers(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		owner := e.newUser(e.admin, amove.RoleCreativeUser)
		a := e.insert(owner, "media", false)
		p := owner.Principal()

		data := make([]byte, 3<<20+5)
		_, _ = rand.Read(data)
		src := filepath.Join(t.TempDir(), "take 1.mov")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := keep(e.c.Upload(ctx, p, amove.UploadRequest{AccountID: a.ID, Bucket: "media", Key: "in/", LocalPath: src}))
		if err != nil {
			t.Fatal(err)
		}
		st := waitTransfer(t, e.c, p, id)
		if st.State != transfer.Completed || st.BytesDone != int64(len(data)) || !st.ChecksumVerified {
			t.Fatalf("upload %+v", st)
		}

		dir := t.TempDir()
		id, err = keep(e.c.Download(ctx, p, amove.DownloadRequest{AccountID: a.ID, Bucket: "media", Key: "in/take 1.mov", LocalPath: dir}))
		if err != nil {
			t.Fatal(err)
		}
		if st := waitTransfer(t, e.c, p, id); st.State != transfer.Completed {
			t.Fatalf("download %+v", st)
		}
		got, err := os.ReadFile(filepath.Join(dir, "take 1.mov"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("downloaded file differs (%v)", err)
		}

		// Others: a standard user of the tenant sees nothing; the admin sees
		// the transfer; another tenant's admin does not.
		std := e.newUser(e.admin, amove.RoleStandardUser).Principal()
		if _, err := keep(e.c.TransferStatus(ctx, std, id)); !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("standard user sees another's transfer: %v", err)
		}
		if err := keepErr(e.c.CancelTransfer(ctx, std, id)); !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("standard user cancels another's transfer: %v", err)
		}
		if _, err := keep(e.c.TransferStatus(ctx, e.admin.Principal(), id)); err != nil {
			t.Errorf("admin cannot see a tenant transfer: %v", err)
		}
		_, other := e.newTenant("other")
		if list, _ := keep(e.c.ListTransfers(ctx, other.Principal())); len(list) != 0 {
			t.Errorf("another tenant lists %d transfers", len(list))
		}
		if list, _ := keep(e.c.ListTransfers(ctx, p)); len(list) != 2 {
			t.Errorf("owner lists %d transfers, want 2", len(list))
		}
		// A finished transfer cannot be paused: TRANSFER code.
		if err := keepErr(e.c.PauseTransfer(ctx, p, id)); amove.ErrorCode(err) != amove.CodeTransfer {
			t.Errorf("pause of a completed transfer: %v", err)
		}
		// Starting on an account the caller cannot see.
		if _, err := keep(e.c.Upload(ctx, std, amove.UploadRequest{AccountID: a.ID, Bucket: "media", LocalPath: src})); !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("upload to an invisible account: %v", err)
		}
		if _, err := keep(e.c.Upload(ctx, p, amove.UploadRequest{AccountID: a.ID, Bucket: "media", LocalPath: "/no/such/file"})); !errors.Is(err, amove.ErrValidation) {
			t.Errorf("upload of a missing file: %v", err)
		}
	})
}

func waitTransfer(t *testing.T, c *amove.Client, p amove.Principal, id string) transfer.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := c.Transfers().Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.TransferStatus(ctx, p, id); err != nil {
		t.Fatal(err)
	}
	return st
}

// slowParts delays each part so a test can stop the client mid-upload.
type slowParts struct {
	nopClose
	parts chan int
}

func (s slowParts) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	select {
	case <-time.After(40 * time.Millisecond):
	case <-ctx.Done():
		return provider.Part{}, ctx.Err()
	}
	p, err := s.nopClose.UploadPart(ctx, u, n, r, size)
	if err == nil {
		select {
		case s.parts <- n:
		default:
		}
	}
	return p, err
}

// TestTransferSurvivesRestart closes the Client mid-upload (as an agent
// restart would) and opens a new one on the same store: the transfer
// continues from the store's journal and completes byte-exact, without
// sending the finished parts again.
func TestTransferSurvivesRestart(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		cloud := newFakeCloud(t)
		parts := make(chan int, 64)
		var sent atomic.Int64
		open := func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			if _, err := cloud.open(ctx, cfg); err != nil {
				return nil, err
			}
			return countingParts{slowParts{nopClose{cloud.mem}, parts}, &sent}, nil
		}
		keyFile := filepath.Join(t.TempDir(), "secret.key")
		newClient := func() *amove.Client {
			c, err := amove.New(ctx, amove.Options{DSN: b.dsn, KeyFile: keyFile, OpenStorage: open,
				Logger: slog.New(slog.DiscardHandler), Transfers: amove.TransferOptions{PartSize: 5 << 20, Concurrency: 1}})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		c1 := newClient()
		_, admin, err := c1.CreateTenant(ctx, uniqueName("t"), amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
		if err != nil {
			t.Fatal(err)
		}
		p := admin.Principal()
		a, err := c1.InsertAccount(ctx, p, goodAccount("media", false))
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 40<<20)
		_, _ = rand.Read(data)
		src := filepath.Join(t.TempDir(), "big.bin")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := c1.Upload(ctx, p, amove.UploadRequest{AccountID: a.ID, Bucket: "media", Key: "big.bin", LocalPath: src})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			<-parts
		}
		c1.Close() // the running transfer stays "running" in the store
		before := sent.Load()

		c2 := newClient()
		defer c2.Close()
		st := waitTransfer(t, c2, p, id)
		if st.State != transfer.Completed || !st.ChecksumVerified {
			t.Fatalf("after restart: %+v", st)
		}
		rc, err := cloud.mem.NewRangeReader(ctx, "media", "big.bin", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data) {
			t.Fatal("object differs after the restart")
		}
		// 8 parts in all: the new client sends only those the journal lacks.
		if after := sent.Load() - before; after+before > 8+1 || after == 0 {
			t.Errorf("parts sent: %d before the restart, %d after; 8 in all", before, after)
		}
	})
}

type countingParts struct {
	slowParts
	n *atomic.Int64
}

func (c countingParts) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	p, err := c.slowParts.UploadPart(ctx, u, n, r, size)
	if err == nil {
		c.n.Add(1)
	}
	return p, err
}

// TestTransfersOfOtherClients: clients on one store stand for the agent and
// CLI runs. A client lists and looks up the transfers of the others, closed
// or running, with their recorded state and bytes; it cannot pause one that
// runs elsewhere, and it takes over a paused one it resumes.
func TestTransfersOfOtherClients(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		cloud := newFakeCloud(t)
		parts := make(chan int, 256)
		open := func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			if _, err := cloud.open(ctx, cfg); err != nil {
				return nil, err
			}
			return slowParts{nopClose{cloud.mem}, parts}, nil
		}
		keyFile := filepath.Join(t.TempDir(), "secret.key")
		newClient := func(skipRestore bool) *amove.Client {
			c, err := amove.New(ctx, amove.Options{DSN: b.dsn, KeyFile: keyFile, OpenStorage: open, Logger: slog.New(slog.DiscardHandler),
				Transfers: amove.TransferOptions{PartSize: 5 << 20, Concurrency: 1, SkipRestore: skipRestore}})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		agent := newClient(false)
		defer agent.Close()
		_, admin, err := agent.CreateTenant(ctx, uniqueName("t"), amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
		if err != nil {
			t.Fatal(err)
		}
		p := admin.Principal()
		a, err := agent.InsertAccount(ctx, p, goodAccount("media", false))
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		small, big := filepath.Join(dir, "small.bin"), filepath.Join(dir, "big.bin")
		if err := os.WriteFile(small, make([]byte, 1000), 0o644); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 30<<20)
		_, _ = rand.Read(data)
		if err := os.WriteFile(big, data, 0o644); err != nil {
			t.Fatal(err)
		}
		upload := func(c *amove.Client, path, key string) string {
			t.Helper()
			id, err := c.Upload(ctx, p, amove.UploadRequest{AccountID: a.ID, Bucket: "media", Key: key, LocalPath: path})
			if err != nil {
				t.Fatal(err)
			}
			return id
		}

		// An earlier CLI run completed one upload, another paused one.
		cli1 := newClient(true)
		done := upload(cli1, small, "small.bin")
		waitTransfer(t, cli1, p, done)
		cli1.Close()
		cli2 := newClient(true)
		paused := upload(cli2, big, "paused.bin")
		<-parts
		if err := cli2.PauseTransfer(ctx, p, paused); err != nil {
			t.Fatal(err)
		}
		cli2.Close()
		// The agent runs one now.
		running := upload(agent, big, "running.bin")
		<-parts

		cli := newClient(true)
		defer cli.Close()
		list, err := cli.ListTransfers(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]transfer.Status{}
		for _, st := range list {
			got[st.ID] = st
		}
		if st := got[done]; st.State != transfer.Completed || st.BytesDone != 1000 || st.FilesDone != 1 || !st.ChecksumVerified {
			t.Errorf("completed transfer of an earlier client: %+v", st)
		}
		if st := got[paused]; st.State != transfer.Paused || st.BytesDone == 0 || st.BytesTotal != int64(len(data)) {
			t.Errorf("paused transfer of an earlier client: %+v", st)
		}
		if st := got[running]; st.State != transfer.Running || st.BytesTotal != int64(len(data)) {
			t.Errorf("running transfer of the agent: %+v", st)
		}
		if len(list) != 3 {
			t.Errorf("the CLI lists %d transfers, want 3", len(list))
		}
		if st, err := cli.TransferStatus(ctx, p, paused); err != nil || st.State != transfer.Paused {
			t.Errorf("status of another client's transfer: %+v, %v", st, err)
		}
		// Others of the tenant and other tenants see nothing.
		std := newEnvUser(t, agent, admin, amove.RoleStandardUser)
		if list, _ := cli.ListTransfers(ctx, std); len(list) != 0 {
			t.Errorf("a standard user lists %d transfers of another", len(list))
		}
		if _, err := cli.TransferStatus(ctx, std, done); !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("a standard user sees another's transfer: %v", err)
		}

		// The agent's running transfer is the agent's to control.
		if err := cli.PauseTransfer(ctx, p, running); amove.ErrorCode(err) != amove.CodeTransfer || !errors.Is(err, transfer.ErrBadState) {
			t.Errorf("pause of the agent's transfer from the CLI: %v", err)
		}
		if err := cli.CancelTransfer(ctx, p, running); amove.ErrorCode(err) != amove.CodeTransfer {
			t.Errorf("cancel of the agent's transfer from the CLI: %v", err)
		}
		// A paused one is taken over by whoever resumes it.
		go func() {
			for range parts {
			}
		}()
		if err := cli.ResumeTransfer(ctx, p, paused); err != nil {
			t.Fatal(err)
		}
		if st := waitTransfer(t, cli, p, paused); st.State != transfer.Completed || st.BytesDone != int64(len(data)) {
			t.Errorf("resumed in the CLI: %+v", st)
		}
		if st := waitTransfer(t, agent, p, running); st.State != transfer.Completed {
			t.Errorf("the agent's transfer: %+v", st)
		}
		if st, err := agent.TransferStatus(ctx, p, paused); err != nil || st.State != transfer.Completed {
			t.Errorf("the agent sees the CLI's resumed transfer as %+v, %v", st, err)
		}
	})
}

func newEnvUser(t *testing.T, c *amove.Client, admin amove.User, role amove.Role) amove.Principal {
	t.Helper()
	u, err := c.CreateUser(context.Background(), admin.Principal(), amove.NewUser{Username: uniqueName("user"), Role: role})
	if err != nil {
		t.Fatal(err)
	}
	return u.Principal()
}
