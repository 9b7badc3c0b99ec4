// Package oauth connects OAuth cloud accounts (Dropbox, Box, OneDrive,
// Google Drive) on golang.org/x/oauth2: the authorization URL and the
// callback that turns a code into a stored CloudAccount (Flow), and the
// token source that refreshes an account's token before it expires and
// writes the new one back to the store (NewTokenSources).
//
// Wire both from one Config:
//
//	cfg := oauth.Config{Providers: map[provider.CloudType]oauth.Provider{
//		provider.Dropbox: oauth.Dropbox(id, secret),
//	}}
//	client, err := amove.New(ctx, amove.Options{TokenSources: oauth.NewTokenSources(cfg)})
//	flow := oauth.NewFlow(client, cfg)
//
// Tokens never appear in errors or logs.
package oauth

import (
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/provider"
)

// Provider is the OAuth application registered with one provider.
type Provider struct {
	// Config holds the app's client id and secret, the endpoints and the
	// scopes. Its RedirectURL is ignored: each authorization brings its own.
	Config oauth2.Config
	// PKCE adds an S256 code challenge to the authorization URL and the
	// verifier to the code exchange.
	PKCE bool
	// AuthParams are extra authorization URL parameters, such as the one
	// that asks for a refresh token.
	AuthParams url.Values
}

// Config is the OAuth configuration shared by Flow and NewTokenSources.
type Config struct {
	// Providers maps each OAuth cloud type to its application. A cloud type
	// missing here cannot be connected or refreshed.
	Providers map[provider.CloudType]Provider
	// StateTTL is how long an authorization URL stays usable; zero means
	// 10 minutes.
	StateTTL time.Duration
	// RefreshMargin refreshes an access token this long before it expires;
	// zero means one minute.
	RefreshMargin time.Duration
	// HTTPClient talks to the token endpoints; nil means a client with a
	// 30-second timeout.
	HTTPClient *http.Client
}

func (c Config) stateTTL() time.Duration {
	if c.StateTTL > 0 {
		return c.StateTTL
	}
	return 10 * time.Minute
}

func (c Config) refreshMargin() time.Duration {
	if c.RefreshMargin > 0 {
		return c.RefreshMargin
	}
	return time.Minute
}

func (c Config) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// Dropbox returns the Dropbox application: file and sharing scopes, an
// offline (refresh) token and PKCE (providers.md section 4).
func Dropbox(clientID, clientSecret string) Provider {
	return Provider{
		Config: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:  "https://www.dropbox.com/oauth2/authorize",
				TokenURL: "https://api.dropboxapi.com/oauth2/token",
			},
			Scopes: []string{"files.metadata.read", "files.metadata.write", "files.content.read",
				"files.content.write", "sharing.read", "sharing.write", "account_info.read"},
		},
		PKCE:       true,
		AuthParams: url.Values{"token_access_type": {"offline"}},
	}
}

// Box returns the Box application. Box takes its scopes from the app's
// console and does not document PKCE, so neither is sent; it rotates the
// refresh token on every refresh, which the token source stores each time.
func Box(clientID, clientSecret string) Provider {
	return Provider{
		Config: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   "https://account.box.com/api/oauth2/authorize",
				TokenURL:  "https://api.box.com/oauth2/token",
				AuthStyle: oauth2.AuthStyleInParams,
			},
		},
	}
}

// OneDrive returns the Microsoft identity platform application for tenant
// ("common", "consumers", "organizations" or a tenant id; empty means
// "common"), with file and SharePoint read scopes and offline_access for a
// refresh token, and PKCE.
func OneDrive(clientID, clientSecret, tenant string) Provider {
	if tenant == "" {
		tenant = "common"
	}
	base := "https://login.microsoftonline.com/" + url.PathEscape(tenant) + "/oauth2/v2.0"
	return Provider{
		Config: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret,
			Endpoint: oauth2.Endpoint{AuthURL: base + "/authorize", TokenURL: base + "/token",
				AuthStyle: oauth2.AuthStyleInParams},
			Scopes: []string{"Files.Read", "Files.ReadWrite", "Files.Read.All", "Files.ReadWrite.All",
				"Sites.Read.All", "offline_access"},
		},
		PKCE: true,
	}
}

// GoogleDrive returns the Google application with the full Drive scope, an
// offline refresh token (prompt=consent so a reconnect gets one again) and
// PKCE.
func GoogleDrive(clientID, clientSecret string) Provider {
	return Provider{
		Config: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   "https://accounts.google.com/o/oauth2/v2/auth",
				TokenURL:  "https://oauth2.googleapis.com/token",
				AuthStyle: oauth2.AuthStyleInParams,
			},
			Scopes: []string{"https://www.googleapis.com/auth/drive"},
		},
		PKCE:       true,
		AuthParams: url.Values{"access_type": {"offline"}, "prompt": {"consent"}},
	}
}
