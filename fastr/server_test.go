package fastr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
)

const (
	ak     = "AKTEST"
	secret = "test-secret-0123456789abcdef"
)

type fixture struct {
	t    *testing.T
	dir  string // parent of root: what must never be written
	root string
	s    *Server
	srv  *httptest.Server
	c    *Client
}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := Options{Root: root, Credentials: StaticCredentials(map[string]string{ak: secret})}
	for _, m := range mod {
		m(&opts)
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	c, err := NewClient(srv.URL, ak, secret, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateBucket(context.Background(), "bkt"); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, dir: dir, root: root, s: s, srv: srv, c: c}
}

// restart stops the fixture's server and starts a new one on the same
// root, as a restarted process would, and points the fixture at it.
func (f *fixture) restart() {
	f.t.Helper()
	f.srv.Close()
	f.s.Close()
	s, err := NewServer(Options{Root: f.root, Credentials: StaticCredentials(map[string]string{ak: secret})})
	if err != nil {
		f.t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	f.t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	c, err := NewClient(srv.URL, ak, secret, srv.Client())
	if err != nil {
		f.t.Fatal(err)
	}
	f.s, f.srv, f.c = s, srv, c
}

// signed builds a request for rawURL (sent as written, escapes included),
// signed over its decoded path like a real client.
func (f *fixture) signed(method, rawURL string, body []byte) *http.Request {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+rawURL, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	SignRequest(req, req.URL.Path, ak, secret, hex.EncodeToString(sum[:]), time.Now())
	return req
}

func (f *fixture) send(req *http.Request) (int, string) {
	f.t.Helper()
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(HeaderErrorCode) + " " + string(b)
}

func TestSignedRequestAccepted(t *testing.T) {
	f := newFixture(t)
	if code, body := f.send(f.signed("PUT", "/v1/o/bkt/ok.txt", []byte("fine"))); code != 200 {
		t.Fatalf("signed PUT: %d %s", code, body)
	}
}

func TestSignatureTampering(t *testing.T) {
	f := newFixture(t)
	cases := map[string]func(*http.Request){
		"path": func(r *http.Request) { r.URL.Path = "/v1/o/bkt/other.txt" },
		"query": func(r *http.Request) {
			r.URL.RawQuery = "x=1"
		},
		"content type": func(r *http.Request) { r.Header.Set("Content-Type", "text/html") },
		"method":       func(r *http.Request) { r.Method = http.MethodDelete },
		"signature": func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", a[len(a)-1])+1)%16]))
		},
		"access key": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ak, "AKOTHER", 1))
		},
		"date":     func(r *http.Request) { r.Header.Set(HeaderDate, time.Now().Add(time.Second).UTC().Format(DateFormat)) },
		"nonce":    func(r *http.Request) { r.Header.Set(HeaderNonce, strings.Repeat("a", 32)) },
		"no auth":  func(r *http.Request) { r.Header.Del("Authorization") },
		"unsigned": func(r *http.Request) { r.Header.Set(HeaderContentSHA256, UnsignedPayload) },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			req := f.signed("PUT", "/v1/o/bkt/t.txt", []byte("evil"))
			req.Header.Set("Content-Type", "text/plain")
			// Re-sign with the content type so only the tamper differs.
			SignRequest(req, req.URL.Path, ak, secret, req.Header.Get(HeaderContentSHA256), time.Now())
			tamper(req)
			if code, body := f.send(req); code != http.StatusUnauthorized {
				t.Errorf("tampered %s: %d %s, want 401", name, code, body)
			}
		})
	}
	// A body that differs from the signed hash is refused and not stored.
	req := f.signed("PUT", "/v1/o/bkt/t.txt", []byte("signed body"))
	req.Body = io.NopCloser(strings.NewReader("other body!"))
	if code, body := f.send(req); code != http.StatusBadRequest || !strings.Contains(body, CodeBadDigest) {
		t.Errorf("swapped body: %d %s, want 400 BadDigest", code, body)
	}
	if _, err := f.c.Stat(context.Background(), "bkt", "t.txt"); !isStatus(err, 404) {
		t.Errorf("a refused request stored an object: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == status
}

func TestReplayRefused(t *testing.T) {
	f := newFixture(t)
	req := f.signed("PUT", "/v1/o/bkt/r.txt", []byte("once"))
	again := req.Clone(context.Background())
	again.Body = io.NopCloser(bytes.NewReader([]byte("once")))
	if code, body := f.send(req); code != 200 {
		t.Fatalf("first: %d %s", code, body)
	}
	if code, body := f.send(again); code != http.StatusUnauthorized || !strings.Contains(body, CodeReplayedRequest) {
		t.Errorf("replay: %d %s, want 401 ReplayedRequest", code, body)
	}
}

func TestStaleDateRefused(t *testing.T) {
	f := newFixture(t)
	for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/b", nil)
		SignRequest(req, req.URL.Path, ak, secret, EmptySHA256, time.Now().Add(skew))
		if code, body := f.send(req); code != http.StatusUnauthorized || !strings.Contains(body, CodeRequestExpired) {
			t.Errorf("skew %s: %d %s, want 401 %s", skew, code, body, CodeRequestExpired)
		}
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/b", nil)
	SignRequest(req, req.URL.Path, ak, secret, EmptySHA256, time.Now().Add(-4*time.Minute))
	if code, body := f.send(req); code != 200 {
		t.Errorf("within skew: %d %s", code, body)
	}
}

// listFiles returns every path under dir, relative.
func listFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out[rel] = true
		}
		return nil
	})
	return out
}

