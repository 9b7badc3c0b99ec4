package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"

	// The s3 driver also registers itself with provider.Open, for the
	// MinIO-backed accounts.
	s3driver "github.com/amove/amove-go/provider/s3"

	// The store the tests open by DSN.
	_ "github.com/amove/amove-go/store/sqlite"
)

// alicePassword is the only password in the tests: bcrypt is slow under
// -race, so the other users get tokens from IssueToken.
const alicePassword = "alice-password-1"

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// env is one agent served by a real http.Server on 127.0.0.1, with a tenant
// of three users: admin (DesktopAdmin), alice and bob (DesktopStandardUser).
type env struct {
	c    *amove.Client
	api  *Server
	srv  *httptest.Server
	root string // the only local root

	admin, alice, bob amove.User
	adminTok          string
	aliceTok          string
	bobTok            string

	mem  *memory.Storage // the shared memory driver, when not on MinIO
	gate *gate           // holds the memory driver's writes (newGatedEnv)

	logs *syncBuffer // what the Client and the Server logged, for the secret sweep

	specOnce sync.Once
	spec     *specCheck // checks every request and answer against /openapi.json (made on first use)

	mu      sync.Mutex
	replies []reply // every response body, for the secret sweep
}

type envConfig struct {
	// open replaces provider.Open (the memory driver); nil uses the real
	// drivers.
	open func(ctx context.Context, cfg provider.Config) (provider.Storage, error)
	// opts are the Server options; the env fills Roots, TempDir and
	// Logger when they are unset.
	opts Options
	// tokenTTL is amove.Options.TokenTTL (zero: the default).
	tokenTTL time.Duration
	// managed is amove.Options.Managed (managed_test.go).
	managed amove.ManagedOptions
}

// sharedMemory is one memory driver every account opens: the Client closes
// each driver it opens, which would empty a plain memory.Storage.
type sharedMemory struct{ *memory.Storage }

func (sharedMemory) Close() error { return nil }

