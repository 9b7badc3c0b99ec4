// Package providertest is the conformance suite every driver runs against its
// real server, official emulator or faithful fake. A driver is done when
// Run passes; a capability it lacks is reported in the log as unsupported,
// never skipped silently.
package providertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
)

// Harness describes the driver under test.
type Harness struct {
	// Storage is the opened driver.
	Storage provider.Storage
	// Bucket is an existing bucket the suite may write to. Every case works
	// under its own random prefix, so the bucket may be shared.
	Bucket string
	// HTTPClient is the plain client used for presigned URLs; nil means
	// http.DefaultClient.
	HTTPClient *http.Client
	// Limitations names cases the server under test cannot verify (an
	// emulator that ignores signatures, say) with the reason. They are
	// logged, and the case runs the part the server supports.
	Limitations map[string]string
	// LargeSize is the size of the multipart case; zero means 17 MiB.
	LargeSize int64
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Storage == nil || h.Bucket == "" {
		t.Fatal("providertest: Harness needs Storage and Bucket")
	}
	if h.HTTPClient == nil {
		h.HTTPClient = http.DefaultClient
	}
	if h.LargeSize == 0 {
		h.LargeSize = 17 << 20
	}
	s := &suite{Harness: h}
	for reason, what := range h.Limitations {
		t.Logf("limitation %s: %s", reason, what)
	}
	t.Run("InvalidInput", s.testInvalidInput)
	t.Run("WriteReadStat", s.testWriteReadStat)
	t.Run("Overwrite", s.testOverwrite)
	t.Run("Metadata", s.testMetadata)
	t.Run("ZeroByte", s.testZeroByte)
	t.Run("Large", s.testLarge)
	t.Run("RangeRead", s.testRangeRead)
	t.Run("OddKeys", s.testOddKeys)
	t.Run("Folders", s.testFolders)
	t.Run("Pagination", s.testPagination)
	t.Run("NotFound", s.testNotFound)
	t.Run("Delete", s.testDelete)
	t.Run("CancelWrite", s.testCancelWrite)
	// A capability runs when the driver claims it and has the method; a
	// mismatch between the two fails Features.
	claimed, has := provider.FeaturesOf(h.Storage), provider.Detect(h.Storage)
	t.Run("Features", s.testFeatures)
	s.capability(t, "Multipart", s.testMultipart, claimed.Multipart && has.Multipart)
	s.capability(t, "MultipartOrder", s.testMultipartOrder, claimed.Multipart && has.Multipart)
	s.capability(t, "Presign", s.testPresign, claimed.Presign && has.Presign)
	s.capability(t, "Copy", s.testCopy, claimed.ServerSideCopy && has.ServerSideCopy)
	s.capability(t, "Buckets", s.testBuckets, claimed.BucketManagement && has.BucketManagement)
	s.capability(t, "Hashes", s.testHashes, len(claimed.Checksums) > 0 && len(has.Checksums) > 0)
	s.capability(t, "Writer", s.testWriter, true)
}

type suite struct {
	Harness
}

// capability runs a case for an optional interface, or logs that the driver
// does not have it.
func (s *suite) capability(t *testing.T, name string, f func(*testing.T), supported bool) {
	if !supported {
		t.Logf("capability %s: unsupported by %T", name, s.Storage)
		return
	}
	t.Run(name, f)
}