func TestPathTraversalRefused(t *testing.T) {
	f := newFixture(t)
	outside := filepath.Join(f.dir, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("top secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Symlinks inside a bucket that lead out of the root.
	if err := os.Symlink(outside, filepath.Join(f.root, "bkt", "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(f.root, "bkt", "linkfile")); err != nil {
		t.Fatal(err)
	}
	before := listFiles(t, f.dir)
	puts := []string{
		"/v1/o/bkt/../evil",
		"/v1/o/bkt/%2e%2e/evil",
		"/v1/o/bkt/%2E%2E/%2e%2e/evil",
		"/v1/o/bkt/a/../../evil",
		"/v1/o/bkt/./evil",
		"/v1/o/bkt%2F..%2F..%2Foutside/evil",
		"/v1/o/bkt%2Fsub/evil",
		"/v1/o/..%2Foutside/evil",
		"/v1/o/bkt//etc/evil",
		"/v1/o/bkt/a%5C..%5C..%5Cevil",
		"/v1/o/bkt/nul%00evil",
		"/v1/o/bkt/.fastr-meta/evil",
		"/v1/o/.fastr-tmp/evil",
		"/v1/o/bkt/linkdir/evil",
		"/v1/b/..",
		"/v1/b/%2e%2e",
	}
	for _, p := range puts {
		code, body := f.send(f.signed("PUT", p, []byte("evil")))
		if code/100 == 2 {
			t.Errorf("PUT %s accepted: %d %s", p, code, body)
		}
	}
	for _, p := range []string{"/v1/o/bkt/linkdir/secret", "/v1/o/bkt/linkfile", "/v1/o/bkt/%2e%2e/%2e%2e/outside/secret"} {
		code, body := f.send(f.signed("GET", p, nil))
		if code/100 == 2 || strings.Contains(body, "top secret") {
			t.Errorf("GET %s: %d %q", p, code, body)
		}
	}
	after := listFiles(t, f.dir)
	for p := range after {
		if !before[p] && !strings.HasPrefix(p, "root") {
			t.Errorf("a request wrote %s outside the root", p)
		}
		if !before[p] && strings.Contains(p, "evil") {
			t.Errorf("a refused request wrote %s", p)
		}
	}
	// The client refuses nothing itself: the server is the guard.
	if _, err := f.c.Put(context.Background(), "bkt", "../x", strings.NewReader("x"), 1, "", ""); err == nil {
		t.Error("client PUT of ../x accepted")
	}
}

// slowReader hands out data in small pieces with pauses, holding a PUT open.
type slowReader struct {
	data []byte
	step int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(5 * time.Millisecond)
	n := copy(p[:min(len(p), r.step)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReaderNeverSeesHalfObject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v1 := bytes.Repeat([]byte("1"), 200_000)
	v2 := bytes.Repeat([]byte("2"), 300_000)
	if _, err := f.c.Put(ctx, "bkt", "obj", bytes.NewReader(v1), int64(len(v1)), "", ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(done)
		if _, err := f.c.Put(ctx, "bkt", "obj", &slowReader{data: v2, step: 10_000}, -1, "", ""); err != nil {
			t.Error(err)
		}
		if _, err := f.c.Put(ctx, "bkt", "new", &slowReader{data: v2, step: 30_000}, -1, "", ""); err != nil {
			t.Error(err)
		}
	}()
	reads := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			reads++
			for _, key := range []string{"obj", "new"} {
				rc, err := f.c.Get(ctx, "bkt", key, 0, -1)
				if key == "new" && isStatus(err, 404) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(b, v1) && !bytes.Equal(b, v2) {
					t.Errorf("read %s: %d bytes, neither the old nor the new version", key, len(b))
					return
				}
			}
		}
	}()
	wg.Wait()
	if reads < 5 {
		t.Errorf("only %d reads overlapped the writes", reads)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.root, tmpDir)); len(ents) != 0 {
		t.Errorf("temp files left behind: %d", len(ents))
	}
}

func TestUploadSessionResume(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), (3*MinPartSize+1000)/16)
	up, err := f.c.CreateUpload(ctx, "bkt", "big", "application/x-test")
	if err != nil {
		t.Fatal(err)
	}
	next, err := f.c.AppendChunk(ctx, up.ID, 0, data[:MinPartSize])
	if err != nil || next != MinPartSize {
		t.Fatalf("first chunk: %d, %v", next, err)
	}
	// A writer that lost the answer and sends the chunk again is told where
	// to continue.
	_, err = f.c.AppendChunk(ctx, up.ID, 0, data[:MinPartSize])
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeOffsetMismatch || e.ExpectedOffset == nil || *e.ExpectedOffset != MinPartSize {
		t.Fatalf("duplicate chunk: %v, want OffsetMismatch at %d", err, MinPartSize)
	}
	// A chunk that does not match its checksum is refused.
	req := f.signed("PATCH", "/v1/uploads/"+up.ID, data[MinPartSize:2*MinPartSize])
	req.Header.Set(HeaderOffset, itoa(MinPartSize))
	req.Header.Set(HeaderChunkSHA256, EmptySHA256)
	SignRequest(req, req.URL.Path, ak, secret, req.Header.Get(HeaderContentSHA256), time.Now())
	if code, body := f.send(req); code != 400 || !strings.Contains(body, CodeBadDigest) {
		t.Errorf("bad chunk checksum: %d %s", code, body)
	}
	// Resume: ask the session where it stands.
	info, err := f.c.GetUpload(ctx, up.ID)
	if err != nil || info.Offset != MinPartSize || len(info.Parts) != 1 {
		t.Fatalf("GetUpload = %+v, %v", info, err)
	}
	off := info.Offset
	for off < int64(len(data)) {
		end := min(off+MinPartSize, int64(len(data)))
		if off, err = f.c.AppendChunk(ctx, up.ID, off, data[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	// An offset-mode session takes no parts: its chunks are one file.
	if _, err := f.c.UploadPart(ctx, up.ID, 2, bytes.NewReader(data[:MinPartSize]), MinPartSize, hexSHA(data[:MinPartSize])); !errors.As(err, &e) || e.Code != CodeInvalidState {
		t.Errorf("part into an offset session: %v, want InvalidState", err)
	}
	info, _ = f.c.GetUpload(ctx, up.ID)
	// AppendChunk sends CRC32Cs, which become the chunks' ETags.
	if len(info.Parts) != 4 || info.Parts[1].ETag != fmt.Sprintf("%08x", crc32.Checksum(data[MinPartSize:2*MinPartSize], provider.CRC32C)) ||
		info.Offset != int64(len(data)) {
		t.Errorf("chunks: %+v", info)
	}
	// A wrong whole-object checksum commits nothing and keeps the session.
	if _, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: EmptySHA256}); !isStatus(err, 400) {
		t.Errorf("complete with wrong SHA-256: %v", err)
	}
	if _, err := f.c.Stat(ctx, "bkt", "big"); !isStatus(err, 404) {
		t.Errorf("object exists after a refused complete: %v", err)
	}
	o, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)})
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != int64(len(data)) || o.SHA256 != hexSHA(data) || o.ContentType != "application/x-test" {
		t.Errorf("completed object %+v", o)
	}
	if _, err := f.c.GetUpload(ctx, up.ID); !isStatus(err, 404) {
		t.Errorf("session still there after complete: %v", err)
	}
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestPresignedURLs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.c.Put(ctx, "bkt", "p.txt", strings.NewReader("hello"), 5, "text/plain", ""); err != nil {
		t.Fatal(err)
	}
	u := f.c.PresignURL("bkt", "p.txt", PresignOptions{Method: "GET", Expiry: time.Minute})
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("presigned GET: %d", resp.StatusCode)
	}
	// A GET URL cannot PUT, and cannot reach other routes.
	req, _ := http.NewRequest("PUT", u, strings.NewReader("evil"))
	if code, _ := f.send(req); code/100 == 2 {
		t.Errorf("GET URL used for PUT: %d", code)
	}
	// Expired.
	f.c.now = func() time.Time { return time.Now().Add(-2 * time.Minute) }
	u = f.c.PresignURL("bkt", "p.txt", PresignOptions{Method: "GET", Expiry: time.Minute})
	f.c.now = time.Now
	resp, err = http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired URL: %d", resp.StatusCode)
	}
}

