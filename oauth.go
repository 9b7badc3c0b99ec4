package amove

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/internal/store"
	"github.com/amove/amove-go/provider"
)

// OAuth support in the Client. The OAuth protocol itself (authorization
// URLs, code exchange, refresh) lives in package oauth, which imports this
// one; the Client only keeps pending authorizations and hands OAuth drivers
// a token source that writes refreshed tokens back to the store.

// TokenSourceFunc builds the token source an OAuth driver (Dropbox, Box,
// OneDrive, Google Drive) authorizes with; oauth.NewTokenSources returns
// one. acct is the stored account (secrets sealed, ID set),
// credentialsData the opened token, and save seals and stores a refreshed
// token in its place. The Client calls it each time it opens a driver, so an
// implementation that wants one refresh per account across calls keeps its
// sources by acct.ID and uses the newest save.
type TokenSourceFunc func(ctx context.Context, acct StoredAccount, credentialsData string,
	save func(ctx context.Context, credentialsData string) error) (oauth2.TokenSource, error)

// oauthTypes are the cloud types whose drivers take a TokenSource.
var oauthTypes = tokenTypes

// withTokenSource sets cfg.TokenSource for an OAuth cloud type when the
// Client has a TokenSourceFunc.
func (c *Client) withTokenSource(ctx context.Context, cfg *provider.Config, a store.Account,
	save func(ctx context.Context, credentialsData string) error) error {
	if c.tokenSources == nil || !oauthTypes[a.CloudType] || cfg.CredentialsData == "" {
		return nil
	}
	ts, err := c.tokenSources(ctx, a, cfg.CredentialsData, save)
	if err != nil {
		return &Error{Code: CodeDefault, Message: "unusable OAuth credentials for " + a.CloudType.String(), Err: redact(err, cfg.CredentialsData)}
	}
	cfg.TokenSource = ts
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

// PendingAuthorization is what an OAuth authorization URL was made for,
// remembered until the provider redirects back.
type PendingAuthorization struct {
	CloudType   provider.CloudType
	RedirectURL string
	CloudName   string
	Shared      bool
	// Verifier is the PKCE code verifier; sealed at rest.
	Verifier string
}

// ErrOAuthState is matched (errors.Is) by the error of TakeAuthorization
// for an unknown, used, expired or foreign state.
var ErrOAuthState = errors.New("unknown, used or expired OAuth state")

func stateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// SaveAuthorization remembers pa for p under state (a random value the
// caller made) until ttl passes. Only a digest of state is stored. The cloud
// name is checked here so a bad one fails before the user is sent away.
func (c *Client) SaveAuthorization(ctx context.Context, p Principal, state string, pa PendingAuthorization, ttl time.Duration) error {
	if err := p.check(); err != nil {
		return err
	}
	name := strings.TrimSpace(pa.CloudName)
	switch {
	case len(state) < 16:
		return invalid("OAuth state is too short")
	case !oauthTypes[pa.CloudType]:
		return invalid("%s does not use OAuth", pa.CloudType)
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

// TakeAuthorization consumes state: the pending authorization is removed in
// any case and returned only when it exists, belongs to p and has not
// expired. Anything else is a validation error matching ErrOAuthState.
func (c *Client) TakeAuthorization(ctx context.Context, p Principal, state string) (PendingAuthorization, error) {
	if err := p.check(); err != nil {
		return PendingAuthorization{}, err
	}
	bad := &Error{Code: CodeDefault, Message: "unknown, used or expired OAuth state", Err: ErrOAuthState}
	if state == "" {
		return PendingAuthorization{}, bad
	}
	key := stateKey(state)
	st, err := c.store.TakeOAuthState(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return PendingAuthorization{}, bad
	case err != nil:
		return PendingAuthorization{}, storeErr(err, "OAuth state")
	case st.TenantID != p.TenantID || st.UserID != p.UserID || !c.now().Before(st.Expires):
		return PendingAuthorization{}, bad
	}
	verifier, err := c.openValue(st.Verifier, oauthStateAD(st.TenantID, st.UserID, key), legacyOAuthStateAD(key))
	if err != nil {
		return PendingAuthorization{}, err
	}
	return PendingAuthorization{CloudType: st.CloudType, RedirectURL: st.RedirectURL, CloudName: st.CloudName,
		Shared: st.Shared, Verifier: verifier}, nil
}