// prefix returns a fresh key prefix for one case.
func prefix(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ReplaceAll(t.Name(), "/", "-") + "-" + hex.EncodeToString(b) + "/"
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload returns n pseudo-random bytes (random so compression or dedup in
// the server cannot hide a bug).
func payload(n int64) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	_, _ = r.Read(b)
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (s *suite) put(t *testing.T, key string, data []byte) provider.Object {
	t.Helper()
	o, err := s.Storage.Write(ctxT(t), s.Bucket, key, bytes.NewReader(data), int64(len(data)), provider.WriteOptions{})
	if err != nil {
		t.Fatalf("Write %q: %v", key, err)
	}
	return o
}

func (s *suite) read(t *testing.T, key string, offset, length int64) []byte {
	t.Helper()
	rc, err := s.Storage.NewRangeReader(ctxT(t), s.Bucket, key, offset, length)
	if err != nil {
		t.Fatalf("NewRangeReader %q [%d,%d]: %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

func (s *suite) cleanup(t *testing.T, keys ...string) {
	t.Cleanup(func() {
		for _, k := range keys {
			_ = s.Storage.Delete(context.Background(), s.Bucket, k)
		}
	})
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want errors.Is(err, %v)", what, err, target)
	}
}

// testInvalidInput runs Refused on the driver behind the portable layer,
// with a guard in between that fails the case if any call gets through:
// drivers do not check their input, the portable layer does, once.
func (s *suite) testInvalidInput(t *testing.T) {
	Refused(t, provider.NewPortable(&guard{t: t, st: s.Storage}), s.Bucket)
}

// Refused calls every method of pt with input the provider.Check functions
// refuse (bad bucket names, empty, over-long, NUL and invalid UTF-8 keys, a
// negative offset, a nil reader, a size below -1) and wants ErrInvalid from
// each. bucket must be a valid bucket name. Put a Storage that fails the
// test when called between pt and the driver to show that none of it
// reaches the driver.
func Refused(t *testing.T, pt *provider.Portable, bucket string) {
	t.Helper()
	ctx := ctxT(t)
	badBuckets := []string{"", "a/b", "nul\x00", "bad\xffutf8"}
	badKeys := []string{"", strings.Repeat("k", 1025), "nul\x00key", "bad\xffutf8"}
	type place struct{ bucket, key string }
	var bad []place
	for _, b := range badBuckets {
		bad = append(bad, place{b, "k"})
	}
	for _, k := range badKeys {
		bad = append(bad, place{bucket, k})
	}
	want := func(what string, p place, err error) {
		t.Helper()
		wantErr(t, fmt.Sprintf("%s %.20q/%.20q", what, p.bucket, p.key), err, provider.ErrInvalid)
	}
	for _, p := range bad {
		_, err := pt.Stat(ctx, p.bucket, p.key)
		want("Stat", p, err)
		_, err = pt.NewReader(ctx, p.bucket, p.key)
		want("NewReader", p, err)
		_, err = pt.Write(ctx, p.bucket, p.key, strings.NewReader("x"), 1, provider.WriteOptions{})
		want("Write", p, err)
		_, err = pt.NewWriter(ctx, p.bucket, p.key, provider.WriteOptions{})
		want("NewWriter", p, err)
		want("Delete", p, pt.Delete(ctx, p.bucket, p.key))
		_, err = pt.Copy(ctx, p.bucket, p.key, bucket, "k")
		want("Copy to", p, err)
		_, err = pt.Copy(ctx, bucket, "k", p.bucket, p.key)
		want("Copy from", p, err)
		_, err = pt.SignedURL(ctx, p.bucket, p.key, provider.PresignOptions{Method: http.MethodGet})
		want("SignedURL", p, err)
		want("CreateFolder", p, pt.CreateFolder(ctx, p.bucket, p.key))
	}
	for _, b := range badBuckets {
		_, err := pt.ListObjects(ctx, b, provider.ListOptions{})
		want("ListObjects", place{b, ""}, err)
		for _, err := range pt.Walk(ctx, b, provider.ListOptions{}) {
			want("Walk", place{b, ""}, err)
		}
	}
	ok := place{bucket, "k"}
	_, err := pt.NewRangeReader(ctx, bucket, "k", -1, 10)
	want("NewRangeReader negative offset", ok, err)
	_, err = pt.Write(ctx, bucket, "k", nil, 0, provider.WriteOptions{})
	want("Write nil reader", ok, err)
	_, err = pt.Write(ctx, bucket, "k", strings.NewReader("x"), -2, provider.WriteOptions{})
	want("Write size -2", ok, err)
	_, err = pt.NewWriter(ctx, bucket, "k", provider.WriteOptions{Size: -1})
	want("NewWriter size -1", ok, err)
}

// guard stands between the portable layer and the driver in the
// InvalidInput case: every call that reaches it fails the test. It
// declares the driver's Features but implements only the required
// interface, so no optional capability (Copier, Presigner,
// MultipartUploader) can reach the driver around it either.
type guard struct {
	t  *testing.T
	st provider.Storage
}

func (g *guard) reached(op, bucket, key string) {
	g.t.Helper()
	g.t.Errorf("%s %.20q/%.20q reached the driver: the portable layer must refuse it", op, bucket, key)
}

func (g *guard) Features() provider.Features { return provider.FeaturesOf(g.st) }

func (g *guard) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	return g.st.ListBuckets(ctx)
}

func (g *guard) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	g.reached("ListObjects", bucket, opts.Prefix)
	return g.st.ListObjects(ctx, bucket, opts)
}

func (g *guard) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	g.reached("Stat", bucket, key)
	return g.st.Stat(ctx, bucket, key)
}

func (g *guard) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	g.reached("NewRangeReader", bucket, key)
	return g.st.NewRangeReader(ctx, bucket, key, offset, length)
}

func (g *guard) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	g.reached("Write", bucket, key)
	return g.st.Write(ctx, bucket, key, r, size, opts)
}

func (g *guard) Delete(ctx context.Context, bucket, key string) error {
	g.reached("Delete", bucket, key)
	return g.st.Delete(ctx, bucket, key)
}

func (g *guard) CreateFolder(ctx context.Context, bucket, key string) error {
	g.reached("CreateFolder", bucket, key)
	return g.st.CreateFolder(ctx, bucket, key)
}

// Close does not close the driver: the suite goes on with it.
func (g *guard) Close() error { return nil }

