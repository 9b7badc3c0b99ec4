package amove_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// delayedParts delays every part sent, so a test can act while a transfer
// runs.
type delayedParts struct {
	nopClose
	delay time.Duration
}

func (s delayedParts) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return provider.Part{}, ctx.Err()
	}
	return s.nopClose.UploadPart(ctx, u, n, r, size)
}

// agentEnv is one store with agents on it, all reaching one fake cloud.
type agentEnv struct {
	t     *testing.T
	dsn   string
	key   string
	cloud *fakeCloud
	delay atomic.Int64 // nanoseconds each part waits
}

func (e *agentEnv) agent(id string) *amove.Client {
	e.t.Helper()
	c, err := amove.New(context.Background(), amove.Options{
		DSN: e.dsn, KeyFile: e.key, Logger: slog.New(slog.DiscardHandler),
		OpenStorage: func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			st, err := e.cloud.open(ctx, cfg)
			if err != nil || e.delay.Load() == 0 {
				return st, err
			}
			return delayedParts{st.(nopClose), time.Duration(e.delay.Load())}, nil
		},
		Transfers: amove.TransferOptions{AgentID: id, PartSize: 5 << 20, Concurrency: 2},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func waitState(t *testing.T, c *amove.Client, p amove.Principal, id string, want transfer.State) transfer.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := c.WaitTransfer(ctx, p, id)
	if err != nil || st.State != want {
		t.Fatalf("transfer %s: %+v, %v; want %s", id, st, err, want)
	}
	return st
}

func objectSum(t *testing.T, c *fakeCloud, key string) [32]byte {
	t.Helper()
	rc, err := c.mem.NewRangeReader(context.Background(), "media", key, 0, -1)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// TestAgents: transfers through the store's queue (TransferOptions.AgentID)
// on both stores: they complete with the bytes intact and are paused,
// resumed and cancelled through it. On PostgreSQL two agents share it: an
// upload never runs on an agent other than the one that started it (where
// its file is), a copy runs on either, pause, resume and cancel work from
// either, and the events of a transfer reach both.
func TestAgents(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		e := &agentEnv{t: t, dsn: b.dsn, key: filepath.Join(t.TempDir(), "secret.key"), cloud: newFakeCloud(t)}
		a := e.agent("agent-a")
		_, admin, err := a.CreateTenant(ctx, "t", amove.NewUser{Username: uniqueName("agents"), Role: amove.RoleDesktopAdmin})
		if err != nil {
			t.Fatal(err)
		}
		p := admin.Principal()
		src, err := a.InsertAccount(ctx, p, goodAccount("src", false))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := a.InsertAccount(ctx, p, goodAccount("dst", false))
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 12<<20+5)
		rand.Read(data)
		file := filepath.Join(t.TempDir(), "f.bin")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)

		// A second agent on PostgreSQL; SQLite is one agent's store.
		other := a
		if b.name == "postgres" {
			other = e.agent("agent-b")
			if err := other.RestoreTransfers(ctx); err != nil {
				t.Fatal(err)
			}
			// The upload waits for agent-a, which has not started
			// working: agent-b, running, must leave it alone.
			up, err := a.Upload(ctx, p, amove.UploadRequest{AccountID: src.ID, Bucket: "media", Key: "up.bin", LocalPath: file})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(4 * time.Second)
			st, err := other.TransferStatus(ctx, p, up)
			if err != nil || st.State != transfer.Pending {
				t.Fatalf("an upload of agent-a seen from agent-b while agent-a does not work: %+v, %v; want it pending", st, err)
			}
			if err := a.RestoreTransfers(ctx); err != nil {
				t.Fatal(err)
			}
			waitState(t, other, p, up, transfer.Completed)
			if objectSum(t, e.cloud, "up.bin") != want {
				t.Error("the uploaded object differs from the file")
			}
		} else if err := a.RestoreTransfers(ctx); err != nil {
			t.Fatal(err)
		} else {
			up, err := a.Upload(ctx, p, amove.UploadRequest{AccountID: src.ID, Bucket: "media", Key: "up.bin", LocalPath: file})
			if err != nil {
				t.Fatal(err)
			}
			waitState(t, a, p, up, transfer.Completed)
			if objectSum(t, e.cloud, "up.bin") != want {
				t.Error("the uploaded object differs from the file")
			}
		}

		// A copy, started on one agent, watched from both.
		evA, stopA := a.Subscribe(ctx, p)
		defer stopA()
		evB, stopB := other.Subscribe(ctx, p)
		defer stopB()
		cp, err := other.Copy(ctx, p, amove.CopyRequest{SourceAccountID: src.ID, SourceBucket: "media", SourceKey: "up.bin",
			DestAccountID: dst.ID, DestBucket: "media", DestKey: "copy.bin"})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, a, p, cp, transfer.Completed)
		if objectSum(t, e.cloud, "copy.bin") != want {
			t.Error("the copied object differs from its source")
		}
		for name, ch := range map[string]<-chan transfer.Event{"agent-a": evA, "agent-b": evB} {
			if !sawState(ch, cp, transfer.Completed, 10*time.Second) {
				t.Errorf("%s's subscriber never saw the copy complete", name)
			}
		}

		// Pause from one agent, resume from the other, cancel.
		e.delay.Store(int64(300 * time.Millisecond))
		slow, err := a.Copy(ctx, p, amove.CopyRequest{SourceAccountID: src.ID, SourceBucket: "media", SourceKey: "up.bin",
			DestAccountID: dst.ID, DestBucket: "media", DestKey: "slow.bin"})
		if err != nil {
			t.Fatal(err)
		}
		if err := other.PauseTransfer(ctx, p, slow); err != nil {
			t.Fatal(err)
		}
		waitState(t, a, p, slow, transfer.Paused)
		e.delay.Store(0)
		if err := a.ResumeTransfer(ctx, p, slow); err != nil {
			t.Fatal(err)
		}
		waitState(t, other, p, slow, transfer.Completed)
		if objectSum(t, e.cloud, "slow.bin") != want {
			t.Error("the paused and resumed copy differs from its source")
		}

		e.delay.Store(int64(300 * time.Millisecond))
		doomed, err := other.Copy(ctx, p, amove.CopyRequest{SourceAccountID: src.ID, SourceBucket: "media", SourceKey: "up.bin",
			DestAccountID: dst.ID, DestBucket: "media", DestKey: "doomed.bin"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if err := a.CancelTransfer(ctx, p, doomed); err != nil {
			t.Fatal(err)
		}
		waitState(t, other, p, doomed, transfer.Cancelled)
		if ups, _ := e.cloud.mem.ListUploads(ctx, "media", "doomed.bin"); len(ups) != 0 {
			t.Errorf("the cancelled copy left %d multipart uploads", len(ups))
		}

		agents, err := a.Agents(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, ag := range agents {
			ids = append(ids, ag.ID)
			if time.Since(ag.Heartbeat) > time.Minute {
				t.Errorf("agent %s: last heartbeat %s ago", ag.ID, time.Since(ag.Heartbeat))
			}
		}
		wantIDs := []string{"agent-a"}
		if b.name == "postgres" {
			wantIDs = append(wantIDs, "agent-b")
		}
		if !slices.Equal(ids, wantIDs) {
			t.Errorf("Agents = %v, want %v", ids, wantIDs)
		}
	})
}

// sawState reports whether ch delivers a state event of transfer id in
// state want within d.
func sawState(ch <-chan transfer.Event, id string, want transfer.State, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return false
			}
			if ev.Type == transfer.EventState && ev.Status.ID == id && ev.Status.State == want {
				return true
			}
		case <-timeout:
			return false
		}
	}
}
