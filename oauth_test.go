package amove_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// authServer is a minimal OAuth 2 server: codes bound to a redirect URL and
// a PKCE challenge, access tokens that expire, refresh tokens that can be
// revoked.
type authServer struct {
	*httptest.Server
	ttl time.Duration

	mu        sync.Mutex
	seq       int
	codes     map[string]codeGrant
	access    map[string]time.Time // token -> expiry
	revoked   bool
	refreshes atomic.Int32
}

type codeGrant struct{ redirect, challenge string }

func newAuthServer(t *testing.T, ttl time.Duration) *authServer {
	s := &authServer{ttl: ttl, codes: map[string]codeGrant{}, access: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// authorize is the consent step: it approves at once and redirects back.
func (s *authServer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != "app" || q.Get("response_type") != "code" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.seq++
	code := fmt.Sprintf("code%d", s.seq)
	s.codes[code] = codeGrant{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	s.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	u.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *authServer) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != "app" || secret != "shh" {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		g, ok := s.codes[r.PostFormValue("code")]
		delete(s.codes, r.PostFormValue("code"))
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || g.redirect != r.PostFormValue("redirect_uri") || g.challenge != base64.RawURLEncoding.EncodeToString(sum[:]) {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		s.issue(w, "refresh-1")
	case "refresh_token":
		s.refreshes.Add(1)
		if s.revoked || r.PostFormValue("refresh_token") != "refresh-1" {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		s.issue(w, "")
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

func (s *authServer) issue(w http.ResponseWriter, refresh string) {
	s.seq++
	tok := fmt.Sprintf("access-%d", s.seq)
	s.access[tok] = time.Now().Add(s.ttl)
	body := map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(s.ttl.Seconds())}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func (s *authServer) valid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.access[tok]
	return ok && time.Now().Before(exp)
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// tokenStorage is a memory driver that insists on a valid access token from
// its TokenSource, the way an OAuth provider does.
type tokenStorage struct {
	provider.Storage
	ts   oauth2.TokenSource
	auth *authServer
}

func (s tokenStorage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	if s.ts == nil {
		return nil, provider.ErrUnauthenticated
	}
	tok, err := s.ts.Token()
	if err != nil {
		return nil, err
	}
	if !s.auth.valid(tok.AccessToken) {
		return nil, fmt.Errorf("%w: token rejected", provider.ErrUnauthenticated)
	}
	return s.Storage.ListBuckets(ctx)
}

type oauthEnv struct {
	auth   *authServer
	cfg    amove.OAuthOptions
	dsn    string
	key    []byte
	client *amove.Client
	user   amove.User
}

func newOAuthEnv(t *testing.T, ttl time.Duration) *oauthEnv {
	e := &oauthEnv{auth: newAuthServer(t, ttl), dsn: "sqlite:" + filepath.Join(t.TempDir(), "amove.db"),
		key: []byte("0123456789abcdef0123456789abcdef")}
	prov := oauth.Dropbox("app", "shh")
	prov.Config.Endpoint = oauth2.Endpoint{AuthURL: e.auth.URL + "/authorize", TokenURL: e.auth.URL + "/token"}
	e.cfg = amove.OAuthOptions{Providers: map[provider.CloudType]oauth.Provider{provider.Dropbox: prov}}
	e.client = e.open(t)
	_, u, err := e.client.CreateTenant(context.Background(), "acme", amove.NewUser{Username: "ann", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	e.user = u
	return e
}

// open makes a Client on e's store; each has its own token sources, like a
// new process.
func (e *oauthEnv) open(t *testing.T) *amove.Client { return e.openWith(t, e.cfg) }

// openWith is open with other OAuth options.
func (e *oauthEnv) openWith(t *testing.T, cfg amove.OAuthOptions) *amove.Client {
	mem := memory.New(memory.Options{})
	c, err := amove.New(context.Background(), amove.Options{
		DSN: e.dsn, SecretKey: e.key, Logger: slog.New(slog.DiscardHandler),
		OAuth: cfg,
		OpenStorage: func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			return tokenStorage{Storage: mem, ts: cfg.TokenSource, auth: e.auth}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const redirect = "http://localhost:3000/oauth/dropbox"

// consent follows the authorization URL like a browser and returns the
// callback parameters.
func consent(t *testing.T, authURL string) amove.AuthorizationCallback {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("consent: %d %v", resp.StatusCode, err)
	}
	q := loc.Query()
	return amove.AuthorizationCallback{Code: q.Get("code"), State: q.Get("state"), Error: q.Get("error"),
		ErrorDescription: q.Get("error_description"), RedirectURL: redirect}
}

func (e *oauthEnv) connect(t *testing.T) amove.CloudAccount {
	t.Helper()
	ctx := context.Background()
	p := e.user.Principal()
	authURL, _, err := e.client.AuthorizationURL(ctx, p, provider.Dropbox,
		amove.AuthorizationRequest{RedirectURL: redirect, CloudName: "My Dropbox", Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.client.CompleteAuthorization(ctx, p, provider.Dropbox, consent(t, authURL))
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

func TestRoundTrip(t *testing.T) {
	e := newOAuthEnv(t, time.Hour)
	ctx := context.Background()
	p := e.user.Principal()
	authURL, state, err := e.client.AuthorizationURL(ctx, p, provider.Dropbox,
		amove.AuthorizationRequest{RedirectURL: redirect, CloudName: "My Dropbox", Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	for k, want := range map[string]string{"client_id": "app", "redirect_uri": redirect, "state": state,
		"response_type": "code", "token_access_type": "offline", "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			t.Errorf("authorization URL %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if q.Get("code_challenge") == "" || !strings.Contains(q.Get("scope"), "files.content.write") {
		t.Errorf("authorization URL lacks PKCE or scopes: %s", authURL)
	}
	cb := consent(t, authURL)
	acct, err := e.client.CompleteAuthorization(ctx, p, provider.Dropbox, cb)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Name != "My Dropbox" || !acct.Shared || acct.CloudType != provider.Dropbox || acct.CredentialsData != "****" {
		t.Errorf("account = %+v", acct)
	}
	if _, err := e.client.ListBuckets(ctx, p, acct.ID); err != nil {
		t.Errorf("new account not usable: %v", err)
	}
	// The state was used up.
	_, err = e.client.CompleteAuthorization(ctx, p, provider.Dropbox, cb)
	if !errors.Is(err, amove.ErrOAuthState) {
		t.Errorf("reused state: %v, want ErrOAuthState", err)
	}
}

func countAccounts(t *testing.T, e *oauthEnv) int {
	list, err := e.client.ListAccounts(context.Background(), e.user.Principal())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func TestCallbackRefusals(t *testing.T) {
	e := newOAuthEnv(t, time.Hour)
	ctx := context.Background()
	p := e.user.Principal()
	newURL := func(t *testing.T, c *amove.Client) string {
		authURL, _, err := c.AuthorizationURL(ctx, p, provider.Dropbox,
			amove.AuthorizationRequest{RedirectURL: redirect, CloudName: "d"})
		if err != nil {
			t.Fatal(err)
		}
		return authURL
	}
	other, err := e.client.CreateUser(ctx, p, amove.NewUser{Username: "bob", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("UnknownState", func(t *testing.T) {
		cb := consent(t, newURL(t, e.client))
		cb.State = "made-up-state-made-up-state"
		_, err := e.client.CompleteAuthorization(ctx, p, provider.Dropbox, cb)
		if !errors.Is(err, amove.ErrOAuthState) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("ProviderError", func(t *testing.T) {
		cb := consent(t, newURL(t, e.client))
		cb.Code, cb.Error, cb.ErrorDescription = "", "access_denied", "The user declined"
		_, err := e.client.CompleteAuthorization(ctx, p, provider.Dropbox, cb)
		if !errors.Is(err, oauth.ErrProviderDenied) || !strings.Contains(err.Error(), "The user declined") {
			t.Errorf("got %v", err)
		}
		// The state is burnt too.
		cb.Error, cb.ErrorDescription = "", ""
		if _, err := e.client.CompleteAuthorization(ctx, p, provider.Dropbox, cb); !errors.Is(err, amove.ErrOAuthState) {
			t.Errorf("state after provider error: %v", err)
		}
	})
	t.Run("OtherUser", func(t *testing.T) {
		cb := consent(t, newURL(t, e.client))
		if _, err := e.client.CompleteAuthorization(ctx, other.Principal(), provider.Dropbox, cb); !errors.Is(err, amove.ErrOAuthState) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("OtherProvider", func(t *testing.T) {
		box := oauth.Box("app", "shh")
		box.Config.Endpoint = e.cfg.Providers[provider.Dropbox].Config.Endpoint
		c := e.openWith(t, amove.OAuthOptions{Providers: map[provider.CloudType]oauth.Provider{
			provider.Dropbox: e.cfg.Providers[provider.Dropbox], provider.Box: box}})
		cb := consent(t, newURL(t, c))
		if _, err := c.CompleteAuthorization(ctx, p, provider.Box, cb); err == nil {
			t.Error("a Dropbox state completed a Box callback")
		}
	})
	t.Run("OtherRedirect", func(t *testing.T) {
		cb := consent(t, newURL(t, e.client))
		cb.RedirectURL = "http://evil.example/cb"
		if _, err := e.client.CompleteAuthorization(ctx, p, provider.Dropbox, cb); err == nil {
			t.Error("callback accepted another redirect URL")
		}
	})
	t.Run("Expired", func(t *testing.T) {
		cfg := e.cfg
		cfg.StateTTL = 50 * time.Millisecond
		c := e.openWith(t, cfg)
		cb := consent(t, newURL(t, c))
		time.Sleep(100 * time.Millisecond)
		if _, err := c.CompleteAuthorization(ctx, p, provider.Dropbox, cb); !errors.Is(err, amove.ErrOAuthState) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("BadCode", func(t *testing.T) {
		cb := consent(t, newURL(t, e.client))
		cb.Code = "stolen"
		_, err := e.client.CompleteAuthorization(ctx, p, provider.Dropbox, cb)
		if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("got %v", err)
		}
	})
	if n := countAccounts(t, e); n != 0 {
		t.Errorf("refused callbacks stored %d accounts", n)
	}
	if _, _, err := e.client.AuthorizationURL(ctx, p, provider.OneDrive, amove.AuthorizationRequest{RedirectURL: redirect, CloudName: "x"}); !errors.Is(err, provider.ErrUnsupported) || !errors.Is(err, amove.ErrOAuthNotConfigured) {
		t.Errorf("unconfigured provider: %v", err)
	}
	if _, _, err := e.client.AuthorizationURL(ctx, p, provider.Dropbox, amove.AuthorizationRequest{RedirectURL: redirect}); err == nil {
		t.Error("empty cloudName accepted")
	}
}

// TestRefreshOnceAndPersist lets the access token expire, then uses the
// account from many goroutines: one refresh, and a new process finds the
// refreshed token in the store.
func TestRefreshOnceAndPersist(t *testing.T) {
	e := newOAuthEnv(t, 2*time.Second)
	e.cfg.RefreshMargin = time.Second
	e.client = e.open(t)
	acct := e.connect(t)
	time.Sleep(1100 * time.Millisecond) // within the margin now
	ctx := context.Background()
	p := e.user.Principal()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.client.ListBuckets(ctx, p, acct.ID); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.auth.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	// A new process: it must not need to refresh, the stored token is fresh.
	c2 := e.open(t)
	if _, err := c2.ListBuckets(ctx, p, acct.ID); err != nil {
		t.Fatal(err)
	}
	if n := e.auth.refreshes.Load(); n != 1 {
		t.Errorf("reopened client refreshed again (%d refreshes): the new token was not persisted", n)
	}
}

func TestRevokedRefreshToken(t *testing.T) {
	e := newOAuthEnv(t, time.Second)
	e.cfg.RefreshMargin = 2 * time.Second // every token is already due
	e.client = e.open(t)
	// The callback's credential check would refresh at once: connect first,
	// then revoke.
	acct := e.connect(t)
	e.auth.mu.Lock()
	e.auth.revoked = true
	e.auth.mu.Unlock()
	_, err := e.client.ListBuckets(context.Background(), e.user.Principal(), acct.ID)
	if !errors.Is(err, provider.ErrUnauthenticated) {
		t.Fatalf("got %v, want ErrUnauthenticated", err)
	}
	if !strings.Contains(err.Error(), acct.ID) || !strings.Contains(err.Error(), "My Dropbox") {
		t.Errorf("error does not name the account: %v", err)
	}
	if strings.Contains(err.Error(), "refresh-1") || strings.Contains(err.Error(), "access-") {
		t.Errorf("error leaks a token: %v", err)
	}
}