func (s *suite) testWriteReadStat(t *testing.T) {
	key := prefix(t) + "hello.txt"
	s.cleanup(t, key)
	data := []byte("hello, amove")
	before := time.Now().Add(-time.Minute)
	o, err := s.Storage.Write(ctxT(t), s.Bucket, key, bytes.NewReader(data), int64(len(data)),
		provider.WriteOptions{ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Key != key || o.Size != int64(len(data)) {
		t.Errorf("Write returned %+v, want key %q size %d", o, key, len(data))
	}
	st, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Key != key || st.Size != int64(len(data)) || st.IsFolder {
		t.Errorf("Stat = %+v", st)
	}
	if !strings.HasPrefix(st.ContentType, "text/plain") {
		t.Errorf("Stat content type %q, want text/plain", st.ContentType)
	}
	if st.ETag == "" {
		t.Error("Stat has no ETag")
	}
	if st.ModTime.Before(before) || st.ModTime.After(time.Now().Add(time.Minute)) {
		t.Errorf("Stat mod time %v is not now", st.ModTime)
	}
	if got := s.read(t, key, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("read back %q, want %q", got, data)
	}
}

// testOverwrite: a Write over an existing key replaces it, and Stat then
// describes the new object (size, and an ETag other than the first one's).
func (s *suite) testOverwrite(t *testing.T) {
	key := prefix(t) + "o"
	s.cleanup(t, key)
	s.put(t, key, []byte("first version"))
	first, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	s.put(t, key, []byte("second"))
	if got := s.read(t, key, 0, -1); string(got) != "second" {
		t.Errorf("after overwrite read %q", got)
	}
	st, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(len("second")) {
		t.Errorf("Stat after overwrite: size %d, want %d", st.Size, len("second"))
	}
	if st.ETag == first.ETag {
		t.Errorf("Stat after overwrite: ETag %q unchanged", st.ETag)
	}
}

// testMetadata: WriteOptions.Metadata is never dropped silently. A driver
// that stores user metadata returns it from Stat exactly (this case uses
// lower-case letter-and-digit names, which every provider keeps as
// given); one that cannot refuses a Write with non-empty Metadata with
// provider.ErrUnsupported and leaves nothing at the key. A Write with empty or nil Metadata always
// works. The same rule holds for CreateMultipart when the driver has it:
// the refusal may come from CreateMultipart, or the completed object
// carries the metadata.
func (s *suite) testMetadata(t *testing.T) {
	p := prefix(t)
	ctx := ctxT(t)
	md := map[string]string{"color": "blue", "amovetest": "1"}
	key := p + "with-metadata"
	s.cleanup(t, key)
	_, err := s.Storage.Write(ctx, s.Bucket, key, strings.NewReader("m"), 1, provider.WriteOptions{Metadata: md})
	stored := err == nil
	switch {
	case errors.Is(err, provider.ErrUnsupported):
		t.Logf("metadata: refused by %T", s.Storage)
		_, err := s.Storage.Stat(ctx, s.Bucket, key)
		wantErr(t, "Stat after a refused Write", err, provider.ErrNotFound)
	case err != nil:
		t.Fatalf("Write with metadata: %v, want success or ErrUnsupported", err)
	default:
		st, err := s.Storage.Stat(ctx, s.Bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(st.Metadata, md) {
			t.Errorf("Stat metadata = %v, want %v", st.Metadata, md)
		}
	}
	empty := p + "empty-metadata"
	s.cleanup(t, empty)
	if _, err := s.Storage.Write(ctx, s.Bucket, empty, strings.NewReader("e"), 1,
		provider.WriteOptions{Metadata: map[string]string{}}); err != nil {
		t.Errorf("Write with empty metadata: %v", err)
	}

	mu, ok := s.Storage.(provider.MultipartUploader)
	if !ok || !provider.FeaturesOf(s.Storage).Multipart {
		return
	}
	mkey := p + "multipart-metadata"
	s.cleanup(t, mkey)
	u, err := mu.CreateMultipart(ctx, s.Bucket, mkey, provider.WriteOptions{Metadata: md})
	if errors.Is(err, provider.ErrUnsupported) {
		if stored {
			t.Logf("metadata: Write stores it, CreateMultipart refuses it")
		}
		return
	}
	if err != nil {
		t.Fatalf("CreateMultipart with metadata: %v", err)
	}
	part, err := mu.UploadPart(ctx, u, 1, strings.NewReader("mp"), 2)
	if err != nil {
		_ = mu.AbortMultipart(context.Background(), u)
		t.Fatal(err)
	}
	if _, err := mu.CompleteMultipart(ctx, u, []provider.Part{part}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Storage.Stat(ctx, s.Bucket, mkey)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(st.Metadata, md) {
		t.Errorf("Stat metadata after CompleteMultipart = %v, want %v (or ErrUnsupported from CreateMultipart)", st.Metadata, md)
	}
}

func (s *suite) testZeroByte(t *testing.T) {
	p := prefix(t)
	for _, size := range []int64{0, -1} {
		key := fmt.Sprintf("%sempty%d", p, size)
		s.cleanup(t, key)
		o, err := s.Storage.Write(ctxT(t), s.Bucket, key, bytes.NewReader(nil), size, provider.WriteOptions{})
		if err != nil {
			t.Fatalf("Write 0 bytes (size %d): %v", size, err)
		}
		if o.Size != 0 {
			t.Errorf("Write returned size %d", o.Size)
		}
		st, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
		if err != nil || st.Size != 0 {
			t.Fatalf("Stat = %+v, %v", st, err)
		}
		if got := s.read(t, key, 0, -1); len(got) != 0 {
			t.Errorf("read %d bytes from an empty object", len(got))
		}
	}
}

func (s *suite) testLarge(t *testing.T) {
	p := prefix(t)
	data := payload(s.LargeSize)
	want := sum(data)
	for _, size := range []int64{s.LargeSize, -1} {
		key := fmt.Sprintf("%slarge-size%d", p, size)
		s.cleanup(t, key)
		// A plain io.Reader (no Seek, no Len) as a user's pipe would be.
		r := struct{ io.Reader }{bytes.NewReader(data)}
		o, err := s.Storage.Write(ctxT(t), s.Bucket, key, r, size, provider.WriteOptions{PartSize: 5 << 20})
		if err != nil {
			t.Fatalf("Write %d bytes (size %d): %v", len(data), size, err)
		}
		if o.Size != s.LargeSize {
			t.Errorf("Write returned size %d, want %d", o.Size, s.LargeSize)
		}
		got := s.read(t, key, 0, -1)
		if sum(got) != want {
			t.Fatalf("size %d: SHA-256 of read back %d bytes differs", size, len(got))
		}
	}
}

func (s *suite) testRangeRead(t *testing.T) {
	key := prefix(t) + "range"
	s.cleanup(t, key)
	data := payload(1<<20 + 17)
	s.put(t, key, data)
	cases := []struct{ off, n int64 }{
		{500_000, 1000}, // from the middle
		{0, 1},
		{int64(len(data)) - 10, -1}, // tail to the end
		{12345, -1},
		{int64(len(data)) - 5, 100}, // runs past the end: truncated
	}
	for _, c := range cases {
		got := s.read(t, key, c.off, c.n)
		end := int64(len(data))
		if c.n >= 0 && c.off+c.n < end {
			end = c.off + c.n
		}
		if !bytes.Equal(got, data[c.off:end]) {
			t.Errorf("range [%d,+%d]: got %d bytes, want %d equal bytes", c.off, c.n, len(got), end-c.off)
		}
	}
}

// OddKeys are keys that break naive URL building or XML handling.
var OddKeys = []string{
	"with space.txt",
	"plus+sign.txt",
	"percent%20literal.txt",
	"percent%.txt",
	"unicode-ünïcødé-日本語.txt",
	"emoji-😀.bin",
	"question?mark",
	"hash#tag",
	"amp&and=eq",
	"deep/a/b/c/d/e/f/g/h/i/j/file.txt",
	"quote'single\"double",
	"tilde~star*paren()",
}

func (s *suite) testOddKeys(t *testing.T) {
	p := prefix(t)
	want := map[string]string{}
	for i, k := range OddKeys {
		key := p + k
		s.cleanup(t, key)
		data := []byte(fmt.Sprintf("odd key %d %s", i, k))
		s.put(t, key, data)
		want[key] = string(data)
	}
	for key, data := range want {
		if got := s.read(t, key, 0, -1); string(got) != data {
			t.Errorf("read %q = %q, want %q", key, got, data)
		}
		st, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
		if err != nil || st.Key != key {
			t.Errorf("Stat %q = %+v, %v", key, st, err)
		}
	}
	seen := map[string]bool{}
	for o, err := range provider.Walk(ctxT(t), s.Storage, s.Bucket, provider.ListOptions{Prefix: p}) {
		if err != nil {
			t.Fatal(err)
		}
		seen[o.Key] = true
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("flat listing lacks %q", key)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("flat listing has %d keys, want %d: %v", len(seen), len(want), seen)
	}
}

func (s *suite) list(t *testing.T, opts provider.ListOptions) (names []string) {
	t.Helper()
	for o, err := range provider.Walk(ctxT(t), s.Storage, s.Bucket, opts) {
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(o.Key, opts.Prefix)
		if o.IsFolder != strings.HasSuffix(o.Key, "/") {
			t.Errorf("%q: IsFolder = %v", o.Key, o.IsFolder)
		}
		names = append(names, name)
	}
	return names
}

func (s *suite) testFolders(t *testing.T) {
	p := prefix(t)
	keys := []string{"a/1.txt", "a/b/2.txt", "a/b/c/3.txt", "c.txt", "e/5.txt"}
	for _, k := range keys {
		s.put(t, p+k, []byte(k))
		s.cleanup(t, p+k)
	}
	// The portable layer adds the trailing "/" the driver expects.
	if err := provider.NewPortable(s.Storage).CreateFolder(ctxT(t), s.Bucket, p+"d"); err != nil {
		t.Fatalf("CreateFolder: %v", err)
	}
	s.cleanup(t, p+"d/")
	st, err := s.Storage.Stat(ctxT(t), s.Bucket, p+"d/")
	if err != nil || !st.IsFolder || st.Size != 0 {
		t.Errorf("Stat folder marker = %+v, %v", st, err)
	}
	check := func(opts provider.ListOptions, want ...string) {
		t.Helper()
		got := s.list(t, opts)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("list %+v = %q, want %q", opts, got, want)
		}
	}
	check(provider.ListOptions{Prefix: p, Delimiter: "/"}, "a/", "c.txt", "d/", "e/")
	check(provider.ListOptions{Prefix: p + "a/", Delimiter: "/"}, "1.txt", "b/")
	check(provider.ListOptions{Prefix: p + "a/b/", Delimiter: "/"}, "2.txt", "c/")
	check(provider.ListOptions{Prefix: p + "d/", Delimiter: "/"}) // only the marker: empty
	check(provider.ListOptions{Prefix: p + "a/"}, "1.txt", "b/2.txt", "b/c/3.txt")
	check(provider.ListOptions{Prefix: p + "a/b/c/3"}, ".txt")
	// A prefix that is a whole key lists that object (S3 semantics).
	check(provider.ListOptions{Prefix: p + "c.txt"}, "")
	check(provider.ListOptions{Prefix: p + "a/1.txt", Delimiter: "/"}, "")
	// Paging through folders must neither repeat nor lose a folder.
	check(provider.ListOptions{Prefix: p, Delimiter: "/", MaxKeys: 1}, "a/", "c.txt", "d/", "e/")
	// A folder's own marker must not use up a page: one key per page
	// still reaches the children (MinIO ends such a listing after the
	// marker unless the driver starts after it).
	s.put(t, p+"d/x.txt", []byte("x"))
	s.cleanup(t, p+"d/x.txt")
	check(provider.ListOptions{Prefix: p + "d/", Delimiter: "/", MaxKeys: 1}, "x.txt")
}

func (s *suite) testPagination(t *testing.T) {
	const n = 2500
	p := prefix(t)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%sk%05d", p, i)
	}
	// Write with bounded concurrency: a real server is the slow part.
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := s.Storage.Write(ctx, s.Bucket, k, strings.NewReader(k), int64(len(k)), provider.WriteOptions{})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, k := range keys {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				_ = s.Storage.Delete(context.Background(), s.Bucket, k)
			}()
		}
		wg.Wait()
	})

	// Walk the pages by hand to count them.
	opts := provider.ListOptions{Prefix: p, MaxKeys: 1000}
	seen := map[string]int{}
	var order []string
	pages := 0
	for {
		page, err := s.Storage.ListObjects(ctx, s.Bucket, opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Objects) > 1000 {
			t.Errorf("page %d has %d objects, more than MaxKeys", pages, len(page.Objects))
		}
		for _, o := range page.Objects {
			seen[o.Key]++
			order = append(order, o.Key)
		}
		if page.NextToken == "" {
			break
		}
		if pages > n {
			t.Fatal("listing does not end")
		}
		opts.Token = page.NextToken
	}
	// The contract allows pages shorter than MaxKeys (Dropbox and Drive
	// choose their own), so only the least number of pages is fixed.
	if pages < 3 {
		t.Errorf("listed %d keys in %d pages, want at least 3 pages of at most 1000", len(order), pages)
	}
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("key %q listed %d times", k, seen[k])
		}
	}
	if len(order) != n {
		t.Errorf("listed %d keys, want %d", len(order), n)
	}
	for i := 1; i < len(order); i++ {
		if order[i-1] >= order[i] {
			t.Errorf("listing not in key order at %d: %q >= %q", i, order[i-1], order[i])
			break
		}
	}
	// Walk yields the same set.
	count := 0
	for _, err := range provider.Walk(ctx, s.Storage, s.Bucket, provider.ListOptions{Prefix: p}) {
		if err != nil {
			t.Fatal(err)
		}
		count++
	}
	if count != n {
		t.Errorf("Walk yielded %d objects, want %d", count, n)
	}
}

