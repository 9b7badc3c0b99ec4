package gdrive_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	fake "github.com/amove/amove-go/internal/fakes/gdrive"
	"github.com/amove/amove-go/provider"
)

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

const ps = 512 << 10 // two 256 KiB chunks

// uploadParts sends parts in the given order and returns them by number.
func uploadParts(t *testing.T, mu provider.MultipartUploader, u provider.Upload, data []byte, order []int) map[int]provider.Part {
	t.Helper()
	out := map[int]provider.Part{}
	for _, n := range order {
		b := data[(n-1)*ps : min(n*ps, len(data))]
		p, err := mu.UploadPart(context.Background(), u, n, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if !p.Checksum.IsZero() {
			t.Errorf("part %d: Checksum %+v; Drive checks no chunk", n, p.Checksum)
		}
		out[n] = p
	}
	return out
}

func inOrder(m map[int]provider.Part) []provider.Part {
	out := make([]provider.Part, len(m))
	for n, p := range m {
		out[n-1] = p
	}
	return out
}

// TestMultipartVerified uploads parts out of order; the completed object is
// Verified by the md5Checksum Drive computed.
func TestMultipartVerified(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	mu := open(t, srv, false).(provider.MultipartUploader)
	ctx := context.Background()
	data := payload(3*ps + 999)
	u, err := mu.CreateMultipart(ctx, "My Drive", "verified/v.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	parts := uploadParts(t, mu, u, data, []int{3, 4, 2, 1})
	o, err := mu.CompleteMultipart(ctx, u, inOrder(parts))
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != provider.HashMD5 || o.Checksums.MD5 != md5Hex(data) || o.Size != int64(len(data)) {
		t.Errorf("CompleteMultipart = Verified %q MD5 %q size %d, want md5 %s %d", o.Verified, o.Checksums.MD5, o.Size, md5Hex(data), len(data))
	}
}

// TestResumeVerified adopts a session in a fresh Storage: the parts Drive
// committed are listed without an ETag; sent again (out of order), they are
// hashed instead of uploaded, and completion is Verified. Without them the
// upload completes unverified.
func TestResumeVerified(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	ctx := context.Background()
	data := payload(4*ps + 10)
	for _, resend := range []bool{true, false} {
		first := open(t, srv, false).(provider.MultipartUploader)
		u, err := first.CreateMultipart(ctx, "My Drive", "resume/r.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
		if err != nil {
			t.Fatal(err)
		}
		uploadParts(t, first, u, data, []int{2, 1})

		second := open(t, srv, false).(provider.MultipartUploader)
		listed, err := second.ListParts(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 2 || listed[0].ETag != "" || listed[1].Size != ps {
			t.Fatalf("ListParts after restart = %+v, want parts 1 and 2 without ETag", listed)
		}
		order := []int{4, 3, 5}
		if resend {
			order = []int{4, 2, 3, 5, 1}
		}
		parts := uploadParts(t, second, u, data, order)
		for _, p := range listed {
			if _, ok := parts[p.Number]; !ok {
				parts[p.Number] = p
			}
		}
		o, err := second.CompleteMultipart(ctx, u, inOrder(parts))
		if err != nil {
			t.Fatal(err)
		}
		want := provider.Hash("")
		if resend {
			want = provider.HashMD5
		}
		if o.Verified != want || o.Checksums.MD5 != md5Hex(data) {
			t.Errorf("resent %v: Verified %q MD5 %q, want %q and %s", resend, o.Verified, o.Checksums.MD5, want, md5Hex(data))
		}
	}
}

// TestWriteVerified: a single request and a resumable upload both report
// the MD5 Drive computed as Verified, and the SHA-1 and SHA-256 it reports.
func TestWriteVerified(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, false)
	ctx := context.Background()
	for _, size := range []int64{1000, 6 << 20, -1} {
		data := payload(6<<20 + 1) // size -1: unknown
		if size >= 0 {
			data = data[:size]
		}
		o, err := st.Write(ctx, "My Drive", "w/x", struct{ io.Reader }{bytes.NewReader(data)}, size, provider.WriteOptions{PartSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		s1, s256 := sha1.Sum(data), sha256.Sum256(data)
		if o.Verified != provider.HashMD5 || o.Checksums.MD5 != md5Hex(data) ||
			o.Checksums.SHA1 != hex.EncodeToString(s1[:]) || o.Checksums.SHA256 != hex.EncodeToString(s256[:]) {
			t.Errorf("size %d: Verified %q Checksums %+v", size, o.Verified, o.Checksums)
		}
	}
}

// TestCorruptStore: a server that stores other bytes than it was sent
// makes Write and CompleteMultipart fail with provider.ErrChecksum.
func TestCorruptStore(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	srv.Corrupt.Store(true)
	st := open(t, srv, false)
	ctx := context.Background()
	for _, n := range []int{1000, 6 << 20} {
		_, err := st.Write(ctx, "My Drive", "bad/w", bytes.NewReader(payload(n)), int64(n), provider.WriteOptions{PartSize: 1 << 20})
		if !errors.Is(err, provider.ErrChecksum) {
			t.Errorf("Write of %d bytes to a corrupting server: %v, want ErrChecksum", n, err)
		}
	}
	mu := st.(provider.MultipartUploader)
	data := payload(2*ps + 10)
	u, err := mu.CreateMultipart(ctx, "My Drive", "bad/m", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	parts := uploadParts(t, mu, u, data, []int{2, 3, 1})
	if _, err := mu.CompleteMultipart(ctx, u, inOrder(parts)); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("CompleteMultipart on a corrupting server: %v, want ErrChecksum", err)
	}
}
