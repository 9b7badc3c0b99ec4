package amove

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

// OAuth accounts in the Client. Package oauth holds the protocol (each
// provider's app, the consent URL, the code exchange, a refreshing token
// source that saves through a function); the Client holds what needs the
// store and the Principal: the pending authorizations, the account the
// callback creates, and the save function that seals a refreshed token
// back into the account's row.

// OAuthOptions configure OAuth accounts (Dropbox, Box, OneDrive, Google
// Drive): the apps AuthorizationURL and CompleteAuthorization use, and the
// refreshing token sources the Client gives their drivers.
type OAuthOptions struct {
	// Providers maps each OAuth cloud type to its application (oauth.Dropbox,
	// oauth.Box, ...). A cloud type missing here cannot be connected, and
	// its accounts' drivers get no TokenSource: they use the stored access
	// token until it expires.
	Providers map[provider.CloudType]oauth.Provider
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

func (o OAuthOptions) stateTTL() time.Duration {
	if o.StateTTL > 0 {
		return o.StateTTL
	}
	return 10 * time.Minute
}

// tokenContext gives ctx the token-endpoint client OAuthOptions name, for
// the oauth package to find under oauth2.HTTPClient.
func (o OAuthOptions) tokenContext(ctx context.Context) context.Context {
	if o.HTTPClient == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, o.HTTPClient)
}

// ErrOAuthState is matched (errors.Is) by the error of CompleteAuthorization
// for an unknown, used, expired or foreign state.
var ErrOAuthState = errors.New("unknown, used or expired OAuth state")

// ErrOAuthNotConfigured is matched (errors.Is), beside
// provider.ErrUnsupported, by the error of AuthorizationURL and
// CompleteAuthorization for a cloud type OAuthOptions.Providers lacks.
var ErrOAuthNotConfigured = errors.New("OAuth is not configured for this cloud type")

// oauthTypes are the cloud types whose drivers take a TokenSource.
var oauthTypes = tokenTypes

// AuthorizationRequest is what an OAuth authorization URL is made for: where
// the provider sends the user back, and the name and sharing of the account
// the callback creates.
type AuthorizationRequest struct {
	RedirectURL string
	CloudName   string
	Shared      bool
}

// AuthorizationCallback is what the provider appended to the redirect URL.
// RedirectURL, when set, must be the one the authorization was made for.
type AuthorizationCallback struct {
	Code             string
	State            string
	Error            string
	ErrorDescription string
	RedirectURL      string
}

// oauthApp returns the configured application of t.
func (c *Client) oauthApp(t provider.CloudType) (oauth.Provider, error) {
	prov, ok := c.oauth.opts.Providers[t]
	if !ok {
		return oauth.Provider{}, &Error{Code: CodeDefault, Message: "OAuth is not configured for " + t.String(),
			Err: fmt.Errorf("%w: %w", ErrOAuthNotConfigured, provider.ErrUnsupported)}
	}
	return prov, nil
}

// AuthorizationURL returns the URL to send p to for consent on cloud type
// t, and the random state in it. The state is bound to p, t and the
// redirect URL, lives OAuthOptions.StateTTL and is good for one
// CompleteAuthorization; only its digest is stored, with the PKCE verifier
// sealed. The cloud name is checked here so a bad one fails before the user
// is sent away.
func (c *Client) AuthorizationURL(ctx context.Context, p Principal, t provider.CloudType, req AuthorizationRequest) (authURL, state string, err error) {
	if err := p.check(); err != nil {
		return "", "", err
	}
	if !oauthTypes[t] {
		return "", "", invalid("%s does not use OAuth", t)
	}
	prov, err := c.oauthApp(t)
	if err != nil {
		return "", "", err
	}
	state = rand.Text() + rand.Text() // 52 base32 characters, 260 bits
	var verifier string
	if prov.PKCE {
		verifier = oauth2.GenerateVerifier()
	}
	err = c.savePending(ctx, p, state, pendingAuthorization{CloudType: t, RedirectURL: req.RedirectURL,
		CloudName: req.CloudName, Shared: req.Shared, Verifier: verifier}, c.oauth.opts.stateTTL())
	if err != nil {
		return "", "", err
	}
	return prov.AuthCodeURL(state, req.RedirectURL, verifier), state, nil
}

