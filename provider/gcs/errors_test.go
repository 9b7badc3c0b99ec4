package gcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/amove/amove-go/provider"
)

func apiErr(code int, h http.Header) error {
	return &googleapi.Error{Code: code, Message: http.StatusText(code), Header: h}
}

func TestMapErr(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"object missing", storage.ErrObjectNotExist, provider.ErrNotFound},
		{"bucket missing", fmt.Errorf("list: %w", storage.ErrBucketNotExist), provider.ErrNotFound},
		{"404", apiErr(404, nil), provider.ErrNotFound},
		{"409", apiErr(409, nil), provider.ErrExists},
		{"403", apiErr(403, nil), provider.ErrPermission},
		{"401", apiErr(401, nil), provider.ErrUnauthenticated},
		{"429", apiErr(429, nil), provider.ErrRateLimited},
		{"503", apiErr(503, nil), provider.ErrRateLimited},
		{"400", apiErr(400, nil), provider.ErrInvalid},
		{"416", apiErr(416, nil), provider.ErrInvalid},
		{"cancelled", fmt.Errorf("upload: %w", context.Canceled), context.Canceled},
		{"md5 refused", &googleapi.Error{Code: 400, Message: `Provided MD5 hash "eV8y" doesn't match calculated MD5 hash "+w4i".`}, provider.ErrChecksum},
		{"crc refused", &googleapi.Error{Code: 400, Message: `provided CRC32C "AAAE0g==" doesn't match calculated CRC32C "97N5Rg=="`}, provider.ErrChecksum},
		{"bad read", errors.New("storage: bad CRC on read: got 1, want 2"), provider.ErrChecksum},
	}
	for _, c := range cases {
		got := mapErr(c.err, "b/k")
		if !errors.Is(got, c.want) {
			t.Errorf("%s: mapErr = %v, want errors.Is %v", c.name, got, c.want)
		}
		// The provider's own error stays reachable.
		if !errors.Is(got, c.err) {
			t.Errorf("%s: mapErr = %v lost the original error", c.name, got)
		}
	}
	var gerr *googleapi.Error
	if !errors.As(mapErr(apiErr(403, nil), "b"), &gerr) || gerr.Code != 403 {
		t.Error("errors.As does not reach the googleapi.Error")
	}
	if mapErr(nil, "x") != nil {
		t.Error("mapErr(nil) != nil")
	}
	other := errors.New("boom")
	if got := mapErr(apiErr(500, nil), "b"); errors.Is(got, provider.ErrNotFound) || errors.Is(got, provider.ErrRateLimited) {
		t.Errorf("500 mapped to a sentinel: %v", got)
	}
	if got := mapErr(other, "b/k"); !errors.Is(got, other) || got.Error() != "b/k: boom" {
		t.Errorf("plain error = %v", got)
	}
}

func TestMapErrRetryAfter(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "7")
	d, ok := provider.RetryAfter(mapErr(apiErr(429, h), "b/k"))
	if !ok || d != 7*time.Second {
		t.Errorf("RetryAfter = %v, %v; want 7s", d, ok)
	}
	d, ok = provider.RetryAfter(mapErr(apiErr(503, nil), "b/k"))
	if !ok || d != 0 {
		t.Errorf("RetryAfter without header = %v, %v; want 0, true", d, ok)
	}
}
