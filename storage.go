package amove

import (
	"context"
	"fmt"

	"github.com/amove/amove-go/internal/store"
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
	st, clean, err := c.openStored(ctx, a)
	if err != nil {
		return err
	}
	defer st.Close()
	return clean(fn(st))
}

// openStored opens the driver of a stored account. clean masks the
// account's secrets in any error the driver returns.
func (c *Client) openStored(ctx context.Context, a store.Account) (provider.Storage, func(error) error, error) {
	ak, sk, cd, err := c.secrets(a)
	if err != nil {
		return nil, nil, err
	}
	cfg := provider.Config{CloudType: a.CloudType, AccessKey: ak, SecretKey: sk, Region: a.Region,
		Endpoint: a.Endpoint, ServiceURL: a.ServiceURL, CredentialsData: cd, Logger: c.log, HTTPClient: c.httpClient}
	if err := c.withTokenSource(ctx, &cfg, a, c.saveCredentials(a)); err != nil {
		return nil, nil, err
	}
	st, err := c.open(ctx, cfg)
	if err != nil {
		return nil, nil, providerErr(redact(err, ak, sk, cd), "open "+a.CloudType.String()+" account")
	}
	return st, func(err error) error { return redact(err, ak, sk, cd) }, nil
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

// ListBucketsWithRegion lists the buckets of an account with each bucket's
// region (one lookup per bucket on providers that need it).
func (c *Client) ListBucketsWithRegion(ctx context.Context, p Principal, accountID string) ([]provider.Bucket, error) {
	var out []provider.Bucket
	err := c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		var err error
		out, err = provider.ListBucketsWithRegion(ctx, st)
		return providerErr(err, "list buckets")
	})
	return out, err
}

// ProbeBuckets lists the buckets reachable with credentials that are not
// stored: the agent's list_buckets accepts a full CloudAccount without a
// token, to try credentials before inserting them. Nothing is stored.
func (c *Client) ProbeBuckets(ctx context.Context, n NewAccount, withRegion bool) ([]provider.Bucket, error) {
	if n.Name == "" {
		n.Name = "probe"
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	cfg := c.driverConfig(n)
	st, err := c.open(ctx, cfg)
	if err != nil {
		return nil, providerErr(redact(err, n.AccessKey, n.SecretKey, n.CredentialsData), "open "+n.CloudType.String()+" account")
	}
	defer st.Close()
	var out []provider.Bucket
	if withRegion {
		out, err = provider.ListBucketsWithRegion(ctx, st)
	} else {
		out, err = st.ListBuckets(ctx)
	}
	return out, redact(providerErr(err, "list buckets"), n.AccessKey, n.SecretKey, n.CredentialsData)
}
