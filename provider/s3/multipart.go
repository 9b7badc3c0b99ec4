package s3

import (
	"context"
	"encoding/base64"
	"encoding/hex"
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

// CreateMultipart implements provider.MultipartUploader with
// CreateMultipartUpload. Where the provider keeps full-object CRC32Cs it
// asks for one; a server that refuses that is remembered and gets no
// checksums from then on.
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	return s.createMultipart(ctx, bucket, key, opts, s.crc())
}

// createMultipart starts an upload, asking for a full-object CRC32C when
// withCRC is set (UploadPartCopy cannot send part checksums, so copies
// start without).
func (s *Storage) createMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions, withCRC bool) (provider.Upload, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), Metadata: opts.Metadata}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	if withCRC {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
		in.ChecksumType = types.ChecksumTypeFullObject
	}
	out, err := s.client.CreateMultipartUpload(ctx, in, sdk(ctx)...)
	if err != nil && withCRC && checksumRefused(err) {
		// An S3-compatible server that does not know full-object checksums:
		// upload without (SigV4's payload hash still checks every part), and
		// stop sending checksums to this server.
		s.noChecksums.Store(true)
		in.ChecksumAlgorithm, in.ChecksumType = "", ""
		out, err = s.client.CreateMultipartUpload(ctx, in, sdk(ctx)...)
	}
	if err != nil {
		return provider.Upload{}, mapError(err, bucket+"/"+key)
	}
	return provider.Upload{Bucket: bucket, Key: key, ID: aws.ToString(out.UploadId)}, nil
}

func checkUpload(u provider.Upload) error {
	if u.ID == "" {
		return fmt.Errorf("%w: empty upload id", provider.ErrInvalid)
	}
	return nil
}

// UploadPart implements provider.MultipartUploader with UploadPart. The part
// carries a CRC32C (where the server keeps full-object CRC32Cs) or its
// Content-MD5, so the server refuses bytes damaged on the way; the returned
// Part holds that checksum.
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
	in := &s3.UploadPartInput{
		Bucket:        aws.String(u.Bucket),
		Key:           aws.String(u.Key),
		UploadId:      aws.String(u.ID),
		PartNumber:    aws.Int32(int32(n)),
		Body:          r,
		ContentLength: aws.Int64(size),
	}
	// The server refuses the part (BadDigest) unless its bytes give the
	// checksum sent: a CRC32C where the server keeps full-object CRC32Cs
	// (CompleteMultipart combines them), else the MD5.
	var checksum provider.Checksum
	if s.crc() {
		crc, err := crcOf(r)
		if err != nil {
			return provider.Part{}, err
		}
		in.ChecksumCRC32C = aws.String(crcBase64(crc))
		checksum = provider.Checksum{Hash: provider.HashCRC32C, Value: provider.FormatCRC32C(crc)}
	} else {
		sum, err := md5Of(r)
		if err != nil {
			return provider.Part{}, err
		}
		in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum))
		checksum = provider.Checksum{Hash: provider.HashMD5, Value: hex.EncodeToString(sum)}
	}
	out, err := s.client.UploadPart(ctx, in, sdk(ctx)...)
	if err != nil {
		return provider.Part{}, mapError(err, fmt.Sprintf("%s/%s part %d", u.Bucket, u.Key, n))
	}
	return provider.Part{Number: n, Size: size, ETag: aws.ToString(out.ETag), Checksum: checksum}, nil
}

