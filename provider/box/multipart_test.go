package box_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	fake "github.com/amove/amove-go/internal/fakes/box"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestEngineUpload40MiB runs 40 MiB uploads through the transfer engine,
// whose parts arrive concurrently and out of order, and checks each object
// by the SHA-1 Box computed: once with Box's usual 8 MiB part_size and once
// with a part_size that cuts across the engine's parts.
func TestEngineUpload40MiB(t *testing.T) {
	for _, boxPart := range []int64{8 << 20, 5 << 20} {
		t.Run(fmt.Sprintf("part_size=%d", boxPart), func(t *testing.T) {
			srv := fake.New(fake.Options{PartSize: boxPart})
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
				PartSize:    4 << 20, // raised to the driver's 8 MiB
			})
			defer e.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			before := srv.SessionsCreated.Load()
			id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: path,
				Dest: transfer.Location{Account: "box", Bucket: "All Files", Key: "engine/big.bin"}})
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
			o, err := st.Stat(ctx, "All Files", "engine/big.bin")
			if err != nil {
				t.Fatal(err)
			}
			sum := sha1.Sum(data)
			if o.Checksums.SHA1 != hex.EncodeToString(sum[:]) || o.Size != int64(len(data)) {
				t.Errorf("Box has SHA-1 %q and %d bytes, want %x and %d", o.Checksums.SHA1, o.Size, sum, len(data))
			}
			if ups, _ := st.(provider.MultipartUploader).ListUploads(ctx, "All Files", "engine/big.bin"); len(ups) != 0 {
				t.Errorf("uploads left: %+v", ups)
			}
		})
	}
}

// TestResumeAfterRestart adopts a session from its Upload.ID in a fresh
// Storage: the parts Box holds are listed without an ETag, the caller sends
// every part again (those Box holds are checked, not re-uploaded), and the
// commit carries the whole file's SHA-1.
func TestResumeAfterRestart(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	ctx := context.Background()
	const ps = 8 << 20
	data := payload(3*ps + 1000)
	chunk := func(n int) []byte { return data[(n-1)*ps : min(n*ps, len(data))] }
	first := open(t, srv, false).(provider.MultipartUploader)
	u, err := first.CreateMultipart(ctx, "All Files", "resume/r.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
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
	if len(listed) != 2 || listed[0].Number != 1 || listed[1].Number != 3 || listed[0].ETag != "" || listed[1].Size != ps {
		t.Fatalf("ListParts after restart = %+v, want parts 1 and 3 without ETag", listed)
	}
	if _, err := second.CompleteMultipart(ctx, u, listed); err == nil {
		t.Error("completion without the bytes for the whole-file SHA-1 succeeded")
	}
	var parts []provider.Part
	for n := 1; n <= 4; n++ {
		p, err := second.UploadPart(ctx, u, n, bytes.NewReader(chunk(n)), int64(len(chunk(n))))
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		parts = append(parts, p)
	}
	o, err := second.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(data)
	if o.Checksums.SHA1 != hex.EncodeToString(sum[:]) {
		t.Error("resumed object differs")
	}

	// A part Box holds, sent again with other bytes, is refused.
	u2, err := first.CreateMultipart(ctx, "All Files", "resume/bad.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.UploadPart(ctx, u2, 1, bytes.NewReader(chunk(1)), ps); err != nil {
		t.Fatal(err)
	}
	third := open(t, srv, false).(provider.MultipartUploader)
	b := bytes.Clone(chunk(1))
	b[0] ^= 1
	if _, err := third.UploadPart(ctx, u2, 1, bytes.NewReader(b), ps); err == nil {
		t.Error("a part Box holds was accepted with other bytes")
	}
	// The right bytes still complete it.
	parts = parts[:0]
	for n := 1; n <= 4; n++ {
		p, err := third.UploadPart(ctx, u2, n, bytes.NewReader(chunk(n)), int64(len(chunk(n))))
		if err != nil {
			t.Fatalf("part %d after a refused one: %v", n, err)
		}
		parts = append(parts, p)
	}
	if o, err := third.CompleteMultipart(ctx, u2, parts); err != nil || o.Checksums.SHA1 != hex.EncodeToString(sum[:]) {
		t.Errorf("CompleteMultipart after a refused part: %+v, %v", o, err)
	}
}
