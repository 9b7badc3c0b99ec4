package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/providertest"
)

func openMinIO(t *testing.T) (*Storage, string) {
	t.Helper()
	env := testenv.RequireS3(t)
	st, err := provider.Open(context.Background(), provider.Config{
		CloudType: provider.S3Generic,
		AccessKey: env.AccessKey,
		SecretKey: env.SecretKey,
		Endpoint:  env.Endpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Storage)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "amove-test-" + hex.EncodeToString(b)
	if err := s.CreateBucket(context.Background(), bucket, ""); err != nil {
		t.Fatal(err)
	}
	return s, bucket
}

func TestConformance(t *testing.T) {
	s, bucket := openMinIO(t)
	providertest.Run(t, providertest.Harness{Storage: s, Bucket: bucket})
}

// TestAtomosphereConformance runs the suite on an Atomosphere account
// (driver "atomosphere": an S3-compatible endpoint with access keys, see
// docs/providers.md) against MinIO.
func TestAtomosphereConformance(t *testing.T) {
	env := testenv.RequireS3(t)
	ctx := context.Background()
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.Atomosphere,
		AccessKey: env.AccessKey, SecretKey: env.SecretKey, ServiceURL: env.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Storage)
	if s.crc() {
		t.Error("an Atomosphere account sends full-object CRC32C, which nothing says its server accepts")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "amove-atomosphere-" + hex.EncodeToString(b)
	if err := s.CreateBucket(ctx, bucket, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for o, err := range provider.Walk(ctx, s, bucket, provider.ListOptions{}) {
			if err == nil {
				_ = s.Delete(ctx, bucket, o.Key)
			}
		}
		_ = s.DeleteBucket(ctx, bucket)
	})
	providertest.Run(t, providertest.Harness{Storage: s, Bucket: bucket})
	if _, err := provider.Open(ctx, provider.Config{CloudType: provider.Atomosphere, AccessKey: "a", SecretKey: "b"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Atomosphere without an endpoint: %v, want ErrInvalid", err)
	}
}

// TestCopyMultipart drives the UploadPartCopy path (used above 5 GiB) with a
// lowered cutoff.
func TestCopyMultipart(t *testing.T) {
	s, bucket := openMinIO(t)
	s.copyCutoff = 5 << 20
	ctx := context.Background()
	data := make([]byte, 12<<20+3)
	_, _ = rand.Read(data)
	if _, err := s.Write(ctx, bucket, "src", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := s.Copy(ctx, bucket, "dst", bucket, "src")
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != int64(len(data)) {
		t.Errorf("copy size %d", o.Size)
	}
	st, err := s.Stat(ctx, bucket, "dst")
	if err != nil {
		t.Fatal(err)
	}
	if st.ETag == "" || !bytes.Contains([]byte(st.ETag), []byte("-3")) {
		t.Errorf("dst ETag %q: want a 3-part multipart ETag", st.ETag)
	}
	rc, err := s.NewRangeReader(ctx, bucket, "dst", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Error("multipart copy differs")
	}
}

func TestBadCredentials(t *testing.T) {
	env := testenv.RequireS3(t)
	st, err := Open(context.Background(), provider.Config{
		CloudType: provider.S3Generic, AccessKey: env.AccessKey, SecretKey: "wrong-secret", Endpoint: env.Endpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.ListBuckets(context.Background())
	if !errors.Is(err, provider.ErrUnauthenticated) {
		t.Errorf("ListBuckets with a wrong secret: %v, want ErrUnauthenticated", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Errorf("errors.As does not reach the SDK error: %v", err)
	}
}

func TestOpenValidation(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		cfg  provider.Config
	}{
		{"no keys", provider.Config{CloudType: provider.AWS}},
		{"generic without endpoint", provider.Config{CloudType: provider.S3Generic, AccessKey: "a", SecretKey: "b"}},
		{"r2 without account", provider.Config{CloudType: provider.Cloudflare, AccessKey: "a", SecretKey: "b"}},
		{"bad endpoint scheme", provider.Config{CloudType: provider.S3Generic, AccessKey: "a", SecretKey: "b", Endpoint: "ftp://x"}},
		{"not an s3 type", provider.Config{CloudType: provider.Dropbox, AccessKey: "a", SecretKey: "b"}},
	}
	for _, c := range cases {
		if _, err := Open(ctx, c.cfg); !errors.Is(err, provider.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", c.name, err)
		}
	}
	if _, err := provider.Open(ctx, provider.Config{CloudType: 3}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("unknown cloud type: %v", err)
	}
}

func TestQuirks(t *testing.T) {
	cases := []struct {
		cfg              provider.Config
		region, endpoint string
	}{
		{provider.Config{CloudType: provider.AWS}, "us-east-1", ""},
		{provider.Config{CloudType: provider.AWS, Region: "eu-west-1"}, "eu-west-1", ""},
		{provider.Config{CloudType: provider.Wasabi}, "us-east-1", "https://s3.wasabisys.com"},
		{provider.Config{CloudType: provider.Wasabi, Region: "eu-central-2"}, "eu-central-2", "https://s3.eu-central-2.wasabisys.com"},
		{provider.Config{CloudType: provider.Cloudflare, Endpoint: "0123456789abcdef0123456789abcdef"}, "auto", "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"},
		{provider.Config{CloudType: provider.Cloudflare, Endpoint: "https://acc.eu.r2.cloudflarestorage.com/"}, "auto", "https://acc.eu.r2.cloudflarestorage.com"},
		{provider.Config{CloudType: provider.S3Generic, ServiceURL: "minio.local:9000"}, "us-east-1", "https://minio.local:9000"},
	}
	for _, c := range cases {
		region, endpoint, err := quirkTable[c.cfg.CloudType].resolve(c.cfg)
		if err != nil || region != c.region || endpoint != c.endpoint {
			t.Errorf("%v: got %q %q %v, want %q %q", c.cfg.CloudType, region, endpoint, err, c.region, c.endpoint)
		}
	}
	if !quirkTable[provider.Cloudflare].limits.EqualParts {
		t.Error("R2 must require equal parts")
	}
}

func TestPartSize(t *testing.T) {
	lim := s3Limits
	cases := []struct{ req, size, want int64 }{
		{0, -1, defaultPartSize},
		{1 << 20, 100 << 20, 5 << 20},          // raised to the 5 MiB minimum
		{8 << 20, 1 << 40, 105 << 20},          // 1 TiB needs > 104.9 MiB parts to fit 10,000
		{0, 5 << 40, 525 << 20},                // 5 TiB
		{6<<20 + 1, 100 << 20, 7 << 20},        // rounded up to a MiB
		{10 << 30, 100 << 30, lim.MaxPartSize}, // capped at 5 GiB
	}
	for _, c := range cases {
		got := partSize(lim, c.req, c.size)
		if got != c.want {
			t.Errorf("partSize(%d, %d) = %d, want %d", c.req, c.size, got, c.want)
		}
		if c.size > 0 && got*int64(lim.MaxParts) < c.size && got < lim.MaxPartSize {
			t.Errorf("partSize(%d, %d) = %d cannot hold the object in %d parts", c.req, c.size, got, lim.MaxParts)
		}
	}
}

func TestMapError(t *testing.T) {
	resp := func(status int, h http.Header) *smithyhttp.Response {
		return &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: h}}
	}
	wrap := func(status int, h http.Header, code string) error {
		var inner error = &smithy.GenericAPIError{Code: code, Message: "m"}
		if code == "" {
			inner = errors.New("no body")
		}
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: resp(status, h), Err: inner}}
	}
	cases := []struct {
		err  error
		want error
	}{
		{wrap(404, nil, "NoSuchKey"), provider.ErrNotFound},
		{wrap(404, nil, "NoSuchBucket"), provider.ErrNotFound},
		{wrap(404, nil, ""), provider.ErrNotFound}, // HEAD: no body
		{wrap(403, nil, "AccessDenied"), provider.ErrPermission},
		{wrap(403, nil, "SignatureDoesNotMatch"), provider.ErrUnauthenticated},
		{wrap(409, nil, "BucketAlreadyOwnedByYou"), provider.ErrExists},
		{wrap(416, nil, "InvalidRange"), provider.ErrInvalid},
		{wrap(503, nil, "SlowDown"), provider.ErrRateLimited},
		{wrap(429, http.Header{"Retry-After": {"7"}}, ""), provider.ErrRateLimited},
		{wrap(400, nil, "BadDigest"), provider.ErrChecksum},
		{wrap(400, nil, "XAmzContentChecksumMismatch"), provider.ErrChecksum},
		{wrap(400, nil, "XAmzContentSHA256Mismatch"), provider.ErrChecksum},
		{wrap(400, nil, "InvalidDigest"), provider.ErrInvalid},
	}
	for _, c := range cases {
		got := mapError(c.err, "b/k")
		if !errors.Is(got, c.want) {
			t.Errorf("mapError(%v) = %v, want %v", c.err, got, c.want)
		}
		var re *awshttp.ResponseError
		if !errors.As(got, &re) {
			t.Errorf("mapError(%v) lost the SDK error", c.err)
		}
	}
	if d, ok := provider.RetryAfter(mapError(wrap(429, http.Header{"Retry-After": {"7"}}, ""), "b")); !ok || d.Seconds() != 7 {
		t.Errorf("RetryAfter = %v, %v; want 7s", d, ok)
	}
	if err := mapError(context.Canceled, "b"); !errors.Is(err, context.Canceled) {
		t.Errorf("context error changed: %v", err)
	}
	_ = aws.String
}

