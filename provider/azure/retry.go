package azure

import (
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/amove/amove-go/provider"
)

// retryGate is a per-call pipeline policy, so it runs before the SDK's retry
// policy: a call made with a provider.WithoutRetries context is tried once,
// because the caller (the transfer engine) retries the whole step itself.
// Other calls keep the SDK's retries (three).
type retryGate struct{}

func (retryGate) Do(req *policy.Request) (*http.Response, error) {
	if ctx := req.Raw().Context(); provider.RetriesDisabled(ctx) {
		req = req.WithContext(policy.WithRetryOptions(ctx, policy.RetryOptions{MaxRetries: -1}))
	}
	return req.Next()
}