func (s *suite) testNotFound(t *testing.T) {
	ctx := ctxT(t)
	missing := prefix(t) + "missing"
	_, err := s.Storage.Stat(ctx, s.Bucket, missing)
	wantErr(t, "Stat missing key", err, provider.ErrNotFound)
	rc, err := s.Storage.NewRangeReader(ctx, s.Bucket, missing, 0, -1)
	if err == nil {
		// Some providers only report a missing object on the first read.
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	wantErr(t, "read missing key", err, provider.ErrNotFound)

	noBucket := "amove-missing-" + strings.ToLower(hex.EncodeToString(payload(6)))
	_, err = s.Storage.Stat(ctx, noBucket, "k")
	wantErr(t, "Stat in missing bucket", err, provider.ErrNotFound)
	_, err = s.Storage.ListObjects(ctx, noBucket, provider.ListOptions{})
	wantErr(t, "ListObjects missing bucket", err, provider.ErrNotFound)
	_, err = s.Storage.Write(ctx, noBucket, "k", strings.NewReader("x"), 1, provider.WriteOptions{})
	wantErr(t, "Write to missing bucket", err, provider.ErrNotFound)
}

func (s *suite) testDelete(t *testing.T) {
	key := prefix(t) + "gone"
	s.put(t, key, []byte("x"))
	if err := s.Storage.Delete(ctxT(t), s.Bucket, key); err != nil {
		t.Fatal(err)
	}
	_, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
	wantErr(t, "Stat after Delete", err, provider.ErrNotFound)
	if err := s.Storage.Delete(ctxT(t), s.Bucket, key); err != nil {
		t.Errorf("deleting a missing key: %v, want nil", err)
	}
}

// endless is a reader that never ends; a write of unknown size from it only
// stops when the context does.
type endless struct{ r io.Reader }

func (e endless) Read(p []byte) (int, error) {
	// About 256 MB/s at most, like a fast network source; an unthrottled
	// generator would only measure how fast the driver can buffer.
	time.Sleep(time.Millisecond)
	return e.r.Read(p[:min(len(p), 256<<10)])
}

func (s *suite) testCancelWrite(t *testing.T) {
	key := prefix(t) + "cancelled"
	s.cleanup(t, key)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Storage.Write(ctx, s.Bucket, key, endless{mrand.NewChaCha8([32]byte{1})}, -1, provider.WriteOptions{PartSize: 5 << 20})
		done <- err
	}()
	time.Sleep(700 * time.Millisecond)
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("cancelled write returned no error")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled write error %v, want context.Canceled", err)
		}
		// The bound: a cancelled write stops within a second.
		if d := time.Since(cancelled); d > time.Second {
			t.Errorf("write took %v to stop after cancel", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("write did not stop after cancel")
	}
	_, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
	wantErr(t, "Stat after cancelled write", err, provider.ErrNotFound)
	if mu, ok := s.Storage.(provider.MultipartUploader); ok {
		ups, err := mu.ListUploads(ctxT(t), s.Bucket, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) != 0 {
			t.Errorf("cancelled write left %d multipart uploads: %+v", len(ups), ups)
		}
	}
}