// CompleteAuthorization completes the flow AuthorizationURL started: it
// consumes the state, exchanges the code and inserts the CloudAccount
// (InsertAccount: name and sharing as asked for the URL, owned by p) with
// the token sealed in its credentialsData. An unknown, used, expired or
// foreign state (ErrOAuthState), a provider error (oauth.ErrProviderDenied)
// or a refused code stores nothing.
func (c *Client) CompleteAuthorization(ctx context.Context, p Principal, t provider.CloudType, cb AuthorizationCallback) (CloudAccount, error) {
	if err := p.check(); err != nil {
		return CloudAccount{}, err
	}
	prov, err := c.oauthApp(t)
	if err != nil {
		return CloudAccount{}, err
	}
	// Take the state first, even on a provider error, so it cannot be
	// replayed.
	pending, err := c.takePending(ctx, p, cb.State)
	if cb.Error != "" || cb.ErrorDescription != "" {
		denied := oauth.Denied(cb.Error, cb.ErrorDescription)
		return CloudAccount{}, &Error{Code: CodeDefault, Message: denied.Error(), Err: oauth.ErrProviderDenied}
	}
	if err != nil {
		return CloudAccount{}, err
	}
	switch {
	case pending.CloudType != t:
		return CloudAccount{}, invalid("the OAuth state was made for %s, not %s", pending.CloudType, t)
	case cb.RedirectURL != "" && cb.RedirectURL != pending.RedirectURL:
		return CloudAccount{}, invalid("redirectURL differs from the one the authorization URL was made for")
	case cb.Code == "":
		return CloudAccount{}, invalid("code is empty")
	}
	tok, err := prov.Exchange(c.oauth.opts.tokenContext(ctx), cb.Code, pending.RedirectURL, pending.Verifier)
	if err != nil {
		return CloudAccount{}, &Error{Code: CodeDefault, Message: "the provider refused the authorization code", Err: err}
	}
	cd, err := oauth.MarshalToken(tok)
	if err != nil {
		return CloudAccount{}, err
	}
	return c.InsertAccount(ctx, p, NewAccount{CloudType: t, Name: pending.CloudName, CredentialsData: cd, Shared: pending.Shared})
}

// pendingAuthorization is what an OAuth authorization URL was made for,
// remembered until the provider redirects back.
type pendingAuthorization struct {
	CloudType   provider.CloudType
	RedirectURL string
	CloudName   string
	Shared      bool
	// Verifier is the PKCE code verifier; sealed at rest.
	Verifier string
}

func stateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// savePending remembers pa for p under state until ttl passes. Only a
// digest of state is stored.
func (c *Client) savePending(ctx context.Context, p Principal, state string, pa pendingAuthorization, ttl time.Duration) error {
	name := strings.TrimSpace(pa.CloudName)
	switch {
	case len(state) < 16:
		return invalid("OAuth state is too short")
	case name == "":
		return invalid("cloudName is empty")
	case utf8.RuneCountInString(name) > maxNameLen:
		return invalid("cloudName is longer than %d characters", maxNameLen)
	case pa.RedirectURL == "":
		return invalid("redirectURL is empty")
	case ttl <= 0:
		return invalid("OAuth state lifetime must be positive")
	}
	key := stateKey(state)
	verifier, err := c.sealValue(pa.Verifier, oauthStateAD(p.TenantID, p.UserID, key))
	if err != nil {
		return err
	}
	now := c.now().UTC()
	err = c.store.PutOAuthState(ctx, store.OAuthState{Key: key, TenantID: p.TenantID, UserID: p.UserID,
		CloudType: pa.CloudType, RedirectURL: pa.RedirectURL, CloudName: name, Shared: pa.Shared,
		Verifier: verifier, Created: now, Expires: now.Add(ttl)})
	return storeErr(err, "OAuth state")
}

