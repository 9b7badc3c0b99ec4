package provider

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Drivers wrap provider errors so that errors.Is matches one
// of these, while errors.As still reaches the provider's own error value.
var (
	ErrNotFound        = errors.New("not found")
	ErrExists          = errors.New("already exists")
	ErrPermission      = errors.New("permission denied")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrRateLimited     = errors.New("rate limited")
	ErrUnsupported     = errors.New("unsupported")
	ErrInvalid         = errors.New("invalid argument")
)

// RateLimitError is returned when a provider throttles a request. It matches
// ErrRateLimited and carries how long the provider asked us to wait (zero
// when it did not say).
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error // the provider's error, may be nil
}

// Error says that the provider throttled the request, how long it asked to
// wait, and the provider's own message.
func (e *RateLimitError) Error() string {
	msg := "rate limited"
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Unwrap returns the provider's error, so errors.As reaches it.
func (e *RateLimitError) Unwrap() error { return e.Err }

// RetryAfter reports the wait a rate-limited error asks for. ok is false when
// err is not a RateLimitError.
func RetryAfter(err error) (d time.Duration, ok bool) {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter, true
	}
	return 0, false
}

// wrapped joins a sentinel with the provider's error so that both errors.Is
// (the sentinel) and errors.As (the provider's type) work.
type wrapped struct {
	kind error
	err  error
	msg  string
}

func (w *wrapped) Error() string {
	if w.msg != "" {
		return w.msg + ": " + w.kind.Error() + ": " + w.err.Error()
	}
	return w.kind.Error() + ": " + w.err.Error()
}

func (w *wrapped) Unwrap() []error { return []error{w.kind, w.err} }

// Wrap returns err marked with the sentinel kind and an optional context
// message such as "bucket/key". It returns nil when err is nil.
func Wrap(kind, err error, msg string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, kind) {
		if msg == "" {
			return err
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	return &wrapped{kind: kind, err: err, msg: msg}
}

// ParseRetryAfter reads how long a response asks the client to wait:
// Retry-After in seconds or as an HTTP date, or the millisecond headers
// Azure also sends. Zero when the response says nothing usable.
func ParseRetryAfter(h http.Header) time.Duration {
	for _, name := range []string{"x-ms-retry-after-ms", "retry-after-ms"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
