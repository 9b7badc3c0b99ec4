package gcs

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
)

// openBare opens the emulator without credentials, as a user would who
// gives only the endpoint, and creates a fresh bucket.
func openBare(t *testing.T) (*Storage, string) {
	t.Helper()
	endpoint := testenv.RequireGCS(t)
	ctx := context.Background()
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.Google, Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "amove-sum-" + hex.EncodeToString(b)
	if err := st.(provider.BucketManager).CreateBucket(ctx, bucket, ""); err != nil {
		t.Fatal(err)
	}
	return st.(*Storage), bucket
}

func crcHex(b []byte) string { return provider.FormatCRC32C(crc32.Checksum(b, provider.CRC32C)) }

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestWriteVerified: single-request and resumable writes, parts and
// composed objects all come back verified, with the digests of the bytes.
func TestWriteVerified(t *testing.T) {
	s, bucket := openBare(t)
	ctx := context.Background()
	small := []byte("small object")
	big := make([]byte, 1<<20+5)
	_, _ = rand.Read(big)
	for name, c := range map[string]struct {
		data []byte
		size int64
	}{"small": {small, int64(len(small))}, "resumable": {big, -1}, "empty": {nil, 0}} {
		o, err := s.Write(ctx, bucket, name, bytes.NewReader(c.data), c.size, provider.WriteOptions{PartSize: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if o.Verified != provider.HashCRC32C || o.Checksums.CRC32C != crcHex(c.data) || o.Checksums.MD5 != md5Hex(c.data) {
			t.Errorf("%s: Verified %q, checksums %+v", name, o.Verified, o.Checksums)
		}
	}

	u, err := s.CreateMultipart(ctx, bucket, "mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []provider.Part
	for n, off := 1, 0; off < len(big); n, off = n+1, off+512<<10 {
		chunk := big[off:min(off+512<<10, len(big))]
		p, err := s.UploadPart(ctx, u, n, bytes.NewReader(chunk), int64(len(chunk)))
		if err != nil {
			t.Fatal(err)
		}
		if want := (provider.Checksum{Hash: provider.HashMD5, Value: md5Hex(chunk)}); !p.Checksum.Equal(want) {
			t.Errorf("part %d: checksum %v, want %v", n, p.Checksum, want)
		}
		parts = append(parts, p)
	}
	o, err := s.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != provider.HashCRC32C || o.Checksums.CRC32C != crcHex(big) {
		t.Errorf("CompleteMultipart: Verified %q, CRC32C %q, want %s", o.Verified, o.Checksums.CRC32C, crcHex(big))
	}
	if st, err := s.Stat(ctx, bucket, "mp"); err != nil || st.Checksums.CRC32C != crcHex(big) {
		t.Errorf("Stat: %+v, %v", st.Checksums, err)
	}
}

// TestDigestErrors: a body the service refuses for its digest, and a
// stored object whose digest differs from the bytes sent, are ErrChecksum;
// the damaged object is removed.
func TestDigestErrors(t *testing.T) {
	s, bucket := openBare(t)
	ctx := context.Background()
	obj := s.object(ctx, bucket, "bad")
	w := obj.NewWriter(ctx)
	other := md5.Sum([]byte("other"))
	w.MD5 = other[:]
	_, _ = w.Write([]byte("hello"))
	if err := mapErr(w.Close(), "b/bad"); !errors.Is(err, provider.ErrChecksum) || errors.Is(err, provider.ErrInvalid) {
		t.Errorf("wrong MD5: %v, want ErrChecksum only", err)
	}

	data := []byte("stored bytes")
	if _, err := s.Write(ctx, bucket, "stored", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	h := s.object(ctx, bucket, "stored")
	a, err := h.Attrs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.checkStored(ctx, h, a, a.CRC32C+1, nil); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("checkStored with another CRC32C: %v, want ErrChecksum", err)
	}
	if _, err := s.Stat(ctx, bucket, "stored"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("the damaged object is still there: %v", err)
	}
}

// TestPresignWithoutKey: an account without a service-account key cannot
// sign, and the error says so.
func TestPresignWithoutKey(t *testing.T) {
	s, bucket := openBare(t)
	_, err := s.PresignURL(context.Background(), bucket, "k", provider.PresignOptions{Method: http.MethodGet})
	if !errors.Is(err, provider.ErrUnsupported) || !strings.Contains(err.Error(), "service-account key or HMAC credentials") {
		t.Errorf("PresignURL without a key: %v", err)
	}
}

// TestWithoutRetries: the client retries a failing call, and tries once
// under provider.WithoutRetries.
func TestWithoutRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	st, err := provider.Open(context.Background(), provider.Config{CloudType: provider.Google, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Stat(provider.WithoutRetries(context.Background()), "b", "k"); err == nil {
		t.Fatal("Stat succeeded against a failing server")
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("WithoutRetries: %d requests, want 1", got)
	}
	calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _ = st.Stat(ctx, "b", "k")
	if got := calls.Load(); got < 2 {
		t.Errorf("default: %d requests, want the client's retries", got)
	}
}
