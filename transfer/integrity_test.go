package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// tamperSource serves a memory storage's bytes with the first byte of the
// range at offset flip changed, and delays the range at offset 0, so later
// parts finish first.
type tamperSource struct {
	provider.Storage
	flip  int64 // -1: none
	delay time.Duration
}

func (s tamperSource) NewRangeReader(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error) {
	if off == 0 && s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rc, err := s.Storage.NewRangeReader(ctx, bucket, key, off, n)
	if err != nil || off != s.flip {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if len(b) > 0 {
		b[0] ^= 0xff
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// A copy in parts from a source whose only digests do not fold (the memory
// driver reports MD5 and SHA-256) still checks every byte it read, in part
// order, even when the first part is the last to arrive and the engine has
// fewer slots than the job has parts waiting.
func TestCopyInPartsChecksTheSource(t *testing.T) {
	ctx := context.Background()
	src, dst := newMemory(t, "b"), newMemory(t, "b")
	data := randBytes(3, 11<<20+1)
	if _, err := src.Write(ctx, "b", "o", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		flip int64
	}{{"intact", -1}, {"damaged second part", 5 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			e := transfer.New(transfer.Options{Concurrency: 2, PartSize: 2 << 20, MaxAttempts: 2,
				RetryBase: time.Millisecond, RetryMax: time.Millisecond,
				Open: accounts{"s": tamperSource{Storage: src, flip: tc.flip, delay: 200 * time.Millisecond}, "d": dst}.open})
			defer e.Close()
			key := "copy-" + strings.ReplaceAll(tc.name, " ", "-")
			id, err := e.Start(ctx, transfer.Request{Kind: transfer.Copy, Concurrency: 6,
				Source: transfer.Location{Account: "s", Bucket: "b", Key: "o"}, Dest: transfer.Location{Account: "d", Bucket: "b", Key: key}})
			if err != nil {
				t.Fatal(err)
			}
			st := wait(t, e, id)
			if tc.flip < 0 {
				if st.State != transfer.Completed || !st.ChecksumVerified {
					t.Fatalf("copy: %s verified=%v %s", st.State, st.ChecksumVerified, st.Error)
				}
				if got := readObject(t, dst, "b", key); !bytes.Equal(got, data) {
					t.Error("copied bytes differ")
				}
				return
			}
			if st.State != transfer.Failed || !strings.Contains(st.Error, "checksum mismatch") {
				t.Fatalf("copy of a damaged read: %s %q; want failed with a checksum mismatch", st.State, st.Error)
			}
			if _, err := dst.Stat(ctx, "b", key); !errors.Is(err, provider.ErrNotFound) {
				t.Errorf("a damaged copy was completed at the destination: %v", err)
			}
		})
	}
}

// lyingParts reports a part digest the bytes do not have.
type lyingParts struct{ provider.Storage }

func (l lyingParts) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	p, err := l.Storage.(provider.MultipartUploader).UploadPart(ctx, u, n, r, size)
	p.Checksum.Value = strings.Repeat("0", len(p.Checksum.Value))
	return p, err
}

func (l lyingParts) PartLimits() provider.PartLimits {
	return l.Storage.(provider.MultipartUploader).PartLimits()
}
func (l lyingParts) CreateMultipart(ctx context.Context, bucket, key string, o provider.WriteOptions) (provider.Upload, error) {
	return l.Storage.(provider.MultipartUploader).CreateMultipart(ctx, bucket, key, o)
}
func (l lyingParts) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	return l.Storage.(provider.MultipartUploader).CompleteMultipart(ctx, u, parts)
}
func (l lyingParts) AbortMultipart(ctx context.Context, u provider.Upload) error {
	return l.Storage.(provider.MultipartUploader).AbortMultipart(ctx, u)
}
func (l lyingParts) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	return l.Storage.(provider.MultipartUploader).ListParts(ctx, u)
}
func (l lyingParts) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	return l.Storage.(provider.MultipartUploader).ListUploads(ctx, bucket, prefix)
}

