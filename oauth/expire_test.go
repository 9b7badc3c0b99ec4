package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
)

// TestExpireNotUndoneByStoredToken: after a driver reports the access
// token refused (Expire), an operation that opens the same account with the
// stored (now stale) token must not make the source hand that token out
// again instead of refreshing.
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
	get := oauth.NewTokenSources(oauth.Config{Providers: map[provider.CloudType]oauth.Provider{provider.Dropbox: prov}})
	stored, _ := json.Marshal(&oauth2.Token{AccessToken: "old", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)})
	acct := amove.StoredAccount{ID: "acct1", CloudType: provider.Dropbox, Name: "x"}
	ctx := context.Background()
	src, err := get(ctx, acct, string(stored), nil)
	if err != nil {
		t.Fatal(err)
	}
	src.(interface{ Expire(string) }).Expire("old")                // the server said 401 expired_access_token
	if _, err := get(ctx, acct, string(stored), nil); err != nil { // a concurrent operation opens the account
		t.Fatal(err)
	}
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "new" || refreshes != 1 {
		t.Fatalf("after Expire the source hands out %q (%d refreshes); want a refreshed token", tok.AccessToken, refreshes)
	}
}
