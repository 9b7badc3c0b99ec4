package provider

import (
	"context"
	"math/rand/v2"
	"time"
)

// RetryPolicy is the one retry policy of amove-go: exponential backoff with
// full jitter, and at least what a provider's Retry-After asks. Drivers use
// it for their own request loops and the transfer engine for whole steps.
type RetryPolicy struct {
	// Attempts bounds the tries of one step, the first included. Zero
	// means 5.
	Attempts int
	// Base is the backoff ceiling after the first failure; it doubles with
	// each attempt up to Max. Zero means 200 ms and 15 s.
	Base, Max time.Duration
	// MaxWait caps one Retry-After, so a broken header cannot park a caller
	// for hours; the context bounds the total anyway. Zero means 5 minutes.
	MaxWait time.Duration
	// Outer marks the policy of the caller that set WithoutRetries (the
	// transfer engine): its own tries are the ones that count, so Do
	// ignores the mark for it.
	Outer bool
}

type noRetriesKey struct{}

// WithoutRetries marks ctx so that RetryPolicy.Do (and SDK retryers that
// drivers configure from it) try once: the caller retries the whole step
// itself, so one flaky request is not tried Attempts × Attempts times. The
// transfer engine calls drivers with such a context.
func WithoutRetries(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRetriesKey{}, true)
}

// RetriesDisabled reports whether ctx came from WithoutRetries.
func RetriesDisabled(ctx context.Context) bool {
	v, _ := ctx.Value(noRetriesKey{}).(bool)
	return v
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 5
	}
	if p.Base <= 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 15 * time.Second
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 5 * time.Minute
	}
	return p
}

// Backoff is how long to wait before try attempt+1 after err (attempt
// counts from 1): a random duration up to Base·2^(attempt-1), capped at
// Max, or the provider's Retry-After when that is longer (capped at
// MaxWait).
func (p RetryPolicy) Backoff(attempt int, err error) time.Duration {
	p = p.withDefaults()
	ceil := p.Base << (attempt - 1)
	if ceil > p.Max || ceil <= 0 {
		ceil = p.Max
	}
	wait := time.Duration(rand.Int64N(int64(ceil) + 1))
	if ra, ok := RetryAfter(err); ok && ra > wait {
		wait = min(ra, p.MaxWait)
	}
	return wait
}

// Do runs step until it succeeds, returns an error retryable rejects, the
// attempts are used up, or ctx ends. Under WithoutRetries it runs step once
// unless the policy is Outer.
func (p RetryPolicy) Do(ctx context.Context, retryable func(error) bool, step func() error) error {
	p = p.withDefaults()
	if RetriesDisabled(ctx) && !p.Outer {
		p.Attempts = 1
	}
	for attempt := 1; ; attempt++ {
		err := step()
		if err == nil || attempt >= p.Attempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(p.Backoff(attempt, err))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}
