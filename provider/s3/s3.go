// Package s3 is the driver for Amazon S3 and the S3-compatible providers:
// AWS (1), Wasabi (2), S3Generic (8, MinIO, Ceph...), Cloudflare R2 (64)
// and Atomosphere (8192, taken to be an S3-compatible endpoint: see
// docs/providers.md). Each registers under its cloud type's DriverName.
// It is built on aws-sdk-go-v2's service/s3; what differs between the
// providers lives in one quirks table (quirks.go).
package s3

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/amove/amove-go/provider"
)

func init() {
	for t := range quirkTable {
		provider.Register(t.DriverName(), provider.OpenerOf(Open))
	}
}

// Storage is an S3 bucket store for one account.
type Storage struct {
	client  *s3.Client
	presign *s3.PresignClient
	q       quirks
	region  string
	log     *slog.Logger
	// noChecksums is set once the server refused full-object checksums on
	// CreateMultipart (an older S3-compatible server): from then on no
	// write sends checksum headers it might refuse.
	noChecksums atomic.Bool
	// copyCutoff is the size above which Copy switches from CopyObject to
	// UploadPartCopy (S3 refuses CopyObject above 5 GiB). A field so tests
	// can exercise the multipart path with small objects.
	copyCutoff int64
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
	_ provider.Presigner         = (*Storage)(nil)
	_ provider.BucketManager     = (*Storage)(nil)
	_ provider.Copier            = (*Storage)(nil)
	_ provider.Regioner          = (*Storage)(nil)
	_ provider.Hasher            = (*Storage)(nil)

	_ provider.ObjectReader = objectReader{}
)

// Open returns a driver for cfg. cfg.CloudType must be AWS, Wasabi,
// S3Generic or Cloudflare.
func Open(ctx context.Context, cfg provider.Config) (*Storage, error) {
	q, ok := quirkTable[cfg.CloudType]
	if !ok {
		return nil, fmt.Errorf("%w: the s3 driver does not serve %s", provider.ErrInvalid, cfg.CloudType)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("%w: %s needs an access key and a secret key", provider.ErrInvalid, cfg.CloudType)
	}
	region, endpoint, err := q.resolve(cfg)
	if err != nil {
		return nil, err
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = provider.NewHTTPClient()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := s3.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
		HTTPClient:   httpClient,
		UsePathStyle: q.pathStyle,
		Retryer:      retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3 }),
	}
	if endpoint != "" {
		opts.BaseEndpoint = aws.String(endpoint)
	}
	if !q.sdkChecksums {
		opts.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		opts.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	client := s3.New(opts)
	return &Storage{
		client:     client,
		presign:    s3.NewPresignClient(client),
		q:          q,
		region:     region,
		log:        log,
		copyCutoff: 5 << 30,
	}, nil
}

// Client returns the underlying SDK client, an escape hatch for what the
// driver does not cover.
func (s *Storage) Client() *s3.Client { return s.client }

// Close implements provider.Storage. The SDK client holds nothing that needs
// releasing, so it does nothing.
func (s *Storage) Close() error { return nil }

// PartLimits implements provider.MultipartUploader: the multipart rules of
// the provider this Storage talks to (AWS, Wasabi, R2... differ), from the
// quirks table.
func (s *Storage) PartLimits() provider.PartLimits { return s.q.limits }

// crc reports whether multipart writes send CRC32C checksums.
func (s *Storage) crc() bool { return s.q.fullObjectCRC && !s.noChecksums.Load() }

// Hashes: a single-part ETag is the object's MD5 (Stat fills it, except
// under SSE-KMS or SSE-C). Objects this driver writes also carry the
// full-object CRC32C it sends with them, where the provider keeps one; Stat
// also reports any other full-object checksum the server holds.
func (s *Storage) Hashes() []provider.Hash { return []provider.Hash{provider.HashMD5} }

// ListBuckets implements provider.Storage with ListBuckets, following its
// pages; each bucket carries its region where the server reports one.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	var out []provider.Bucket
	p := s3.NewListBucketsPaginator(s.client, &s3.ListBucketsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx, sdk(ctx)...)
		if err != nil {
			return nil, mapError(err, "list buckets")
		}
		for _, b := range page.Buckets {
			out = append(out, provider.Bucket{
				Name:    aws.ToString(b.Name),
				Region:  aws.ToString(b.BucketRegion),
				Created: aws.ToTime(b.CreationDate),
			})
		}
	}
	return out, nil
}

