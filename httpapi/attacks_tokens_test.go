package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// concretePath fills a route's path parameters with a syntactically valid
// id, so the request reaches the route's authentication.
func concretePath(p string) string {
	return strings.ReplaceAll(p, "{transferId}", "00000000-0000-0000-0000-000000000000")
}

// everyRouteRefuses sends each authenticated route a request with the given
// header and query token, and wants 401 AUTH or TOKEN from all of them.
func everyRouteRefuses(t *testing.T, e *env, hdr func() map[string][]string, token string) {
	t.Helper()
	n := 0
	for _, rt := range e.api.routes {
		if rt.auth == authPublic {
			continue
		}
		n++
		path := concretePath(rt.path)
		if token != "" {
			path = withToken(path, token)
		}
		r := e.request(t, rt.method, path, hdr(), map[string]any{})
		if r.status != 401 || (r.code() != "AUTH" && r.code() != "TOKEN") {
			t.Errorf("%s %s: got %d %q, want 401", rt.method, rt.path, r.status, r.code())
		}
	}
	if n < 60 {
		t.Fatalf("only %d authenticated routes checked", n)
	}
	nothingStarted(t, e)
}

// rawJWT assembles a token from a header, claims and a signature.
func rawJWT(header, claims map[string]any, sig []byte) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// syncBuffer collects log lines from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var tokenAttacks = []attack{
	{name: "every route without a token", run: func(t *testing.T, e *env) {
		everyRouteRefuses(t, e, func() map[string][]string { return nil }, "")
	}},
	{name: "every route with a token signed by another key", run: func(t *testing.T, e *env) {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		forged, _, err := amove.NewJWTAuthenticator(key, time.Hour).Issue(context.Background(), e.alice)
		if err != nil {
			t.Fatal(err)
		}
		everyRouteRefuses(t, e, func() map[string][]string { return map[string][]string{"Authorization": {"Bearer " + forged}} }, forged)
	}},
	{name: "a token with alg none", run: func(t *testing.T, e *env) {
		none := rawJWT(map[string]any{"alg": "none", "typ": "JWT"},
			map[string]any{"sub": e.alice.ID, "tid": e.alice.TenantID, "role": 64, "exp": time.Now().Add(time.Hour).Unix()}, nil)
		wantError(t, e.cloud(t, "GET", "/cloud/accounts", none, nil), 401, "")
		wantError(t, e.hosted(t, "GET", "/api/v1/cloudaccount/get_all", none, nil), 401, "")
	}},
	{name: "a token whose signature is cut off", run: func(t *testing.T, e *env) {
		parts := strings.Split(e.aliceTok, ".")
		wantError(t, e.cloud(t, "GET", "/cloud/accounts", parts[0]+"."+parts[1]+".", nil), 401, "")
	}},
	{name: "upload_object of the key without a token", opts: everything, run: func(t *testing.T, e *env) {
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		wantError(t, e.request(t, "POST", "/cloud/upload_object", nil, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": agentFile(t, e, "k.keyring", "k"),
		}), 401, "AUTH")
		nothingStarted(t, e)
	}},
	{name: "download_object over a dotfile without a token", run: func(t *testing.T, e *env) {
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		rc := filepath.Join(e.root, ".bashrc")
		if err := os.WriteFile(rc, []byte("safe"), 0o644); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.request(t, "POST", "/cloud/download_object", nil, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "downloadPath": e.root, "objectKey": "x", "name": ".bashrc", "overwrite": true,
		}), 401, "AUTH")
		nothingStarted(t, e)
		if b, _ := os.ReadFile(rc); string(b) != "safe" {
			t.Fatal(".bashrc changed")
		}
	}},
	{name: "tokenless mode with nobody signed in", opts: Options{TokenlessLocalRoutes: true}, run: func(t *testing.T, e *env) {
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		f := writeRandom(t, e.root, "f.bin", 10)
		wantError(t, e.request(t, "POST", "/cloud/upload_object", nil, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": f,
		}), 401, "AUTH")
		// The other routes still want a token.
		wantError(t, e.request(t, "GET", "/cloud/accounts", nil, nil), 401, "AUTH")
		nothingStarted(t, e)
	}},
	{name: "tokenless route after the sign-in's token expired", env: func(t *testing.T) *env {
		mem := memory.New(memory.Options{})
		e := newEnv(t, envConfig{
			open:     func(context.Context, provider.Config) (provider.Storage, error) { return sharedMemory{mem}, nil },
			tokenTTL: 2 * time.Second,
			opts:     Options{TokenlessLocalRoutes: true},
		})
		e.mem = mem
		return e
	}, run: func(t *testing.T, e *env) {
		var login struct {
			Token   string    `json:"jwtToken"`
			Expires time.Time `json:"expires"`
		}
		must(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "alice", "password": alicePassword}), 200, &login)
		acct := e.memoryAccount(t, login.Token, "mem", "b")
		// While the sign-in lasts, the tokenless route acts for alice.
		must(t, e.request(t, "POST", "/cloud/list_buckets", nil, map[string]any{"id": acct}), 200, nil)
		time.Sleep(time.Until(login.Expires) + 100*time.Millisecond)
		wantError(t, e.request(t, "POST", "/cloud/list_buckets", nil, map[string]any{"id": acct}), 401, "AUTH")
		f := writeRandom(t, e.root, "f.bin", 10)
		wantError(t, e.request(t, "POST", "/cloud/upload_object", nil, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": f,
		}), 401, "AUTH")
		if all, err := e.c.ListTransfers(context.Background(), e.alice.Principal()); err != nil || len(all) != 0 {
			t.Fatalf("transfers after the refusals: %v %v", all, err)
		}
	}},
	{name: "another user's account id", run: func(t *testing.T, e *env) {
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		f := writeRandom(t, e.root, "f.bin", 10)
		wantError(t, e.cloud(t, "POST", "/cloud/upload_object", e.bobTok, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": f,
		}), StatusValidation, "NOT_FOUND")
		wantError(t, e.cloud(t, "POST", "/cloud/list_buckets", e.bobTok, map[string]any{"id": acct}), StatusValidation, "NOT_FOUND")
		nothingStarted(t, e)
	}},
	{name: "a token in the query reaches no log line", env: func(t *testing.T) *env {
		logs := &syncBuffer{}
		e := newMemoryEnv(t, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		t.Cleanup(func() {
			if strings.Contains(logs.String(), e.aliceTok) || strings.Contains(logs.String(), strings.Split(e.aliceTok, ".")[2]) {
				t.Errorf("the log holds the token:\n%s", logs)
			}
		})
		return e
	}, run: func(t *testing.T, e *env) {
		// Requests that succeed, fail, and fail inside a handler.
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		must(t, e.cloud(t, "POST", "/cloud/list_buckets", e.aliceTok, map[string]any{"id": acct}), 200, nil)
		wantError(t, e.cloud(t, "POST", "/cloud/list_objects", e.aliceTok, map[string]any{"cloudAccount": map[string]any{"id": acct}, "storageName": "nope"}), StatusValidation, "")
		wantError(t, e.cloud(t, "POST", "/cloud/upload_object", e.aliceTok, map[string]any{"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": "/etc/passwd"}), StatusValidation, "FILESYSTEM_ACCESS")
		wantError(t, e.cloud(t, "POST", "/cloud/upload_object_from_form", e.aliceTok, "not a form"), 400, "")
		if r := e.cloud(t, "GET", "/cloud/client_transfer/nope/status", e.aliceTok, nil); r.status == 200 {
			t.Fatalf("status of an unknown transfer: %s", r)
		}
	}},
}