func newEnv(t testing.TB, cfg envConfig) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	// Both the Client and the Server log into logs, for the secret sweep.
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := amove.New(ctx, amove.Options{
		DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"),
		Logger: logger, OpenStorage: cfg.open, TokenTTL: cfg.tokenTTL, Managed: cfg.managed,
		// Progress moves a part at a time: small parts, two in flight, so a
		// 64 MiB transfer shows several progress events however fast it is.
		Transfers: amove.TransferOptions{PartSize: 5 << 20, Concurrency: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	e := &env{c: c, root: filepath.Join(dir, "root"), logs: logs}
	if err := os.Mkdir(e.root, 0o700); err != nil {
		t.Fatal(err)
	}
	_, e.admin, err = c.CreateTenant(ctx, "acme", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e.alice, err = c.CreateUser(ctx, e.admin.Principal(), amove.NewUser{Username: "alice", Password: alicePassword, Role: amove.RoleStandardUser})
	if err != nil {
		t.Fatal(err)
	}
	e.bob, err = c.CreateUser(ctx, e.admin.Principal(), amove.NewUser{Username: "bob", Role: amove.RoleStandardUser})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		id  string
		tok *string
	}{{e.admin.ID, &e.adminTok}, {e.alice.ID, &e.aliceTok}, {e.bob.ID, &e.bobTok}} {
		tok, err := c.IssueToken(ctx, u.id)
		if err != nil {
			t.Fatal(err)
		}
		*u.tok = tok.Token
	}

	opts := cfg.opts
	if opts.Roots == nil {
		opts.Roots = []string{e.root}
	}
	if opts.TempDir == "" {
		opts.TempDir = filepath.Join(dir, "tmp")
	}
	if opts.Logger == nil {
		opts.Logger = logger
	}
	e.api = New(c, opts)
	e.srv = httptest.NewServer(e.api)
	// The server stops first: Close blocks on open sockets, which end when
	// the hub closes them.
	t.Cleanup(func() {
		e.api.Close()
		e.srv.Close()
	})
	return e
}

// newMemoryEnv is an env whose accounts all open one memory driver.
func newMemoryEnv(t *testing.T, opts ...Options) *env {
	t.Helper()
	mem := memory.New(memory.Options{})
	e := newEnv(t, envConfig{
		open: func(context.Context, provider.Config) (provider.Storage, error) { return sharedMemory{mem}, nil },
		opts: append(opts, Options{})[0],
	})
	e.mem = mem
	return e
}

// reply is a response read in full.
type reply struct {
	path   string
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string {
	return r.path + ": " + strconv.Itoa(r.status) + " " + r.header.Get("error-code") + " " + string(r.body)
}

// code is the application code of an error reply.
func (r reply) code() string { return r.header.Get("error-code") }

// request sends one request with the plain HTTP client. body is sent as
// JSON unless it is already []byte or string (sent as is, as JSON unless
// hdr sets a Content-Type).
func (e *env) request(t testing.TB, method, path string, hdr http.Header, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(context.WithValue(context.Background(), testKey{}, t), method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if h := hdr.Get("Host"); h != "" {
		req.Host = h
	}
	e.specOnce.Do(func() { e.spec = newSpecCheck(t, e.srv.URL) })
	res, err := e.spec.client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	r := reply{path: method + " " + path, status: res.StatusCode, header: res.Header, body: b}
	e.mu.Lock()
	e.replies = append(e.replies, r)
	e.mu.Unlock()
	return r
}

// cloud calls an agent endpoint with ?token= (none when token is "").
func (e *env) cloud(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	return e.request(t, method, withToken(path, token), nil, body)
}

// hosted calls a hosted endpoint with a bearer token.
func (e *env) hosted(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return e.request(t, method, path, h, body)
}

func withToken(path, token string) string {
	if token == "" {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "token=" + url.QueryEscape(token)
}

// must fails the test unless the reply has status want, and decodes its
// body into v when v is not nil.
func must(t testing.TB, r reply, want int, v any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: got %d %s %s, want %d", r.path, r.status, r.code(), r.body, want)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s: decoding %s: %v", r.path, r.body, err)
		}
	}
}

// wantError checks an error reply: status, error-code header, and the
// problem body {"type","status","errors":{code:[msg]}} agreeing with them.
func wantError(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("%s: got %d %q %s, want %d %q", r.path, r.status, r.code(), r.body, status, code)
	}
	if status == http.StatusInternalServerError {
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", r.path, ct)
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("%s: body %s: %v", r.path, r.body, err)
	}
	if p.Type != r.code() || p.Status != status || len(p.Errors) != 1 || len(p.Errors[p.Type]) != 1 || p.Errors[p.Type][0] == "" {
		t.Errorf("%s: problem body %s does not match %d %q", r.path, r.body, status, r.code())
	}
}

// memoryAccount inserts a memory-backed account for the token's user and
// creates bucket in the shared driver.
func (e *env) memoryAccount(t testing.TB, token, name, bucket string) string {
	t.Helper()
	if bucket != "" {
		if err := e.mem.CreateBucket(context.Background(), bucket, ""); err != nil {
			t.Fatal(err)
		}
	}
	var a cloudAccount
	must(t, e.cloud(t, "POST", "/cloud/insert_account", token, map[string]any{
		"cloudType": int(provider.S3Generic), "name": name, "endpoint": "http://memory.invalid",
		"accessKey": "memory-access-key", "secretKey": "memory-secret-key",
	}), 200, &a)
	return a.ID
}

// minio returns the test MinIO server (skipping without one, failing under
// CI) and a new bucket on it, made with the driver: the API's create_bucket
// is for Amove storage only.
func minio(t testing.TB) (testenv.S3, string) {
	t.Helper()
	s3env := testenv.RequireS3(t)
	st, err := s3driver.Open(context.Background(), provider.Config{
		CloudType: provider.S3Generic, AccessKey: s3env.AccessKey, SecretKey: s3env.SecretKey, Endpoint: s3env.Endpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	bucket := "amove-api-" + hex.EncodeToString(b)
	if err := st.CreateBucket(context.Background(), bucket, ""); err != nil {
		t.Fatal(err)
	}
	return s3env, bucket
}

// minioAccount inserts the MinIO account through the API.
func (e *env) minioAccount(t testing.TB, token string, s3env testenv.S3) cloudAccount {
	t.Helper()
	var a cloudAccount
	must(t, e.cloud(t, "POST", "/cloud/insert_account", token, map[string]any{
		"cloudType": int(provider.S3Generic), "name": "minio", "endpoint": s3env.Endpoint,
		"accessKey": s3env.AccessKey, "secretKey": s3env.SecretKey,
	}), 200, &a)
	return a
}

// waitTransfer polls client_transfer/{id}/status until the transfer is in
// a final state and returns that status.
func (e *env) waitTransfer(t testing.TB, token, id string) transferStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st transferStatus
		must(t, e.cloud(t, "GET", "/cloud/client_transfer/"+id+"/status", token, nil), 200, &st)
		switch st.Status {
		case "completed", "failed", "cancelled":
			return st
		}
		if time.Now().After(deadline) {
			msg := ""
			if st.ErrorMessage != nil {
				msg = *st.ErrorMessage
			}
			t.Fatalf("transfer %s still %s after 60 s (%q)", id, st.Status, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState polls until the transfer is in state want.
func (e *env) waitState(t testing.TB, token, id, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st transferStatus
		must(t, e.cloud(t, "GET", "/cloud/client_transfer/"+id+"/status", token, nil), 200, &st)
		if st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer %s is %s, want %s", id, st.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeRandom writes n random bytes to a file and returns its path.
func writeRandom(t testing.TB, dir, name string, n int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