// A part whose digest, as the provider reports it, differs from the bytes
// sent is a checksum mismatch, retried and then failed: never completed.
func TestPartChecksumMismatchFails(t *testing.T) {
	ctx := context.Background()
	dst := newMemory(t, "b")
	dir := t.TempDir()
	writeTree(t, dir, map[string]int{"f.bin": 5<<20 + 3})
	e := transfer.New(transfer.Options{PartSize: 2 << 20, MaxAttempts: 2, RetryBase: time.Millisecond, RetryMax: time.Millisecond,
		Open: accounts{"d": lyingParts{dst}}.open})
	defer e.Close()
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: dir + "/f.bin", Dest: transfer.Location{Account: "d", Bucket: "b", Key: "f.bin"}})
	if err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Failed || !strings.Contains(st.Error, "checksum mismatch") {
		t.Fatalf("upload with lying part digests: %s %q", st.State, st.Error)
	}
	if _, err := dst.Stat(ctx, "b", "f.bin"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("the object was completed: %v", err)
	}
}

// noDigests hides every whole-object digest; its reader may vouch for the
// ranges it returns (provider.VerifiedReader).
type noDigests struct {
	provider.Storage
	vouch bool
}

func (s noDigests) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	o, err := s.Storage.Stat(ctx, bucket, key)
	o.Checksums = provider.Checksums{}
	return o, err
}

type vouchingReader struct {
	io.ReadCloser
	sum provider.Checksum
}

func (v vouchingReader) Checksum() provider.Checksum { return v.sum }

