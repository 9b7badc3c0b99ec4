package amove_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestServerTransferChunkBounded: a request may ask for 5 GiB chunks (the
// spec's chunkSizeMB), but a transfer the agent relays itself holds
// buffers of at most 64 MiB each, so a request cannot make the agent
// allocate concurrency x 5 GiB. The bytes still arrive whole.
func TestServerTransferChunkBounded(t *testing.T) {
	ctx := context.Background()
	const key, secret = "AKSRV0001", "server-secret-0123456789abcdef"
	srcSrv, src := fastrServer(t, key, secret, nil)
	dstSrv, dst := fastrServer(t, key, secret, nil)
	const size = 3<<20 + 5
	data := make([]byte, size)
	_, _ = rand.Read(data)
	if _, err := src.Put(ctx, "bkt", "v.bin", bytes.NewReader(data), size, "", ""); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, uniqueName("t"), amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	p := admin.Principal()
	srcA, err := c.InsertAccount(ctx, p, amove.NewAccount{CloudType: provider.LocalHttp, Name: "s", ServiceURL: srcSrv.URL, AccessKey: key, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	dstA, err := c.InsertAccount(ctx, p, amove.NewAccount{CloudType: provider.FastrServer, Name: "d", ServiceURL: dstSrv.URL, AccessKey: key, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	id, err := c.StartServerTransfer(ctx, p, amove.ServerTransferRequest{SourceAccountID: srcA.ID, SourceBucket: "bkt", SourceKey: "v.bin",
		TargetAccountID: dstA.ID, TargetBucket: "bkt", TargetKey: "big-chunks.bin", ChunkSize: 4 << 30})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := c.WaitTransfer(wctx, p, id)
	if err != nil || st.State != transfer.Completed {
		t.Fatalf("transfer: %+v %v", st, err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<30 {
		t.Fatalf("a 3 MiB transfer with 4 GiB chunks allocated %d MiB", alloc>>20)
	}
	sum := sha256.Sum256(data)
	if got := sha256Of(t, dst, "big-chunks.bin"); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("target SHA-256 %s", got)
	}
}
