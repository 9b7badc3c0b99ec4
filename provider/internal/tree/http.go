package tree

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/provider"
)

// ErrServer marks a 5xx answer: worth retrying for idempotent calls.
var ErrServer = errors.New("server error")

// Attempts bounds how often Retry tries one call.
const Attempts = 5

// Policy is the drivers' share of provider.RetryPolicy: exponential backoff
// with full jitter from 250 ms, at least what a Retry-After asks, capped at
// a minute so a hostile or broken header cannot park a transfer for hours
// (the caller's context bounds the total anyway).
var Policy = provider.RetryPolicy{Attempts: Attempts, Base: 250 * time.Millisecond, MaxWait: time.Minute}

// Retry runs fn with Policy until it succeeds, fails with an error that is
// not worth retrying, or Attempts calls were made; under
// provider.WithoutRetries it runs fn once, because the caller retries the
// whole step. fn must be safe to repeat: a 429 means the request was not
// processed, so callers with a replayable body may retry any call, while
// 5xx is only retried for idempotent calls (idempotent says which).
func Retry(ctx context.Context, idempotent bool, fn func() error) error {
	return Policy.Do(ctx, func(err error) bool { return Retryable(err, idempotent) }, fn)
}

// Retryable is Retry's rule: rate limits always, server errors only for
// idempotent calls.
func Retryable(err error, idempotent bool) bool {
	if _, ok := provider.RetryAfter(err); ok {
		return true
	}
	return idempotent && errors.Is(err, ErrServer)
}

// StatusError maps an HTTP status onto the provider sentinels. err is the
// provider's own error value; what names the call or object.
func StatusError(status int, header http.Header, err error, what string) error {
	switch {
	case status == http.StatusTooManyRequests:
		return &provider.RateLimitError{RetryAfter: provider.ParseRetryAfter(header), Err: fmt.Errorf("%s: %w", what, err)}
	case status == http.StatusNotFound || status == http.StatusGone:
		return provider.Wrap(provider.ErrNotFound, err, what)
	case status == http.StatusUnauthorized:
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	case status == http.StatusForbidden:
		return provider.Wrap(provider.ErrPermission, err, what)
	case status == http.StatusConflict || status == http.StatusPreconditionFailed:
		return provider.Wrap(provider.ErrExists, err, what)
	case status == http.StatusBadRequest || status == http.StatusRequestedRangeNotSatisfiable ||
		status == http.StatusRequestEntityTooLarge:
		return provider.Wrap(provider.ErrInvalid, err, what)
	case status >= 500:
		return provider.Wrap(ErrServer, err, what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Client returns the HTTP client a driver uses: cfg.HTTPClient (or one with
// sane timeouts) with its transport wrapped by cfg.TokenSource. Drivers never
// refresh or persist tokens: the TokenSource does.
func Client(cfg provider.Config) (*http.Client, error) {
	if cfg.TokenSource == nil {
		return nil, fmt.Errorf("%w: %s needs Config.TokenSource", provider.ErrUnauthenticated, cfg.CloudType)
	}
	c := &http.Client{}
	if cfg.HTTPClient != nil {
		*c = *cfg.HTTPClient
	} else {
		c = provider.NewHTTPClient()
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &oauth2.Transport{Source: cfg.TokenSource, Base: base}
	return c, nil
}

// PlainClient is cfg.HTTPClient without authorization, for pre-authenticated
// URLs (upload sessions, download redirects) that must not see the token.
func PlainClient(cfg provider.Config) *http.Client {
	if cfg.HTTPClient != nil {
		return cfg.HTTPClient
	}
	return provider.NewHTTPClient()
}
