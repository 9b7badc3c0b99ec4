package transfer

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/amove/amove-go/provider"
)

// retryable reports whether trying an idempotent step again can help.
// Answers that will not change (missing object, no permission, bad input)
// are final; network errors, 5xx and rate limits are not. A checksum
// mismatch is retried: the bytes may have been damaged on the way.
func retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, ErrChecksumMismatch), errors.Is(err, provider.ErrRateLimited), digestMismatch(err):
		return true
	case errors.Is(err, provider.ErrNotFound), errors.Is(err, provider.ErrPermission),
		errors.Is(err, provider.ErrUnauthenticated), errors.Is(err, provider.ErrUnsupported),
		errors.Is(err, provider.ErrExists), errors.Is(err, provider.ErrInvalid):
		return false
	}
	return true
}

// retry runs an idempotent step up to MaxAttempts times with exponential
// backoff and full jitter, waiting at least what a rate-limit error asks.
func (e *Engine) retry(ctx context.Context, step func() error) error {
	var err error
	for attempt := 0; ; attempt++ {
		if err = step(); !retryable(err) || attempt+1 >= e.opts.MaxAttempts {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		backoff := e.opts.RetryBase << attempt
		if backoff > e.opts.RetryMax || backoff <= 0 {
			backoff = e.opts.RetryMax
		}
		wait := time.Duration(rand.Int64N(int64(backoff) + 1))
		if ra, ok := provider.RetryAfter(err); ok && ra > wait {
			wait = min(ra, 5*time.Minute)
		}
		e.log.Debug("transfer: retrying", "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// digestMismatch reports whether the server refused a body whose checksum
// did not match what was signed or announced (S3's BadDigest and
// XAmzContentSHA256Mismatch): the bytes were damaged on the way and sending
// them again can help. Drivers map these answers to provider.ErrInvalid,
// which is otherwise final, so look at the provider's error code (smithy's
// APIError and most SDK errors have ErrorCode) without importing the SDK.
func digestMismatch(err error) bool {
	var coded interface{ ErrorCode() string }
	if !errors.As(err, &coded) {
		return false
	}
	switch coded.ErrorCode() {
	case "BadDigest", "XAmzContentSHA256Mismatch":
		return true
	}
	return false
}