// CompleteMultipart implements provider.MultipartUploader with
// CompleteMultipartUpload, parts sorted by number. With CRC32Cs it sends the
// combined full-object CRC32C, which the server checks before the object
// exists, and marks it verified; checksums a resumed caller lost are fetched
// with ListParts first.
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	if err := checkUpload(u); err != nil {
		return provider.Object{}, err
	}
	if len(parts) == 0 {
		return provider.Object{}, fmt.Errorf("%w: %w", provider.ErrInvalid, errNoParts)
	}
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b provider.Part) int { return a.Number - b.Number })
	if s.crc() {
		if err := s.partChecksums(ctx, u, sorted); err != nil {
			return provider.Object{}, err
		}
	}
	completed := make([]types.CompletedPart, len(sorted))
	var size int64
	var whole uint32
	withCRC := s.crc()
	for i, p := range sorted {
		completed[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(p.ETag)}
		size += p.Size
		crc, ok := uint32(0), p.Checksum.Hash == provider.HashCRC32C
		if ok {
			crc, ok = parseCRC(p.Checksum.Value)
		}
		withCRC = withCRC && ok
		if ok {
			completed[i].ChecksumCRC32C = aws.String(crcBase64(crc))
			whole = provider.CombineCRC32C(whole, crc, p.Size)
		}
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(u.Bucket),
		Key:             aws.String(u.Key),
		UploadId:        aws.String(u.ID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	}
	if withCRC {
		// The server checks the whole object against this before it exists.
		in.ChecksumCRC32C, in.ChecksumType = aws.String(crcBase64(whole)), types.ChecksumTypeFullObject
	} else {
		for i := range completed {
			completed[i].ChecksumCRC32C = nil
		}
	}
	out, err := s.client.CompleteMultipartUpload(ctx, in, sdk(ctx)...)
	if err != nil {
		return provider.Object{}, mapError(err, u.Bucket+"/"+u.Key)
	}
	o := objectFrom(u.Key, size, time.Now().UTC(), aws.ToString(out.ETag), "")
	if withCRC {
		// The server compared the whole object with this CRC before
		// completing it.
		o.Checksums.CRC32C = provider.FormatCRC32C(whole)
		o.Verified = provider.HashCRC32C
	}
	return o, nil
}

// partChecksums fills the parts' CRC32Cs the caller did not keep (a resumed
// upload's journal holds ETags only) from the server's part list.
func (s *Storage) partChecksums(ctx context.Context, u provider.Upload, parts []provider.Part) error {
	missing := false
	for _, p := range parts {
		if p.Checksum.Hash != provider.HashCRC32C {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	listed, err := s.ListParts(ctx, u)
	if err != nil {
		return err
	}
	byNumber := map[int]provider.Part{}
	for _, p := range listed {
		byNumber[p.Number] = p
	}
	for i, p := range parts {
		if lp, ok := byNumber[p.Number]; ok && p.Checksum.Hash != provider.HashCRC32C && lp.ETag == p.ETag {
			parts[i].Checksum = lp.Checksum
		}
	}
	return nil
}

// AbortMultipart implements provider.MultipartUploader with
// AbortMultipartUpload, which frees the parts stored so far.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(u.Bucket), Key: aws.String(u.Key), UploadId: aws.String(u.ID),
	}, sdk(ctx)...)
	return mapError(err, u.Bucket+"/"+u.Key)
}

// ListParts implements provider.MultipartUploader with ListParts, following
// its pages. Each part carries its CRC32C when the server kept one, else the
// MD5 its ETag holds.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return nil, err
	}
	var parts []provider.Part
	p := s3.NewListPartsPaginator(s.client, &s3.ListPartsInput{
		Bucket: aws.String(u.Bucket), Key: aws.String(u.Key), UploadId: aws.String(u.ID),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, sdk(ctx)...)
		if err != nil {
			return nil, mapError(err, u.Bucket+"/"+u.Key)
		}
		for _, pt := range page.Parts {
			part := provider.Part{
				Number: int(aws.ToInt32(pt.PartNumber)),
				Size:   aws.ToInt64(pt.Size),
				ETag:   aws.ToString(pt.ETag),
			}
			if crc, ok := parseCRC(aws.ToString(pt.ChecksumCRC32C)); ok {
				part.Checksum = provider.Checksum{Hash: provider.HashCRC32C, Value: provider.FormatCRC32C(crc)}
			} else {
				part.Checksum = etagMD5(part.ETag)
			}
			parts = append(parts, part)
		}
	}
	return parts, nil
}

// ListUploads implements provider.MultipartUploader with
// ListMultipartUploads, following its pages and filtering by prefix again,
// because some servers ignore it.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	var out []provider.Upload
	for {
		page, err := s.client.ListMultipartUploads(ctx, in, sdk(ctx)...)
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
