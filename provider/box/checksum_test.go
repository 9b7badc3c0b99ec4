package box_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/box"
	"github.com/amove/amove-go/provider"
)

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// openWith is open with hc as the driver's HTTP client.
func openWith(t *testing.T, srv *fake.Server, hc *http.Client) provider.Storage {
	t.Helper()
	at, rt, exp := srv.Auth.Issue()
	conf := &oauth2.Config{ClientID: "id", ClientSecret: "secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	ts := conf.TokenSource(context.Background(), &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: exp})
	st, err := provider.Open(context.Background(), provider.Config{
		CloudType: provider.Box, Endpoint: srv.URL, TokenSource: ts, HTTPClient: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestMultipartVerified uploads parts out of order: each part that is one
// Box part carries the SHA-1 Box answered, and the completed object is
// Verified by SHA-1 (through one 202 "still processing" commit).
func TestMultipartVerified(t *testing.T) {
	srv := fake.New(fake.Options{CommitProcessing: 1})
	defer srv.Close()
	mu := open(t, srv, false).(provider.MultipartUploader)
	ctx := context.Background()
	const ps = 8 << 20
	data := payload(3*ps + 12345)
	chunk := func(n int) []byte { return data[(n-1)*ps : min(n*ps, len(data))] }
	u, err := mu.CreateMultipart(ctx, "All Files", "verified/v.bin", provider.WriteOptions{Size: int64(len(data)), PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	parts := make([]provider.Part, 4)
	for _, n := range []int{4, 2, 1, 3} {
		p, err := mu.UploadPart(ctx, u, n, bytes.NewReader(chunk(n)), int64(len(chunk(n))))
		if err != nil {
			t.Fatal(err)
		}
		if want := (provider.Checksum{Hash: provider.HashSHA1, Value: sha1Hex(chunk(n))}); p.Checksum != want {
			t.Errorf("part %d: Checksum %+v, want %+v", n, p.Checksum, want)
		}
		parts[n-1] = p
	}
	listed, err := mu.ListParts(ctx, u)
	if err != nil || len(listed) != 4 || listed[2].Checksum.Value != sha1Hex(chunk(3)) {
		t.Errorf("ListParts = %+v, %v", listed, err)
	}
	o, err := mu.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != provider.HashSHA1 || o.Checksums.SHA1 != sha1Hex(data) || o.Size != int64(len(data)) {
		t.Errorf("CompleteMultipart = Verified %q SHA-1 %q size %d, want sha1 %s %d", o.Verified, o.Checksums.SHA1, o.Size, sha1Hex(data), len(data))
	}
}

// TestWriteVerified: both a form upload and a chunked session report the
// SHA-1 Box computed as Verified.
func TestWriteVerified(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, false)
	ctx := context.Background()
	for _, n := range []int{1000, 21_000_000} {
		data := payload(n)
		o, err := st.Write(ctx, "All Files", "w/"+strings.Repeat("x", n%7+1), bytes.NewReader(data), int64(n), provider.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Verified != provider.HashSHA1 || o.Checksums.SHA1 != sha1Hex(data) {
			t.Errorf("%d bytes: Verified %q SHA-1 %q, want sha1 %s", n, o.Verified, o.Checksums.SHA1, sha1Hex(data))
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
	for _, n := range []int{1000, 21_000_000} {
		_, err := st.Write(ctx, "All Files", "bad/w", bytes.NewReader(payload(n)), int64(n), provider.WriteOptions{})
		if !errors.Is(err, provider.ErrChecksum) {
			t.Errorf("Write of %d bytes to a corrupting server: %v, want ErrChecksum", n, err)
		}
	}
	for _, size := range []int64{24 << 20, 0} { // a session, and parts held until completion
		mu := st.(provider.MultipartUploader)
		const ps = 8 << 20
		data := payload(3 * ps)
		u, err := mu.CreateMultipart(ctx, "All Files", "bad/m", provider.WriteOptions{Size: size, PartSize: ps})
		if err != nil {
			t.Fatal(err)
		}
		var parts []provider.Part
		for n := 1; n <= 3; n++ {
			p, err := mu.UploadPart(ctx, u, n, bytes.NewReader(data[(n-1)*ps:n*ps]), ps)
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

// flipTransport damages the first body of an upload-session part PUT on
// its way, as a bad network would: Box refuses it against its Digest.
type flipTransport struct {
	base    http.RoundTripper
	flipped atomic.Bool
}

func (f *flipTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Header.Get("Digest") != "" && req.Body != nil && f.flipped.CompareAndSwap(false, true) {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		b[len(b)/2] ^= 1
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	return f.base.RoundTrip(req)
}

// TestPartDigestRefused: Box's 412 for a part whose Digest differs from
// its bytes is provider.ErrChecksum.
func TestPartDigestRefused(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := openWith(t, srv, &http.Client{Transport: &flipTransport{base: http.DefaultTransport}, Timeout: time.Minute})
	mu := st.(provider.MultipartUploader)
	ctx := context.Background()
	const ps = 8 << 20
	u, err := mu.CreateMultipart(ctx, "All Files", "flip/f.bin", provider.WriteOptions{Size: 3 * ps, PartSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	data := payload(ps)
	if _, err := mu.UploadPart(ctx, u, 1, bytes.NewReader(data), ps); !errors.Is(err, provider.ErrChecksum) {
		t.Fatalf("damaged part: %v, want ErrChecksum", err)
	}
	if p, err := mu.UploadPart(ctx, u, 1, bytes.NewReader(data), ps); err != nil || p.Checksum.Value != sha1Hex(data) {
		t.Errorf("part sent again: %+v, %v", p, err)
	}
}
