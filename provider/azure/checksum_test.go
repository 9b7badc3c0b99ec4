package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/amove/amove-go/provider"
)

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// TestDigestErrors: a block or blob whose bytes do not give the MD5 sent
// with them is refused, and the refusal matches provider.ErrChecksum.
func TestDigestErrors(t *testing.T) {
	s := open(t)
	c := freshContainer(t, s)
	ctx := context.Background()
	bb := s.blockBlob(c, "digest")
	other := md5.Sum([]byte("other"))
	_, err := bb.StageBlock(ctx, blockID(newToken(), 1), streaming.NopCloser(bytes.NewReader([]byte("hello"))),
		&blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(other[:])})
	if err := mapErr(err, "c/digest"); !errors.Is(err, provider.ErrChecksum) || errors.Is(err, provider.ErrInvalid) {
		t.Errorf("block with a wrong MD5: %v, want ErrChecksum only", err)
	}
	_, err = bb.Upload(ctx, streaming.NopCloser(bytes.NewReader([]byte("hello"))),
		&blockblob.UploadOptions{TransactionalValidation: blob.TransferValidationTypeMD5(other[:])})
	if err := mapErr(err, "c/digest"); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("blob with a wrong MD5: %v, want ErrChecksum", err)
	}
}

// TestWriteVerified: writes return the MD5 the service checked; parts carry
// their block MD5; a multipart object has no whole-object digest.
func TestWriteVerified(t *testing.T) {
	s := open(t)
	c := freshContainer(t, s)
	ctx := context.Background()
	small := []byte("small object")
	o, err := s.Write(ctx, c, "small", bytes.NewReader(small), int64(len(small)), provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != provider.HashMD5 || o.Checksums.MD5 != md5Hex(small) {
		t.Errorf("Put Blob: Verified %q, MD5 %q", o.Verified, o.Checksums.MD5)
	}
	big := make([]byte, 3<<20+7)
	_, _ = rand.Read(big)
	o, err = s.Write(ctx, c, "big", io.MultiReader(bytes.NewReader(big)), -1, provider.WriteOptions{PartSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != provider.HashMD5 || o.Checksums.MD5 != md5Hex(big) {
		t.Errorf("staged write: Verified %q, MD5 %q", o.Verified, o.Checksums.MD5)
	}
	if st, err := s.Stat(ctx, c, "big"); err != nil || st.Checksums.MD5 != md5Hex(big) {
		t.Errorf("Stat of a staged write: %+v, %v", st.Checksums, err)
	}

	u, err := s.CreateMultipart(ctx, c, "mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []provider.Part
	for n, off := 1, 0; off < len(big); n, off = n+1, off+2<<20 {
		chunk := big[off:min(off+2<<20, len(big))]
		p, err := s.UploadPart(ctx, u, n, bytes.NewReader(chunk), int64(len(chunk)))
		if err != nil {
			t.Fatal(err)
		}
		if want := (provider.Checksum{Hash: provider.HashMD5, Value: md5Hex(chunk)}); !p.Checksum.Equal(want) {
			t.Errorf("part %d checksum %v, want %v", n, p.Checksum, want)
		}
		parts = append(parts, p)
	}
	o, err = s.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	// The parts were hashed apart: there is no MD5 of the whole to set.
	if o.Verified != "" || o.Checksums.MD5 != "" {
		t.Errorf("CompleteMultipart: Verified %q, MD5 %q; want neither", o.Verified, o.Checksums.MD5)
	}
}

// TestWithoutRetries: the SDK retries a failing call, and tries once under
// provider.WithoutRetries.
func TestWithoutRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("x-ms-error-code", "InternalError")
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	st, err := provider.Open(context.Background(), provider.Config{CloudType: provider.Azure, AccessKey: "devstoreaccount1",
		SecretKey: "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==", Endpoint: srv.URL + "/devstoreaccount1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(provider.WithoutRetries(context.Background()), "c", "k"); err == nil {
		t.Fatal("Stat succeeded against a failing server")
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("WithoutRetries: %d requests, want 1", got)
	}
	calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _ = st.Stat(ctx, "c", "k")
	if got := calls.Load(); got < 2 {
		t.Errorf("default: %d requests, want SDK retries", got)
	}
}
