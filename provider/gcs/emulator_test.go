package gcs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
)

// recorder fails any request that leaves for another host or carries an
// Authorization header: against the emulator the driver must not fetch or
// send OAuth tokens.
type recorder struct {
	host string
	mu   sync.Mutex
	bad  []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != r.host || req.Header.Get("Authorization") != "" {
		r.mu.Lock()
		r.bad = append(r.bad, req.Method+" "+req.URL.String())
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// openEmulator opens the driver against the emulator through a recorder and
// creates a fresh bucket.
func openEmulator(t *testing.T) (provider.Storage, string) {
	t.Helper()
	endpoint := testenv.RequireGCS(t)
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{host: u.Host}
	ctx := context.Background()
	st, err := provider.Open(ctx, provider.Config{
		CloudType:       provider.Google,
		Endpoint:        endpoint,
		CredentialsData: throwawayServiceAccount(t),
		HTTPClient:      &http.Client{Transport: rec},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "amove-gcs-" + hex.EncodeToString(b)
	if err := st.(provider.BucketManager).CreateBucket(ctx, bucket, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.bad) > 0 {
			t.Errorf("requests off the emulator or with credentials: %q", rec.bad)
		}
		st.Close()
	})
	return st, bucket
}

func listAll(t *testing.T, st provider.Storage, bucket string, opts provider.ListOptions) []string {
	t.Helper()
	var keys []string
	for o, err := range provider.Walk(context.Background(), st, bucket, opts) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, strings.TrimPrefix(o.Key, opts.Prefix))
	}
	return keys
}

// TestComposeTree completes an upload of more than 32 parts, which takes
// two levels of compose, and checks the staging area is hidden meanwhile and
// gone afterwards.
func TestComposeTree(t *testing.T) {
	st, bucket := openEmulator(t)
	mu := st.(provider.MultipartUploader)
	ctx := context.Background()
	const nparts = 40
	partSize := mu.PartLimits().MinPartSize
	data := make([]byte, nparts*partSize-1000)
	_, _ = rand.Read(data)
	u, err := mu.CreateMultipart(ctx, bucket, "big/obj", provider.WriteOptions{ContentType: "application/x-big", Metadata: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	var parts []provider.Part
	for n := 1; n <= nparts; n++ {
		chunk := data[int64(n-1)*partSize : min(int64(n)*partSize, int64(len(data)))]
		p, err := mu.UploadPart(ctx, u, n, bytes.NewReader(chunk), int64(len(chunk)))
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		parts = append(parts, p)
	}
	if got := listAll(t, st, bucket, provider.ListOptions{Delimiter: "/"}); strings.Join(got, ",") != "" {
		t.Errorf("root listing during the upload = %q, want nothing (staging hidden)", got)
	}
	if got := listAll(t, st, bucket, provider.ListOptions{}); len(got) != 0 {
		t.Errorf("flat root listing during the upload = %q, want nothing", got)
	}
	o, err := mu.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != int64(len(data)) || o.Key != "big/obj" || o.Checksums.CRC32C == "" {
		t.Errorf("CompleteMultipart = %+v", o)
	}
	rc, err := st.NewRangeReader(ctx, bucket, "big/obj", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("composed object differs (%d bytes, %v)", len(got), err)
	}
	if s, err := st.Stat(ctx, bucket, "big/obj"); err != nil || !strings.HasPrefix(s.ContentType, "application/x-big") {
		t.Errorf("Stat = %+v, %v; want the upload's content type", s, err)
	}
	if got := listAll(t, st, bucket, provider.ListOptions{Prefix: ".amove-uploads/"}); len(got) != 0 {
		t.Errorf("staging left behind: %q", got)
	}
	if ups, err := mu.ListUploads(ctx, bucket, ""); err != nil || len(ups) != 0 {
		t.Errorf("ListUploads after completion = %+v, %v", ups, err)
	}
	if _, err := mu.ListParts(ctx, u); err == nil {
		t.Error("ListParts of a completed upload succeeded")
	}
}

// TestListPaging lists a folder mix with every page size and checks each
// walk yields the same, complete, ordered listing.
func TestListPaging(t *testing.T) {
	st, bucket := openEmulator(t)
	ctx := context.Background()
	keys := []string{"p/", "p/a/1", "p/a/2", "p/b", "p/c/", "p/c/x", "p/d", "p/d/", "p/d/y", "p/e", "p/f/g/h", "p/z"}
	for _, k := range keys {
		if _, err := st.Write(ctx, bucket, k, strings.NewReader(k), int64(len(k)), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := "a/,b,c/,d,d/,e,f/,z"
	// A flat listing has no folders, so the marker "p/" is an object like
	// any other.
	flat := ",a/1,a/2,b,c/,c/x,d,d/,d/y,e,f/g/h,z"
	for n := 0; n <= len(keys)+1; n++ {
		got := listAll(t, st, bucket, provider.ListOptions{Prefix: "p/", Delimiter: "/", MaxKeys: n})
		if strings.Join(got, ",") != want {
			t.Errorf("MaxKeys %d: %q, want %q", n, got, want)
		}
		got = listAll(t, st, bucket, provider.ListOptions{Prefix: "p/", MaxKeys: n})
		if strings.Join(got, ",") != flat {
			t.Errorf("flat MaxKeys %d: %q, want %q", n, got, flat)
		}
	}
	page, err := st.ListObjects(ctx, bucket, provider.ListOptions{Prefix: "p/", Delimiter: "/", MaxKeys: 3})
	if err != nil || len(page.Objects) != 3 || page.NextToken == "" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	if _, err := st.ListObjects(ctx, bucket, provider.ListOptions{Prefix: "p/", Token: "not a token"}); err == nil {
		t.Error("a bad token was accepted")
	}
}

// TestWriteSizeMismatch: a reader shorter than the size given commits
// nothing.
func TestWriteSizeMismatch(t *testing.T) {
	st, bucket := openEmulator(t)
	ctx := context.Background()
	_, err := st.Write(ctx, bucket, "short", strings.NewReader("abc"), 10, provider.WriteOptions{})
	if err == nil {
		t.Fatal("short write succeeded")
	}
	if _, err := st.Stat(ctx, bucket, "short"); err == nil {
		t.Error("short write left an object")
	}
	_, err = st.Write(ctx, bucket, "failing", io.MultiReader(strings.NewReader("abc"), errReader{}), -1, provider.WriteOptions{})
	if err == nil || !strings.Contains(err.Error(), "reader broke") {
		t.Errorf("failing reader: %v, want its error", err)
	}
	if _, err := st.Stat(ctx, bucket, "failing"); err == nil {
		t.Error("failed write left an object")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("reader broke") }

// TestRangeBeyondEnd: an offset past the end is ErrInvalid, as in the
// memory driver, not a silent empty read.
func TestRangeBeyondEnd(t *testing.T) {
	st, bucket := openEmulator(t)
	ctx := context.Background()
	if _, err := st.Write(ctx, bucket, "ten", strings.NewReader("0123456789"), 10, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := st.NewRangeReader(ctx, bucket, "ten", 20, 5)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("read past the end: %v, want ErrInvalid", err)
	}
}
