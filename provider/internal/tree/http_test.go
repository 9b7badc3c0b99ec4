package tree

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
)

func TestRetryRules(t *testing.T) {
	ctx := context.Background()
	rateLimited := &provider.RateLimitError{RetryAfter: time.Millisecond, Err: errors.New("429")}
	server := provider.Wrap(ErrServer, errors.New("503"), "call")
	for _, tc := range []struct {
		name       string
		err        error
		idempotent bool
		calls      int
	}{
		{"429 idempotent", rateLimited, true, Attempts},
		{"429 not idempotent", rateLimited, false, Attempts},
		{"5xx idempotent", server, true, Attempts},
		{"5xx not idempotent", server, false, 1},
		{"other", fmt.Errorf("%w: bad", provider.ErrInvalid), true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := Policy
			Policy.Base, Policy.Max = time.Millisecond, time.Millisecond
			defer func() { Policy = saved }()
			calls := 0
			err := Retry(ctx, tc.idempotent, func() error { calls++; return tc.err })
			if !errors.Is(err, tc.err) || calls != tc.calls {
				t.Errorf("%d calls, %v; want %d calls", calls, err, tc.calls)
			}
			calls = 0
			_ = Retry(provider.WithoutRetries(ctx), tc.idempotent, func() error { calls++; return tc.err })
			if calls != 1 {
				t.Errorf("WithoutRetries: %d calls, want 1", calls)
			}
		})
	}
}
