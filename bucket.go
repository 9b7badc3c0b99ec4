package amove

import (
	"context"
	"fmt"

	"github.com/amove/amove-go/provider"
)

// CreateBucket makes a bucket in an account whose driver manages buckets
// (provider.BucketManager); region may be empty for the account's default.
// An existing bucket is DUPLICATE, a driver without buckets to manage (a
// drive) DEFAULT with errors.Is provider.ErrUnsupported.
func (c *Client) CreateBucket(ctx context.Context, p Principal, accountID, bucket, region string) error {
	op := "create bucket " + bucket
	return c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		bm, ok := st.(provider.BucketManager)
		if !ok {
			return providerErr(fmt.Errorf("%w: this account's provider does not create buckets", provider.ErrUnsupported), op)
		}
		// BucketManager checks the name itself (provider.Storage).
		return providerErr(bm.CreateBucket(ctx, bucket, region), op)
	})
}

// DeleteBucket removes an empty bucket of an account whose driver manages
// buckets; a missing bucket is NOT_FOUND.
func (c *Client) DeleteBucket(ctx context.Context, p Principal, accountID, bucket string) error {
	op := "delete bucket " + bucket
	return c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		bm, ok := st.(provider.BucketManager)
		if !ok {
			return providerErr(fmt.Errorf("%w: this account's provider does not delete buckets", provider.ErrUnsupported), op)
		}
		return providerErr(bm.DeleteBucket(ctx, bucket), op)
	})
}
