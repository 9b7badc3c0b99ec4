package httpapi

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
)

// Issue 13 items 3 and 4: no secret for a server the caller picks, and
// outbound requests are bounded.
var outboundAttacks = []attack{
	{
		name: "fastr request replayed against another host",
		run: func(t *testing.T, _ *env) {
			a := fxNewServer(t, fxDstKey, fxDstSecret, nil)
			b := fxNewServer(t, fxDstKey, fxDstSecret, nil) // the same key pair
			capt := captureFastr(t, a)
			if _, err := capt.c.Put(context.Background(), "bkt", "stolen.txt", strings.NewReader("for a"), 5, "", ""); err != nil {
				t.Fatal(err)
			}
			req := capt.last()
			bHost := strings.TrimPrefix(b.srv.URL, "http://")
			// As captured (Host names a), on b's socket.
			if code, ec := replay(t, req, bHost, ""); code != http.StatusMisdirectedRequest || ec != fastr.CodeMisdirected {
				t.Fatalf("replay to b: %d %s, want 421 %s", code, ec, fastr.CodeMisdirected)
			}
			// With b's Host header, the signature (for a) does not match.
			if code, ec := replay(t, req, bHost, bHost); code != http.StatusUnauthorized || ec != fastr.CodeSignatureMismatch {
				t.Fatalf("replay to b as b: %d %s, want 401 %s", code, ec, fastr.CodeSignatureMismatch)
			}
			if b.sum("stolen.txt") != "" {
				t.Fatal("b stored the replayed object")
			}
		},
	},
	{
		name: "fastr request replayed after the server restarts",
		run: func(t *testing.T, _ *env) {
			f := fxNewServer(t, fxDstKey, fxDstSecret, nil)
			capt := captureFastr(t, f)
			if _, err := capt.c.Put(context.Background(), "bkt", "once.txt", strings.NewReader("once"), 4, "", ""); err != nil {
				t.Fatal(err)
			}
			req := capt.last()
			if err := f.c.Delete(context.Background(), "bkt", "once.txt"); err != nil {
				t.Fatal(err)
			}
			f.restart() // same root, same address: only the nonce log remembers
			if code, ec := replay(t, req, "", ""); code != http.StatusUnauthorized || ec != fastr.CodeReplayedRequest {
				t.Fatalf("replay after restart: %d %s, want 401 %s", code, ec, fastr.CodeReplayedRequest)
			}
			if f.sum("once.txt") != "" {
				t.Fatal("the replay wrote the object again")
			}
		},
	},
	{
		name: "account whose S3 endpoint redirects to another host sends that host nothing",
		env:  func(t *testing.T) *env { return newEnv(t, envConfig{}) }, // the real S3 driver
		run: func(t *testing.T, e *env) {
			other := newHostRecorder(t, nil)
			first := newHostRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.srv.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			})
			r := e.cloud(t, "POST", "/cloud/insert_account", e.aliceTok, map[string]any{
				"cloudType": int(provider.S3Generic), "name": "redirecting", "endpoint": first.srv.URL,
				"accessKey": "AKIAREDIRECTTEST", "secretKey": "redirect-secret-key-value",
			})
			wantError(t, r, StatusValidation, "DEFAULT")
			if !strings.Contains(string(r.body), "outbound policy") {
				t.Errorf("the refusal does not say why: %s", r.body)
			}
			if first.count() == 0 {
				t.Fatal("the endpoint was never asked: the row proves nothing")
			}
			if n, c := other.count(), other.conns.Load(); n != 0 || c != 0 {
				t.Fatalf("the redirect target got %d requests on %d connections", n, c)
			}
			wantNoAccounts(t, e, e.aliceTok)
		},
	},
	{
		name: "endpoint off the outbound allow-list is refused before any connection",
		env: func(t *testing.T) *env {
			return outboundEnv(t, provider.OutboundPolicy{AllowHosts: []string{"s3.example.com", "*.amazonaws.com"}})
		},
		run: func(t *testing.T, e *env) {
			srv := newHostRecorder(t, nil)
			r := e.cloud(t, "POST", "/cloud/insert_account", e.adminTok, map[string]any{
				"cloudType": int(provider.S3Generic), "name": "off the list", "endpoint": srv.srv.URL,
				"accessKey": "AKIAOFFTHELIST", "secretKey": "off-the-list-secret",
			})
			wantError(t, r, StatusValidation, "DEFAULT")
			if !strings.Contains(string(r.body), "outbound policy") {
				t.Errorf("the refusal does not say why: %s", r.body)
			}
			if n, c := srv.count(), srv.conns.Load(); n != 0 || c != 0 {
				t.Fatalf("the host off the list got %d requests on %d connections", n, c)
			}
			wantNoAccounts(t, e, e.adminTok)
		},
	},
	{
		name: "endpoint at the link-local metadata address is refused",
		env:  func(t *testing.T) *env { return newEnv(t, envConfig{}) },
		run: func(t *testing.T, e *env) {
			r := e.cloud(t, "POST", "/cloud/insert_account", e.aliceTok, map[string]any{
				"cloudType": int(provider.S3Generic), "name": "metadata", "endpoint": "http://169.254.169.254",
				"accessKey": "AKIAMETADATA", "secretKey": "metadata-secret-key",
			})
			wantError(t, r, StatusValidation, "DEFAULT")
			if !strings.Contains(string(r.body), "outbound policy") {
				t.Errorf("refused for another reason than the policy: %s", r.body)
			}
			wantNoAccounts(t, e, e.aliceTok)
		},
	},
	{
		name: "send_download_url with CRLF in the recipient is refused",
		env:  mailEnv,
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			smtpd := e.api.mailer.(*countingMailer)
			for _, to := range []string{
				"carol@example.com\r\nBcc: eve@example.com",
				"carol@example.com\nSubject: pwned",
				"carol@example.com, eve@example.com", // one recipient only
				"Carol <carol@example.com>",
			} {
				wantError(t, e.cloud(t, "POST", "/cloud/send_download_url", e.aliceTok, map[string]any{
					"cloudAccountId": acct, "storageName": "b", "key": "k", "email": to,
				}), StatusValidation, "DEFAULT")
			}
			wantError(t, e.cloud(t, "POST", "/cloud/send_download_url", e.aliceTok, map[string]any{
				"cloudAccountId": acct, "storageName": "b", "key": "k", "email": "carol@example.com", "note": "hi\x1b[2J\x00",
			}), StatusValidation, "DEFAULT")
			if n := smtpd.sent(); n != 0 {
				t.Fatalf("%d messages sent", n)
			}
		},
	},
	{
		name: "send_download_url flood is limited per user",
		env:  mailEnv,
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			smtpd := e.api.mailer.(*countingMailer)
			send := func(tok string) reply {
				return e.cloud(t, "POST", "/cloud/send_download_url", tok, map[string]any{
					"cloudAccountId": acct, "storageName": "b", "key": "k", "email": "carol@example.com",
				})
			}
			for range defaultMailBurst {
				must(t, send(e.aliceTok), 200, nil)
			}
			r := send(e.aliceTok)
			wantError(t, r, http.StatusTooManyRequests, "RATE_LIMIT")
			if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
				t.Errorf("Retry-After %q", ra)
			}
			if n := smtpd.sent(); n != defaultMailBurst {
				t.Fatalf("%d messages sent, want %d", n, defaultMailBurst)
			}
			// The limit is per user: Bob's own mail still goes.
			bobs := e.memoryAccount(t, e.bobTok, "bob's", "")
			must(t, e.cloud(t, "POST", "/cloud/send_download_url", e.bobTok, map[string]any{
				"cloudAccountId": bobs, "storageName": "b", "key": "k", "email": "carol@example.com",
			}), 200, nil)
		},
	},
	{
		name: "send_download_url mails only a link the agent made for an object the caller may read",
		env:  mailEnv,
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			smtpd := e.api.mailer.(*countingMailer)
			ms := smtpd.base
			// Bob names Alice's account: refused, nothing sent.
			wantError(t, e.cloud(t, "POST", "/cloud/send_download_url", e.bobTok, map[string]any{
				"cloudAccountId": acct, "storageName": "b", "key": "k", "email": "carol@example.com",
			}), StatusValidation, "NOT_FOUND")
			if n := smtpd.sent(); n != 0 {
				t.Fatalf("%d messages sent for another user's account", n)
			}
			// URL fields in the request are not what is mailed.
			must(t, e.cloud(t, "POST", "/cloud/send_download_url", e.aliceTok, map[string]any{
				"cloudAccountId": acct, "storageName": "b", "key": "k", "email": "carol@example.com",
				"url": "http://evil.example/login", "downloadUrl": "http://evil.example/login",
			}), 200, nil)
			body := smtpd.last()
			if strings.Contains(body, "evil.example") || !strings.Contains(body, ms) {
				t.Fatalf("mailed body: %q", body)
			}
		},
	},
	{
		name: "P2P source server never sees the target account's secret",
		run: func(t *testing.T, _ *env) {
			src, dst := fxPair(t, nil)
			seen := &bodyLog{next: src.wrap.next}
			src.wrap.next = seen
			sum := src.put("clip.bin", 3<<20)
			a := fxNewAgent(t, src, dst)
			st := a.waitP2P(a.p2p("clip.bin", 1, false), isStatus(stCompleted, stFailed))
			if st.Status != stCompleted || dst.sum("copy/clip.bin") != sum {
				t.Fatalf("the push did not complete: %+v", st)
			}
			if !seen.saw("/v1/push") {
				t.Fatal("the source got no push request: the row proves nothing")
			}
			if seen.contains(fxDstSecret) || seen.contains(fxDstKey+",") || seen.contains(`"`+fxDstKey+`"`) {
				t.Fatal("the source server received the target account's secret (or its bare access key)")
			}
		},
	},
}

