package onedrive_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"

	fake "github.com/amove/amove-go/internal/fakes/onedrive"
	"github.com/amove/amove-go/provider"
)

// quickXorHex is data's quickXorHash in provider's form (hex).
func quickXorHex(t *testing.T, data []byte) string {
	b, err := base64.StdEncoding.DecodeString(fake.QuickXorHash(data))
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestMultipartVerified uploads parts out of order: Graph checks nothing
// per fragment (no Part.Checksum), and the completed object is Verified by
// the quickXorHash Graph computed, which the parts' shares predicted.
func TestMultipartVerified(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	mu := open(t, srv, false).(provider.MultipartUploader)
	ctx := context.Background()
	const ps = 640 << 10
	data := payload(3*ps + 777)
	chunk := func(n int) []byte { return data[(n-1)*ps : min(n*ps, len(data))] }
	u, err := mu.CreateMultipart(ctx, "OneDrive", "verified/v.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	parts := make([]provider.Part, 4)
	for _, n := range []int{4, 2, 3, 1} {
		p, err := mu.UploadPart(ctx, u, n, bytes.NewReader(chunk(n)), int64(len(chunk(n))))
		if err != nil {
			t.Fatal(err)
		}
		if !p.Checksum.IsZero() {
			t.Errorf("part %d: Checksum %+v; Graph checks no fragment", n, p.Checksum)
		}
		parts[n-1] = p
	}
	o, err := mu.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	if want := quickXorHex(t, data); o.Verified != provider.HashQuickXor || o.Checksums.QuickXor != want || o.Size != int64(len(data)) {
		t.Errorf("CompleteMultipart = Verified %q QuickXor %q size %d, want quickxor %s %d", o.Verified, o.Checksums.QuickXor, o.Size, want, len(data))
	}
	if st, err := open(t, srv, false).Stat(ctx, "OneDrive", "verified/v.bin"); err != nil || st.Checksums.QuickXor != o.Checksums.QuickXor {
		t.Errorf("Stat = %+v, %v", st.Checksums, err)
	}
}

// TestWriteVerified: a single PUT and an upload session both report the
// quickXorHash Graph computed as Verified.
func TestWriteVerified(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, false)
	ctx := context.Background()
	for _, n := range []int{1000, 5 << 20} {
		data := payload(n)
		o, err := st.Write(ctx, "OneDrive", "w/x", bytes.NewReader(data), int64(n), provider.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := quickXorHex(t, data); o.Verified != provider.HashQuickXor || o.Checksums.QuickXor != want {
			t.Errorf("%d bytes: Verified %q QuickXor %q, want quickxor %s", n, o.Verified, o.Checksums.QuickXor, want)
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
	for _, n := range []int{1000, 5 << 20} {
		_, err := st.Write(ctx, "OneDrive", "bad/w", bytes.NewReader(payload(n)), int64(n), provider.WriteOptions{})
		if !errors.Is(err, provider.ErrChecksum) {
			t.Errorf("Write of %d bytes to a corrupting server: %v, want ErrChecksum", n, err)
		}
	}
	mu := st.(provider.MultipartUploader)
	const ps = 640 << 10
	data := payload(2*ps + 10)
	for _, size := range []int64{int64(len(data)), 0} { // size told up front, and not
		u, err := mu.CreateMultipart(ctx, "OneDrive", "bad/m", provider.WriteOptions{Size: size, PartSize: ps})
		if err != nil {
			t.Fatal(err)
		}
		var parts []provider.Part
		for n := 1; n <= 3; n++ {
			b := data[(n-1)*ps : min(n*ps, len(data))]
			p, err := mu.UploadPart(ctx, u, n, bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		if _, err := mu.CompleteMultipart(ctx, u, parts); !errors.Is(err, provider.ErrChecksum) {
			t.Errorf("size %d: CompleteMultipart on a corrupting server: %v, want ErrChecksum", size, err)
		}
	}
}
