package fastr_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/fastr"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestChecksums: writes come back verified by the SHA-256 the server
// checked, and parts carry theirs.
func TestChecksums(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.LocalHttp, ServiceURL: srv.URL,
		AccessKey: testKey, SecretKey: testSecret, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*fastr.Storage)
	if err := s.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	small := []byte("small object")
	big := make([]byte, 11<<20+3)
	_, _ = rand.Read(big)
	for name, data := range map[string][]byte{"small": small, "big": big} {
		o, err := s.Write(ctx, "bkt", name, bytes.NewReader(data), -1, provider.WriteOptions{PartSize: 5 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if o.Verified != provider.HashSHA256 || o.Checksums.SHA256 != sha(data) {
			t.Errorf("%s: Verified %q, SHA-256 %q", name, o.Verified, o.Checksums.SHA256)
		}
	}

	u, err := s.CreateMultipart(ctx, "bkt", "mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := big[:5<<20]
	p, err := s.UploadPart(ctx, u, 1, bytes.NewReader(chunk), int64(len(chunk)))
	if err != nil {
		t.Fatal(err)
	}
	if want := (provider.Checksum{Hash: provider.HashSHA256, Value: sha(chunk)}); !p.Checksum.Equal(want) {
		t.Errorf("part checksum %v, want %v", p.Checksum, want)
	}
	o, err := s.CompleteMultipart(ctx, u, []provider.Part{p})
	if err != nil {
		t.Fatal(err)
	}
	if o.Checksums.SHA256 != sha(chunk) {
		t.Errorf("CompleteMultipart SHA-256 %q", o.Checksums.SHA256)
	}
}
