// Package storj is a native Storj driver: it speaks to a satellite and
// its storage nodes through storj.io/uplink, with an access grant for
// credentials, instead of going through an S3 gateway.
//
// It registers as the third-party driver "storj": Storj is not one of the
// 14 cloud types of the Amove API, so its accounts have a zero CloudType
// and Driver "storj", and carry the serialized access grant in
// Config.CredentialsData.
//
//	st, err := provider.Open(ctx, provider.Config{Driver: "storj", CredentialsData: grant})
//
// What Storj does differently from S3, and how the driver presents it:
//   - Storj has no ETag in its public API; the driver makes one from the
//     object's creation time and size, which changes on every overwrite.
//   - Listings collapse prefixes only at "/"; another Delimiter is
//     ErrUnsupported. A Prefix that does not end in "/" is listed from its
//     last "/" and filtered.
//   - A project with encrypted paths (the default) lists in the order of
//     the encrypted keys, so pages are not in key order there; every key
//     is still listed exactly once. Projects without path encryption list
//     in key order.
//   - Content type and user metadata are the object's custom metadata;
//     the content type is stored under "content-type", as the Storj S3
//     gateway does.
//   - Copy is uplink's CopyObject, inside the satellite. Multipart uploads
//     are uplink's; Storj commits every part it holds and takes no list,
//     so CompleteMultipart checks the list against the held parts first.
//   - There are no checksums or presigned URLs through uplink; the driver
//     claims neither.
package storj

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/amove/amove-go/provider"
	"storj.io/uplink"
)

// DriverName is the name the driver registers under; accounts set
// provider.Config.Driver to it.
const DriverName = "storj"

func init() { provider.Register(DriverName, provider.OpenerOf(Open)) }

// contentTypeKey is the custom-metadata key of the content type, the one
// the Storj S3 gateway uses.
const contentTypeKey = "content-type"

// Storage is a provider.Storage over a Storj project. It is safe for
// concurrent use.
type Storage struct {
	p Project
}

var (
	_ provider.Storage       = (*Storage)(nil)
	_ provider.BucketManager = (*Storage)(nil)
	_ provider.Copier        = (*Storage)(nil)
	_ provider.Featurer      = (*Storage)(nil)
)

// Open parses the access grant in cfg.CredentialsData and opens its
// project. Opening does not dial: the first request does. A missing or
// malformed grant is ErrInvalid (the grant itself is never echoed).
func Open(ctx context.Context, cfg provider.Config) (*Storage, error) {
	access, err := ParseAccess(cfg.CredentialsData)
	if err != nil {
		return nil, err
	}
	p, err := uplink.Config{UserAgent: "amove"}.OpenProject(ctx, access)
	if err != nil {
		return nil, fmt.Errorf("storj: open project: %w", err)
	}
	return New(Adapt(p)), nil
}

// ParseAccess parses a serialized access grant; an empty or malformed one
// is ErrInvalid without the grant in the message.
func ParseAccess(grant string) (*uplink.Access, error) {
	grant = strings.TrimSpace(grant)
	if grant == "" {
		return nil, fmt.Errorf("%w: storj: no access grant (CredentialsData)", provider.ErrInvalid)
	}
	access, err := uplink.ParseAccess(grant)
	if err != nil {
		// uplink's message does not quote the grant.
		return nil, fmt.Errorf("%w: storj: access grant: %v", provider.ErrInvalid, err)
	}
	return access, nil
}

// New returns a Storage over p: an adapted *uplink.Project, or a fake in
// tests. Close closes p.
func New(p Project) *Storage { return &Storage{p: p} }

// Close implements provider.Storage.
func (s *Storage) Close() error { return s.p.Close() }

// Features implements provider.Featurer.
func (s *Storage) Features() provider.Features {
	return provider.Features{BucketManagement: true, ServerSideCopy: true, Multipart: true, PartLimits: limits}
}

