package transfer

import (
	"context"
	"errors"

	"github.com/amove/amove-go/provider"
)

// retryable reports whether trying an idempotent step again can help.
// Answers that will not change (missing object, no permission, bad input)
// are final; network errors, 5xx and rate limits are not. Damaged bytes
// (provider.ErrChecksum) are retried: they may have been damaged on the way.
func retryable(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.Is(err, provider.ErrChecksum), errors.Is(err, provider.ErrRateLimited):
		return true
	case errors.Is(err, provider.ErrNotFound), errors.Is(err, provider.ErrPermission),
		errors.Is(err, provider.ErrUnauthenticated), errors.Is(err, provider.ErrUnsupported),
		errors.Is(err, provider.ErrExists), errors.Is(err, provider.ErrInvalid):
		return false
	}
	return true
}

// retry runs an idempotent step with the engine's provider.RetryPolicy.
// Drivers see a provider.WithoutRetries context, so their own loops try
// once and a flaky part costs at most MaxAttempts requests.
func (e *Engine) retry(ctx context.Context, step func() error) error {
	return e.policy.Do(ctx, retryable, func() error {
		err := step()
		if err != nil && retryable(err) {
			e.log.Debug("transfer: retrying", "err", err)
		}
		return err
	})
}
