package amove

import (
	"errors"
	"fmt"
	"strings"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

// Sentinel errors. Every error the Client returns for a caller's mistake is
// an *Error; errors.Is matches it against these kinds:
//
//   - ErrValidation: every application error (HTTP 499 in the Amove error
//     model), whatever its code; ErrNotFound and ErrForbidden are refinements.
//   - ErrNotFound: code NOT_FOUND. Also what another tenant's ids yield, so
//     their existence is not revealed.
//   - ErrForbidden: code ACCESS: the caller sees the resource but may not
//     change it (sharing or deleting someone else's account).
//   - ErrUnauthorized: codes AUTH, TOKEN and INACTIVE_USER (HTTP 401).
var (
	ErrValidation   = errors.New("amove: validation error")
	ErrNotFound     = errors.New("amove: not found")
	ErrForbidden    = errors.New("amove: access denied")
	ErrUnauthorized = errors.New("amove: unauthorized")
)

// Code is an application error code of the Amove API (amove-api-notes.md
// section 1); httpapi sends it as the 499 body's type and error-code header.
type Code string

// The codes the Client produces.
const (
	CodeDefault      Code = "DEFAULT"
	CodeAuth         Code = "AUTH"
	CodeInactiveUser Code = "INACTIVE_USER"
	CodeToken        Code = "TOKEN"
	CodeAccess       Code = "ACCESS"
	CodeNotFound     Code = "NOT_FOUND"
	CodeDuplicate    Code = "DUPLICATE"
	CodeTransfer     Code = "TRANSFER"
	// CodeFilesystem: a local path the request may not use (outside the
	// agent's roots, one of its own files, an existing file without
	// overwrite).
	CodeFilesystem Code = "FILESYSTEM_ACCESS"
)

// Error is an application error: a code, a message safe to show the caller
// (it never holds a secret) and the cause, if any.
type Error struct {
	Code    Code
	Message string
	Err     error
}

// Error gives the code, the message and the cause, for logs; Message alone
// is what is safe to show a caller.
func (e *Error) Error() string {
	msg := "amove: " + string(e.Code) + ": " + e.Message
	// A message built from its cause (op + ": " + err) says it already.
	if e.Err != nil && !strings.HasSuffix(e.Message, e.Err.Error()) {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause, so errors.Is and errors.As reach a provider's
// error and its sentinel.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the package sentinels by code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.unauthorized()
	case ErrValidation:
		return !e.unauthorized()
	case ErrNotFound:
		return e.Code == CodeNotFound
	case ErrForbidden:
		return e.Code == CodeAccess
	}
	return false
}

func (e *Error) unauthorized() bool {
	return e.Code == CodeAuth || e.Code == CodeToken || e.Code == CodeInactiveUser
}

// ErrorCode returns the application code of err, or "" when err is not an
// application error (an internal failure: HTTP 500).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func invalid(format string, args ...any) error {
	return &Error{Code: CodeDefault, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// storeErr maps the store's sentinels onto application errors and leaves
// anything else (an internal failure) wrapped as is.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: what + " not found"}
	case errors.Is(err, store.ErrDuplicate):
		return &Error{Code: CodeDuplicate, Message: what + " already exists"}
	}
	return fmt.Errorf("amove: %s: %w", what, err)
}

// providerErr maps a driver error onto the error model while keeping the
// driver's error reachable with errors.Is/As (provider.ErrNotFound, a
// RateLimitError...). Errors that say nothing about the caller's input stay
// internal.
func providerErr(err error, op string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, provider.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: op, Err: err}
	case errors.Is(err, provider.ErrPermission):
		return &Error{Code: CodeAccess, Message: op, Err: err}
	case errors.Is(err, provider.ErrExists):
		return &Error{Code: CodeDuplicate, Message: op, Err: err}
	case errors.Is(err, provider.ErrUnsupported):
		// Drivers say in their own words why a capability is missing (a
		// GCS account without signing keys cannot presign): the caller
		// needs that reason, and it carries no provider internals.
		return &Error{Code: CodeDefault, Message: op + ": " + err.Error(), Err: err}
	case errors.Is(err, provider.ErrUnauthenticated), errors.Is(err, provider.ErrInvalid):
		// ErrUnauthenticated here means the stored credentials were
		// rejected, not the caller's token: a 499, never a 401.
		return &Error{Code: CodeDefault, Message: op, Err: err}
	}
	return fmt.Errorf("amove: %s: %w", op, err)
}

// redacted is an error whose message has secrets masked. errors.Is and
// errors.As still reach the original error.
type redacted struct {
	err error
	msg string
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// redact masks the given secrets in err's message: a provider may echo a key
// back in its error text, and the Client never returns a secret in clear.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 4 { // masking shorter strings would garble the message
			msg = strings.ReplaceAll(msg, s, provider.Mask(s))
		}
	}
	if msg == err.Error() {
		return err
	}
	return &redacted{err: err, msg: msg}
}
