package gcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/amove/amove-go/provider"
)

// mapErr marks err with the provider sentinel that matches it, keeping the
// original error reachable with errors.As. what names the resource
// ("bucket/key") for the message.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	// Cancellation is the caller's doing: keep it as it is so errors.Is(err,
	// context.Canceled) holds.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		return provider.Wrap(provider.ErrNotFound, err, what)
	}
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		if digestError(err.Error()) {
			return provider.Wrap(provider.ErrChecksum, err, what)
		}
		return withContext(err, what)
	}
	if gerr.Code == http.StatusBadRequest && digestError(gerr.Message) {
		return provider.Wrap(provider.ErrChecksum, err, what)
	}
	switch gerr.Code {
	case http.StatusNotFound:
		return provider.Wrap(provider.ErrNotFound, err, what)
	case http.StatusConflict:
		return provider.Wrap(provider.ErrExists, err, what)
	case http.StatusForbidden:
		return provider.Wrap(provider.ErrPermission, err, what)
	case http.StatusUnauthorized:
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return &provider.RateLimitError{RetryAfter: provider.ParseRetryAfter(gerr.Header), Err: withContext(err, what)}
	case http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable:
		return provider.Wrap(provider.ErrInvalid, err, what)
	}
	return withContext(err, what)
}

func withContext(err error, what string) error {
	if what == "" {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// digestError tells the errors of damaged bytes: Cloud Storage's (and
// fake-gcs-server's) 400 "Provided MD5 hash ... doesn't match calculated MD5
// hash ..." and "Provided CRC32C ... doesn't match calculated CRC32C ...",
// and the client's own checks, which it reports as plain errors ("storage:
// bad CRC on read: ...", "storage: object checksum mismatch: ...").
func digestError(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "doesn't match calculated") ||
		strings.Contains(msg, "storage: bad crc on") ||
		strings.Contains(msg, "storage: object checksum mismatch")
}
