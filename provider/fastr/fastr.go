// Package fastr is the driver for LocalHttp (2048) and FastrServer (4096)
// accounts: both speak the Fastr protocol (docs/fastr.md) to the server at
// the account's serviceUrl, signing every request with its access and secret
// key. It implements Storage, MultipartUploader (upload sessions), Presigner,
// BucketManager, Copier and Hasher (MD5 and SHA-256, also for multipart
// objects, because the server assembles parts itself).
package fastr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	fastrapi "github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
)

func init() {
	open := provider.OpenerOf(Open)
	provider.Register(provider.LocalHttp.DriverName(), open)
	provider.Register(provider.FastrServer.DriverName(), open)
}

// Limits are the protocol's part rules (see fastr.MinPartSize...).
var Limits = provider.PartLimits{
	MinPartSize:  fastrapi.MinPartSize,
	MaxPartSize:  fastrapi.MaxPartSize,
	MaxParts:     fastrapi.MaxParts,
	MaxSinglePut: fastrapi.MaxObjectPut,
}

// defaultPartSize is what Write buffers per request when the caller names no
// part size: big enough that per-request cost vanishes on a LAN, small
// enough that Concurrency of them fit comfortably in memory.
const (
	defaultPartSize    = 8 << 20
	defaultConcurrency = 4
)

// Storage is an open Fastr account.
type Storage struct {
	c *fastrapi.Client
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
	_ provider.Presigner         = (*Storage)(nil)
	_ provider.BucketManager     = (*Storage)(nil)
	_ provider.Copier            = (*Storage)(nil)
	_ provider.Hasher            = (*Storage)(nil)
)

// Open connects to cfg.ServiceURL (or cfg.Endpoint). It does not call the
// server: a wrong key shows up as ErrUnauthenticated on first use.
func Open(_ context.Context, cfg provider.Config) (*Storage, error) {
	u := cfg.ServiceURL
	if u == "" {
		u = cfg.Endpoint
	}
	if u == "" {
		return nil, fmt.Errorf("%w: %s account has no serviceUrl", provider.ErrInvalid, cfg.CloudType)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = provider.NewHTTPClient()
	}
	c, err := fastrapi.NewClient(u, cfg.AccessKey, cfg.SecretKey, hc)
	if err != nil {
		return nil, provider.Wrap(provider.ErrInvalid, err, cfg.CloudType.String())
	}
	return &Storage{c: c}, nil
}

// Client is the underlying protocol client (pushes, upload sessions in
// offset mode), for the agent.
func (s *Storage) Client() *fastrapi.Client { return s.c }

// Close implements provider.Storage. The protocol client holds only an HTTP
// client, so it does nothing.
func (s *Storage) Close() error { return nil }

// PartLimits implements provider.MultipartUploader: the protocol's part
// rules, Limits.
func (s *Storage) PartLimits() provider.PartLimits { return Limits }

// Hashes implements provider.Hasher: the server keeps the MD5 and SHA-256 of
// every object, multipart ones included, since it assembles the parts
// itself.
func (s *Storage) Hashes() []provider.Hash {
	return []provider.Hash{provider.HashMD5, provider.HashSHA256}
}

// mapError marks a protocol error with its provider sentinel. Context and
// network errors pass through unchanged so errors.Is(err, context.Canceled)
// keeps working.
func mapError(err error, what string) error {
	var e *fastrapi.Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return &provider.RateLimitError{RetryAfter: e.RetryAfter, Err: fmt.Errorf("%s: %w", what, err)}
	case http.StatusNotFound:
		return provider.Wrap(provider.ErrNotFound, err, what)
	case http.StatusUnauthorized:
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	case http.StatusForbidden:
		return provider.Wrap(provider.ErrPermission, err, what)
	case http.StatusConflict:
		switch e.Code {
		case fastrapi.CodeBucketNotEmpty, fastrapi.CodeOffsetMismatch, fastrapi.CodeInvalidState:
			return provider.Wrap(provider.ErrInvalid, err, what)
		}
		return provider.Wrap(provider.ErrExists, err, what)
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusRequestedRangeNotSatisfiable:
		if e.Code == fastrapi.CodeBadDigest {
			// The body, a part or the assembled object did not give the
			// SHA-256 declared with it.
			return provider.Wrap(provider.ErrChecksum, err, what)
		}
		return provider.Wrap(provider.ErrInvalid, err, what)
	}
	return err
}