// TestFullObjectCRC: a multipart write gets a full-object CRC32C that the
// server verified and that Stat reports, so downloads can be checked
// against it.
func TestFullObjectCRC(t *testing.T) {
	s, bucket := openMinIO(t)
	ctx := context.Background()
	data := make([]byte, 12<<20+5)
	_, _ = rand.Read(data)
	o, err := s.Write(ctx, bucket, "crc", struct{ io.Reader }{bytes.NewReader(data)}, -1, provider.WriteOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	want := provider.FormatCRC32C(crc32.Checksum(data, provider.CRC32C))
	st, err := s.Stat(ctx, bucket, "crc")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.Trim(st.ETag, `"`), "-3") {
		t.Errorf("ETag %q: want a 3-part multipart object", st.ETag)
	}
	if st.Checksums.CRC32C != want || o.Checksums.CRC32C != want {
		t.Errorf("CRC32C: Stat %q, Write %q, want %q", st.Checksums.CRC32C, o.Checksums.CRC32C, want)
	}
}

func TestChecksumRefused(t *testing.T) {
	for code, want := range map[string]bool{
		"InvalidArgument": true, "NotImplemented": true, "InvalidRequest": true,
		"BadDigest": false, "XAmzContentSHA256Mismatch": false, "InvalidDigest": false, "AccessDenied": false,
	} {
		err := fmt.Errorf("put: %w", &smithy.GenericAPIError{Code: code})
		if got := checksumRefused(err); got != want {
			t.Errorf("checksumRefused(%s) = %v, want %v", code, got, want)
		}
	}
	if checksumRefused(errors.New("network")) {
		t.Error("a plain error counts as a refusal")
	}
}