func (s *suite) testMultipart(t *testing.T) {
	mu := s.Storage.(provider.MultipartUploader)
	lim := mu.PartLimits()
	if lim.MinPartSize <= 0 || lim.MaxParts <= 0 || lim.MaxPartSize < lim.MinPartSize {
		t.Fatalf("PartLimits %+v are not usable", lim)
	}
	ctx := ctxT(t)
	p := prefix(t)
	partSize := max(lim.MinPartSize, 64<<10) // the boundary read below needs room either side
	if lim.PartMultiple > 0 && partSize%lim.PartMultiple != 0 {
		partSize += lim.PartMultiple - partSize%lim.PartMultiple
	}
	data := payload(2*partSize + 12345)
	key := p + "mpu"
	s.cleanup(t, key)
	u, err := mu.CreateMultipart(ctx, s.Bucket, key, provider.WriteOptions{ContentType: "application/x-test"})
	if err != nil {
		t.Fatal(err)
	}
	chunks := [][]byte{data[:partSize], data[partSize : 2*partSize], data[2*partSize:]}
	// Upload out of order: parts are independent.
	parts := make([]provider.Part, len(chunks))
	for _, i := range []int{2, 0, 1} {
		part, err := mu.UploadPart(ctx, u, i+1, bytes.NewReader(chunks[i]), int64(len(chunks[i])))
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		if part.Number != i+1 || part.Size != int64(len(chunks[i])) {
			t.Errorf("UploadPart returned %+v", part)
		}
		parts[i] = part
	}
	listed, err := mu.ListParts(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 3 {
		t.Fatalf("ListParts = %+v, want 3 parts", listed)
	}
	for i, lp := range listed {
		if lp.Number != i+1 || lp.Size != parts[i].Size || lp.ETag != parts[i].ETag {
			t.Errorf("ListParts[%d] = %+v, uploaded %+v", i, lp, parts[i])
		}
	}
	// Ask by exact key: MinIO lists uploads only for a whole object name.
	ups, err := mu.ListUploads(ctx, s.Bucket, key)
	if err != nil || len(ups) != 1 || ups[0].ID != u.ID {
		t.Errorf("ListUploads = %+v, %v; want the one upload", ups, err)
	}
	o, err := mu.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != int64(len(data)) {
		t.Errorf("CompleteMultipart size %d, want %d", o.Size, len(data))
	}
	if got := s.read(t, key, 0, -1); sum(got) != sum(data) {
		t.Error("multipart object differs from what was uploaded")
	}
	if got := s.read(t, key, partSize-10, 20); !bytes.Equal(got, data[partSize-10:partSize+10]) {
		t.Error("range across a part boundary differs")
	}
	if pl, ok := s.Storage.(provider.PartLayouter); ok {
		ps, n, err := pl.PartLayout(ctx, s.Bucket, key)
		if err != nil || ps != partSize || n != 3 {
			t.Errorf("PartLayout = %d, %d, %v; want %d, 3", ps, n, err, partSize)
		}
	}

	// Abort leaves nothing behind.
	key2 := p + "aborted"
	u2, err := mu.CreateMultipart(ctx, s.Bucket, key2, provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mu.UploadPart(ctx, u2, 1, bytes.NewReader(chunks[0]), int64(len(chunks[0]))); err != nil {
		t.Fatal(err)
	}
	if err := mu.AbortMultipart(ctx, u2); err != nil {
		t.Fatal(err)
	}
	ups, err = mu.ListUploads(ctx, s.Bucket, key2)
	if err != nil || len(ups) != 0 {
		t.Errorf("after abort ListUploads = %+v, %v", ups, err)
	}
	_, err = s.Storage.Stat(ctx, s.Bucket, key2)
	wantErr(t, "Stat aborted upload", err, provider.ErrNotFound)

	// A too-small non-final part is refused at completion.
	if lim.MinPartSize > 1 {
		key3 := p + "small"
		u3, err := mu.CreateMultipart(ctx, s.Bucket, key3, provider.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer mu.AbortMultipart(context.Background(), u3)
		var ps []provider.Part
		for n := 1; n <= 2; n++ {
			part, err := mu.UploadPart(ctx, u3, n, bytes.NewReader([]byte("tiny")), 4)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, part)
		}
		if _, err := mu.CompleteMultipart(ctx, u3, ps); err == nil {
			t.Error("CompleteMultipart accepted a non-final part below MinPartSize")
		}
	}
}

// testMultipartOrder: CompleteMultipart takes its parts in any order (the
// part numbers give the order), and a part number uploaded again keeps
// the last upload's bytes. Requirements: the parts are part 1 of the
// driver's smallest allowed size (MinPartSize rounded up to PartMultiple,
// at least 64 KiB) and a smaller last part 2 (CreateMultipart is told the
// total in WriteOptions.Size); part 2 is uploaded twice, with different
// bytes of the same size, before part 1 is uploaded, so a driver that must
// send parts in order (Dropbox, OneDrive and Drive sessions) still holds
// part 2 and can take the second upload. A driver whose provider keeps a
// part it has received and cannot overwrite it (Box upload sessions) may
// refuse the second upload with provider.ErrInvalid instead; then the
// first one stands. Complete gets the parts as [2, 1] and the object must
// be part 1 then the part 2 that won: never a silent mix.
func (s *suite) testMultipartOrder(t *testing.T) {
	mu := s.Storage.(provider.MultipartUploader)
	lim := mu.PartLimits()
	ctx := ctxT(t)
	key := prefix(t) + "order"
	s.cleanup(t, key)
	partSize := max(lim.MinPartSize, 64<<10)
	if lim.PartMultiple > 0 && partSize%lim.PartMultiple != 0 {
		partSize += lim.PartMultiple - partSize%lim.PartMultiple
	}
	one, twoOld := payload(partSize), payload(1001)
	twoNew := bytes.Repeat([]byte("new"), 333)
	twoNew = append(twoNew, "!!"...) // 1001 bytes, like twoOld
	u, err := mu.CreateMultipart(ctx, s.Bucket, key, provider.WriteOptions{Size: partSize + 1001})
	if err != nil {
		t.Fatal(err)
	}
	defer mu.AbortMultipart(context.Background(), u)
	first, err := mu.UploadPart(ctx, u, 2, bytes.NewReader(twoOld), int64(len(twoOld)))
	if err != nil {
		t.Fatalf("UploadPart 2: %v", err)
	}
	p2, err := mu.UploadPart(ctx, u, 2, bytes.NewReader(twoNew), int64(len(twoNew)))
	switch {
	case errors.Is(err, provider.ErrInvalid):
		t.Logf("re-upload of a received part refused by %T: %v", s.Storage, err)
		p2, twoNew = first, twoOld
	case err != nil:
		t.Fatalf("UploadPart 2 again: %v, want success or ErrInvalid", err)
	}
	p1, err := mu.UploadPart(ctx, u, 1, bytes.NewReader(one), int64(len(one)))
	if err != nil {
		t.Fatalf("UploadPart 1: %v", err)
	}
	o, err := mu.CompleteMultipart(ctx, u, []provider.Part{p2, p1})
	if err != nil {
		t.Fatalf("CompleteMultipart with parts [2, 1]: %v", err)
	}
	want := append(append([]byte(nil), one...), twoNew...)
	if o.Size != int64(len(want)) {
		t.Errorf("CompleteMultipart size %d, want %d", o.Size, len(want))
	}
	if got := s.read(t, key, 0, -1); sum(got) != sum(want) {
		t.Error("object is not part 1 followed by the last upload of part 2")
	}
}

func (s *suite) testPresign(t *testing.T) {
	ps := s.Storage.(provider.Presigner)
	ctx := ctxT(t)
	p := prefix(t)
	data := payload(4096)
	getKey := p + "get me.bin"
	s.put(t, getKey, data)
	s.cleanup(t, getKey)

	u, err := ps.PresignURL(ctx, s.Bucket, getKey, provider.PresignOptions{Method: http.MethodGet, Expiry: 10 * time.Minute, ForceDownload: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.HTTPClient.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("presigned GET: status %d, %d bytes (want 200, %d equal bytes)", resp.StatusCode, len(body), len(data))
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "get me.bin") {
		if why, ok := s.Limitations["PresignDisposition"]; ok {
			t.Logf("Content-Disposition %q not verified: %s", cd, why)
		} else {
			t.Errorf("force-download GET has Content-Disposition %q, want attachment with the file name", cd)
		}
	}

	putKey := p + "put+me ü.txt"
	s.cleanup(t, putKey)
	u, err = ps.PresignURL(ctx, s.Bucket, putKey, provider.PresignOptions{Method: http.MethodPut, Expiry: 10 * time.Minute, ContentType: "text/plain"})
	if errors.Is(err, provider.ErrUnsupported) {
		// Some providers only hand out download links (Dropbox).
		t.Logf("capability presigned PUT: unsupported by %T", s.Storage)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(data))
	req.Header.Set("Content-Type", "text/plain")
	resp, err = s.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("presigned PUT: status %d: %s", resp.StatusCode, body)
	}
	if got := s.read(t, putKey, 0, -1); !bytes.Equal(got, data) {
		t.Error("object written by presigned PUT differs")
	}
	st, err := s.Storage.Stat(ctx, s.Bucket, putKey)
	if err != nil || !strings.HasPrefix(st.ContentType, "text/plain") {
		t.Errorf("presigned PUT object: %+v, %v; want content type text/plain", st, err)
	}

	// A tampered URL is refused.
	if why, ok := s.Limitations["PresignSignature"]; ok {
		t.Logf("signature check not verified: %s", why)
	} else {
		bad := u
		for _, p := range []string{"X-Amz-Signature=", "X-Goog-Signature=", "X-Signature=", "Signature=", "sig="} {
			if strings.Contains(u, p) {
				bad = strings.Replace(u, p, p+"0", 1)
				break
			}
		}
		if bad == u {
			t.Fatal("cannot find the signature parameter of the presigned URL to tamper with")
		}
		req, _ = http.NewRequest(http.MethodPut, bad, bytes.NewReader([]byte("evil")))
		req.Header.Set("Content-Type", "text/plain")
		resp, err = s.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			t.Errorf("tampered presigned PUT accepted with status %d", resp.StatusCode)
		}
		if got := s.read(t, putKey, 0, -1); !bytes.Equal(got, data) {
			t.Error("tampered presigned PUT changed the object")
		}
	}

	_, err = ps.PresignURL(ctx, s.Bucket, getKey, provider.PresignOptions{Method: "DELETE"})
	wantErr(t, "presign DELETE", err, provider.ErrInvalid)
}

func (s *suite) testCopy(t *testing.T) {
	cp := s.Storage.(provider.Copier)
	p := prefix(t)
	data := payload(300_000)
	src, dst := p+"src", p+"sub/dst copy"
	s.put(t, src, data)
	s.cleanup(t, src, dst)
	o, err := cp.Copy(ctxT(t), s.Bucket, dst, s.Bucket, src)
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != int64(len(data)) {
		t.Errorf("Copy returned size %d", o.Size)
	}
	if got := s.read(t, dst, 0, -1); sum(got) != sum(data) {
		t.Error("copy differs from source")
	}
	_, err = cp.Copy(ctxT(t), s.Bucket, p+"x", s.Bucket, p+"missing")
	wantErr(t, "Copy of missing source", err, provider.ErrNotFound)

	// Copy over an existing key replaces it, as a Write would, and Stat
	// then describes the copy.
	other := []byte("an older, longer object at the destination key")
	s.put(t, dst, other)
	src2 := p + "src2"
	small := []byte("the new source")
	s.put(t, src2, small)
	s.cleanup(t, src2)
	if _, err := cp.Copy(ctxT(t), s.Bucket, dst, s.Bucket, src2); err != nil {
		t.Fatalf("Copy over an existing key: %v", err)
	}
	if got := s.read(t, dst, 0, -1); !bytes.Equal(got, small) {
		t.Errorf("after Copy over an existing key read %q, want %q", got, small)
	}
	if st, err := s.Storage.Stat(ctxT(t), s.Bucket, dst); err != nil || st.Size != int64(len(small)) {
		t.Errorf("Stat after Copy over an existing key = %+v, %v; want size %d", st, err, len(small))
	}
}

func (s *suite) testBuckets(t *testing.T) {
	bm := s.Storage.(provider.BucketManager)
	ctx := ctxT(t)
	name := "amove-ct-" + hex.EncodeToString(payload(5))
	name = name[:len(name)-2] + fmt.Sprintf("%02x", mrand.IntN(256))
	if err := bm.CreateBucket(ctx, name, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bm.DeleteBucket(context.Background(), name) })
	err := bm.CreateBucket(ctx, name, "")
	wantErr(t, "CreateBucket twice", err, provider.ErrExists)
	buckets, err := provider.ListBucketsWithRegion(ctx, s.Storage)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range buckets {
		if b.Name == name {
			found = true
			if _, ok := s.Storage.(provider.Regioner); ok && b.Region == "" {
				t.Errorf("bucket %q has no region from a Regioner", name)
			}
		}
	}
	if !found {
		t.Errorf("ListBuckets lacks new bucket %q", name)
	}
	page, err := s.Storage.ListObjects(ctx, name, provider.ListOptions{})
	if err != nil || len(page.Objects) != 0 {
		t.Errorf("new bucket lists %+v, %v", page, err)
	}
	if err := bm.DeleteBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
	_, err = s.Storage.ListObjects(ctx, name, provider.ListOptions{})
	wantErr(t, "ListObjects deleted bucket", err, provider.ErrNotFound)
}