// takePending consumes state: the pending authorization is removed in any
// case and returned only when it exists, belongs to p and has not expired.
// Anything else is a validation error matching ErrOAuthState.
func (c *Client) takePending(ctx context.Context, p Principal, state string) (pendingAuthorization, error) {
	bad := &Error{Code: CodeDefault, Message: "unknown, used or expired OAuth state", Err: ErrOAuthState}
	if state == "" {
		return pendingAuthorization{}, bad
	}
	key := stateKey(state)
	st, err := c.store.TakeOAuthState(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return pendingAuthorization{}, bad
	case err != nil:
		return pendingAuthorization{}, storeErr(err, "OAuth state")
	case st.TenantID != p.TenantID || st.UserID != p.UserID || !c.now().Before(st.Expires):
		return pendingAuthorization{}, bad
	}
	verifier, err := c.openValue(st.Verifier, oauthStateAD(st.TenantID, st.UserID, key), legacyOAuthStateAD(key))
	if err != nil {
		return pendingAuthorization{}, err
	}
	return pendingAuthorization{CloudType: st.CloudType, RedirectURL: st.RedirectURL, CloudName: st.CloudName,
		Shared: st.Shared, Verifier: verifier}, nil
}

// oauthTokens keeps one oauth.TokenSource per account for the life of the
// Client, so however many operations hit an expired token together, it is
// refreshed once and saved once.
type oauthTokens struct {
	opts OAuthOptions

	mu        sync.Mutex
	byAccount map[string]*accountToken
}

func newOAuthTokens(opts OAuthOptions) *oauthTokens {
	return &oauthTokens{opts: opts, byAccount: map[string]*accountToken{}}
}

// accountToken is one account's source and the newest save function an
// operation brought for it.
type accountToken struct {
	src *oauth.TokenSource

	mu   sync.Mutex
	save func(ctx context.Context, credentialsData string) error
}

func (a *accountToken) setSave(save func(ctx context.Context, credentialsData string) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.save = save
}

// saveToken is the oauth.SaveFunc of the account: it stores the token in
// the credentialsData form through the newest save function.
func (a *accountToken) saveToken(ctx context.Context, tok *oauth2.Token) error {
	a.mu.Lock()
	save := a.save
	a.mu.Unlock()
	cd, err := oauth.MarshalToken(tok)
	if err != nil {
		return err
	}
	return save(ctx, cd)
}

// withTokenSource sets cfg.TokenSource for an OAuth cloud type whose app is
// configured. save stores a refreshed token's credentialsData for account
// a (saveCredentials, or memory for an account not stored yet).
func (c *Client) withTokenSource(ctx context.Context, cfg *provider.Config, a store.Account,
	save func(ctx context.Context, credentialsData string) error) error {
	prov, ok := c.oauth.opts.Providers[a.CloudType]
	if !ok || !oauthTypes[a.CloudType] || cfg.CredentialsData == "" {
		return nil
	}
	tok, err := oauth.ParseToken(cfg.CredentialsData)
	if err != nil {
		return &Error{Code: CodeDefault, Message: "unusable OAuth credentials for " + a.CloudType.String(), Err: redact(err, cfg.CredentialsData)}
	}
	t := c.oauth
	t.mu.Lock()
	at := t.byAccount[a.ID]
	if at == nil {
		at = &accountToken{save: save}
		at.src = oauth.NewTokenSource(t.opts.tokenContext(ctx), prov.Config, tok, at.saveToken, oauth.TokenSourceOptions{
			RefreshMargin: t.opts.RefreshMargin, Logger: c.log,
			Name: fmt.Sprintf("%s account %q (%s)", a.CloudType, a.Name, a.ID)})
		if a.ID != "" {
			t.byAccount[a.ID] = at
		}
	}
	t.mu.Unlock()
	// Outside t.mu: Update waits while another operation refreshes.
	at.setSave(save)
	at.src.Update(tok)
	cfg.TokenSource = at.src
	return nil
}

// saveCredentials returns the save function for a stored account: it seals
// the new credentials and updates the row.
func (c *Client) saveCredentials(a store.Account) func(ctx context.Context, credentialsData string) error {
	return func(ctx context.Context, credentialsData string) error {
		sealed, err := c.sealValue(credentialsData, accountAD(a, "credentials_data"))
		if err != nil {
			return err
		}
		return storeErr(c.store.UpdateCredentials(ctx, a.TenantID, a.ID, sealed, c.now().UTC()), "cloud account")
	}
}

// memoryCredentials is the save function of an account not stored yet (the
// credential check of InsertAccount): a token refreshed during the check is
// what gets stored, which matters for providers that rotate refresh tokens.
type memoryCredentials struct {
	mu sync.Mutex
	cd string
}

func (m *memoryCredentials) save(_ context.Context, cd string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cd = cd
	return nil
}

func (m *memoryCredentials) get() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cd
}
