package fastr

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	fastrapi "github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
)

// TestDigestRefused: the server refuses a body, a part or an assembly whose
// SHA-256 is not the one declared, and the driver maps that to ErrChecksum.
func TestDigestRefused(t *testing.T) {
	srvh, err := fastrapi.NewServer(fastrapi.Options{Root: t.TempDir(), Credentials: fastrapi.StaticCredentials(map[string]string{"AK": "secret-0123456789"})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(srvh)
	defer srv.Close()
	defer srvh.Close()
	s, err := Open(context.Background(), provider.Config{CloudType: provider.LocalHttp, ServiceURL: srv.URL, AccessKey: "AK", SecretKey: "secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "bkt", ""); err != nil {
		t.Fatal(err)
	}
	other := sumHex([]byte("other"))
	_, err = s.c.Put(ctx, "bkt", "k", bytes.NewReader([]byte("hello")), 5, "", other)
	if err := mapError(err, "bkt/k"); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("PUT with a wrong SHA-256: %v, want ErrChecksum", err)
	}
	u, err := s.CreateMultipart(ctx, "bkt", "mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.c.UploadPart(ctx, u.ID, 1, bytes.NewReader([]byte("hello")), 5, other)
	if err := mapError(err, "bkt/mp"); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("part with a wrong SHA-256: %v, want ErrChecksum", err)
	}
	p, err := s.UploadPart(ctx, u, 1, bytes.NewReader([]byte("hello")), 5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.c.CompleteUpload(ctx, u.ID, fastrapi.CompleteRequest{Parts: []fastrapi.PartInfo{{Number: 1, Size: 5, ETag: p.ETag}}, SHA256: other})
	if err := mapError(err, "bkt/mp"); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("assembly with a wrong SHA-256: %v, want ErrChecksum", err)
	}
}