// verified checks that the server stored an object whose SHA-256, which it
// computed over the stored bytes, is want (the SHA-256 of the bytes sent,
// which the server already refused to store otherwise) and marks it so.
func verified(o provider.Object, want, what string) (provider.Object, error) {
	if o.Checksums.SHA256 != want {
		return provider.Object{}, fmt.Errorf("%w: %s stored with SHA-256 %q, sent %s", provider.ErrChecksum, what, o.Checksums.SHA256, want)
	}
	o.Verified = provider.HashSHA256
	return o, nil
}

func objectFrom(o fastrapi.ObjectInfo) provider.Object {
	return provider.Object{
		Key:         o.Key,
		Size:        o.Size,
		ModTime:     o.ModTime,
		ETag:        o.ETag,
		ContentType: o.ContentType,
		Checksums:   provider.Checksums{MD5: o.MD5, SHA256: o.SHA256},
		IsFolder:    o.IsFolder,
		Metadata:    o.Metadata,
	}
}

// ListBuckets implements provider.Storage: every bucket on the server.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	bs, err := s.c.ListBuckets(ctx)
	if err != nil {
		return nil, mapError(err, "list buckets")
	}
	out := make([]provider.Bucket, len(bs))
	for i, b := range bs {
		out[i] = provider.Bucket{Name: b.Name, Created: b.Created}
	}
	return out, nil
}

// CreateBucket implements provider.BucketManager. A Fastr server has no
// regions, so region is ignored; an existing bucket is ErrExists.
func (s *Storage) CreateBucket(ctx context.Context, name, _ string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	return mapError(s.c.CreateBucket(ctx, name), name)
}

// DeleteBucket implements provider.BucketManager. A bucket that still holds
// objects is ErrInvalid.
func (s *Storage) DeleteBucket(ctx context.Context, name string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	return mapError(s.c.DeleteBucket(ctx, name), name)
}

// ListObjects implements provider.Storage with one listing request; the
// server already returns folders and objects in key order with its own
// continuation token.
func (s *Storage) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	l, err := s.c.List(ctx, bucket, opts.Prefix, opts.Delimiter, opts.Token, opts.MaxKeys)
	if err != nil {
		return provider.Page{}, mapError(err, bucket)
	}
	page := provider.Page{Objects: make([]provider.Object, len(l.Objects)), NextToken: l.NextToken}
	for i, o := range l.Objects {
		page.Objects[i] = objectFrom(o)
	}
	return page, nil
}

// Stat implements provider.Storage with a HEAD of the object, which carries
// its MD5 and SHA-256.
func (s *Storage) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	o, err := s.c.Stat(ctx, bucket, key)
	if err != nil {
		return provider.Object{}, mapError(err, bucket+"/"+key)
	}
	return objectFrom(o), nil
}

// NewRangeReader implements provider.Storage with a ranged GET. A zero
// length is answered locally after checking the object exists, since no
// Range header asks for zero bytes.
func (s *Storage) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		// No range expresses zero bytes; still report a missing object.
		if _, err := s.Stat(ctx, bucket, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	rc, err := s.c.Get(ctx, bucket, key, offset, length)
	if err != nil {
		return nil, mapError(err, bucket+"/"+key)
	}
	return rc, nil
}

// Delete implements provider.Storage; a missing key is not an error.
func (s *Storage) Delete(ctx context.Context, bucket, key string) error {
	return mapError(s.c.Delete(ctx, bucket, key), bucket+"/"+key)
}

// CreateFolder implements provider.Storage: it writes the folder marker key,
// which ends in "/".
func (s *Storage) CreateFolder(ctx context.Context, bucket, key string) error {
	return mapError(s.c.CreateFolder(ctx, bucket, key), bucket+"/"+key)
}

// Copy implements provider.Copier: the server copies the object itself, so
// no bytes travel through the client.
func (s *Storage) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	o, err := s.c.Copy(ctx, fastrapi.CopyRequest{SrcBucket: srcBucket, SrcKey: srcKey, DstBucket: dstBucket, DstKey: dstKey})
	if err != nil {
		return provider.Object{}, mapError(err, srcBucket+"/"+srcKey)
	}
	return objectFrom(o), nil
}

func sumHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Write sends an object that fits one part in a single signed PUT, and
// anything larger (or of unknown size beyond one part) through an upload
// session with Concurrency parts in flight. Every request body is signed
// by its SHA-256, and the session is completed with the whole object's
// SHA-256, so the server commits exactly the bytes that were read: the
// Object returned is verified by SHA-256.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if err := provider.NoMetadata("fastr", opts); err != nil {
		return provider.Object{}, err
	}
	ps := Limits.PartSize(opts.PartSize, defaultPartSize, size)
	first := make([]byte, ps)
	n, err := io.ReadFull(r, first)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return s.putSingle(ctx, bucket, key, first[:n], size, opts)
	case err != nil:
		return provider.Object{}, fmt.Errorf("reading %s/%s: %w", bucket, key, err)
	case size == ps:
		var one [1]byte
		if m, _ := io.ReadFull(r, one[:]); m == 0 {
			return s.putSingle(ctx, bucket, key, first, size, opts)
		}
		return provider.Object{}, fmt.Errorf("%w: reader gave more than the %d bytes promised", provider.ErrInvalid, size)
	}
	return s.writeMultipart(ctx, bucket, key, first, r, size, ps, opts)
}

func (s *Storage) putSingle(ctx context.Context, bucket, key string, data []byte, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if size >= 0 && int64(len(data)) != size {
		return provider.Object{}, fmt.Errorf("%w: reader gave %d bytes, expected %d", provider.ErrInvalid, len(data), size)
	}
	sum := sumHex(data)
	o, err := s.c.Put(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), opts.ContentType, sum)
	if err != nil {
		return provider.Object{}, mapError(err, bucket+"/"+key)
	}
	return verified(objectFrom(o), sum, bucket+"/"+key)
}

func (s *Storage) writeMultipart(ctx context.Context, bucket, key string, first []byte, r io.Reader, size, ps int64, opts provider.WriteOptions) (obj provider.Object, err error) {
	what := bucket + "/" + key
	up, err := s.c.CreateUpload(ctx, bucket, key, opts.ContentType)
	if err != nil {
		return provider.Object{}, mapError(err, what)
	}
	defer func() {
		if err != nil {
			// The caller's ctx may be the reason we stop; the abort must
			// still reach the server so no session is left behind.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = s.c.AbortUpload(actx, up.ID)
			if ctx.Err() != nil {
				err = fmt.Errorf("writing %s: %w", what, ctx.Err())
			}
		}
	}()
	conc := opts.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	whole := sha256.New()
	var (
		parts []fastrapi.PartInfo
		total int64
		buf   = first
	)
	for n := 1; ; n++ {
		if err := gctx.Err(); err != nil {
			break
		}
		whole.Write(buf)
		total += int64(len(buf))
		part := fastrapi.PartInfo{Number: n, Size: int64(len(buf)), ETag: sumHex(buf)}
		parts = append(parts, part)
		data := buf
		g.Go(func() error {
			_, err := s.c.UploadPart(gctx, up.ID, part.Number, bytes.NewReader(data), part.Size, part.ETag)
			return mapError(err, what)
		})
		next := make([]byte, ps)
		m, rerr := io.ReadFull(r, next)
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			_ = g.Wait()
			return provider.Object{}, fmt.Errorf("reading %s: %w", what, rerr)
		}
		buf = next[:m]
		if n+1 > Limits.MaxParts {
			_ = g.Wait()
			return provider.Object{}, fmt.Errorf("%w: %s needs more than %d parts of %d bytes", provider.ErrInvalid, what, Limits.MaxParts, ps)
		}
	}
	if err := g.Wait(); err != nil {
		return provider.Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return provider.Object{}, err
	}
	if size >= 0 && total != size {
		return provider.Object{}, fmt.Errorf("%w: reader gave %d bytes, expected %d", provider.ErrInvalid, total, size)
	}
	sum := hex.EncodeToString(whole.Sum(nil))
	o, err := s.c.CompleteUpload(ctx, up.ID, fastrapi.CompleteRequest{Parts: parts, SHA256: sum})
	if err != nil {
		return provider.Object{}, mapError(err, what)
	}
	return verified(objectFrom(o), sum, what)
}

// CreateMultipart implements provider.MultipartUploader: it opens an upload
// session on the server.
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if err := provider.NoMetadata("fastr", opts); err != nil {
		return provider.Upload{}, err
	}
	u, err := s.c.CreateUpload(ctx, bucket, key, opts.ContentType)
	if err != nil {
		return provider.Upload{}, mapError(err, bucket+"/"+key)
	}
	return provider.Upload{Bucket: bucket, Key: key, ID: u.ID}, nil
}

func checkUpload(u provider.Upload) error {
	if u.ID == "" {
		return fmt.Errorf("%w: empty upload id", provider.ErrInvalid)
	}
	return nil
}