func TestListingEdges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, k := range []string{"x/a-1", "x/a-2", "x/b/c", "y"} {
		if _, err := f.c.Put(ctx, "bkt", k, strings.NewReader(k), int64(len(k)), "", ""); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(l ObjectList) (out []string) {
		for _, o := range l.Objects {
			out = append(out, o.Key)
		}
		return out
	}
	l, err := f.c.List(ctx, "bkt", "x/", "-", "", 0)
	if err != nil || strings.Join(keys(l), ",") != "x/a-,x/b/c" {
		t.Errorf("delimiter '-': %v, %v", keys(l), err)
	}
	for _, p := range []string{"../", "x/../", "/etc/", ".fastr-meta/"} {
		l, err := f.c.List(ctx, "bkt", p, "/", "", 0)
		if err != nil || len(l.Objects) != 0 {
			t.Errorf("prefix %q listed %v, %v", p, keys(l), err)
		}
	}
	// Deleting the last object of a folder removes the folder too.
	if err := f.c.Delete(ctx, "bkt", "x/b/c"); err != nil {
		t.Fatal(err)
	}
	l, _ = f.c.List(ctx, "bkt", "x/", "/", "", 0)
	if strings.Join(keys(l), ",") != "x/a-1,x/a-2" {
		t.Errorf("after delete: %v", keys(l))
	}
	// An object and a folder of the same name cannot coexist on disk.
	if _, err := f.c.Put(ctx, "bkt", "y/z", strings.NewReader("z"), 1, "", ""); !isStatus(err, http.StatusConflict) {
		t.Errorf("object under an object: %v", err)
	}
}

func TestStaleUploadsSwept(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, func(o *Options) { o.Now = clock; o.UploadTTL = time.Hour })
	ctx := context.Background()
	old, err := f.c.CreateUpload(ctx, "bkt", "old", "")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	f.c.now = clock
	if _, err := f.c.CreateUpload(ctx, "bkt", "new", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.GetUpload(ctx, old.ID); !isStatus(err, 404) {
		t.Errorf("stale session survived: %v", err)
	}
}
