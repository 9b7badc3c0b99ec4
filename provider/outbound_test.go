package provider

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// recorder is a server that counts connections and keeps the headers of
// the requests it gets.
type recorder struct {
	srv   *httptest.Server
	conns atomic.Int64
	mu    sync.Mutex
	reqs  []http.Header
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Header.Clone())
		r.mu.Unlock()
		_, _ = io.Copy(io.Discard, req.Body)
		if h != nil {
			h(w, req)
		}
	}))
	r.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) requests() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.reqs...)
}

// signedPut is a request that carries what an S3 or Fastr signature puts
// in headers.
func signedPut(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader("secret body"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/...")
	req.Header.Set("X-Amz-Security-Token", "session-token-secret")
	req.Header.Set("X-Fastr-Nonce", "0123456789abcdef0123456789abcdef")
	return req
}

// What Go's own client does, the reason for the policy: on a redirect to
// another host it drops Authorization but forwards X-Amz-* and X-Fastr-*
// headers and the body.
func TestPlainClientForwardsSignedHeadersOnRedirect(t *testing.T) {
	other := newRecorder(t, nil)
	first := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(other.srv.URL, "127.0.0.1", "localhost", 1)+"/x", http.StatusTemporaryRedirect)
	})
	resp, err := (&http.Client{}).Do(signedPut(t, first.srv.URL+"/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := other.requests()
	if len(got) != 1 {
		t.Fatalf("the other host got %d requests", len(got))
	}
	if got[0].Get("Authorization") != "" || got[0].Get("X-Amz-Security-Token") == "" || got[0].Get("X-Fastr-Nonce") == "" {
		t.Fatalf("Go's redirect behaviour changed (update OutboundPolicy's comment): %v", got[0])
	}
}

func TestRedirectToAnotherHostRefused(t *testing.T) {
	other := newRecorder(t, nil)
	first := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/x", http.StatusTemporaryRedirect)
	})
	_, err := NewHTTPClient().Do(signedPut(t, first.srv.URL+"/x"))
	if !errors.Is(err, ErrOutboundRefused) || !errors.Is(err, ErrPermission) {
		t.Fatalf("redirect to another host: %v, want ErrOutboundRefused", err)
	}
	if n := other.conns.Load(); n != 0 || len(other.requests()) != 0 {
		t.Fatalf("the other host got %d connections, %d requests", n, len(other.requests()))
	}
}

func TestRedirectOnTheSameHostFollowed(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
		}
	})
	resp, err := NewHTTPClient().Do(signedPut(t, srv.srv.URL+"/old"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/new" {
		t.Fatalf("same-host redirect: %d %s", resp.StatusCode, resp.Request.URL)
	}
}

func TestAllowHosts(t *testing.T) {
	srv := newRecorder(t, nil)
	_, port, _ := net.SplitHostPort(srv.srv.Listener.Addr().String())
	byName := "http://localhost:" + port + "/"
	byIP := "http://127.0.0.1:" + port + "/"
	for _, c := range []struct {
		allow []string
		url   string
		ok    bool
	}{
		{[]string{"127.0.0.1"}, byIP, true},
		{[]string{"127.0.0.1"}, byName, true},          // a name whose addresses all lie in IP entries
		{[]string{"s3.example.com"}, byName, false},    // no name entry, no IP entry: refused before any DNS
		{[]string{"LOCALHOST"}, byName, true},          // names are case-insensitive
		{[]string{"*.localhost"}, byName, false},       // a wildcard matches below the domain only
		{[]string{"127.0.0.0/8"}, byName, true},        // every address of localhost is checked at dial time
		{[]string{"10.0.0.0/8"}, byName, false},        // refused at dial time: no connection
		{[]string{"s3.example.com"}, byIP, false},      // an IP literal must lie in an IP or CIDR entry
		{[]string{"::1/128", "127.0.0.1"}, byIP, true}, // IPv6 entries parse
	} {
		before := srv.conns.Load()
		hc, err := OutboundPolicy{AllowHosts: c.allow}.NewHTTPClient()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(c.url)
		if c.ok {
			if err != nil {
				t.Errorf("allow %v, GET %s: %v", c.allow, c.url, err)
				continue
			}
			resp.Body.Close()
			continue
		}
		if !errors.Is(err, ErrOutboundRefused) {
			t.Errorf("allow %v, GET %s: %v, want ErrOutboundRefused", c.allow, c.url, err)
		}
		if n := srv.conns.Load() - before; n != 0 {
			t.Errorf("allow %v, GET %s: refused after %d connection(s)", c.allow, c.url, n)
		}
	}
}

func TestLinkLocalRefused(t *testing.T) {
	_, err := NewHTTPClient().Get("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
	if !errors.Is(err, ErrOutboundRefused) {
		t.Fatalf("metadata address: %v, want ErrOutboundRefused", err)
	}
	_, err = NewHTTPClient().Get("http://[fe80::1]:80/")
	if !errors.Is(err, ErrOutboundRefused) {
		t.Fatalf("IPv6 link-local: %v, want ErrOutboundRefused", err)
	}
	// The dial-time check, which catches a name whose DNS answer is
	// link-local.
	c, _ := OutboundPolicy{}.compile()
	if _, err := c.dialer(&net.Dialer{})(context.Background(), "tcp", "169.254.169.254:80"); !errors.Is(err, ErrOutboundRefused) {
		t.Fatalf("dialling a link-local address: %v", err)
	}
	// AllowLinkLocal lifts it (the URL check; nothing is dialled).
	c, _ = OutboundPolicy{AllowLinkLocal: true}.compile()
	if _, err := c.checkURL("169.254.169.254"); err != nil {
		t.Fatalf("AllowLinkLocal: %v", err)
	}
}

func TestOutboundPolicyEntries(t *testing.T) {
	for _, bad := range []string{"", "host:443", "10.0.0.0/33", "a*b.com"} {
		if _, err := (OutboundPolicy{AllowHosts: []string{bad}}).NewHTTPClient(); !errors.Is(err, ErrInvalid) {
			t.Errorf("entry %q: %v, want ErrInvalid", bad, err)
		}
	}
	hc, _ := OutboundPolicy{}.NewHTTPClient()
	if _, err := hc.Get("ftp://example.com/"); err == nil {
		t.Error("ftp URL accepted")
	}
}
