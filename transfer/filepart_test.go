package transfer_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// sinkParts is a multipart destination that keeps nothing but each part's
// CRC32C, read as S3's driver reads a part: a pass for its own digest,
// then the send, in 32 KiB reads. Its objects exist only as those digests.
type sinkParts struct {
	provider.Storage // a memory storage for what is not multipart
	mu               sync.Mutex
	parts            map[int]provider.Checksum
}

func (s *sinkParts) PartLimits() provider.PartLimits {
	return provider.PartLimits{MinPartSize: 1, MaxPartSize: 1 << 30, MaxParts: 10000}
}

func (s *sinkParts) CreateMultipart(ctx context.Context, bucket, key string, o provider.WriteOptions) (provider.Upload, error) {
	return provider.Upload{Bucket: bucket, Key: key, ID: "u"}, nil
}

func (s *sinkParts) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	var sums [2]provider.Checksum
	for pass := range sums {
		h, _ := provider.NewHash(provider.HashCRC32C)
		got, err := io.CopyBuffer(h, io.LimitReader(r, size), make([]byte, 32<<10))
		if err != nil {
			return provider.Part{}, err
		}
		if got != size {
			return provider.Part{}, fmt.Errorf("part %d: %d bytes, want %d", n, got, size)
		}
		sums[pass] = provider.Checksum{Hash: provider.HashCRC32C, Value: fmt.Sprintf("%x", h.Sum(nil))}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return provider.Part{}, err
		}
	}
	if !sums[0].Equal(sums[1]) {
		return provider.Part{}, fmt.Errorf("%w: part %d changed between passes", provider.ErrChecksum, n)
	}
	s.mu.Lock()
	s.parts[n] = sums[1]
	s.mu.Unlock()
	return provider.Part{Number: n, Size: size, ETag: fmt.Sprint(n), Checksum: sums[1]}, nil
}

func (s *sinkParts) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	var size int64
	for _, p := range parts {
		size += p.Size
	}
	return provider.Object{Key: u.Key, Size: size}, nil
}

func (s *sinkParts) AbortMultipart(context.Context, provider.Upload) error { return nil }

func (s *sinkParts) ListParts(context.Context, provider.Upload) ([]provider.Part, error) {
	return nil, provider.ErrNotFound
}

func (s *sinkParts) ListUploads(context.Context, string, string) ([]provider.Upload, error) {
	return nil, nil
}

// TestUploadFromFileHoldsNoPartBuffers: the parts of an upload from a local
// file are read from the file as the driver sends them, so the engine
// allocates far less than one part while six 8 MiB parts are in flight
// (with a buffer per part it allocated 48 MiB), and every part's digest
// is still compared with the one the destination computed: the upload is
// verified, and the digests the destination kept are those of the file.
func TestUploadFromFileHoldsNoPartBuffers(t *testing.T) {
	const partSize, parts = 8 << 20, 6
	data := randBytes(5, parts*partSize-1000)
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sink := &sinkParts{Storage: newMemory(t, "b"), parts: map[int]provider.Checksum{}}
	e := transfer.New(transfer.Options{Open: accounts{"s": sink}.open, PartSize: partSize, Concurrency: parts})
	defer e.Close()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	id := startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: path, Dest: transfer.Location{Account: "s", Bucket: "b", Key: "f.bin"}})
	st := wait(t, e, id)
	runtime.ReadMemStats(&after)
	if st.State != transfer.Completed || !st.ChecksumVerified {
		t.Fatalf("upload %s %q, verified %v", st.State, st.Error, st.ChecksumVerified)
	}
	if len(sink.parts) != parts {
		t.Fatalf("%d parts sent, want %d", len(sink.parts), parts)
	}
	for n, got := range sink.parts {
		off := (n - 1) * partSize
		want := provider.SumBytes(provider.HashCRC32C, data[off:min(off+partSize, len(data))])
		if !got.Equal(want) {
			t.Errorf("part %d arrived as %v, the file holds %v", n, got, want)
		}
	}
	// The sink's own 32 KiB buffers and the engine's bookkeeping, not parts.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > partSize/2 {
		t.Errorf("the upload allocated %d bytes, want under %d (no part buffers)", alloc, partSize/2)
	}
}