func (s *suite) testHashes(t *testing.T) {
	hs := s.Storage.(provider.Hasher).Hashes()
	key := prefix(t) + "hashed"
	s.cleanup(t, key)
	data := payload(100_000)
	s.put(t, key, data)
	st, err := s.Storage.Stat(ctxT(t), s.Bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	want := Sums(data)
	for _, h := range hs {
		if !provider.Hashable(h) {
			t.Errorf("unknown hash %q", h)
			continue
		}
		if got, exp := st.Checksums.Get(h), want.Get(h); !got.Equal(exp) {
			t.Errorf("%s: Stat reports %q, content has %q", h, got.Value, exp.Value)
		}
	}
	if len(hs) == 0 {
		t.Error("Hasher lists no hashes")
	}
}

// testFeatures requires a driver to declare its Features and to claim
// exactly the optional interfaces it implements, with the same part limits
// and checksums they report: a claimed capability must be there (and the
// cases above make it work), a present one must be claimed.
func (s *suite) testFeatures(t *testing.T) {
	f, ok := s.Storage.(provider.Featurer)
	if !ok {
		t.Fatalf("%T does not declare its Features (provider.Featurer)", s.Storage)
	}
	claimed, has := f.Features(), provider.Detect(s.Storage)
	for _, c := range []struct {
		name         string
		claimed, has bool
	}{
		{"Multipart (MultipartUploader)", claimed.Multipart, has.Multipart},
		{"Append (Appender)", claimed.Append, has.Append},
		{"ServerSideCopy (Copier)", claimed.ServerSideCopy, has.ServerSideCopy},
		{"Presign (Presigner)", claimed.Presign, has.Presign},
		{"BucketManagement (BucketManager)", claimed.BucketManagement, has.BucketManagement},
		{"Regions (Regioner)", claimed.Regions, has.Regions},
		{"PartLayout (PartLayouter)", claimed.PartLayout, has.PartLayout},
		{"Push (Pusher)", claimed.Push, has.Push},
		{"GrantUpload (UploadGranter)", claimed.GrantUpload, has.GrantUpload},
	} {
		switch {
		case c.claimed && !c.has:
			t.Errorf("Features claims %s, which %T does not implement", c.name, s.Storage)
		case !c.claimed && c.has:
			t.Errorf("%T implements %s, which its Features do not claim", s.Storage, c.name)
		}
	}
	if claimed.PartLimits != has.PartLimits {
		t.Errorf("Features.PartLimits %+v, PartLimits() %+v", claimed.PartLimits, has.PartLimits)
	}
	if !slices.Equal(claimed.Checksums, has.Checksums) {
		t.Errorf("Features.Checksums %q, Hashes() %q", claimed.Checksums, has.Checksums)
	}
}

// testWriter streams objects of unknown size through the portable Writer:
// one smaller than a part (one Write) and, on a multipart driver, one of
// several parts; what comes back is what went in, and an aborted Writer
// leaves nothing.
func (s *suite) testWriter(t *testing.T) {
	ctx := ctxT(t)
	pt := provider.NewPortable(s.Storage)
	p := prefix(t)
	sizes := []int64{0, 1000}
	var partSize int64
	if f := pt.Features(); f.Multipart {
		partSize = f.PartLimits.PartSize(0, 1, -1)
		sizes = append(sizes, 2*partSize+777)
	}
	for _, n := range sizes {
		key := fmt.Sprintf("%sw-%d", p, n)
		s.cleanup(t, key)
		data := payload(n)
		w, err := pt.NewWriter(ctx, s.Bucket, key, provider.WriteOptions{PartSize: partSize})
		if err != nil {
			t.Fatal(err)
		}
		// Odd-sized writes cross part boundaries.
		for b := data; len(b) > 0; {
			k := min(len(b), 100_003)
			if _, err := w.Write(b[:k]); err != nil {
				t.Fatalf("Write %d bytes: %v", n, err)
			}
			b = b[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close after %d bytes: %v", n, err)
		}
		if o := w.Object(); o.Size != n {
			t.Errorf("Writer stored %d bytes, wrote %d", o.Size, n)
		}
		if got := s.read(t, key, 0, -1); sum(got) != sum(data) {
			t.Errorf("%d bytes read back differ from those written", n)
		}
	}
	key := p + "aborted"
	w, err := pt.NewWriter(ctx, s.Bucket, key, provider.WriteOptions{PartSize: partSize})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(payload(max(partSize, 1000) + 1)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Close(); !errors.Is(err, provider.ErrAborted) {
		t.Errorf("Close after Abort = %v, want ErrAborted", err)
	}
	_, err = s.Storage.Stat(ctx, s.Bucket, key)
	wantErr(t, "Stat of an aborted Writer's key", err, provider.ErrNotFound)
}
