package fastr

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":        "example.com",
		"example.com:443":    "example.com",
		"example.com:80":     "example.com",
		"example.com:8443":   "example.com:8443",
		"[::1]:443":          "[::1]",
		"[::1]:8080":         "[::1]:8080",
		"127.0.0.1:29124":    "127.0.0.1:29124",
		"files.example.com.": "files.example.com.",
	} {
		if got := CanonicalHost(in); got != want {
			t.Errorf("CanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// A request signed for one server does not verify on another server that
// shares the key pair, whether header-signed or presigned.
func TestSignatureBindsHost(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	bHost := strings.TrimPrefix(b.srv.URL, "http://")
	// The captured request as it was, Host header included, on b's socket:
	// b does not answer to a's address.
	req := a.signed("PUT", "/v1/o/bkt/moved.txt", []byte("for a only"))
	req.URL.Host = bHost
	if code, body := b.send(req); code != http.StatusMisdirectedRequest || !strings.Contains(body, CodeMisdirected) {
		t.Fatalf("replayed to another host: %d %s, want 421 %s", code, body, CodeMisdirected)
	}
	// With b's own Host header, the signature (made for a) does not match.
	req = a.signed("PUT", "/v1/o/bkt/moved.txt", []byte("for a only"))
	req.URL.Host, req.Host = bHost, bHost
	if code, body := b.send(req); code != http.StatusUnauthorized || !strings.Contains(body, CodeSignatureMismatch) {
		t.Fatalf("replayed with b's Host header: %d %s, want 401 %s", code, body, CodeSignatureMismatch)
	}
	if _, err := b.c.Stat(context.Background(), "bkt", "moved.txt"); !isStatus(err, 404) {
		t.Fatalf("b stored the replayed object: %v", err)
	}

	if _, err := a.c.Put(context.Background(), "bkt", "p.txt", strings.NewReader("x"), 1, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.Put(context.Background(), "bkt", "p.txt", strings.NewReader("y"), 1, "", ""); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.c.PresignURL("bkt", "p.txt", PresignOptions{Method: "GET", Expiry: time.Minute}))
	if code, _ := a.send(mustRequest(t, "GET", u.String())); code != 200 {
		t.Fatalf("presigned GET on its own host: %d", code)
	}
	u.Host = bHost
	if code, body := b.send(mustRequest(t, "GET", u.String())); code != http.StatusUnauthorized || !strings.Contains(body, CodeSignatureMismatch) {
		t.Fatalf("presigned URL on another host: %d %s, want 401", code, body)
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Behind a proxy that rewrites Host, the server verifies against
// Options.PublicHosts, and only against them.
func TestPublicHostsBehindProxy(t *testing.T) {
	var proxyHost string
	backend := newFixture(t)
	backend.s.opts.PublicHosts = []string{"files.example.com"}
	target, _ := url.Parse(backend.srv.URL)
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target) // the upstream sees target's host, not the proxy's
		pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/fastr")
		pr.Out.URL.RawPath = ""
	}})
	t.Cleanup(proxy.Close)
	proxyHost = strings.TrimPrefix(proxy.URL, "http://")
	viaProxy, err := NewClient(proxy.URL+"/fastr", ak, secret, proxy.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// The public host is not the proxy's: refused.
	if _, err := viaProxy.ListBuckets(ctx); !isStatus(err, http.StatusUnauthorized) {
		t.Fatalf("signed for a host the server does not list: %v", err)
	}
	backend.s.opts.PublicHosts = []string{"other.example", strings.ToUpper(proxyHost)}
	if _, err := viaProxy.Put(ctx, "bkt", "via-proxy.txt", strings.NewReader("hello"), 5, "", ""); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	get, err := http.Get(viaProxy.PresignURL("bkt", "via-proxy.txt", PresignOptions{Method: "GET"}))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if get.StatusCode != 200 || string(b) != "hello" {
		t.Fatalf("presigned GET through the proxy: %d %q", get.StatusCode, b)
	}
	// The backend's own host is not a public host any more.
	if _, err := backend.c.ListBuckets(ctx); !isStatus(err, http.StatusUnauthorized) {
		t.Fatalf("signed for the backend's own host: %v", err)
	}
}

// A request captured before a restart is refused after it: the nonce log
// in the root outlives the process.
func TestReplayAfterRestart(t *testing.T) {
	f := newFixture(t)
	body := []byte("once")
	req := f.signed("PUT", "/v1/o/bkt/r.txt", body)
	again := req.Clone(context.Background())
	again.Body = io.NopCloser(bytes.NewReader(body))
	if code, msg := f.send(req); code != 200 {
		t.Fatalf("first: %d %s", code, msg)
	}
	if err := f.c.Delete(context.Background(), "bkt", "r.txt"); err != nil {
		t.Fatal(err)
	}

	// Restart on the same root.
	f.srv.Close()
	f.s.Close()
	s2, err := NewServer(Options{Root: f.root, Credentials: StaticCredentials(map[string]string{ak: secret})})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	srv2 := httptest.NewUnstartedServer(s2)
	srv2.Listener.Close()
	srv2.Listener = listenOn(t, f.srv.Listener.Addr().String()) // the same host:port
	srv2.Start()
	defer srv2.Close()

	resp, err := srv2.Client().Do(again)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(HeaderErrorCode) != CodeReplayedRequest {
		t.Fatalf("replay after restart: %d %s, want 401 %s", resp.StatusCode, msg, CodeReplayedRequest)
	}
	if _, err := os.Stat(filepath.Join(f.root, "bkt", "r.txt")); !os.IsNotExist(err) {
		t.Fatalf("the replay wrote the object again: %v", err)
	}
}

// The nonce map is bounded: when it is full, signed requests are refused
// with 503 SlowDown and Retry-After until nonces expire; expired logs are
// deleted.
func TestNonceCacheBounded(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := newFixture(t, func(o *Options) { o.MaxNonces = 3; o.Now = clock; o.MaxClockSkew = time.Minute })
	f.c.now = clock
	ctx := context.Background()
	// The fixture spent one nonce (CreateBucket).
	for range 2 {
		if _, err := f.c.ListBuckets(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.c.ListBuckets(ctx)
	var e *Error
	if !isStatus(err, http.StatusServiceUnavailable) || !asError(err, &e) || e.Code != CodeSlowDown || e.RetryAfter <= 0 {
		t.Fatalf("request over the cap: %v, want 503 %s with Retry-After", err, CodeSlowDown)
	}
	logs := func() []string {
		ents, _ := os.ReadDir(filepath.Join(f.root, noncesDir))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	before := logs()
	if len(before) == 0 {
		t.Fatal("no nonce log on disk")
	}
	// Past the date + skew of every spent nonce, and two windows on.
	advance(5 * time.Minute)
	if _, err := f.c.ListBuckets(ctx); err != nil {
		t.Fatalf("after the nonces expired: %v", err)
	}
	after := logs()
	for _, old := range before {
		for _, cur := range after {
			if old == cur {
				t.Fatalf("expired log %s kept: %v", old, after)
			}
		}
	}
}

func asError(err error, e **Error) bool { return errors.As(err, e) }

// listenOn listens on addr again after its server closed.
func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s again: %v", addr, err)
	}
	return l
}
