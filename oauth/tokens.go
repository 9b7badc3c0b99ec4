package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// NewTokenSources returns the amove.Options.TokenSources hook. It keeps one
// token source per account for the life of the process, so however many
// operations hit an expired token together, the token is refreshed once and
// saved once. A refresh token the provider refuses (revoked, expired)
// becomes provider.ErrUnauthenticated naming the account.
//
// The sources it returns also have an Expire(accessToken string) method:
// a driver whose provider rejects a token the source still thought valid
// (revoked early, clock skew) calls it and retries once.
func NewTokenSources(cfg Config) amove.TokenSourceFunc {
	ts := &tokenSources{cfg: cfg, byAccount: map[string]*persistentSource{}}
	return ts.get
}

type tokenSources struct {
	cfg       Config
	mu        sync.Mutex
	byAccount map[string]*persistentSource
}

func (s *tokenSources) get(ctx context.Context, acct amove.StoredAccount, cd string,
	save func(ctx context.Context, credentialsData string) error) (oauth2.TokenSource, error) {
	prov, ok := s.cfg.Providers[acct.CloudType]
	if !ok {
		return nil, fmt.Errorf("%w: OAuth is not configured for %s", provider.ErrUnsupported, acct.CloudType)
	}
	tok, err := unmarshalToken(cd)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.byAccount[acct.ID]
	if src == nil {
		// The source outlives the operation that made it: keep ctx's values
		// (an HTTP client) but not its cancellation.
		base := context.WithoutCancel(ctx)
		if _, ok := base.Value(oauth2.HTTPClient).(*http.Client); !ok {
			base = context.WithValue(base, oauth2.HTTPClient, s.cfg.httpClient())
		}
		src = &persistentSource{ctx: base, cfg: prov.Config, margin: s.cfg.refreshMargin(),
			account: fmt.Sprintf("%s account %q (%s)", acct.CloudType, acct.Name, acct.ID), tok: tok}
		if acct.ID != "" {
			s.byAccount[acct.ID] = src
		}
	}
	src.update(tok, save)
	return src, nil
}

// persistentSource refreshes one account's token and saves each new one.
type persistentSource struct {
	ctx     context.Context
	cfg     oauth2.Config
	margin  time.Duration
	account string // for errors: type, name and id, never a token

	mu   sync.Mutex
	tok  *oauth2.Token
	save func(ctx context.Context, credentialsData string) error
	// rejected is the access token a driver last reported refused
	// (Expire): a stale copy of it read from the store must not come back.
	rejected string
}

// update adopts the newest save function and, when the stored token is
// newer than ours (refreshed by another process, or the account was
// reconnected), the stored token.
func (p *persistentSource) update(tok *oauth2.Token, save func(ctx context.Context, credentialsData string) error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if save != nil {
		p.save = save
	}
	if tok.AccessToken != "" && tok.AccessToken == p.rejected {
		// The store still holds the token the provider refused: Expire
		// zeroed our expiry, so without this check the stale token would
		// look newer and be handed out again instead of refreshed.
		return
	}
	if tok.Expiry.After(p.tok.Expiry) || (tok.RefreshToken != "" && p.tok.RefreshToken == "") {
		p.tok = tok
	}
}

func (p *persistentSource) fresh() bool {
	return p.tok.AccessToken != "" && (p.tok.Expiry.IsZero() || time.Now().Add(p.margin).Before(p.tok.Expiry))
}

// Token returns a valid access token, refreshing and saving it first when it
// is about to expire. Callers wait on one mutex, so one refresh serves them
// all.
func (p *persistentSource) Token() (*oauth2.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fresh() {
		return copyToken(p.tok), nil
	}
	if p.tok.RefreshToken == "" {
		return nil, provider.Wrap(provider.ErrUnauthenticated,
			errors.New("the access token expired and there is no refresh token; reconnect the account"), p.account)
	}
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	// A zero-expiry token with only the refresh token makes oauth2 refresh.
	nt, err := p.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: p.tok.RefreshToken}).Token()
	if err != nil {
		return nil, refreshErr(err, p.account)
	}
	if nt.RefreshToken == "" { // Dropbox and Google keep the old one
		nt.RefreshToken = p.tok.RefreshToken
	}
	p.tok = nt
	if p.save != nil {
		cd, err := marshalToken(nt)
		if err == nil {
			err = p.save(ctx, cd)
		}
		if err != nil {
			// The new token still works for this process; for a provider
			// that rotates refresh tokens (Box) the stored one may now be
			// dead, so say so loudly.
			slog.Default().Error("oauth: could not store the refreshed token", "account", p.account, "err", err)
		}
	}
	return copyToken(nt), nil
}

// Expire marks accessToken stale when it is still the current token, so the
// next Token call refreshes.
func (p *persistentSource) Expire(accessToken string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tok.AccessToken == accessToken {
		p.rejected = accessToken
		t := *p.tok
		t.AccessToken, t.Expiry = "", time.Time{}
		p.tok = &t
	}
}

func copyToken(t *oauth2.Token) *oauth2.Token {
	c := *t
	return &c
}

// refreshErr turns a refused refresh into ErrUnauthenticated naming the
// account; other failures (network, 5xx) stay as they are, minus the body.
func refreshErr(err error, account string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.Response.StatusCode
		if re.ErrorCode == "invalid_grant" || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" ||
			code == http.StatusBadRequest || code == http.StatusUnauthorized {
			return provider.Wrap(provider.ErrUnauthenticated,
				fmt.Errorf("the provider refused the refresh token (%s); reconnect the account", exchangeErr(err)), account)
		}
		return fmt.Errorf("%s: token refresh: %w", account, exchangeErr(err))
	}
	return fmt.Errorf("%s: token refresh: %w", account, err)
}