// BucketRegion implements provider.Regioner with GetBucketLocation; the
// empty location AWS reports for us-east-1 is returned as "us-east-1".
func (s *Storage) BucketRegion(ctx context.Context, bucket string) (string, error) {
	out, err := s.client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)}, sdk(ctx)...)
	if err != nil {
		return "", mapError(err, bucket)
	}
	// An empty LocationConstraint is AWS's way of saying us-east-1.
	if out.LocationConstraint == "" {
		return "us-east-1", nil
	}
	return string(out.LocationConstraint), nil
}

// CreateBucket implements provider.BucketManager. An empty region means the
// Storage's own; a LocationConstraint is sent only outside us-east-1 and
// "auto", where S3 refuses one.
func (s *Storage) CreateBucket(ctx context.Context, name, region string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region == "" {
		region = s.region
	}
	if region != "" && region != "us-east-1" && region != "auto" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err := s.client.CreateBucket(ctx, in, sdk(ctx, func(o *s3.Options) {
		if region != "" {
			o.Region = region
		}
	})...)
	return mapError(err, name)
}

// DeleteBucket implements provider.BucketManager with DeleteBucket; S3
// refuses a bucket that is not empty.
func (s *Storage) DeleteBucket(ctx context.Context, name string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	_, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}, sdk(ctx)...)
	return mapError(err, name)
}

// ListObjects implements provider.Storage with one ListObjectsV2 request (at
// most 1000 keys). Common prefixes come back as folders, merged in key order
// with the objects, and the marker of the folder being listed is left out.
func (s *Storage) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if opts.Prefix != "" {
		in.Prefix = aws.String(opts.Prefix)
	}
	if opts.Delimiter != "" {
		in.Delimiter = aws.String(opts.Delimiter)
	}
	if opts.Token != "" {
		in.ContinuationToken = aws.String(opts.Token)
	} else if opts.Delimiter != "" && strings.HasSuffix(opts.Prefix, opts.Delimiter) {
		// Start after the folder's own marker, so it takes no slot of the
		// page: MinIO counts it against MaxKeys and then reports the
		// listing complete (MaxKeys 1 on "docs/" returned only "docs/").
		in.StartAfter = aws.String(opts.Prefix)
	}
	if opts.MaxKeys > 0 {
		in.MaxKeys = aws.Int32(int32(min(opts.MaxKeys, 1000)))
	}
	out, err := s.client.ListObjectsV2(ctx, in, sdk(ctx)...)
	if err != nil {
		return provider.Page{}, mapError(err, bucket)
	}
	page := provider.Page{Objects: make([]provider.Object, 0, len(out.Contents)+len(out.CommonPrefixes))}
	// Merge folders and objects into one key-ordered list, as S3 counts them.
	cps, objs := out.CommonPrefixes, out.Contents
	for len(cps) > 0 || len(objs) > 0 {
		if len(objs) == 0 || (len(cps) > 0 && aws.ToString(cps[0].Prefix) < aws.ToString(objs[0].Key)) {
			page.Objects = append(page.Objects, provider.Object{Key: aws.ToString(cps[0].Prefix), IsFolder: true})
			cps = cps[1:]
			continue
		}
		o := objs[0]
		objs = objs[1:]
		key := aws.ToString(o.Key)
		if opts.Delimiter != "" && key == opts.Prefix && strings.HasSuffix(key, opts.Delimiter) {
			continue // the marker of the folder being listed
		}
		page.Objects = append(page.Objects, objectFrom(key, aws.ToInt64(o.Size), aws.ToTime(o.LastModified), aws.ToString(o.ETag), ""))
	}
	if aws.ToBool(out.IsTruncated) {
		page.NextToken = aws.ToString(out.NextContinuationToken)
	}
	return page, nil
}

func objectFrom(key string, size int64, mod time.Time, etag, contentType string) provider.Object {
	o := provider.Object{
		Key:         key,
		Size:        size,
		ModTime:     mod,
		ETag:        etag,
		ContentType: contentType,
		IsFolder:    strings.HasSuffix(key, "/"),
	}
	o.Checksums.MD5 = etagMD5(etag).Value
	o.Checksums.MD5Parts = etagMD5Parts(etag).Value
	return o
}

