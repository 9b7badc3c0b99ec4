package dropbox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/dropbox"
	"github.com/amove/amove-go/provider/providertest"

	// The store the Client tests open by DSN.
	_ "github.com/amove/amove-go/store/sqlite"
)

func newFake(t *testing.T, opts fake.Options) *fake.Server {
	srv := fake.New(opts)
	t.Cleanup(srv.Close)
	return srv
}

func open(t *testing.T, srv *fake.Server, opts dropbox.Options) *dropbox.Storage {
	access, refresh, exp := srv.IssueToken()
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: exp})
	opts.APIURL, opts.ContentURL = srv.URL, srv.URL
	st, err := dropbox.OpenWithOptions(context.Background(), provider.Config{CloudType: provider.Dropbox, TokenSource: ts}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	// Small list pages so the 2,500-key case walks list_folder/continue.
	srv := newFake(t, fake.Options{ListLimit: 700})
	st := open(t, srv, dropbox.Options{ChunkSize: 4 << 20})
	providertest.Run(t, providertest.Harness{Storage: st, Bucket: dropbox.RootBucket,
		Limitations: map[string]string{"PresignDisposition": "a Dropbox temporary link cannot carry a Content-Disposition; ForceDownload is not honoured"}})
}

func TestPresign(t *testing.T) {
	srv := newFake(t, fake.Options{})
	st := open(t, srv, dropbox.Options{})
	ctx := context.Background()
	data := []byte("temporary link")
	if _, err := st.Write(ctx, dropbox.RootBucket, "tl/x.txt", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	link, err := st.PresignURL(ctx, dropbox.RootBucket, "tl/x.txt", provider.PresignOptions{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("link served %q", got)
	}
	if _, err := st.PresignURL(ctx, dropbox.RootBucket, "tl/x.txt", provider.PresignOptions{Method: http.MethodPut}); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("presigned PUT: %v, want ErrUnsupported", err)
	}
}

// Test40MiB writes through upload sessions with the 4 MiB chunk rule
// enforced and compares content_hash.
func Test40MiB(t *testing.T) {
	srv := newFake(t, fake.Options{StrictChunks: true})
	st := open(t, srv, dropbox.Options{ChunkSize: 8 << 20})
	data := make([]byte, 40<<20+123)
	rand.NewChaCha8([32]byte{4}).Read(data)
	ctx := context.Background()
	for _, size := range []int64{int64(len(data)), -1} {
		o, err := st.Write(ctx, dropbox.RootBucket, "big/file.bin", struct{ io.Reader }{bytes.NewReader(data)}, size, provider.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if o.Size != int64(len(data)) {
			t.Errorf("size %d", o.Size)
		}
		h, err := st.ContentHash(ctx, dropbox.RootBucket, "big/file.bin")
		if err != nil {
			t.Fatal(err)
		}
		if want := fake.ContentHash(data); h != want {
			t.Errorf("content_hash %s, want %s", h, want)
		}
		if o.Checksums.Dropbox != want(data) || o.Verified != provider.HashDropbox {
			t.Errorf("Write returned checksums %+v, verified %q; want content_hash %s verified", o.Checksums, o.Verified, want(data))
		}
	}
}

// want is the content_hash of b by provider.NewDropboxHash.
func want(b []byte) string {
	h := provider.NewDropboxHash()
	h.Write(b)
	return hexs(string(h.Sum(nil)))
}

func hexs(b string) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for i := 0; i < len(b); i++ {
		out = append(out, digits[b[i]>>4], digits[b[i]&15])
	}
	return string(out)
}

func TestContentHashVectors(t *testing.T) {
	for _, n := range []int{0, 1, 4 << 20, 4<<20 + 1, 9_711_423} {
		b := make([]byte, n)
		rand.NewChaCha8([32]byte{byte(n)}).Read(b)
		h := provider.NewDropboxHash()
		h.Write(b[:n/3])
		h.Write(b[n/3:])
		if got, want := hexs(string(h.Sum(nil))), fake.ContentHash(b); got != want {
			t.Errorf("%d bytes: %s, want %s", n, got, want)
		}
	}
}

func TestRateLimitStorm(t *testing.T) {
	srv := newFake(t, fake.Options{})
	st := open(t, srv, dropbox.Options{MaxRetries: 3})
	ctx := context.Background()
	// Three 429s: the driver waits them out.
	srv.RateLimit(time.Second, time.Second, time.Second)
	start := time.Now()
	if _, err := st.ListBuckets(ctx); err != nil {
		t.Fatalf("after a short storm: %v", err)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("retried after %v, before Retry-After passed", d)
	}
	// A longer storm reaches the engine as a RateLimitError.
	srv.RateLimit(time.Second, time.Second, time.Second, time.Second) // 1 + MaxRetries
	_, err := st.ListBuckets(ctx)
	var rl *provider.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second || !errors.Is(err, provider.ErrRateLimited) {
		t.Fatalf("long storm: %v, want RateLimitError with RetryAfter 1s", err)
	}
	// One longer than MaxRetryWait is returned at once.
	srv.RateLimit(time.Hour)
	start = time.Now()
	_, err = st.ListBuckets(ctx)
	if !errors.As(err, &rl) || rl.RetryAfter != time.Hour || time.Since(start) > time.Second {
		t.Errorf("1 h Retry-After: %v after %v", err, time.Since(start))
	}
}

// clientEnv is an amove Client wired to the fake through oauth.
type clientEnv struct {
	srv    *fake.Server
	cfg    amove.OAuthOptions
	dsn    string
	key    []byte
	client *amove.Client
	user   amove.User
}

func newClientEnv(t *testing.T, opts fake.Options) *clientEnv {
	e := &clientEnv{srv: newFake(t, opts), dsn: "sqlite:" + filepath.Join(t.TempDir(), "a.db"),
		key: bytes.Repeat([]byte{7}, 32)}
	prov := oauth.Dropbox("app", "secret")
	prov.Config.Endpoint = oauth2.Endpoint{AuthURL: e.srv.URL + "/oauth2/authorize", TokenURL: e.srv.URL + "/oauth2/token"}
	e.cfg = amove.OAuthOptions{Providers: map[provider.CloudType]oauth.Provider{provider.Dropbox: prov}}
	e.reopen(t)
	_, u, err := e.client.CreateTenant(context.Background(), "acme", amove.NewUser{Username: "ann", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e.user = u
	return e
}

// reopen starts a new Client on the same store, like a new process.
func (e *clientEnv) reopen(t *testing.T) {
	c, err := amove.New(context.Background(), amove.Options{DSN: e.dsn, SecretKey: e.key,
		Logger: slog.New(slog.DiscardHandler), OAuth: e.cfg,
		OpenStorage: func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			cfg.Endpoint = e.srv.URL
			return dropbox.Open(ctx, cfg)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.client = c
}

const redirect = "http://localhost:3000/oauth/dropbox"

func (e *clientEnv) connect(t *testing.T, deny bool) (amove.CloudAccount, error) {
	ctx := context.Background()
	authURL, _, err := e.client.AuthorizationURL(ctx, e.user.Principal(), provider.Dropbox,
		amove.AuthorizationRequest{RedirectURL: redirect, CloudName: "Work Dropbox"})
	if err != nil {
		t.Fatal(err)
	}
	if deny {
		authURL += "&deny=1"
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	return e.client.CompleteAuthorization(ctx, e.user.Principal(), provider.Dropbox, amove.AuthorizationCallback{Code: q.Get("code"),
		State: q.Get("state"), Error: q.Get("error"), ErrorDescription: q.Get("error_description"), RedirectURL: redirect})
}

func TestOAuthRoundTrip(t *testing.T) {
	e := newClientEnv(t, fake.Options{})
	if _, err := e.connect(t, true); !errors.Is(err, oauth.ErrProviderDenied) {
		t.Errorf("denied consent: %v", err)
	}
	acct, err := e.connect(t, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := e.user.Principal()
	if err := e.client.CreateFolder(ctx, p, acct.ID, dropbox.RootBucket, "hello/"); err != nil {
		t.Fatal(err)
	}
	page, err := e.client.ListObjects(ctx, p, acct.ID, dropbox.RootBucket, provider.ListOptions{Delimiter: "/"})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "hello/" {
		t.Errorf("listing = %+v, %v", page, err)
	}
	list, _ := e.client.ListAccounts(ctx, p)
	if len(list) != 1 {
		t.Errorf("%d accounts, want 1 (the denied consent stores nothing)", len(list))
	}
}

// TestExpiredTokenRefreshedOnce: the server expires every access token;
// the next calls refresh once, and a new process finds the new token.
func TestExpiredTokenRefreshedOnce(t *testing.T) {
	e := newClientEnv(t, fake.Options{})
	acct, err := e.connect(t, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := e.user.Principal()
	e.srv.ExpireTokens()
	done := make(chan error)
	for range 10 {
		go func() {
			_, err := e.client.ListBuckets(ctx, p, acct.ID)
			done <- err
		}()
	}
	for range 10 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if n := e.srv.Refreshes(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	e.reopen(t)
	if _, err := e.client.ListBuckets(ctx, p, acct.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.srv.Refreshes(); n != 1 {
		t.Errorf("a new process refreshed again (%d): the token was not persisted", n)
	}
	// A revoked refresh token is ErrUnauthenticated naming the account.
	e.srv.RevokeRefreshTokens()
	e.srv.ExpireTokens()
	_, err = e.client.ListBuckets(ctx, p, acct.ID)
	if !errors.Is(err, provider.ErrUnauthenticated) || !bytes.Contains([]byte(err.Error()), []byte(acct.ID)) {
		t.Errorf("revoked: %v", err)
	}
}