// mapErr marks uplink's errors with the provider sentinels; msg names the
// bucket or object.
func mapErr(err error, msg string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, uplink.ErrBucketNotFound), errors.Is(err, uplink.ErrObjectNotFound),
		errors.Is(err, uplink.ErrUploadIDInvalid):
		return provider.Wrap(provider.ErrNotFound, err, msg)
	case errors.Is(err, uplink.ErrBucketAlreadyExists):
		return provider.Wrap(provider.ErrExists, err, msg)
	case errors.Is(err, uplink.ErrBucketNameInvalid), errors.Is(err, uplink.ErrObjectKeyInvalid),
		errors.Is(err, uplink.ErrBucketNotEmpty):
		return provider.Wrap(provider.ErrInvalid, err, msg)
	case errors.Is(err, uplink.ErrPermissionDenied):
		return provider.Wrap(provider.ErrPermission, err, msg)
	case errors.Is(err, uplink.ErrTooManyRequests):
		return &provider.RateLimitError{Err: fmt.Errorf("%s: %w", msg, err)}
	}
	return fmt.Errorf("storj: %s: %w", msg, err)
}

// CreateBucket implements provider.BucketManager. Storj buckets have no
// region; region is ignored.
func (s *Storage) CreateBucket(ctx context.Context, name, region string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	_, err := s.p.CreateBucket(ctx, name)
	return mapErr(err, "bucket "+strconv.Quote(name))
}

// DeleteBucket implements provider.BucketManager: an empty bucket only, as
// on S3; one holding objects is ErrInvalid.
func (s *Storage) DeleteBucket(ctx context.Context, name string) error {
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	_, err := s.p.DeleteBucket(ctx, name)
	return mapErr(err, "bucket "+strconv.Quote(name))
}

// ListBuckets implements provider.Storage.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	var out []provider.Bucket
	for b, err := range s.p.Buckets(ctx) {
		if err != nil {
			return nil, mapErr(err, "list buckets")
		}
		out = append(out, provider.Bucket{Name: b.Name, Created: b.Created})
	}
	return out, nil
}

// objectOf converts an uplink object, which must carry its system and
// custom metadata.
func objectOf(o *uplink.Object) provider.Object {
	if o.IsPrefix {
		return provider.Object{Key: o.Key, IsFolder: true}
	}
	out := provider.Object{
		Key:      o.Key,
		Size:     o.System.ContentLength,
		ModTime:  o.System.Created,
		IsFolder: strings.HasSuffix(o.Key, "/"),
		// Storj's ETag is not in uplink's public API: creation time and
		// size change with every write, which is what an ETag is used for.
		ETag: `"` + strconv.FormatInt(o.System.Created.UnixNano(), 36) + "-" + strconv.FormatInt(o.System.ContentLength, 36) + `"`,
	}
	for k, v := range o.Custom {
		if k == contentTypeKey {
			out.ContentType = v
			continue
		}
		if out.Metadata == nil {
			out.Metadata = map[string]string{}
		}
		out.Metadata[k] = v
	}
	return out
}

// ListObjects implements provider.Storage. The token is the last key
// listed, which uplink takes as its cursor.
func (s *Storage) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	if opts.Delimiter != "" && opts.Delimiter != "/" {
		return provider.Page{}, fmt.Errorf("%w: storj lists folders at \"/\" only, not %q", provider.ErrUnsupported, opts.Delimiter)
	}
	limit := opts.MaxKeys
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	// uplink lists a "directory": a prefix ending in "/". The rest of the
	// caller's prefix is a filter on the names in it.
	dir := opts.Prefix[:strings.LastIndex(opts.Prefix, "/")+1]
	cursor := ""
	if opts.Token != "" {
		var ok bool
		if cursor, ok = strings.CutPrefix(opts.Token, dir); !ok || cursor == "" {
			return provider.Page{}, fmt.Errorf("%w: storj: continuation token does not belong to prefix %q", provider.ErrInvalid, opts.Prefix)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var page provider.Page
	for o, err := range s.p.Objects(ctx, bucket, &uplink.ListObjectsOptions{
		Prefix: dir, Cursor: cursor, Recursive: opts.Delimiter == "", System: true, Custom: true,
	}) {
		if err != nil {
			return provider.Page{}, mapErr(err, "bucket "+strconv.Quote(bucket))
		}
		if !strings.HasPrefix(o.Key, opts.Prefix) {
			continue
		}
		if opts.Delimiter != "" && o.Key == opts.Prefix && !o.IsPrefix {
			continue // the marker of the folder being listed
		}
		if len(page.Objects) == limit {
			// One more item exists: the page ends at the last key.
			page.NextToken = page.Objects[limit-1].Key
			break
		}
		page.Objects = append(page.Objects, objectOf(o))
	}
	return page, nil
}

// Stat implements provider.Storage.
func (s *Storage) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	o, err := s.p.StatObject(ctx, bucket, key)
	if err != nil {
		return provider.Object{}, mapErr(err, bucket+"/"+key)
	}
	return objectOf(o), nil
}

