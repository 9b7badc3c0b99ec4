// Package fakeauth is the OAuth and throttling half shared by the SaaS fakes
// (gdrive, onedrive, box): access tokens only the fake issued are accepted,
// they can be expired on demand, a refresh-token grant issues new ones
// (rotating the refresh token when the provider does), and a schedule of 429
// answers can be injected.
package fakeauth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
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

	// Refreshes counts refresh-token grants served (successful or not).
	Refreshes atomic.Int64
}

// New returns an Auth; rotate as for Auth.Rotate.
func New(rotate bool) *Auth {
	return &Auth{Rotate: rotate, TTL: time.Hour, access: map[string]time.Time{}, refresh: map[string]bool{}}
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

// ServeToken is the token endpoint: the refresh_token grant only (the
// authorization code flow belongs to the oauth package's tests). Client
// credentials are accepted in the form or in Basic auth, unchecked.
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
	if r.PostForm.Get("grant_type") != "refresh_token" {
		fail("unsupported_grant_type", "only refresh_token")
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
