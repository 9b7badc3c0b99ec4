package amove_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
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
	st, err := c.WaitTransfer(ctx, p, id)
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
			if err := c.RestoreTransfers(ctx); err != nil {
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
		newClient := func(agent bool) *amove.Client {
			c, err := amove.New(ctx, amove.Options{DSN: b.dsn, KeyFile: keyFile, OpenStorage: open, Logger: slog.New(slog.DiscardHandler),
				Transfers: amove.TransferOptions{PartSize: 5 << 20, Concurrency: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if agent {
				if err := c.RestoreTransfers(ctx); err != nil {
					t.Fatal(err)
				}
			}
			return c
		}
		agent := newClient(true)
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
		cli1 := newClient(false)
		done := upload(cli1, small, "small.bin")
		waitTransfer(t, cli1, p, done)
		cli1.Close()
		cli2 := newClient(false)
		paused := upload(cli2, big, "paused.bin")
		<-parts
		if err := cli2.PauseTransfer(ctx, p, paused); err != nil {
			t.Fatal(err)
		}
		cli2.Close()
		// The agent runs one now.
		running := upload(agent, big, "running.bin")
		<-parts

		cli := newClient(false)
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

// gatedParts holds every part upload until release is closed, so a
// transfer stays running for as long as a test needs.
type gatedParts struct {
	nopClose
	release chan struct{}
}

func (g gatedParts) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	select {
	case <-g.release:
	case <-ctx.Done():
		return provider.Part{}, ctx.Err()
	}
	return g.nopClose.UploadPart(ctx, u, n, r, size)
}

// TestTransfersUnderThePrincipal: every transfer method of the Client
// answers NOT_FOUND for a transfer the caller may not see, whether a user
// of the same tenant without rights or another tenant's admin, and leaves
// the transfer as it was; a subscription delivers only the events of the
// transfers its principal may see.
func TestTransfersUnderThePrincipal(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		cloud := newFakeCloud(t)
		release := make(chan struct{})
		open := func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			if _, err := cloud.open(ctx, cfg); err != nil {
				return nil, err
			}
			return gatedParts{nopClose{cloud.mem}, release}, nil
		}
		c, err := amove.New(ctx, amove.Options{DSN: b.dsn, KeyFile: filepath.Join(t.TempDir(), "secret.key"), OpenStorage: open,
			Logger: slog.New(slog.DiscardHandler), Transfers: amove.TransferOptions{PartSize: 5 << 20, Concurrency: 2}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		e := &env{t: t, c: c, cloud: cloud}
		_, admin := e.newTenant("acme")
		alice := e.newUser(admin, amove.RoleCreativeUser)
		carol := e.newUser(admin, amove.RoleStandardUser) // same tenant, no rights on alice's transfers
		_, bob := e.newTenant("other")                    // another tenant's admin
		outsiders := map[string]amove.User{"carol": carol, "bob": bob}

		// Subscribed before anything starts, so nothing is missed.
		subs := map[string]<-chan transfer.Event{}
		for name, u := range map[string]amove.User{"alice": alice, "admin": admin, "carol": carol, "bob": bob} {
			events, stop := c.Subscribe(ctx, u.Principal())
			defer stop()
			subs[name] = events
		}

		data := make([]byte, 12<<20)
		_, _ = rand.Read(data)
		src := filepath.Join(t.TempDir(), "take.mov")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		a := e.insert(alice, "media", false)
		id, err := c.Upload(ctx, alice.Principal(), amove.UploadRequest{AccountID: a.ID, Bucket: "media", Key: "take.mov", LocalPath: src})
		if err != nil {
			t.Fatal(err)
		}

		// The upload is running (its parts wait at the gate): nobody else
		// may see, wait for, pause, resume or cancel it.
		for name, u := range outsiders {
			p := u.Principal()
			if _, err := c.TransferStatus(ctx, p, id); !errors.Is(err, amove.ErrNotFound) {
				t.Errorf("%s: TransferStatus = %v, want ErrNotFound", name, err)
			}
			if _, err := c.WaitTransfer(ctx, p, id); !errors.Is(err, amove.ErrNotFound) {
				t.Errorf("%s: WaitTransfer = %v, want ErrNotFound", name, err)
			}
			if err := c.PauseTransfer(ctx, p, id); !errors.Is(err, amove.ErrNotFound) {
				t.Errorf("%s: PauseTransfer = %v, want ErrNotFound", name, err)
			}
			if err := c.ResumeTransfer(ctx, p, id); !errors.Is(err, amove.ErrNotFound) {
				t.Errorf("%s: ResumeTransfer = %v, want ErrNotFound", name, err)
			}
			if err := c.CancelTransfer(ctx, p, id); !errors.Is(err, amove.ErrNotFound) {
				t.Errorf("%s: CancelTransfer = %v, want ErrNotFound", name, err)
			}
			list, err := c.ListTransfers(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range list {
				if st.ID == id {
					t.Errorf("%s lists alice's transfer", name)
				}
			}
		}
		if st, err := c.TransferStatus(ctx, alice.Principal(), id); err != nil || st.State != transfer.Running && st.State != transfer.Pending {
			t.Fatalf("after the outsiders' calls: %+v, %v; want it still under way", st, err)
		}

		// Its owner pauses and resumes it; it completes byte-exact.
		if err := c.PauseTransfer(ctx, alice.Principal(), id); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if st, err := c.WaitTransfer(wctx, alice.Principal(), id); err != nil || st.State != transfer.Paused {
			t.Fatalf("after the pause: %+v, %v", st, err)
		}
		if err := c.ResumeTransfer(ctx, alice.Principal(), id); err != nil {
			t.Fatal(err)
		}
		close(release)
		if st, err := c.WaitTransfer(wctx, alice.Principal(), id); err != nil || st.State != transfer.Completed || !st.ChecksumVerified {
			t.Fatalf("after the resume: %+v, %v", st, err)
		}
		rc, err := cloud.mem.NewRangeReader(ctx, "media", "take.mov", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Fatal("the uploaded object differs")
		}

		// Alice and her tenant's admin get the transfer's events up to
		// its completion.
		for _, name := range []string{"alice", "admin"} {
			if !readUntil(t, wctx, subs[name], func(ev transfer.Event) bool {
				return ev.Status.ID == id && ev.Type == transfer.EventState && ev.Status.State == transfer.Completed
			}) {
				t.Errorf("%s's subscription ended before alice's upload completed", name)
			}
		}
		// Each outsider starts a transfer of their own and reads their
		// events until it completes: events arrive in order, so any event
		// of alice's, all sent before, would have come first.
		for name, u := range outsiders {
			own := e.insert(u, "own", false)
			oid, err := c.Upload(ctx, u.Principal(), amove.UploadRequest{AccountID: own.ID, Bucket: "media", Key: name + ".txt", LocalPath: src})
			if err != nil {
				t.Fatal(err)
			}
			var leaked []transfer.Event
			if !readUntil(t, wctx, subs[name], func(ev transfer.Event) bool {
				if ev.Status.ID != oid {
					leaked = append(leaked, ev)
				}
				return ev.Status.ID == oid && ev.Type == transfer.EventState && ev.Status.State.Final()
			}) {
				t.Errorf("%s's subscription ended before their own upload ended", name)
			}
			if len(leaked) != 0 {
				t.Errorf("%s received %d events of others' transfers, the first of %s", name, len(leaked), leaked[0].Status.ID)
			}
		}
	})
}

// readUntil reads events until done reports true (true) or the channel
// closes or ctx ends (false).
func readUntil(t *testing.T, ctx context.Context, events <-chan transfer.Event, done func(transfer.Event) bool) bool {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return false
			}
			if done(ev) {
				return true
			}
		case <-ctx.Done():
			t.Error(ctx.Err())
			return false
		}
	}
}
