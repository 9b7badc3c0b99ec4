package oauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// ErrProviderDenied is matched (errors.Is) by the error of a callback that
// carries the provider's error (the user declined, the app is misconfigured).
var ErrProviderDenied = errors.New("the provider denied the authorization")

// Flow runs the authorization-code flow of the generate_*_authorization_url
// and *_authorization_callback routes.
type Flow struct {
	client *amove.Client
	cfg    Config
}

// NewFlow returns a Flow that keeps pending authorizations in, and creates
// accounts through, client.
func NewFlow(client *amove.Client, cfg Config) *Flow {
	return &Flow{client: client, cfg: cfg}
}

// AuthorizationRequest is the body of a generate_*_authorization_url route.
type AuthorizationRequest struct {
	RedirectURL string
	CloudName   string
	Shared      bool
}

// CallbackRequest is the body of an *_authorization_callback route: what
// the provider appended to the redirect URL. RedirectURL, when set, must be
// the one the authorization was made for.
type CallbackRequest struct {
	Code             string
	State            string
	Error            string
	ErrorDescription string
	RedirectURL      string
}

// AuthorizationURL returns the URL to send the user to for consent, and the
// random state in it. The state is bound to p, the cloud type and the
// redirect URL, lives Config.StateTTL and is good for one callback.
func (f *Flow) AuthorizationURL(ctx context.Context, p amove.Principal, t provider.CloudType, req AuthorizationRequest) (authURL, state string, err error) {
	prov, err := f.provider(t)
	if err != nil {
		return "", "", err
	}
	state = rand.Text() + rand.Text() // 52 base32 characters, 260 bits
	var verifier string
	if prov.PKCE {
		verifier = oauth2.GenerateVerifier()
	}
	err = f.client.SaveAuthorization(ctx, p, state, amove.PendingAuthorization{CloudType: t,
		RedirectURL: req.RedirectURL, CloudName: req.CloudName, Shared: req.Shared, Verifier: verifier}, f.cfg.stateTTL())
	if err != nil {
		return "", "", err
	}
	cfg := prov.Config
	cfg.RedirectURL = req.RedirectURL
	var opts []oauth2.AuthCodeOption
	if prov.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	for k, vs := range prov.AuthParams {
		for _, v := range vs {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	return cfg.AuthCodeURL(state, opts...), state, nil
}

// Callback completes the flow: it consumes the state, exchanges the code and
// creates the CloudAccount (name and sharing as asked when the URL was made)
// with the token sealed in credentialsData. An unknown, used, expired or
// foreign state, a provider error or a refused code stores nothing.
func (f *Flow) Callback(ctx context.Context, p amove.Principal, t provider.CloudType, req CallbackRequest) (amove.CloudAccount, error) {
	prov, err := f.provider(t)
	if err != nil {
		return amove.CloudAccount{}, err
	}
	// Take the state first, even on a provider error, so it cannot be
	// replayed.
	pending, err := f.client.TakeAuthorization(ctx, p, req.State)
	if req.Error != "" || req.ErrorDescription != "" {
		msg := "the provider denied the authorization: " + clip(req.Error)
		if req.ErrorDescription != "" {
			msg += ": " + clip(req.ErrorDescription)
		}
		return amove.CloudAccount{}, &amove.Error{Code: amove.CodeDefault, Message: msg, Err: ErrProviderDenied}
	}
	if err != nil {
		return amove.CloudAccount{}, err
	}
	switch {
	case pending.CloudType != t:
		return amove.CloudAccount{}, invalid("the OAuth state was made for %s, not %s", pending.CloudType, t)
	case req.RedirectURL != "" && req.RedirectURL != pending.RedirectURL:
		return amove.CloudAccount{}, invalid("redirectURL differs from the one the authorization URL was made for")
	case req.Code == "":
		return amove.CloudAccount{}, invalid("code is empty")
	}
	cfg := prov.Config
	cfg.RedirectURL = pending.RedirectURL
	var opts []oauth2.AuthCodeOption
	if prov.PKCE {
		opts = append(opts, oauth2.VerifierOption(pending.Verifier))
	}
	tok, err := cfg.Exchange(context.WithValue(ctx, oauth2.HTTPClient, f.cfg.httpClient()), req.Code, opts...)
	if err != nil {
		return amove.CloudAccount{}, &amove.Error{Code: amove.CodeDefault,
			Message: "the provider refused the authorization code", Err: exchangeErr(err)}
	}
	cd, err := marshalToken(tok)
	if err != nil {
		return amove.CloudAccount{}, err
	}
	return f.client.InsertAccount(ctx, p, amove.NewAccount{CloudType: t, Name: pending.CloudName,
		CredentialsData: cd, Shared: pending.Shared})
}

func (f *Flow) provider(t provider.CloudType) (Provider, error) {
	prov, ok := f.cfg.Providers[t]
	if !ok {
		return Provider{}, &amove.Error{Code: amove.CodeDefault, Message: "OAuth is not configured for " + t.String(),
			Err: provider.ErrUnsupported}
	}
	return prov, nil
}

func invalid(format string, args ...any) error {
	return &amove.Error{Code: amove.CodeDefault, Message: fmt.Sprintf(format, args...)}
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

// exchangeErr keeps the OAuth error code of a refused exchange and drops the
// response body, which is the provider's and not ours to echo.
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

// credentials is the credentialsData of an OAuth account: oauth2.Token's
// JSON form (access_token, token_type, refresh_token, expiry).
func marshalToken(tok *oauth2.Token) (string, error) {
	b, err := json.Marshal(tok)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func unmarshalToken(cd string) (*oauth2.Token, error) {
	var tok oauth2.Token
	if err := json.Unmarshal([]byte(cd), &tok); err != nil {
		// Never wrap the JSON error: it may quote the token.
		return nil, errors.New("oauth: credentialsData is not an OAuth token")
	}
	if tok.AccessToken == "" && tok.RefreshToken == "" {
		return nil, errors.New("oauth: credentialsData holds neither an access nor a refresh token")
	}
	return &tok, nil
}
