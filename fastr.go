package amove

import (
	"context"

	"github.com/amove/amove-go/provider"
)

// FastrConfig returns the connection settings of a LocalHttp or FastrServer
// account p sees, secrets included, so the agent can sign Fastr requests of
// its own (server-to-server and P2P transfers) with the stored keys. The
// result must not be logged or returned to callers; provider.Config's String
// masks the secrets.
func (c *Client) FastrConfig(ctx context.Context, p Principal, accountID string) (provider.Config, error) {
	a, err := c.account(ctx, p, accountID)
	if err != nil {
		return provider.Config{}, err
	}
	if a.CloudType != provider.LocalHttp && a.CloudType != provider.FastrServer {
		return provider.Config{}, invalid("cloud account %s is %s, not a Fastr (LocalHttp or FastrServer) account", a.ID, a.CloudType)
	}
	ak, sk, _, err := c.secrets(a)
	if err != nil {
		return provider.Config{}, err
	}
	return provider.Config{CloudType: a.CloudType, AccessKey: ak, SecretKey: sk, Region: a.Region,
		Endpoint: a.Endpoint, ServiceURL: a.ServiceURL, Logger: c.log}, nil
}
