// Package fakeauth is the OAuth and throttling half shared by the SaaS fakes
// (gdrive, onedrive, box): access tokens only the fake issued are accepted,
// they can be expired on demand, an authorization code (with its PKCE
// challenge) exchanges for a pair, a refresh-token grant issues new ones
// (rotating the refresh token when the provider does), and a schedule of 429
// answers can be injected.
package fakeauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Auth issues and checks tokens.
type Auth struct {
	// Rotate makes every refresh return a new refresh token and kill the old
	// one (Box). Google and Microsoft keep the refresh token.
	Rotate bool
	// TTL is the lifetime of issued access tokens (default 1 hour).
	TTL time.Duration

	mu      sync.Mutex
	access  map[string]time.Time // token -> expiry
	refresh map[string]bool
	codes   map[string]grant // authorization code -> what it was issued for

	// Refreshes counts refresh-token grants served (successful or not).
	Refreshes atomic.Int64
}

// New returns an Auth; rotate as for Auth.Rotate.
func New(rotate bool) *Auth {
	return &Auth{Rotate: rotate, TTL: time.Hour, access: map[string]time.Time{}, refresh: map[string]bool{},
		codes: map[string]grant{}}
}

// grant is what an authorization code was issued for: the token request
// must repeat the redirect URI and, under PKCE, prove the verifier.
type grant struct {
	redirect, challenge string
}

// Consent stands for the provider's consent page: given the authorization
// URL the app sent the user to, it returns the single-use code the provider
// would redirect back with, bound to that URL's redirect_uri and PKCE
// challenge (S256 only, as every provider here requires).
func (a *Auth) Consent(authURL string) (string, error) {
	u, err := url.Parse(authURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") == "" || q.Get("redirect_uri") == "" {
		return "", errors.New("fakeauth: authorization URL without response_type=code, client_id or redirect_uri")
	}
	if m := q.Get("code_challenge_method"); q.Get("code_challenge") != "" && m != "S256" {
		return "", errors.New("fakeauth: code_challenge_method " + m + ", want S256")
	}
	code := randomToken("code-")
	a.mu.Lock()
	a.codes[code] = grant{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	a.mu.Unlock()
	return code, nil
}

func randomToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Issue returns a fresh access token and refresh token, as an authorization
// code exchange would.
func (a *Auth) Issue() (accessToken, refreshToken string, expiry time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	accessToken, refreshToken = randomToken("at-"), randomToken("rt-")
	expiry = time.Now().Add(a.TTL)
	a.access[accessToken] = expiry
	a.refresh[refreshToken] = true
	return accessToken, refreshToken, expiry
}

// ExpireAll makes every access token issued so far invalid, as if their hour
// had passed.
func (a *Auth) ExpireAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for t := range a.access {
		a.access[t] = time.Time{}
	}
}

// Check reports whether r carries a valid bearer token.
func (a *Auth) Check(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.access[tok]
	return ok && time.Now().Before(exp)
}

// ServeToken is the token endpoint: the authorization_code grant for codes
// from Consent (single use, same redirect_uri, the PKCE verifier checked)
// and the refresh_token grant. Client credentials are accepted in the form
// or in Basic auth, unchecked.
func (a *Auth) ServeToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(code, desc string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != http.MethodPost {
		fail("invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail("invalid_request", err.Error())
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		a.exchange(w, r, fail)
		return
	case "refresh_token":
	default:
		fail("unsupported_grant_type", "authorization_code or refresh_token")
		return
	}
	a.Refreshes.Add(1)
	rt := r.PostForm.Get("refresh_token")
	a.mu.Lock()
	if !a.refresh[rt] {
		a.mu.Unlock()
		fail("invalid_grant", "Invalid refresh token")
		return
	}
	at := randomToken("at-")
	a.access[at] = time.Now().Add(a.TTL)
	if a.Rotate {
		delete(a.refresh, rt)
		rt = randomToken("rt-")
		a.refresh[rt] = true
	}
	a.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":  at,
		"token_type":    "bearer",
		"expires_in":    int(a.TTL / time.Second),
		"refresh_token": rt,
	})
}

// Throttle answers the next N requests with 429.
type Throttle struct {
	mu         sync.Mutex
	n          int
	retryAfter int
	// Hits counts throttled answers.
	Hits atomic.Int64
}

// Set makes the next n requests fail with Retry-After seconds (0: no header).
func (t *Throttle) Set(n, retryAfterSeconds int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n, t.retryAfter = n, retryAfterSeconds
}

// Take reports whether this request is throttled, and the Retry-After.
func (t *Throttle) Take() (throttled bool, retryAfter int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n <= 0 {
		return false, 0
	}
	t.n--
	t.Hits.Add(1)
	return true, t.retryAfter
}

// ID returns a random id of n hex characters.
func ID(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// exchange serves the authorization_code grant.
func (a *Auth) exchange(w http.ResponseWriter, r *http.Request, fail func(code, desc string)) {
	code := r.PostForm.Get("code")
	a.mu.Lock()
	g, ok := a.codes[code]
	delete(a.codes, code) // single use, even when the exchange fails
	a.mu.Unlock()
	switch {
	case !ok:
		fail("invalid_grant", "Invalid authorization code")
		return
	case r.PostForm.Get("redirect_uri") != g.redirect:
		fail("invalid_grant", "redirect_uri does not match the authorization request")
		return
	case g.challenge != "":
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			fail("invalid_grant", "PKCE verification failed")
			return
		}
	}
	at, rt, _ := a.Issue()
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":  at,
		"token_type":    "bearer",
		"expires_in":    int(a.TTL / time.Second),
		"refresh_token": rt,
	})
}
