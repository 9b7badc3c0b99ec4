package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/httpapi"
	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/dropbox"
)

// TestOAuthRoutesRoundTrip drives the Dropbox OAuth flow through the HTTP
// routes: authorization URL, the fake's consent page, the callback, and the
// new account listed and usable; a replayed callback stores nothing.
func TestOAuthRoutesRoundTrip(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	prov := oauth.Dropbox("app", "secret")
	prov.Config.Endpoint = oauth2.Endpoint{AuthURL: srv.URL + "/oauth2/authorize", TokenURL: srv.URL + "/oauth2/token"}
	cfg := amove.OAuthOptions{Providers: map[provider.CloudType]oauth.Provider{provider.Dropbox: prov}}
	ctx := context.Background()
	dir := t.TempDir()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "key"),
		Logger: slog.New(slog.DiscardHandler), OAuth: cfg,
		OpenStorage: func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			cfg.Endpoint = srv.URL
			return dropbox.Open(ctx, cfg)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, u, err := c.CreateTenant(ctx, "acme", amove.NewUser{Username: "ann", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.IssueToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(c, httpapi.Options{Roots: []string{dir}, Logger: slog.New(slog.DiscardHandler)})
	defer api.Close()
	agent := httptest.NewServer(api)
	defer agent.Close()

	client := httpapi.SpecClient(t, agent.URL)
	post := func(path string, body any) (*http.Response, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := client.Post(agent.URL+path+"?token="+url.QueryEscape(tok.Token), "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		return resp, out.Bytes()
	}
	const redirect = "http://localhost:3000/oauth/dropbox"
	resp, body := post("/cloud/generate_dropbox_authorization_url", map[string]any{"redirectURL": redirect, "cloudName": "Work Dropbox", "shared": true})
	var authURL string
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &authURL) != nil || !strings.HasPrefix(authURL, srv.URL) {
		t.Fatalf("authorization URL: %d %s", resp.StatusCode, body)
	}
	// The fake consents and redirects to the app with code and state.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cr, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	cr.Body.Close()
	loc, err := url.Parse(cr.Header.Get("Location"))
	if err != nil || cr.StatusCode != http.StatusFound {
		t.Fatalf("consent: %d %v", cr.StatusCode, err)
	}
	cb := map[string]any{"code": loc.Query().Get("code"), "state": loc.Query().Get("state"), "redirectURL": redirect}
	resp, body = post("/cloud/dropbox_authorization_callback", cb)
	var acct struct {
		ID              string `json:"id"`
		Name            string `json:"name"`
		CloudType       int    `json:"cloudType"`
		Shared          bool   `json:"shared"`
		CredentialsData string `json:"credentialsData"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &acct) != nil {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	if acct.Name != "Work Dropbox" || acct.CloudType != int(provider.Dropbox) || !acct.Shared || acct.CredentialsData != "****" {
		t.Errorf("account %s", body)
	}
	if strings.Contains(string(body), "access_token") || strings.Contains(string(body), "refresh_token") {
		t.Errorf("the callback answer leaks the token: %s", body)
	}
	// The account works: list its buckets through the API.
	resp, body = post("/cloud/list_buckets", map[string]any{"id": acct.ID, "cloudType": int(provider.Dropbox)})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), dropbox.RootBucket) {
		t.Errorf("list_buckets on the new account: %d %s", resp.StatusCode, body)
	}
	// The state is single-use: replaying the callback is refused and stores nothing.
	resp, body = post("/cloud/dropbox_authorization_callback", cb)
	if resp.StatusCode != httpapi.StatusValidation {
		t.Errorf("replayed callback: %d %s, want 499", resp.StatusCode, body)
	}
	// A provider error in the callback is refused too.
	resp, _ = post("/cloud/dropbox_authorization_callback", map[string]any{"state": "x", "error": "access_denied", "errorDescription": "no", "redirectURL": redirect})
	if resp.StatusCode != httpapi.StatusValidation {
		t.Errorf("callback with error: %d, want 499", resp.StatusCode)
	}
	list, err := c.ListAccounts(ctx, u.Principal())
	if err != nil || len(list) != 1 {
		t.Errorf("%d accounts after the refused callbacks, want 1 (%v)", len(list), err)
	}
	// A provider without an OAuth app configured answers 501.
	resp, _ = post("/cloud/generate_box_authorization_url", map[string]any{"redirectURL": redirect, "cloudName": "b"})
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("unconfigured provider: %d", resp.StatusCode)
	}
}
