package s3

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amove/amove-go/provider"
)

var _ provider.PartLayouter = (*Storage)(nil)

// PartLayout asks for part 1 of the object: its length is the part size and
// the answer carries the part count (x-amz-mp-parts-count).
func (s *Storage) PartLayout(ctx context.Context, bucket, key string) (int64, int, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), PartNumber: aws.Int32(1)}, sdk(ctx)...)
	if err != nil {
		return 0, 0, mapError(err, bucket+"/"+key)
	}
	parts := int(aws.ToInt32(out.PartsCount))
	if parts == 0 {
		parts = 1
	}
	return aws.ToInt64(out.ContentLength), parts, nil
}