// captured is a fastr client on f whose requests are kept, bodies included.
type captured struct {
	c    *fastr.Client
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *captured) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil {
		b, _ = io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Clone(context.Background()))
	c.body = append(c.body, b)
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// last is the last request sent, ready to be sent again.
func (c *captured) last() *http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reqs[len(c.reqs)-1].Clone(context.Background())
	b := c.body[len(c.body)-1]
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return r
}

func captureFastr(t *testing.T, f *fxServer) *captured {
	t.Helper()
	c := &captured{}
	var err error
	if c.c, err = fastr.NewClient(f.srv.URL, fxDstKey, fxDstSecret, &http.Client{Transport: c}); err != nil {
		t.Fatal(err)
	}
	return c
}

// replay sends req again, to addr when set and with Host header host when
// set, and returns the status and the Fastr error code.
func replay(t *testing.T, req *http.Request, addr, host string) (int, string) {
	t.Helper()
	if addr != "" {
		req.URL.Host = addr
	}
	if host != "" {
		req.Host = host
	}
	req.RequestURI = ""
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get(fastr.HeaderErrorCode)
}

// hostRecorder is a server that counts its connections and requests.
type hostRecorder struct {
	srv   *httptest.Server
	conns atomic.Int64
	reqs  atomic.Int64
}