// Stat implements provider.Storage with a HEAD of the object. Checksums are
// the MD5 of a single-part ETag (not under SSE-KMS or SSE-C, where the ETag
// is no MD5) and every full-object checksum the server reports.
func (s *Storage) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if s.q.fullObjectCRC {
		in.ChecksumMode = types.ChecksumModeEnabled
	}
	out, err := s.client.HeadObject(ctx, in, sdk(ctx)...)
	if err != nil {
		return provider.Object{}, mapError(err, bucket+"/"+key)
	}
	o := objectFrom(key, aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified), aws.ToString(out.ETag), aws.ToString(out.ContentType))
	if encrypted(out.ServerSideEncryption, out.SSECustomerAlgorithm) {
		o.Checksums.MD5, o.Checksums.MD5Parts = "", ""
	}
	reported{crc32: out.ChecksumCRC32, crc32c: out.ChecksumCRC32C, crc64: out.ChecksumCRC64NVME, md5: out.ChecksumMD5,
		sha1: out.ChecksumSHA1, sha256: out.ChecksumSHA256, typ: out.ChecksumType}.fill(&o.Checksums)
	if len(out.Metadata) > 0 {
		o.Metadata = out.Metadata
	}
	return o, nil
}

// NewRangeReader implements provider.Storage with a GET carrying a Range
// header. A zero length is answered locally after checking the object
// exists, since S3 cannot serve an empty range. The reader of a whole
// object is a provider.ObjectReader: it reports the object's ETag and the
// full-object checksums the server holds (asked for with
// x-amz-checksum-mode where the provider keeps them).
func (s *Storage) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	switch {
	case length == 0:
		// S3 has no way to ask for zero bytes; check the object exists.
		if _, err := s.Stat(ctx, bucket, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	case offset == 0 && length < 0:
		// No Range header: a range on an empty object is a 416.
	case length < 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	default:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	}
	var opts []func(*s3.Options)
	whole := in.Range == nil
	if whole && s.q.fullObjectCRC {
		// Ask for the object's full-object checksums (x-amz-checksum-mode)
		// as a header, not as ChecksumMode: the SDK then leaves the check to
		// the reader's caller (provider.ObjectReader) instead of hashing the
		// stream a second time. Only for whole objects: a range has none.
		opts = append(opts, s3.WithAPIOptions(smithyhttp.AddHeaderValue("x-amz-checksum-mode", "ENABLED")))
	}
	out, err := s.client.GetObject(ctx, in, sdk(ctx, opts...)...)
	if err != nil {
		return nil, mapError(err, bucket+"/"+key)
	}
	if !whole {
		return out.Body, nil
	}
	o := objectFrom(key, aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified), aws.ToString(out.ETag), aws.ToString(out.ContentType))
	if encrypted(out.ServerSideEncryption, out.SSECustomerAlgorithm) {
		o.Checksums.MD5, o.Checksums.MD5Parts = "", ""
	}
	reported{crc32: out.ChecksumCRC32, crc32c: out.ChecksumCRC32C, crc64: out.ChecksumCRC64NVME,
		sha1: out.ChecksumSHA1, sha256: out.ChecksumSHA256, typ: out.ChecksumType}.fill(&o.Checksums)
	return objectReader{out.Body, o}, nil
}

// objectReader is the body of a whole-object GET with the object it is:
// its ETag and the full-object checksums the response reported.
type objectReader struct {
	io.ReadCloser
	o provider.Object
}

// Object implements provider.ObjectReader.
func (r objectReader) Object() provider.Object { return r.o }

// Delete implements provider.Storage with DeleteObject, which S3 answers
// with success for a missing key.
func (s *Storage) Delete(ctx context.Context, bucket, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}, sdk(ctx)...)
	return mapError(err, bucket+"/"+key)
}

// CreateFolder implements provider.Storage: it puts an empty object of type
// application/x-directory under key, which ends in "/".
func (s *Storage) CreateFolder(ctx context.Context, bucket, key string) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          strings.NewReader(""),
		ContentLength: aws.Int64(0),
		ContentType:   aws.String("application/x-directory"),
	}, sdk(ctx)...)
	return mapError(err, bucket+"/"+key)
}

// copySource is the x-amz-copy-source value: bucket/key, URL-encoded.
func copySource(bucket, key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return url.PathEscape(bucket) + "/" + strings.Join(parts, "/")
}
