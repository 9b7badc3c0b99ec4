package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/amove/amove-go/provider"
)

// mapErr marks an SDK error with the provider sentinel it stands for, keeping
// the *azcore.ResponseError reachable through errors.As. what names the
// resource ("container/blob") for the message. Errors that are not service
// answers (context, network) come back with the context message only.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		if what == "" {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	code := bloberror.Code(re.ErrorCode)
	status := re.StatusCode
	switch {
	case status == http.StatusNotFound,
		code == bloberror.ContainerNotFound, code == bloberror.BlobNotFound, code == bloberror.ResourceNotFound:
		return provider.Wrap(provider.ErrNotFound, err, what)
	case strings.HasSuffix(string(code), "AlreadyExists"),
		status == http.StatusConflict && code == "":
		return provider.Wrap(provider.ErrExists, err, what)
	case code == bloberror.AuthenticationFailed, status == http.StatusUnauthorized,
		code == bloberror.InvalidAuthenticationInfo, code == bloberror.NoAuthenticationInformation:
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	case status == http.StatusForbidden:
		return provider.Wrap(provider.ErrPermission, err, what)
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable,
		code == bloberror.ServerBusy, code == bloberror.OperationTimedOut:
		if what != "" {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return &provider.RateLimitError{RetryAfter: rawRetryAfter(re.RawResponse), Err: err}
	case code == bloberror.MD5Mismatch, code == bloberror.CRC64Mismatch,
		// Azurite answers a transactional MD5 that does not match with 400
		// InvalidOperation "Provided contentMD5 doesn't match."
		status == http.StatusBadRequest && strings.Contains(strings.ToLower(re.Error()), "md5 doesn't match"):
		return provider.Wrap(provider.ErrChecksum, err, what)
	case status == http.StatusBadRequest, status == http.StatusRequestedRangeNotSatisfiable,
		status == http.StatusLengthRequired, status == http.StatusRequestEntityTooLarge:
		// Azure answers 400 for malformed names, block lists and digests:
		// all things the caller sent.
		return provider.Wrap(provider.ErrInvalid, err, what)
	}
	if what == "" {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isBlobNotFound(err error) bool {
	return bloberror.HasCode(err, bloberror.BlobNotFound)
}

// ctxErr prefers the context's own error once it is done, so a cancelled
// operation reports context.Canceled rather than whatever the transport saw.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// rawRetryAfter reads the wait a response asks for; zero without one.
func rawRetryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	return provider.ParseRetryAfter(resp.Header)
}
