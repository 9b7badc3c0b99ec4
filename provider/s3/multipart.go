package s3

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/amove/amove-go/provider"
)

func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if err := provider.CheckKey(bucket, key); err != nil {
		return provider.Upload{}, err
	}
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), Metadata: opts.Metadata}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	out, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return provider.Upload{}, mapError(err, bucket+"/"+key)
	}
	return provider.Upload{Bucket: bucket, Key: key, ID: aws.ToString(out.UploadId)}, nil
}

func checkUpload(u provider.Upload) error {
	if err := provider.CheckKey(u.Bucket, u.Key); err != nil {
		return err
	}
	if u.ID == "" {
		return fmt.Errorf("%w: empty upload id", provider.ErrInvalid)
	}
	return nil
}

func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return provider.Part{}, err
	}
	if r == nil {
		return provider.Part{}, fmt.Errorf("%w: nil reader", provider.ErrInvalid)
	}
	if n < 1 || n > s.q.limits.MaxParts {
		return provider.Part{}, fmt.Errorf("%w: part number %d outside 1..%d", provider.ErrInvalid, n, s.q.limits.MaxParts)
	}
	if size < 0 || size > s.q.limits.MaxPartSize {
		return provider.Part{}, fmt.Errorf("%w: part size %d", provider.ErrInvalid, size)
	}
	out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:        aws.String(u.Bucket),
		Key:           aws.String(u.Key),
		UploadId:      aws.String(u.ID),
		PartNumber:    aws.Int32(int32(n)),
		Body:          r,
		ContentLength: aws.Int64(size),
	})
	if err != nil {
		return provider.Part{}, mapError(err, fmt.Sprintf("%s/%s part %d", u.Bucket, u.Key, n))
	}
	return provider.Part{Number: n, Size: size, ETag: aws.ToString(out.ETag)}, nil
}

func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	if err := checkUpload(u); err != nil {
		return provider.Object{}, err
	}
	if len(parts) == 0 {
		return provider.Object{}, fmt.Errorf("%w: %w", provider.ErrInvalid, errNoParts)
	}
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b provider.Part) int { return a.Number - b.Number })
	completed := make([]types.CompletedPart, len(sorted))
	var size int64
	for i, p := range sorted {
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
		size += p.Size
	}
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(u.Bucket),
		Key:             aws.String(u.Key),
		UploadId:        aws.String(u.ID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		return provider.Object{}, mapError(err, u.Bucket+"/"+u.Key)
	}
	return objectFrom(u.Key, size, time.Now().UTC(), aws.ToString(out.ETag), ""), nil
}

func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(u.Bucket), Key: aws.String(u.Key), UploadId: aws.String(u.ID),
	})
	return mapError(err, u.Bucket+"/"+u.Key)
}

func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return nil, err
	}
	var parts []provider.Part
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{
		Bucket: aws.String(u.Bucket), Key: aws.String(u.Key), UploadId: aws.String(u.ID),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapError(err, u.Bucket+"/"+u.Key)
		}
		for _, pt := range page.Parts {
			parts = append(parts, provider.Part{
				Number: int(aws.ToInt32(pt.PartNumber)),
				Size:   aws.ToInt64(pt.Size),
				ETag:   aws.ToString(pt.ETag),
			})
		}
	}
	return parts, nil
}

func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	if err := provider.CheckBucket(bucket); err != nil {
		return nil, err
	}
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	var out []provider.Upload
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, mapError(err, bucket)
		}
		for _, up := range page.Uploads {
			key := aws.ToString(up.Key)
			if strings.HasPrefix(key, prefix) { // some servers ignore Prefix
				out = append(out, provider.Upload{Bucket: bucket, Key: key, ID: aws.ToString(up.UploadId)})
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}
