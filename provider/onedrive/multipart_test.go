package onedrive_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fake "github.com/amove/amove-go/internal/fakes/onedrive"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestEngineUpload40MiB runs a 40 MiB upload through the transfer engine,
// whose parts arrive concurrently and out of order, and checks the object by
// the quickXorHash Graph computed.
func TestEngineUpload40MiB(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, false)
	data := payload(40 << 20)
	path := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e := transfer.New(transfer.Options{
		Open:        func(context.Context, string) (provider.Storage, error) { return st, nil },
		Concurrency: 4,
		PartSize:    4 << 20,
	})
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := srv.SessionsCreated.Load()
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: path,
		Dest: transfer.Location{Account: "od", Bucket: "OneDrive", Key: "engine/big.bin"}})
	if err != nil {
		t.Fatal(err)
	}
	status, err := e.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if status.State != transfer.Completed || status.BytesDone != int64(len(data)) {
		t.Fatalf("status %+v", status)
	}
	if n := srv.SessionsCreated.Load() - before; n != 1 {
		t.Errorf("%d upload sessions, want 1", n)
	}
	o, err := st.Stat(ctx, "OneDrive", "engine/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, itemID, _ := strings.Cut(o.ID, "/")
	if got, want := srv.QuickXorOf(itemID), fake.QuickXorHash(data); got != want || o.Size != int64(len(data)) {
		t.Errorf("Graph has quickXorHash %q and %d bytes, want %q and %d", got, o.Size, want, len(data))
	}
	mu := st.(provider.MultipartUploader)
	if ups, _ := mu.ListUploads(ctx, "OneDrive", "engine/big.bin"); len(ups) != 0 {
		t.Errorf("uploads left: %+v", ups)
	}
}

// TestResumeAfterRestart adopts a session from its Upload.ID in a fresh
// Storage: the committed parts are listed without an ETag, the caller sends
// them again (nothing goes over the wire for them), and completion is still
// verified against Graph's quickXorHash.
func TestResumeAfterRestart(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	ctx := context.Background()
	const ps = 640 << 10
	data := payload(3*ps + 1000)
	chunk := func(n int) []byte { return data[(n-1)*ps : min(n*ps, len(data))] }
	first := open(t, srv, false).(provider.MultipartUploader)
	u, err := first.CreateMultipart(ctx, "OneDrive", "resume/r.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	// Parts 1 and 3 arrive; only 1 can be committed, 3 is held in memory.
	for _, n := range []int{3, 1} {
		if _, err := first.UploadPart(ctx, u, n, bytes.NewReader(chunk(n)), int64(len(chunk(n)))); err != nil {
			t.Fatal(err)
		}
	}

	// A new process: only the id survived.
	second := open(t, srv, false).(provider.MultipartUploader)
	listed, err := second.ListParts(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Number != 1 || listed[0].Size != ps || listed[0].ETag != "" {
		t.Fatalf("ListParts after restart = %+v, want part 1 without ETag", listed)
	}
	var parts []provider.Part
	for n := 1; n <= 4; n++ {
		p, err := second.UploadPart(ctx, u, n, bytes.NewReader(chunk(n)), int64(len(chunk(n))))
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if p.ETag == "" {
			t.Errorf("part %d has no ETag", n)
		}
		parts = append(parts, p)
	}
	o, err := second.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	_, itemID, _ := strings.Cut(o.ID, "/")
	if got := srv.QuickXorOf(itemID); got != fake.QuickXorHash(data) {
		t.Error("resumed object differs")
	}

	// A re-sent committed part with other bytes is caught at completion.
	u2, err := first.CreateMultipart(ctx, "OneDrive", "resume/bad.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.UploadPart(ctx, u2, 1, bytes.NewReader(chunk(1)), ps); err != nil {
		t.Fatal(err)
	}
	third := open(t, srv, false).(provider.MultipartUploader)
	parts = parts[:0]
	for n := 1; n <= 4; n++ {
		b := bytes.Clone(chunk(n))
		if n == 1 {
			b[0] ^= 1
		}
		p, err := third.UploadPart(ctx, u2, n, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		parts = append(parts, p)
	}
	if _, err := third.CompleteMultipart(ctx, u2, parts); err == nil {
		t.Error("completion accepted a committed part re-sent with other bytes")
	}
}
