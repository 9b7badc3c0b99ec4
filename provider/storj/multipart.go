package storj

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/amove/amove-go/provider"
	"storj.io/uplink"
)

// limits are the satellite's multipart rules: parts of 5 MiB at least
// (but the last), at most 10,000 parts; the part-size cap is the S3
// gateway's. A single upload has no size limit.
var limits = provider.PartLimits{
	MinPartSize: 5 << 20,
	MaxPartSize: 5 << 30,
	MaxParts:    10000,
}

var _ provider.MultipartUploader = (*Storage)(nil)

// PartLimits implements provider.MultipartUploader.
func (s *Storage) PartLimits() provider.PartLimits { return limits }

// custom is the object metadata of opts, as Write stores it.
func custom(opts provider.WriteOptions) (uplink.CustomMetadata, error) {
	c := uplink.CustomMetadata{}
	for k, v := range opts.Metadata {
		if strings.EqualFold(k, contentTypeKey) {
			return nil, fmt.Errorf("%w: storj: metadata name %q is reserved for the content type", provider.ErrInvalid, k)
		}
		c[k] = v
	}
	c[contentTypeKey] = opts.ContentType
	if opts.ContentType == "" {
		c[contentTypeKey] = "application/octet-stream"
	}
	if err := c.Verify(); err != nil {
		return nil, fmt.Errorf("%w: storj: metadata: %v", provider.ErrInvalid, err)
	}
	return c, nil
}

// CreateMultipart implements provider.MultipartUploader. The content type
// and metadata are given to the satellite now, with the upload.
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	c, err := custom(opts)
	if err != nil {
		return provider.Upload{}, err
	}
	info, err := s.p.BeginUpload(ctx, bucket, key, c)
	if err != nil {
		return provider.Upload{}, mapErr(err, bucket+"/"+key)
	}
	return provider.Upload{Bucket: bucket, Key: key, ID: info.UploadID}, nil
}

// UploadPart implements provider.MultipartUploader. The part's ETag is
// the MD5 of its bytes, computed here as the Storj S3 gateway does: Storj
// stores it and lists it, but checks nothing, so Part.Checksum stays zero.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if n < 1 || n > limits.MaxParts {
		return provider.Part{}, fmt.Errorf("%w: storj: part number %d outside 1..%d", provider.ErrInvalid, n, limits.MaxParts)
	}
	where := fmt.Sprintf("%s/%s part %d", u.Bucket, u.Key, n)
	pu, err := s.p.UploadPart(ctx, u.Bucket, u.Key, u.ID, uint32(n))
	if err != nil {
		return provider.Part{}, mapErr(err, where)
	}
	committed := false
	defer func() {
		if !committed {
			_ = pu.Abort()
		}
	}()
	h, _ := provider.NewHash(provider.HashMD5)
	defer h.Close()
	got, err := io.Copy(io.MultiWriter(pu, h), ctxReader{ctx, r})
	if err != nil {
		if ctx.Err() != nil {
			return provider.Part{}, ctx.Err()
		}
		return provider.Part{}, mapErr(err, where)
	}
	if got != size {
		return provider.Part{}, fmt.Errorf("%w: storj: %s: read %d bytes, expected %d", provider.ErrInvalid, where, got, size)
	}
	etag := hex.EncodeToString(h.Sum(nil))
	if err := pu.SetETag([]byte(etag)); err != nil {
		return provider.Part{}, mapErr(err, where)
	}
	if err := pu.Commit(); err != nil {
		return provider.Part{}, mapErr(err, where)
	}
	committed = true
	return provider.Part{Number: n, Size: got, ETag: etag}, nil
}

// uploadedParts lists the parts the satellite holds for u, by number.
func (s *Storage) uploadedParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	var out []provider.Part
	for p, err := range s.p.UploadParts(ctx, u.Bucket, u.Key, u.ID) {
		if err != nil {
			return nil, mapErr(err, u.Bucket+"/"+u.Key)
		}
		out = append(out, provider.Part{Number: int(p.PartNumber), Size: p.Size, ETag: string(p.ETag)})
	}
	slices.SortFunc(out, func(a, b provider.Part) int { return a.Number - b.Number })
	return out, nil
}

// CompleteMultipart implements provider.MultipartUploader. Storj commits
// every part it holds, so the parts given must be exactly those, with
// their ETags: a part uploaded but not named, or named but not uploaded
// (or uploaded again since), is ErrInvalid and nothing is committed.
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	held, err := s.uploadedParts(ctx, u)
	if err != nil {
		return provider.Object{}, err
	}
	want := provider.SortedParts(parts)
	if len(want) != len(held) {
		return provider.Object{}, fmt.Errorf("%w: storj: %s/%s: %d parts given, the upload holds %d", provider.ErrInvalid, u.Bucket, u.Key, len(want), len(held))
	}
	for i, p := range want {
		h := held[i]
		if p.Number != h.Number || p.ETag != h.ETag {
			return provider.Object{}, fmt.Errorf("%w: storj: %s/%s: part %d (ETag %q) is not the one uploaded", provider.ErrInvalid, u.Bucket, u.Key, p.Number, p.ETag)
		}
		if i < len(held)-1 && h.Size < limits.MinPartSize {
			return provider.Object{}, fmt.Errorf("%w: storj: %s/%s: part %d has %d bytes, below the minimum %d", provider.ErrInvalid, u.Bucket, u.Key, h.Number, h.Size, limits.MinPartSize)
		}
	}
	o, err := s.p.CommitUpload(ctx, u.Bucket, u.Key, u.ID, nil)
	if err != nil {
		return provider.Object{}, mapErr(err, u.Bucket+"/"+u.Key)
	}
	return objectOf(o), nil
}

// AbortMultipart implements provider.MultipartUploader.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	return mapErr(s.p.AbortUpload(ctx, u.Bucket, u.Key, u.ID), u.Bucket+"/"+u.Key)
}

// ListParts implements provider.MultipartUploader.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	return s.uploadedParts(ctx, u)
}

// ListUploads implements provider.MultipartUploader: the unfinished
// uploads whose keys start with prefix.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	dir := prefix[:strings.LastIndex(prefix, "/")+1]
	var out []provider.Upload
	for up, err := range s.p.Uploads(ctx, bucket, &uplink.ListUploadsOptions{Prefix: dir, Recursive: true}) {
		if err != nil {
			return nil, mapErr(err, "bucket "+bucket)
		}
		if strings.HasPrefix(up.Key, prefix) {
			out = append(out, provider.Upload{Bucket: bucket, Key: up.Key, ID: up.UploadID})
		}
	}
	return out, nil
}
