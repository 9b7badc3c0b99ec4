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

	"github.com/amove/amove-go/provider"
)

// SaveFunc stores a token a TokenSource has just obtained by refreshing, in
// place of the one it replaces. tok keeps the refresh token even when the
// provider did not send a new one.
type SaveFunc func(ctx context.Context, tok *oauth2.Token) error

// TokenSourceOptions tune a TokenSource; the zero value is ready to use.
type TokenSourceOptions struct {
	// RefreshMargin refreshes an access token this long before it expires;
	// zero means one minute.
	RefreshMargin time.Duration
	// Name names the account in errors, such as `Dropbox account "Work"
	// (<id>)`; never a token. Empty means "the OAuth account".
	Name string
	// Logger receives a failed save; nil means slog.Default().
	Logger *slog.Logger
}

// TokenSource is an oauth2.TokenSource that refreshes its token before it
// expires and saves each new one. One TokenSource per account serves every
// operation on it: callers wait on one mutex, so however many find the token
// expired together, it is refreshed once and saved once. It is safe for
// concurrent use.
//
// Drivers that learn from the provider that a token is dead before its
// expiry (revoked early, clock skew) call Expire and retry once.
type TokenSource struct {
	ctx    context.Context
	cfg    oauth2.Config
	margin time.Duration
	name   string
	log    *slog.Logger
	save   SaveFunc

	mu  sync.Mutex
	tok *oauth2.Token
	// rejected is the access token a driver last reported refused
	// (Expire): a stale copy of it read from a store must not come back.
	rejected string
}

var _ oauth2.TokenSource = (*TokenSource)(nil)

// NewTokenSource returns a TokenSource that starts from tok and refreshes it
// at cfg's token endpoint (a Provider's Config). save, which may be nil, is
// called after each refresh; when it fails the error is logged and the new
// token still used, since it is valid: the stored one may be dead now for
// a provider that rotates refresh tokens (Box), which the log says.
//
// Refreshes keep ctx's values but not its cancellation: the source outlives
// the call that made it. They reach the token endpoint with the
// *http.Client in ctx under oauth2.HTTPClient, as golang.org/x/oauth2 does,
// or one with a 30-second timeout. A refresh token the provider refuses
// (revoked, expired) is provider.ErrUnauthenticated naming opts.Name.
func NewTokenSource(ctx context.Context, cfg oauth2.Config, tok *oauth2.Token, save SaveFunc, opts TokenSourceOptions) *TokenSource {
	s := &TokenSource{ctx: withHTTPClient(context.WithoutCancel(ctx)), cfg: cfg, margin: opts.RefreshMargin,
		name: opts.Name, log: opts.Logger, save: save, tok: &oauth2.Token{}}
	if s.margin <= 0 {
		s.margin = time.Minute
	}
	if s.name == "" {
		s.name = "the OAuth account"
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if tok != nil {
		s.tok = copyToken(tok)
	}
	return s
}

// Update offers tok, read again from where the saved tokens live, to the
// source: it is adopted when it is newer than the source's (another process
// refreshed it, or the account was reconnected), unless it is the access
// token a driver reported refused. A holder that keeps one source per
// account across operations calls it each time it reads the stored token.
func (s *TokenSource) Update(tok *oauth2.Token) {
	if tok == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok.AccessToken != "" && tok.AccessToken == s.rejected {
		// The store still holds the token the provider refused: Expire
		// zeroed our expiry, so without this check the stale token would
		// look newer and be handed out again instead of refreshed.
		return
	}
	if tok.Expiry.After(s.tok.Expiry) || (tok.RefreshToken != "" && s.tok.RefreshToken == "") {
		s.tok = copyToken(tok)
	}
}

func (s *TokenSource) fresh() bool {
	return s.tok.AccessToken != "" && (s.tok.Expiry.IsZero() || time.Now().Add(s.margin).Before(s.tok.Expiry))
}

// Token returns a valid access token, refreshing and saving it first when it
// is about to expire.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh() {
		return copyToken(s.tok), nil
	}
	if s.tok.RefreshToken == "" {
		return nil, provider.Wrap(provider.ErrUnauthenticated,
			errors.New("the access token expired and there is no refresh token; reconnect the account"), s.name)
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	// A zero-expiry token with only the refresh token makes oauth2 refresh.
	nt, err := s.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: s.tok.RefreshToken}).Token()
	if err != nil {
		return nil, refreshErr(err, s.name)
	}
	if nt.RefreshToken == "" { // Dropbox and Google keep the old one
		nt.RefreshToken = s.tok.RefreshToken
	}
	s.tok = nt
	if s.save != nil {
		if err := s.save(ctx, copyToken(nt)); err != nil {
			// The new token still works for this process; for a provider
			// that rotates refresh tokens (Box) the stored one may now be
			// dead, so say so loudly.
			s.log.Error("oauth: could not store the refreshed token", "account", s.name, "err", err)
		}
	}
	return copyToken(nt), nil
}

// Expire marks accessToken stale when it is still the current token, so the
// next Token call refreshes. Drivers call it when the provider refuses a
// token the source thought valid.
func (s *TokenSource) Expire(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.AccessToken == accessToken {
		s.rejected = accessToken
		t := *s.tok
		t.AccessToken, t.Expiry = "", time.Time{}
		s.tok = &t
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