func (s noDigests) NewRangeReader(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := s.Storage.NewRangeReader(ctx, bucket, key, off, n)
	if err != nil || !s.vouch {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return vouchingReader{io.NopCloser(bytes.NewReader(b)), provider.SumBytes(provider.HashMD5, b)}, nil
}

// A download without a source digest is verified only when the driver's
// reader vouched for every range.
func TestDownloadVerifiedByReader(t *testing.T) {
	ctx := context.Background()
	src := newMemory(t, "b")
	for _, n := range []int{1000, 9<<20 + 5} {
		data := randBytes(n, n)
		if _, err := src.Write(ctx, "b", "o", bytes.NewReader(data), int64(n), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, vouch := range []bool{false, true} {
			e := transfer.New(transfer.Options{PartSize: 2 << 20, Open: accounts{"s": noDigests{src, vouch}}.open})
			dst := t.TempDir() + "/o"
			id, err := e.Start(ctx, transfer.Request{Kind: transfer.Download, LocalPath: dst, Source: transfer.Location{Account: "s", Bucket: "b", Key: "o"}})
			if err != nil {
				t.Fatal(err)
			}
			st := wait(t, e, id)
			e.Close()
			if st.State != transfer.Completed || st.ChecksumVerified != vouch {
				t.Errorf("%d bytes, reader vouches %v: %s verified=%v %s", n, vouch, st.State, st.ChecksumVerified, st.Error)
			}
		}
	}
}

// A copy from a source without digests is verified only when its reader
// vouched for every range it read, in parts and in one request alike.
func TestCopyVerifiedByReader(t *testing.T) {
	ctx := context.Background()
	src, dst := newMemory(t, "b"), newMemory(t, "b")
	for _, n := range []int{1000, 11<<20 + 5} {
		data := randBytes(n, n)
		if _, err := src.Write(ctx, "b", "o", bytes.NewReader(data), int64(n), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, vouch := range []bool{false, true} {
			e := transfer.New(transfer.Options{PartSize: 2 << 20, Open: accounts{"s": noDigests{src, vouch}, "d": dst}.open})
			id, err := e.Start(ctx, transfer.Request{Kind: transfer.Copy,
				Source: transfer.Location{Account: "s", Bucket: "b", Key: "o"}, Dest: transfer.Location{Account: "d", Bucket: "b", Key: "c"}})
			if err != nil {
				t.Fatal(err)
			}
			st := wait(t, e, id)
			e.Close()
			if st.State != transfer.Completed || st.ChecksumVerified != vouch {
				t.Errorf("%d bytes, reader vouches %v: %s verified=%v %s", n, vouch, st.State, st.ChecksumVerified, st.Error)
			}
			if got := readObject(t, dst, "b", "c"); !bytes.Equal(got, data) {
				t.Errorf("%d bytes: copy differs", n)
			}
		}
	}
}

// A download in parts from a source whose only digests do not fold (MD5,
// SHA-256) is checked in range order as the ranges land, the first range
// landing last: the clean file is verified and identical, a damaged range
// anywhere fails the download and leaves no file.
func TestDownloadInPartsChecksInOrder(t *testing.T) {
	ctx := context.Background()
	src := newMemory(t, "b")
	data := randBytes(5, 11<<20+3)
	if _, err := src.Write(ctx, "b", "o", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		flip int64
	}{{"clean", -1}, {"last range damaged", 10 << 20}, {"middle range damaged", 4 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			e := transfer.New(transfer.Options{PartSize: 2 << 20, Concurrency: 3, MaxAttempts: 1,
				Open: accounts{"s": tamperSource{Storage: src, flip: tc.flip, delay: 200 * time.Millisecond}}.open})
			defer e.Close()
			dst := t.TempDir() + "/o"
			id, err := e.Start(ctx, transfer.Request{Kind: transfer.Download, LocalPath: dst, Source: transfer.Location{Account: "s", Bucket: "b", Key: "o"}})
			if err != nil {
				t.Fatal(err)
			}
			st := wait(t, e, id)
			got, rerr := os.ReadFile(dst)
			if tc.flip < 0 {
				if st.State != transfer.Completed || !st.ChecksumVerified || !bytes.Equal(got, data) {
					t.Fatalf("clean download: %s verified=%v %s, identical=%v", st.State, st.ChecksumVerified, st.Error, bytes.Equal(got, data))
				}
				return
			}
			if st.State != transfer.Failed || !strings.Contains(st.Error, "checksum") {
				t.Fatalf("damaged range: %s %s", st.State, st.Error)
			}
			if rerr == nil {
				t.Fatal("a damaged download was put in place")
			}
		})
	}
}

// A resumed download reads the ranges an earlier run wrote back once, in
// order with the new ones: a range damaged on disk meanwhile (what a crash
// can leave of bytes that never reached the disk) fails the check, and the
// next resume fetches the file whole again.
func TestResumedDownloadRereadsItsRanges(t *testing.T) {
	ctx := context.Background()
	src := newMemory(t, "b")
	data := randBytes(6, 11<<20+3)
	if _, err := src.Write(ctx, "b", "o", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	e := transfer.New(transfer.Options{PartSize: 2 << 20, Concurrency: 3, MaxAttempts: 1,
		Open: accounts{"s": gatedSource{Storage: src, gate: gate}}.open})
	defer e.Close()
	dst := filepath.Join(t.TempDir(), "o")
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Download, LocalPath: dst, Source: transfer.Location{Account: "s", Bucket: "b", Key: "o"}})
	if err != nil {
		t.Fatal(err)
	}
	// Ranges after the first land while the first waits at the gate:
	// pause then.
	for {
		st, err := e.Status(id)
		if err != nil {
			t.Fatal(err)
		}
		if st.BytesDone >= 4<<20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, e, id); st.State != transfer.Paused {
		t.Fatalf("after pause: %+v", st)
	}
	partial, _ := filepath.Glob(dst + ".amove-*.partial")
	if len(partial) != 1 {
		t.Fatalf("partial files: %v", partial)
	}
	f, err := os.OpenFile(partial[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	for off := int64(2 << 20); off < int64(len(data)); off += 2 << 20 {
		if _, err := f.ReadAt(b, off); err == nil && b[0] == data[off] {
			b[0] ^= 0xff // a journaled range, damaged on disk
			if _, err := f.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	close(gate)
	if err := e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, e, id); st.State != transfer.Failed || !strings.Contains(st.Error, "checksum") {
		t.Fatalf("resume over a damaged range: %s %s", st.State, st.Error)
	}
	if err := e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	got, _ := os.ReadFile(dst)
	if st.State != transfer.Completed || !st.ChecksumVerified || !bytes.Equal(got, data) {
		t.Fatalf("second resume: %s verified=%v %s, identical=%v", st.State, st.ChecksumVerified, st.Error, bytes.Equal(got, data))
	}
}

// gatedSource holds the range at offset 0 until gate is closed.
type gatedSource struct {
	provider.Storage
	gate chan struct{}
}

func (s gatedSource) NewRangeReader(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error) {
	if off == 0 {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Storage.NewRangeReader(ctx, bucket, key, off, n)
}