// NewRangeReader implements provider.Storage.
func (s *Storage) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	if length < 0 {
		length = -1
	}
	d, err := s.p.DownloadObject(ctx, bucket, key, &uplink.DownloadOptions{Offset: offset, Length: length})
	if err != nil {
		return nil, mapErr(err, bucket+"/"+key)
	}
	return d, nil
}

// ctxReader stops a copy once ctx is done: Storj commits nothing until
// Commit, so a cancelled Write leaves no object.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Write implements provider.Storage: it streams r into an upload and
// commits it once exactly size bytes (any number for -1) went up; on any
// failure the upload is aborted and nothing is visible at key.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	meta, err := custom(opts)
	if err != nil {
		return provider.Object{}, err
	}
	where := bucket + "/" + key
	up, err := s.p.UploadObject(ctx, bucket, key, nil)
	if err != nil {
		return provider.Object{}, mapErr(err, where)
	}
	committed := false
	defer func() {
		if !committed {
			_ = up.Abort()
		}
	}()
	n, err := io.Copy(up, ctxReader{ctx, r})
	if err != nil {
		if ctx.Err() != nil {
			return provider.Object{}, ctx.Err()
		}
		return provider.Object{}, mapErr(err, where)
	}
	if size >= 0 && n != size {
		return provider.Object{}, fmt.Errorf("%w: storj: %s: read %d bytes, expected %d", provider.ErrInvalid, where, n, size)
	}
	if err := up.SetCustomMetadata(ctx, meta); err != nil {
		return provider.Object{}, mapErr(err, where)
	}
	if err := up.Commit(); err != nil {
		return provider.Object{}, mapErr(err, where)
	}
	committed = true
	return objectOf(up.Info()), nil
}

// Delete implements provider.Storage: a missing key is not an error, a
// missing bucket is ErrNotFound.
func (s *Storage) Delete(ctx context.Context, bucket, key string) error {
	deleted, err := s.p.DeleteObject(ctx, bucket, key)
	if errors.Is(err, uplink.ErrObjectNotFound) {
		deleted, err = nil, nil
	}
	if err == nil && deleted == nil {
		// Nothing was deleted: fine for a missing key, but the contract
		// wants ErrNotFound for a missing bucket, which a satellite need
		// not tell apart in its answer.
		_, err = s.p.StatBucket(ctx, bucket)
		return mapErr(err, "bucket "+strconv.Quote(bucket))
	}
	return mapErr(err, bucket+"/"+key)
}

// CreateFolder implements provider.Storage: an empty object at key, which
// ends in "/", as the Storj S3 gateway stores folders.
func (s *Storage) CreateFolder(ctx context.Context, bucket, key string) error {
	_, err := s.Write(ctx, bucket, key, strings.NewReader(""), 0, provider.WriteOptions{ContentType: "application/x-directory"})
	return err
}

// Copy implements provider.Copier with uplink's CopyObject: the satellite
// copies the object, metadata included; a missing source is ErrNotFound.
func (s *Storage) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	o, err := s.p.CopyObject(ctx, srcBucket, srcKey, dstBucket, dstKey, nil)
	if err != nil {
		return provider.Object{}, mapErr(err, srcBucket+"/"+srcKey+" to "+dstBucket+"/"+dstKey)
	}
	return objectOf(o), nil
}
