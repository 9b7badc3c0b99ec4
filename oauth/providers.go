// Package oauth is the OAuth 2 side of the OAuth cloud accounts (Dropbox,
// Box, OneDrive, Google Drive, Frame.io through Adobe IMS), on golang.org/x/oauth2: each provider's
// application (Provider: endpoints, scopes, PKCE), the two protocol steps of
// the authorization-code flow (Provider.AuthCodeURL, Provider.Exchange), the
// stored form of a token (MarshalToken, ParseToken), and a TokenSource that
// refreshes a token before it expires and hands each new one to a save
// function.
//
// The package needs nothing but provider, so a program that opens a driver
// itself can keep its token fresh and stored wherever it likes:
//
//	app := oauth.Dropbox(id, secret)
//	ts := oauth.NewTokenSource(ctx, app.Config, tok, func(ctx context.Context, tok *oauth2.Token) error {
//		return saveSomewhere(ctx, tok) // called after each refresh
//	}, oauth.TokenSourceOptions{})
//	st, err := provider.Open(ctx, provider.Config{CloudType: provider.Dropbox, TokenSource: ts})
//
// amove.Client builds on it (amove.Options.OAuth): it keeps the pending
// authorizations, creates the account on the callback, and seals each
// refreshed token back into its store.
//
// Tokens never appear in errors or logs.
package oauth

import (
	"net/url"

	"golang.org/x/oauth2"
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

// FrameIO returns the Adobe IMS application of the Frame.io V4 API, as the
// V4 Postman collection configures it: authorization at
// ims-na1.adobelogin.com/ims/authorize/v2, code exchange and refresh at
// /ims/token/v3 with the client credentials in the body, the scopes
// "openid profile AdobeID additional_info.roles offline_access"
// (offline_access brings the refresh token) and an S256 PKCE challenge.
// The agent's API has no Frame.io callback route, so its accounts connect
// with the token JSON in credentialsData; a Client configured with this
// application refreshes and stores that token like the others.
func FrameIO(clientID, clientSecret string) Provider {
	return Provider{
		Config: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret,
			Endpoint: oauth2.Endpoint{
				AuthURL:   "https://ims-na1.adobelogin.com/ims/authorize/v2",
				TokenURL:  "https://ims-na1.adobelogin.com/ims/token/v3",
				AuthStyle: oauth2.AuthStyleInParams,
			},
			Scopes: []string{"openid", "profile", "AdobeID", "additional_info.roles", "offline_access"},
		},
		PKCE: true,
	}
}
