package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/oauth"
)

// TestExpireNotUndoneByStoredToken: after a driver reports the access
// token refused (Expire), an operation that reads the same account's stored
// (now stale) token and offers it to the source (Update, as amove.Client
// does on each open) must not make the source hand that token out again
// instead of refreshing.
func TestExpireNotUndoneByStoredToken(t *testing.T) {
	refreshes := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refreshes++
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "new", "token_type": "bearer", "expires_in": 3600})
	}))
	defer srv.Close()
	prov := oauth.Dropbox("app", "secret")
	prov.Config.Endpoint = oauth2.Endpoint{TokenURL: srv.URL}
	stored := &oauth2.Token{AccessToken: "old", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}
	src := oauth.NewTokenSource(context.Background(), prov.Config, stored, nil, oauth.TokenSourceOptions{})
	src.Expire("old") // the server said 401 expired_access_token
	again := *stored  // a concurrent operation reads the store
	src.Update(&again)
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "new" || refreshes != 1 {
		t.Fatalf("after Expire the source hands out %q (%d refreshes); want a refreshed token", tok.AccessToken, refreshes)
	}
	// A newer token from the store (another process refreshed) is adopted.
	newer := &oauth2.Token{AccessToken: "other", RefreshToken: "r", Expiry: time.Now().Add(2 * time.Hour)}
	src.Update(newer)
	if tok, err := src.Token(); err != nil || tok.AccessToken != "other" || refreshes != 1 {
		t.Fatalf("after Update with a newer token: %v %v (%d refreshes)", tok, err, refreshes)
	}
}
