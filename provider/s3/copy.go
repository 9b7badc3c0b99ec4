package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/amove/amove-go/provider"
)

// copyPartSize is the UploadPartCopy part size for objects above copyCutoff.
const copyPartSize = 512 << 20

// Copy copies inside the provider: CopyObject up to copyCutoff (5 GiB, the
// service's limit), UploadPartCopy ranges in a multipart upload above it.
// Both ends must be reachable with this account's credentials.
func (s *Storage) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	src, err := s.Stat(ctx, srcBucket, srcKey)
	if err != nil {
		return provider.Object{}, err
	}
	if src.Size > s.copyCutoff {
		return s.copyMultipart(ctx, dstBucket, dstKey, srcBucket, srcKey, src)
	}
	out, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(dstBucket),
		Key:               aws.String(dstKey),
		CopySource:        aws.String(copySource(srcBucket, srcKey)),
		CopySourceIfMatch: aws.String(src.ETag),
	}, sdk(ctx)...)
	if err != nil {
		return provider.Object{}, mapError(err, fmt.Sprintf("copy %s/%s to %s/%s", srcBucket, srcKey, dstBucket, dstKey))
	}
	var etag string
	mod := time.Now().UTC()
	r := out.CopyObjectResult
	if r != nil {
		etag, mod = aws.ToString(r.ETag), aws.ToTime(r.LastModified)
	}
	o := objectFrom(dstKey, src.Size, mod, etag, src.ContentType)
	if encrypted(out.ServerSideEncryption, out.SSECustomerAlgorithm) {
		o.Checksums.MD5, o.Checksums.MD5Parts = "", ""
	}
	if r != nil {
		reported{crc32: r.ChecksumCRC32, crc32c: r.ChecksumCRC32C, crc64: r.ChecksumCRC64NVME,
			sha1: r.ChecksumSHA1, sha256: r.ChecksumSHA256, typ: r.ChecksumType}.fill(&o.Checksums)
	}
	// The copy's plain ETag is the MD5 the server computed over the bytes it
	// wrote; the source's MD5 is what they must give. (Other checksums may be
	// carried over from the source's metadata, so they prove nothing.)
	if want, got := src.Checksums.Get(provider.HashMD5), o.Checksums.Get(provider.HashMD5); !want.IsZero() && !got.IsZero() {
		if !got.Equal(want) {
			return provider.Object{}, fmt.Errorf("%w: copy of %s/%s to %s/%s has MD5 %s, the source %s",
				provider.ErrChecksum, srcBucket, srcKey, dstBucket, dstKey, got.Value, want.Value)
		}
		o.Verified = provider.HashMD5
	}
	return o, nil
}

func (s *Storage) copyMultipart(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string, src provider.Object) (obj provider.Object, err error) {
	ps := partSize(s.q.limits, s.copyPart(), src.Size)
	u, err := s.createMultipart(ctx, dstBucket, dstKey, provider.WriteOptions{ContentType: src.ContentType}, false)
	if err != nil {
		return provider.Object{}, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			_ = s.AbortMultipart(actx, u)
		}
	}()
	n := int((src.Size + ps - 1) / ps)
	parts := make([]provider.Part, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(defaultConcurrency)
	for i := range n {
		g.Go(func() error {
			start := int64(i) * ps
			end := min(start+ps, src.Size) - 1
			out, err := s.client.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
				Bucket:            aws.String(dstBucket),
				Key:               aws.String(dstKey),
				UploadId:          aws.String(u.ID),
				PartNumber:        aws.Int32(int32(i + 1)),
				CopySource:        aws.String(copySource(srcBucket, srcKey)),
				CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", start, end)),
				CopySourceIfMatch: aws.String(src.ETag),
			}, sdk(ctx)...)
			if err != nil {
				return mapError(err, fmt.Sprintf("copy part %d of %s/%s", i+1, srcBucket, srcKey))
			}
			parts[i] = provider.Part{Number: i + 1, Size: end - start + 1, ETag: aws.ToString(out.CopyPartResult.ETag)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return provider.Object{}, err
	}
	o, err := s.CompleteMultipart(ctx, u, parts)
	if err != nil {
		return provider.Object{}, err
	}
	o.ContentType = src.ContentType
	return o, nil
}

// copyPart is the part size of multipart copies; tests shrink it with
// copyCutoff.
func (s *Storage) copyPart() int64 {
	if s.copyCutoff < copyPartSize {
		return s.copyCutoff
	}
	return copyPartSize
}
