package provider

import (
	"context"
	"iter"

	"golang.org/x/sync/errgroup"
)

// Walk iterates over every object matching opts, fetching one page at a time
// so memory stays bounded by the page size however long the listing is. The
// iteration stops at the first error, which is yielded once.
func Walk(ctx context.Context, s Storage, bucket string, opts ListOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		for {
			if err := ctx.Err(); err != nil {
				yield(Object{}, err)
				return
			}
			page, err := s.ListObjects(ctx, bucket, opts)
			if err != nil {
				yield(Object{}, err)
				return
			}
			for _, o := range page.Objects {
				if !yield(o, nil) {
					return
				}
			}
			if page.NextToken == "" {
				return
			}
			if page.NextToken == opts.Token {
				// A driver that hands back the same token would loop forever.
				yield(Object{}, Wrap(ErrInvalid, errRepeatedToken, bucket))
				return
			}
			opts.Token = page.NextToken
		}
	}
}

type constError string

func (e constError) Error() string { return string(e) }

const errRepeatedToken = constError("listing returned the same continuation token twice")

// ListBucketsWithRegion lists buckets and, when the driver is a Regioner,
// fills each bucket's Region (at most 8 lookups at a time).
func ListBucketsWithRegion(ctx context.Context, s Storage) ([]Bucket, error) {
	buckets, err := s.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := Capability[Regioner](s)
	if !ok {
		return buckets, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range buckets {
		if buckets[i].Region != "" {
			continue
		}
		g.Go(func() error {
			region, err := r.BucketRegion(gctx, buckets[i].Name)
			if err != nil {
				return err
			}
			buckets[i].Region = region
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return buckets, nil
}
