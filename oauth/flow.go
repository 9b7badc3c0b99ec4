package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"
)

// The two protocol steps of the authorization-code flow, as functions of a
// Provider: the consent URL and the code exchange. Remembering what a URL
// was made for (state, PKCE verifier, who asked) is the caller's business;
// amove.Client does it in its store.

// ErrProviderDenied is matched (errors.Is) by the error Denied returns: the
// callback carried the provider's error (the user declined, the app is
// misconfigured) instead of a code.
var ErrProviderDenied = errors.New("the provider denied the authorization")

// AuthCodeURL returns the URL that asks the user to consent, carrying state
// and redirectURL. verifier is the PKCE code verifier
// (oauth2.GenerateVerifier) and is used only when p.PKCE is set; the same
// verifier must be given to Exchange.
func (p Provider) AuthCodeURL(state, redirectURL, verifier string) string {
	cfg := p.Config
	cfg.RedirectURL = redirectURL
	var opts []oauth2.AuthCodeOption
	if p.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	for k, vs := range p.AuthParams {
		for _, v := range vs {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	return cfg.AuthCodeURL(state, opts...)
}

// Exchange trades the code of a callback for a token. redirectURL and
// verifier must be those of the AuthCodeURL the code answers. The token
// endpoint is reached with the *http.Client in ctx under oauth2.HTTPClient,
// or one with a 30-second timeout. A refused code keeps the OAuth error
// code in the error but never the response body, which is the provider's
// and may echo what it was sent.
func (p Provider) Exchange(ctx context.Context, code, redirectURL, verifier string) (*oauth2.Token, error) {
	cfg := p.Config
	cfg.RedirectURL = redirectURL
	var opts []oauth2.AuthCodeOption
	if p.PKCE {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := cfg.Exchange(withHTTPClient(ctx), code, opts...)
	if err != nil {
		return nil, exchangeErr(err)
	}
	return tok, nil
}

// Denied returns the error of a callback that carries the provider's error
// parameters (error, error_description) instead of a code. It matches
// ErrProviderDenied and quotes both, clipped and made valid UTF-8, since
// they came through the user's browser.
func Denied(code, description string) error {
	msg := clip(code)
	if description != "" {
		msg += ": " + clip(description)
	}
	return fmt.Errorf("%w: %s", ErrProviderDenied, msg)
}

// withHTTPClient gives ctx the default token-endpoint client unless it
// names one.
func withHTTPClient(ctx context.Context) context.Context {
	if _, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Timeout: 30 * time.Second})
}

// clip bounds text the provider sent through the user's browser before it
// goes into an error message.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200]) + "..."
	}
	return s
}

// exchangeErr keeps the OAuth error code of a refused exchange or refresh
// and drops the response body.
func exchangeErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return fmt.Errorf("oauth2: %s (HTTP %d)", clip(re.ErrorCode), re.Response.StatusCode)
		}
		return fmt.Errorf("oauth2: token endpoint answered HTTP %d", re.Response.StatusCode)
	}
	return err
}

// MarshalToken returns the stored form of tok: oauth2.Token's JSON
// (access_token, token_type, refresh_token, expiry), which is what an OAuth
// account's credentialsData holds.
func MarshalToken(tok *oauth2.Token) (string, error) {
	b, err := json.Marshal(tok)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ParseToken reads a token stored by MarshalToken (an OAuth account's
// credentialsData). It refuses one with neither an access nor a refresh
// token, and its errors never quote the input.
func ParseToken(credentialsData string) (*oauth2.Token, error) {
	var tok oauth2.Token
	if err := json.Unmarshal([]byte(credentialsData), &tok); err != nil {
		// Never wrap the JSON error: it may quote the token.
		return nil, errors.New("oauth: credentialsData is not an OAuth token")
	}
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, errors.New("oauth: credentialsData holds neither an access nor a refresh token")
	}
	return &tok, nil
}