// UploadPart hashes the part first (r is seekable for exactly this), so the
// server can refuse a part that changed on the way.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return provider.Part{}, err
	}
	if n < 1 || n > Limits.MaxParts {
		return provider.Part{}, fmt.Errorf("%w: part number %d", provider.ErrInvalid, n)
	}
	var h hash.Hash = sha256.New()
	if _, err := io.Copy(h, io.LimitReader(r, size)); err != nil {
		return provider.Part{}, fmt.Errorf("hashing part %d: %w", n, err)
	}
	if _, err := r.Seek(-size, io.SeekCurrent); err != nil {
		return provider.Part{}, fmt.Errorf("rewinding part %d: %w", n, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	p, err := s.c.UploadPart(ctx, u.ID, n, io.LimitReader(r, size), size, sum)
	if err != nil {
		return provider.Part{}, mapError(err, u.Bucket+"/"+u.Key)
	}
	// The part's ETag is the SHA-256 the server computed over what it
	// stored (and it refused the part unless that was sum).
	if p.ETag != sum {
		return provider.Part{}, fmt.Errorf("%w: %s/%s part %d stored with SHA-256 %q, sent %s", provider.ErrChecksum, u.Bucket, u.Key, n, p.ETag, sum)
	}
	return provider.Part{Number: p.Number, Size: p.Size, ETag: p.ETag, Checksum: provider.Checksum{Hash: provider.HashSHA256, Value: p.ETag}}, nil
}

// CompleteMultipart implements provider.MultipartUploader: the server
// assembles the parts in number order, checking each against the SHA-256 it
// was stored with.
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	if err := checkUpload(u); err != nil {
		return provider.Object{}, err
	}
	ps := slices.Clone(parts)
	slices.SortFunc(ps, func(a, b provider.Part) int { return a.Number - b.Number })
	req := fastrapi.CompleteRequest{Parts: make([]fastrapi.PartInfo, len(ps))}
	for i, p := range ps {
		req.Parts[i] = fastrapi.PartInfo{Number: p.Number, Size: p.Size, ETag: p.ETag}
	}
	o, err := s.c.CompleteUpload(ctx, u.ID, req)
	if err != nil {
		return provider.Object{}, mapError(err, u.Bucket+"/"+u.Key)
	}
	return objectFrom(o), nil
}

// AbortMultipart implements provider.MultipartUploader: the server discards
// the session and its parts.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	return mapError(s.c.AbortUpload(ctx, u.ID), u.Bucket+"/"+u.Key)
}

// ListParts implements provider.MultipartUploader: the parts the server
// holds, each with the SHA-256 it computed as checksum.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return nil, err
	}
	info, err := s.c.GetUpload(ctx, u.ID)
	if err != nil {
		return nil, mapError(err, u.Bucket+"/"+u.Key)
	}
	out := make([]provider.Part, len(info.Parts))
	for i, p := range info.Parts {
		out[i] = provider.Part{Number: p.Number, Size: p.Size, ETag: p.ETag, Checksum: provider.Checksum{Hash: provider.HashSHA256, Value: p.ETag}}
	}
	return out, nil
}

// ListUploads implements provider.MultipartUploader: the open sessions in
// the bucket whose key starts with prefix.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	us, err := s.c.ListUploads(ctx, bucket, prefix)
	if err != nil {
		return nil, mapError(err, bucket)
	}
	out := make([]provider.Upload, len(us))
	for i, u := range us {
		out[i] = provider.Upload{Bucket: u.Bucket, Key: u.Key, ID: u.ID}
	}
	return out, nil
}

// PresignURL signs the URL with the account's secret; the server checks the
// method, expiry, and for PUT the content type.
func (s *Storage) PresignURL(_ context.Context, bucket, key string, opts provider.PresignOptions) (string, error) {
	if opts.Method != http.MethodGet && opts.Method != http.MethodPut {
		return "", fmt.Errorf("%w: presigned %q URLs (GET and PUT only)", provider.ErrInvalid, opts.Method)
	}
	if opts.Expiry > fastrapi.MaxPresignExpiry || opts.Expiry < 0 {
		return "", fmt.Errorf("%w: expiry %s outside 0..%s", provider.ErrInvalid, opts.Expiry, fastrapi.MaxPresignExpiry)
	}
	po := fastrapi.PresignOptions{Method: opts.Method, Expiry: opts.Expiry, ContentType: opts.ContentType}
	if opts.ForceDownload && opts.Method == http.MethodGet {
		name := opts.FileName
		if name == "" {
			name = path.Base(key)
		}
		po.Disposition = mime.FormatMediaType("attachment", map[string]string{"filename": name})
	}
	return s.c.PresignURL(bucket, key, po), nil
}
