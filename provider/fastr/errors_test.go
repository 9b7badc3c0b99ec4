package fastr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	fastrapi "github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
)

func TestMapError(t *testing.T) {
	cases := []struct {
		status int
		code   string
		want   error
	}{
		{404, fastrapi.CodeNoSuchKey, provider.ErrNotFound},
		{401, fastrapi.CodeSignatureMismatch, provider.ErrUnauthenticated},
		{403, fastrapi.CodeAccessDenied, provider.ErrPermission},
		{409, fastrapi.CodeBucketExists, provider.ErrExists},
		{409, fastrapi.CodeKeyConflict, provider.ErrExists},
		{409, fastrapi.CodeBucketNotEmpty, provider.ErrInvalid},
		{409, fastrapi.CodeOffsetMismatch, provider.ErrInvalid},
		{400, fastrapi.CodeBadDigest, provider.ErrChecksum},
		{400, fastrapi.CodeInvalidPart, provider.ErrInvalid},
		{413, fastrapi.CodeEntityTooLarge, provider.ErrInvalid},
		{429, fastrapi.CodeSlowDown, provider.ErrRateLimited},
		{503, fastrapi.CodeSlowDown, provider.ErrRateLimited},
	}
	for _, c := range cases {
		fe := &fastrapi.Error{StatusCode: c.status, Code: c.code, RetryAfter: 3 * time.Second}
		err := mapError(fmt.Errorf("call: %w", fe), "b/k")
		if !errors.Is(err, c.want) {
			t.Errorf("%d %s: %v, want %v", c.status, c.code, err, c.want)
		}
		var got *fastrapi.Error
		if !errors.As(err, &got) || got != fe {
			t.Errorf("%d %s: the protocol error is not reachable with errors.As", c.status, c.code)
		}
		if c.want == provider.ErrRateLimited {
			if d, ok := provider.RetryAfter(err); !ok || d != 3*time.Second {
				t.Errorf("%d: retry after %v %v", c.status, d, ok)
			}
		}
	}
	if err := mapError(context.Canceled, "x"); err != context.Canceled {
		t.Errorf("context error changed: %v", err)
	}
	if err := mapError(&fastrapi.Error{StatusCode: 500, Code: fastrapi.CodeInternal}, "x"); errors.Is(err, provider.ErrInvalid) {
		t.Errorf("500 mapped to a sentinel: %v", err)
	}
}
