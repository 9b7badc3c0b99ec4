package provider_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
)

func TestRetryPolicyDo(t *testing.T) {
	fast := provider.RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: time.Millisecond}
	flaky := errors.New("flaky")
	always := func(error) bool { return true }
	count := func(ctx context.Context, p provider.RetryPolicy) int {
		n := 0
		_ = p.Do(ctx, always, func() error { n++; return flaky })
		return n
	}
	ctx := context.Background()
	if n := count(ctx, fast); n != 4 {
		t.Errorf("plain context: %d tries, want 4", n)
	}
	if n := count(provider.WithoutRetries(ctx), fast); n != 1 {
		t.Errorf("WithoutRetries: %d tries, want 1", n)
	}
	outer := fast
	outer.Outer = true
	if n := count(provider.WithoutRetries(ctx), outer); n != 4 {
		t.Errorf("WithoutRetries, Outer policy: %d tries, want 4", n)
	}
	n := 0
	err := fast.Do(ctx, func(err error) bool { return !errors.Is(err, provider.ErrNotFound) }, func() error {
		n++
		return provider.ErrNotFound
	})
	if n != 1 || !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("final error: %d tries, %v", n, err)
	}
}

func TestRetryBackoffHonoursRetryAfter(t *testing.T) {
	p := provider.RetryPolicy{Base: time.Millisecond, Max: 2 * time.Millisecond, MaxWait: time.Second}
	rl := &provider.RateLimitError{RetryAfter: 700 * time.Millisecond}
	if d := p.Backoff(1, rl); d != 700*time.Millisecond {
		t.Errorf("Retry-After 700ms: waited %v", d)
	}
	rl.RetryAfter = time.Hour
	if d := p.Backoff(1, rl); d != time.Second {
		t.Errorf("Retry-After 1h with MaxWait 1s: waited %v", d)
	}
	for attempt := 1; attempt < 70; attempt++ {
		if d := p.Backoff(attempt, errors.New("x")); d < 0 || d > 2*time.Millisecond {
			t.Fatalf("attempt %d: backoff %v outside [0, Max]", attempt, d)
		}
	}
}
