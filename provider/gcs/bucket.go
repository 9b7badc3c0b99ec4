package gcs

import (
	"context"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/amove/amove-go/provider"
)

// ListBuckets lists the buckets of the credentials' project.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	project, err := s.needProject()
	if err != nil {
		return nil, err
	}
	it := s.client.Buckets(ctx, project)
	var out []provider.Bucket
	for {
		attrs, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, mapErr(err, project)
		}
		out = append(out, provider.Bucket{
			Name:    attrs.Name,
			Region:  strings.ToLower(attrs.Location),
			Created: attrs.Created,
		})
	}
}

// CreateBucket makes a bucket in the credentials' project. region is a GCS
// location ("us-central1", "EU"...); empty means the default (US).
func (s *Storage) CreateBucket(ctx context.Context, name, region string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	project, err := s.needProject()
	if err != nil {
		return err
	}
	var attrs *storage.BucketAttrs
	if region != "" {
		attrs = &storage.BucketAttrs{Location: region}
	}
	return mapErr(s.bucket(ctx, name).Create(ctx, project, attrs), name)
}

// DeleteBucket removes an empty bucket.
func (s *Storage) DeleteBucket(ctx context.Context, name string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	return mapErr(s.bucket(ctx, name).Delete(ctx), name)
}

// BucketRegion returns the bucket's location, lower-cased like GCS region
// names ("us-central1", "us" for the multi-region).
func (s *Storage) BucketRegion(ctx context.Context, bucket string) (string, error) {
	attrs, err := s.bucket(ctx, bucket).Attrs(ctx)
	if err != nil {
		return "", mapErr(err, bucket)
	}
	return strings.ToLower(attrs.Location), nil
}