func newHostRecorder(t *testing.T, h http.HandlerFunc) *hostRecorder {
	t.Helper()
	r := &hostRecorder{}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.reqs.Add(1)
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

func (r *hostRecorder) count() int64 { return r.reqs.Load() }

// wantNoAccounts checks that a refused insert stored nothing.
func wantNoAccounts(t *testing.T, e *env, tok string) {
	t.Helper()
	var list []cloudAccount
	must(t, e.cloud(t, "GET", "/cloud/accounts", tok, nil), 200, &list)
	if len(list) != 0 {
		t.Fatalf("a refused account was stored: %+v", list)
	}
}

// outboundEnv is an env on the real drivers whose Client has policy p; it
// has the admin user only.
func outboundEnv(t *testing.T, p provider.OutboundPolicy) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"),
		Logger: discard, Outbound: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &env{c: c, root: filepath.Join(dir, "root")}
	if err := os.Mkdir(e.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, e.admin, err = c.CreateTenant(ctx, "acme", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.IssueToken(ctx, e.admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.adminTok = tok.Token
	e.api = New(c, Options{Roots: []string{e.root}, TempDir: filepath.Join(dir, "tmp"), Logger: discard})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() {
		e.api.Close()
		e.srv.Close()
	})
	return e
}

// countingMailer keeps the bodies of the messages it was asked to send.
type countingMailer struct {
	base   string // where the env's memory driver is served (mailEnv)
	mu     sync.Mutex
	bodies []string
}

func (m *countingMailer) Send(_ context.Context, _, _, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies = append(m.bodies, body)
	return nil
}

func (m *countingMailer) sent() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.bodies)
}

func (m *countingMailer) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.bodies) == 0 {
		return ""
	}
	return m.bodies[len(m.bodies)-1]
}

// mailEnv is a memory env with a mailer, whose memory driver is served so
// it can presign.
func mailEnv(t *testing.T) *env {
	m := &countingMailer{}
	e := newMemoryEnv(t, Options{Mailer: m})
	ms := httptest.NewServer(e.mem)
	t.Cleanup(ms.Close)
	e.mem.SetBaseURL(ms.URL)
	m.base = ms.URL
	return e
}

// bodyLog records every request a handler gets, headers and body.
type bodyLog struct {
	next http.Handler
	mu   sync.Mutex
	seen []string
}

func (b *bodyLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var sb strings.Builder
	sb.WriteString(r.Method + " " + r.URL.String() + "\n")
	_ = r.Header.Write(&sb)
	sb.Write(body)
	b.mu.Lock()
	b.seen = append(b.seen, sb.String())
	b.mu.Unlock()
	b.next.ServeHTTP(w, r)
}

func (b *bodyLog) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.seen {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func (b *bodyLog) saw(path string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.seen {
		if strings.Contains(strings.SplitN(x, "\n", 2)[0], " "+path) {
			return true
		}
	}
	return false
}
