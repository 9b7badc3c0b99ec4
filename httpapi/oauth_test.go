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
	boxfake "github.com/amove/amove-go/internal/fakes/box"
	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/internal/fakes/fakeauth"
	gdrivefake "github.com/amove/amove-go/internal/fakes/gdrive"
	onedrivefake "github.com/amove/amove-go/internal/fakes/onedrive"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/box"
	"github.com/amove/amove-go/provider/dropbox"
	"github.com/amove/amove-go/provider/gdrive"
	"github.com/amove/amove-go/provider/onedrive"
)

// TestOAuthRoutesRoundTrip drives the Dropbox OAuth flow through the HTTP
// routes: authorization URL, the fake's consent page, the callback, and the
// new account listed and usable; a replayed callback stores nothing.
func TestOAuthRoutesRoundTrip(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	prov := oauth.Dropbox("app", "secret")
	prov.Config.Endpoint = oauth2.Endpoint{AuthURL: srv.URL + "/oauth2/authorize", TokenURL: srv.URL + "/oauth2/token"}
	c, u, post := oauthAgent(t, map[provider.CloudType]oauth.Provider{provider.Dropbox: prov},
		func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			cfg.Endpoint = srv.URL
			return dropbox.Open(ctx, cfg)
		})
	ctx := context.Background()
	const redirect = "http://localhost:3000/oauth/dropbox"
	status, body := post("/cloud/generate_dropbox_authorization_url", map[string]any{"redirectURL": redirect, "cloudName": "Work Dropbox", "shared": true})
	var authURL string
	if status != http.StatusOK || json.Unmarshal(body, &authURL) != nil || !strings.HasPrefix(authURL, srv.URL) {
		t.Fatalf("authorization URL: %d %s", status, body)
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
	status, body = post("/cloud/dropbox_authorization_callback", cb)
	var acct struct {
		ID              string `json:"id"`
		Name            string `json:"name"`
		CloudType       int    `json:"cloudType"`
		Shared          bool   `json:"shared"`
		CredentialsData string `json:"credentialsData"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &acct) != nil {
		t.Fatalf("callback: %d %s", status, body)
	}
	if acct.Name != "Work Dropbox" || acct.CloudType != int(provider.Dropbox) || !acct.Shared || acct.CredentialsData != "****" {
		t.Errorf("account %s", body)
	}
	if strings.Contains(string(body), "access_token") || strings.Contains(string(body), "refresh_token") {
		t.Errorf("the callback answer leaks the token: %s", body)
	}
	// The account works: list its buckets through the API.
	status, body = post("/cloud/list_buckets", map[string]any{"id": acct.ID, "cloudType": int(provider.Dropbox)})
	if status != http.StatusOK || !strings.Contains(string(body), dropbox.RootBucket) {
		t.Errorf("list_buckets on the new account: %d %s", status, body)
	}
	// The state is single-use: replaying the callback is refused and stores nothing.
	status, body = post("/cloud/dropbox_authorization_callback", cb)
	if status != httpapi.StatusValidation {
		t.Errorf("replayed callback: %d %s, want 499", status, body)
	}
	// A provider error in the callback is refused too.
	status, _ = post("/cloud/dropbox_authorization_callback", map[string]any{"state": "x", "error": "access_denied", "errorDescription": "no", "redirectURL": redirect})
	if status != httpapi.StatusValidation {
		t.Errorf("callback with error: %d, want 499", status)
	}
	list, err := c.ListAccounts(ctx, u.Principal())
	if err != nil || len(list) != 1 {
		t.Errorf("%d accounts after the refused callbacks, want 1 (%v)", len(list), err)
	}
	// A provider without an OAuth app configured answers 501.
	status, _ = post("/cloud/generate_box_authorization_url", map[string]any{"redirectURL": redirect, "cloudName": "b"})
	if status != http.StatusNotImplemented {
		t.Errorf("unconfigured provider: %d", status)
	}
}

// TestOAuthRoutesEveryProvider completes the authorization-code flow of
// Box, OneDrive and Google Drive through their HTTP routes against their
// fakes: the authorization URL carries the app's redirect and (where the
// provider uses it) a PKCE challenge, the callback exchanges the code the
// fake's consent gave, and the stored account lists its buckets.
func TestOAuthRoutesEveryProvider(t *testing.T) {
	type fakeServer struct {
		url  string
		auth *fakeauth.Auth
		stop func()
	}
	cases := []struct {
		name      string
		cloudType provider.CloudType
		provider  func() oauth.Provider
		fake      func() fakeServer
		tokenPath string
		open      func(context.Context, provider.Config) (provider.Storage, error)
	}{
		{"box", provider.Box, func() oauth.Provider { return oauth.Box("app", "secret") },
			func() fakeServer { s := boxfake.New(boxfake.Options{}); return fakeServer{s.URL, s.Auth, s.Close} },
			"/oauth2/token", func(ctx context.Context, c provider.Config) (provider.Storage, error) { return box.Open(ctx, c) }},
		{"onedrive", provider.OneDrive, func() oauth.Provider { return oauth.OneDrive("app", "secret", "") },
			func() fakeServer {
				s := onedrivefake.New(onedrivefake.Options{})
				return fakeServer{s.URL, s.Auth, s.Close}
			},
			"/token", func(ctx context.Context, c provider.Config) (provider.Storage, error) { return onedrive.Open(ctx, c) }},
		{"googledrive", provider.GoogleDrive, func() oauth.Provider { return oauth.GoogleDrive("app", "secret") },
			func() fakeServer {
				s := gdrivefake.New(gdrivefake.Options{})
				return fakeServer{s.URL, s.Auth, s.Close}
			},
			"/token", func(ctx context.Context, c provider.Config) (provider.Storage, error) { return gdrive.Open(ctx, c) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.fake()
			defer srv.stop()
			prov := tc.provider()
			prov.Config.Endpoint.AuthURL = srv.url + "/authorize"
			prov.Config.Endpoint.TokenURL = srv.url + tc.tokenPath
			_, _, post := oauthAgent(t, map[provider.CloudType]oauth.Provider{tc.cloudType: prov},
				func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
					cfg.Endpoint = srv.url
					return tc.open(ctx, cfg)
				})

			redirect := "http://localhost:3000/oauth/" + tc.name
			code, body := post("/cloud/generate_"+tc.name+"_authorization_url", map[string]any{"redirectURL": redirect, "cloudName": "Work " + tc.name})
			var authURL string
			if code != http.StatusOK || json.Unmarshal(body, &authURL) != nil || !strings.HasPrefix(authURL, srv.url+"/authorize?") {
				t.Fatalf("authorization URL: %d %s", code, body)
			}
			q, _ := url.Parse(authURL)
			if q.Query().Get("redirect_uri") != redirect || q.Query().Get("state") == "" {
				t.Fatalf("authorization URL %s: want redirect_uri %s and a state", authURL, redirect)
			}
			if prov.PKCE && q.Query().Get("code_challenge") == "" {
				t.Errorf("authorization URL %s: no PKCE challenge", authURL)
			}
			grant, err := srv.auth.Consent(authURL)
			if err != nil {
				t.Fatal(err)
			}
			cb := map[string]any{"code": grant, "state": q.Query().Get("state"), "redirectURL": redirect}
			code, body = post("/cloud/"+tc.name+"_authorization_callback", cb)
			var acct struct {
				ID              string `json:"id"`
				Name            string `json:"name"`
				CloudType       int    `json:"cloudType"`
				CredentialsData string `json:"credentialsData"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &acct) != nil {
				t.Fatalf("callback: %d %s", code, body)
			}
			if acct.Name != "Work "+tc.name || acct.CloudType != int(tc.cloudType) || acct.CredentialsData != "****" ||
				strings.Contains(string(body), "access_token") {
				t.Errorf("account %s", body)
			}
			code, body = post("/cloud/list_buckets", map[string]any{"id": acct.ID, "cloudType": int(tc.cloudType)})
			if code != http.StatusOK || !strings.Contains(string(body), `"name"`) {
				t.Errorf("list_buckets on the new account: %d %s", code, body)
			}
			// The code was single-use: the same callback again stores nothing.
			if code, body = post("/cloud/"+tc.name+"_authorization_callback", cb); code != httpapi.StatusValidation {
				t.Errorf("replayed callback: %d %s, want 499", code, body)
			}
		})
	}
}

// oauthAgent is an agent (httpapi on a Client with a SQLite store) with
// the OAuth apps providers and drivers opened by open, a tenant "acme"
// with its admin u, and post, which sends a JSON body to a /cloud route
// with u's token through the OpenAPI-checking client and returns the
// status and body.
func oauthAgent(t *testing.T, providers map[provider.CloudType]oauth.Provider,
	open func(context.Context, provider.Config) (provider.Storage, error)) (*amove.Client, amove.User, func(path string, body any) (int, []byte)) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "key"),
		Logger: slog.New(slog.DiscardHandler), OAuth: amove.OAuthOptions{Providers: providers}, OpenStorage: open})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, u, err := c.CreateTenant(ctx, "acme", amove.NewUser{Username: "ann", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.IssueToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(c, httpapi.Options{Roots: []string{dir}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { api.Close() })
	agent := httptest.NewServer(api)
	t.Cleanup(agent.Close)
	client := httpapi.SpecClient(t, agent.URL)
	return c, u, func(path string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp, err := client.Post(agent.URL+path+"?token="+url.QueryEscape(tok.Token), "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		return resp.StatusCode, out.Bytes()
	}
}
