package httpapi

import (
	"context"
	"io"
	"sync"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// gatedMemory is the shared memory driver with writes held until the gate
// opens, so a transfer stays running as long as a test needs it to.
type gatedMemory struct {
	sharedMemory
	gate *gate
}

type gate struct {
	once sync.Once
	c    chan struct{}
}

func (g *gate) open() { g.once.Do(func() { close(g.c) }) }

func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s gatedMemory) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if err := s.gate.wait(ctx); err != nil {
		return provider.Object{}, err
	}
	return s.sharedMemory.Write(ctx, bucket, key, r, size, opts)
}

func (s gatedMemory) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if err := s.gate.wait(ctx); err != nil {
		return provider.Part{}, err
	}
	return s.sharedMemory.UploadPart(ctx, u, n, r, size)
}

// newGatedEnv is a memory env whose uploads wait for the returned gate.
// Account insertion only lists buckets, so it is not held.
func newGatedEnv(t *testing.T) (*env, *gate) {
	t.Helper()
	mem := memory.New(memory.Options{})
	g := &gate{c: make(chan struct{})}
	t.Cleanup(g.open) // let held writes end before the client closes
	e := newEnv(t, envConfig{open: func(context.Context, provider.Config) (provider.Storage, error) {
		return gatedMemory{sharedMemory{mem}, g}, nil
	}})
	e.mem, e.gate = mem, g
	return e, g
}

// TestClientTransfers checks pause/resume/cancel/status/all and the spec's
// rules: 400 when the state does not allow the operation, 404 for ids the
// caller does not know (unknown, or another user's).
func TestClientTransfers(t *testing.T) {
	e, g := newGatedEnv(t)
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	file := writeRandom(t, e.root, "f.bin", 1<<20)
	upload := func() string {
		t.Helper()
		var id transferID
		must(t, e.cloud(t, "POST", "/cloud/upload_object", e.aliceTok, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": file,
		}), 200, &id)
		return id.TransferID
	}
	ctl := func(id, op string) reply {
		t.Helper()
		return e.cloud(t, "POST", "/cloud/client_transfer/"+id+"/"+op, e.aliceTok, nil)
	}

	id := upload()
	e.waitState(t, e.aliceTok, id, "running")
	wantError(t, ctl(id, "resume"), 400, "DEFAULT") // running: not paused
	must(t, ctl(id, "pause"), 200, nil)
	e.waitState(t, e.aliceTok, id, "paused")
	wantError(t, ctl(id, "pause"), 400, "DEFAULT") // paused: not running
	must(t, ctl(id, "resume"), 200, nil)

	// A second transfer, still held by the gate, is cancelled; cancelling
	// again is a 400.
	id2 := upload()
	must(t, ctl(id2, "cancel"), 200, nil)
	if st := e.waitTransfer(t, e.aliceTok, id2); st.Status != "cancelled" {
		t.Fatalf("after cancel: %+v", st)
	}
	wantError(t, ctl(id2, "cancel"), 400, "DEFAULT")

	g.open()
	if st := e.waitTransfer(t, e.aliceTok, id); st.Status != "completed" || st.TransferredBytes != 1<<20 {
		t.Fatalf("after resume: %+v", st)
	}
	for _, op := range []string{"pause", "resume", "cancel"} {
		wantError(t, ctl(id, op), 400, "DEFAULT") // completed
	}

	var all []transferStatus
	must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", e.aliceTok, nil), 200, &all)
	if len(all) != 2 || all[0].TransferID != id || all[1].TransferID != id2 {
		t.Fatalf("client_transfer/all: %+v", all)
	}
	if all[0].Kind != "upload" || all[0].SourcePath != file || all[0].TargetBucket != "b" || all[0].TargetPath != "f.bin" {
		t.Errorf("upload summary: %+v", all[0])
	}

	// Unknown ids and another user's transfers are 404 for every operation;
	// an admin of the tenant sees alice's.
	for _, who := range []struct{ name, tok, id string }{
		{"unknown id", e.aliceTok, "00000000-0000-4000-8000-000000000000"},
		{"not an id", e.aliceTok, "nope"},
		{"bob on alice's", e.bobTok, id},
	} {
		t.Run(who.name, func(t *testing.T) {
			for _, op := range []string{"pause", "resume", "cancel"} {
				wantError(t, e.cloud(t, "POST", "/cloud/client_transfer/"+who.id+"/"+op, who.tok, nil), 404, "NOT_FOUND")
			}
			wantError(t, e.cloud(t, "GET", "/cloud/client_transfer/"+who.id+"/status", who.tok, nil), 404, "NOT_FOUND")
		})
	}
	must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", e.bobTok, nil), 200, &all)
	if len(all) != 0 {
		t.Errorf("bob sees %d of alice's transfers", len(all))
	}
	must(t, e.cloud(t, "GET", "/cloud/client_transfer/"+id+"/status", e.adminTok, nil), 200, nil)
}
