package s3

import (
	"errors"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/amove/amove-go/provider"
)

var codeKinds = map[string]error{
	"NoSuchKey":               provider.ErrNotFound,
	"NoSuchBucket":            provider.ErrNotFound,
	"NoSuchUpload":            provider.ErrNotFound,
	"NotFound":                provider.ErrNotFound,
	"AccessDenied":            provider.ErrPermission,
	"AllAccessDisabled":       provider.ErrPermission,
	"AccountProblem":          provider.ErrPermission,
	"InvalidAccessKeyId":      provider.ErrUnauthenticated,
	"SignatureDoesNotMatch":   provider.ErrUnauthenticated,
	"ExpiredToken":            provider.ErrUnauthenticated,
	"InvalidToken":            provider.ErrUnauthenticated,
	"TokenRefreshRequired":    provider.ErrUnauthenticated,
	"BucketAlreadyOwnedByYou": provider.ErrExists,
	"BucketAlreadyExists":     provider.ErrExists,
	"InvalidRange":            provider.ErrInvalid,
	"InvalidArgument":         provider.ErrInvalid,
	"InvalidBucketName":       provider.ErrInvalid,
	"KeyTooLongError":         provider.ErrInvalid,
	"EntityTooSmall":          provider.ErrInvalid,
	"EntityTooLarge":          provider.ErrInvalid,
	"InvalidPart":             provider.ErrInvalid,
	"InvalidPartOrder":        provider.ErrInvalid,
	"BucketNotEmpty":          provider.ErrInvalid,
	// A malformed digest (not base64, wrong length) is the driver's bug,
	// not damaged bytes: sending it again cannot help.
	"InvalidDigest": provider.ErrInvalid,
	// The body did not give the digest sent with it: Content-MD5 or
	// x-amz-checksum-* (AWS: BadDigest; MinIO: XAmzContentChecksumMismatch
	// for x-amz-checksum-*), or SigV4's payload hash.
	"BadDigest":                   provider.ErrChecksum,
	"XAmzContentChecksumMismatch": provider.ErrChecksum,
	"XAmzContentSHA256Mismatch":   provider.ErrChecksum,
}

var rateLimitCodes = map[string]bool{
	"SlowDown":                 true,
	"Throttling":               true,
	"ThrottlingException":      true,
	"TooManyRequests":          true,
	"RequestLimitExceeded":     true,
	"ServiceUnavailable":       true,
	"RequestThrottled":         true,
	"TooManyRequestsException": true,
}

// mapError marks an SDK error with the matching provider sentinel; what is
// names the bucket/key for the message. Context errors pass through so
// errors.Is(err, context.Canceled) keeps working.
func mapError(err error, what string) error {
	if err == nil {
		return nil
	}
	var status int
	var header http.Header
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		status = re.HTTPStatusCode()
		header = re.Response.Header
	}
	var code string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	if rateLimitCodes[code] || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		return &provider.RateLimitError{RetryAfter: provider.ParseRetryAfter(header), Err: errors.Join(errors.New(what), err)}
	}
	if kind, ok := codeKinds[code]; ok {
		return provider.Wrap(kind, err, what)
	}
	switch status {
	case http.StatusNotFound:
		return provider.Wrap(provider.ErrNotFound, err, what)
	case http.StatusForbidden:
		return provider.Wrap(provider.ErrPermission, err, what)
	case http.StatusUnauthorized:
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	case http.StatusConflict:
		return provider.Wrap(provider.ErrExists, err, what)
	case http.StatusRequestedRangeNotSatisfiable, http.StatusBadRequest:
		return provider.Wrap(provider.ErrInvalid, err, what)
	}
	return err
}

// checksumRefused tells a server that does not take checksum headers from a
// body that arrived damaged: only the first is a reason to write without.
func checksumRefused(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "InvalidArgument", "InvalidRequest", "NotImplemented":
		return true
	}
	return false
}
