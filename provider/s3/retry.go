package s3

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amove/amove-go/provider"
)

// sdk returns the per-operation options of a call made with ctx. Under
// provider.WithoutRetries the SDK tries once, because the caller (the
// transfer engine) retries the whole step itself; otherwise the client's own
// retryer applies (three attempts, see Open).
func sdk(ctx context.Context, more ...func(*s3.Options)) []func(*s3.Options) {
	if !provider.RetriesDisabled(ctx) {
		return more
	}
	return append([]func(*s3.Options){oneAttempt}, more...)
}

func oneAttempt(o *s3.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) }
