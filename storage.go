package amove

import (
	"context"
	"fmt"

	"github.com/amove/amove-go/provider"
)

// Storage operations on a cloud account. The caller must see the account
// (see GetAccount); sharing an account shares its use. Driver errors map onto
// the error model (NOT_FOUND, ACCESS, DUPLICATE, DEFAULT) while errors.Is
// still matches the provider sentinels.

// withStorage opens the driver of a visible account for one operation.
func (c *Client) withStorage(ctx context.Context, p Principal, id string, fn func(provider.Storage) error) error {
	a, err := c.account(ctx, p, id)
	if err != nil {
		return err
	}
	ak, sk, cd, err := c.secrets(a)
	if err != nil {
		return err
	}
	cfg := provider.Config{CloudType: a.CloudType, AccessKey: ak, SecretKey: sk, Region: a.Region,
		Endpoint: a.Endpoint, ServiceURL: a.ServiceURL, CredentialsData: cd, Logger: c.log}
	if err := c.withTokenSource(ctx, &cfg, a, c.saveCredentials(a)); err != nil {
		return err
	}
	st, err := c.open(ctx, cfg)
	if err != nil {
		return providerErr(redact(err, ak, sk, cd), "open "+a.CloudType.String()+" account")
	}
	defer st.Close()
	return redact(fn(st), ak, sk, cd)
}

// ListBuckets lists the buckets of an account.
func (c *Client) ListBuckets(ctx context.Context, p Principal, accountID string) ([]provider.Bucket, error) {
	var out []provider.Bucket
	err := c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		var err error
		out, err = st.ListBuckets(ctx)
		return providerErr(err, "list buckets")
	})
	return out, err
}

// ListObjects returns one page of a bucket listing.
func (c *Client) ListObjects(ctx context.Context, p Principal, accountID, bucket string, opts provider.ListOptions) (provider.Page, error) {
	var out provider.Page
	err := c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		var err error
		out, err = st.ListObjects(ctx, bucket, opts)
		return providerErr(err, "list objects in "+bucket)
	})
	return out, err
}

// PresignURL returns a URL a plain HTTP client can use without credentials.
func (c *Client) PresignURL(ctx context.Context, p Principal, accountID, bucket, key string, opts provider.PresignOptions) (string, error) {
	var out string
	err := c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		ps, ok := st.(provider.Presigner)
		if !ok {
			return providerErr(fmt.Errorf("%w: presigned URLs", provider.ErrUnsupported), "presign "+bucket+"/"+key)
		}
		var err error
		out, err = ps.PresignURL(ctx, bucket, key, opts)
		return providerErr(err, "presign "+bucket+"/"+key)
	})
	return out, err
}

// DeleteObject deletes an object; a missing key is not an error.
func (c *Client) DeleteObject(ctx context.Context, p Principal, accountID, bucket, key string) error {
	return c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		return providerErr(st.Delete(ctx, bucket, key), "delete "+bucket+"/"+key)
	})
}

// CreateFolder makes an empty folder; a missing trailing "/" is added.
func (c *Client) CreateFolder(ctx context.Context, p Principal, accountID, bucket, key string) error {
	if key == "" {
		return invalid("folder name is empty")
	}
	if key[len(key)-1] != '/' {
		key += "/"
	}
	return c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		return providerErr(st.CreateFolder(ctx, bucket, key), "create folder "+bucket+"/"+key)
	})
}
