// Package memory is a complete in-memory driver. It implements provider.Storage
// and every optional interface it can honour for real: multipart uploads (with
// S3's part rules), presigned URLs (it is its own http.Handler), buckets,
// server-side copy and MD5/SHA-256 checksums. Examples and engine tests use it
// where a network server would only add noise.
package memory

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/provider"
)

// Options configure a memory Storage.
type Options struct {
	// Limits are the multipart rules enforced on CompleteMultipart; the zero
	// value means S3's (5 MiB minimum part, 10,000 parts).
	Limits provider.PartLimits
	// BaseURL is where the Storage is served as an http.Handler; presigned
	// URLs point there. Without it PresignURL returns ErrUnsupported.
	BaseURL string
}

// Storage is an in-memory provider.Storage. It is safe for concurrent use.
type Storage struct {
	mu      sync.RWMutex
	opts    Options
	secret  []byte
	buckets map[string]*bucket
	uploads map[string]*upload
	closed  bool
}

type bucket struct {
	created time.Time
	objects map[string]*object
}

type object struct {
	data        []byte
	modTime     time.Time
	contentType string
	metadata    map[string]string // user metadata, as written
	md5, sha256 string
	// etag differs from md5 for multipart objects, as on S3:
	// hex(md5(part md5s...)) + "-" + part count.
	etag string
	// partSize and parts describe a multipart object's layout.
	partSize int64
	parts    int
}

type upload struct {
	provider.Upload
	opts    provider.WriteOptions
	created time.Time
	parts   map[int][]byte
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
	_ provider.Presigner         = (*Storage)(nil)
	_ provider.BucketManager     = (*Storage)(nil)
	_ provider.Copier            = (*Storage)(nil)
	_ provider.Hasher            = (*Storage)(nil)
	_ provider.PartLayouter      = (*Storage)(nil)
)

// DefaultLimits are S3's multipart rules.
var DefaultLimits = provider.PartLimits{
	MinPartSize:  5 << 20,
	MaxPartSize:  5 << 30,
	MaxParts:     10000,
	MaxSinglePut: 5 << 30,
}

// New returns an empty Storage.
func New(opts Options) *Storage {
	if opts.Limits == (provider.PartLimits{}) {
		opts.Limits = DefaultLimits
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return &Storage{
		opts:    opts,
		secret:  secret,
		buckets: map[string]*bucket{},
		uploads: map[string]*upload{},
	}
}

// SetBaseURL sets where the Storage is served, for presigned URLs. Tests call
// it after starting an httptest.Server with the Storage as handler.
func (s *Storage) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.BaseURL = strings.TrimSuffix(u, "/")
}

// Close implements provider.Storage. It only marks the Storage closed: the
// objects stay in memory, so a test can still inspect them.
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Hashes implements provider.Hasher: every object carries its MD5 and
// SHA-256, multipart objects included.
func (s *Storage) Hashes() []provider.Hash {
	return []provider.Hash{provider.HashMD5, provider.HashSHA256}
}

// PartLimits implements provider.MultipartUploader: it returns
// Options.Limits, which CompleteMultipart enforces.
func (s *Storage) PartLimits() provider.PartLimits { return s.opts.Limits }

// CreateBucket makes a bucket. The region is ignored.
func (s *Storage) CreateBucket(ctx context.Context, name, region string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buckets[name]; ok {
		return fmt.Errorf("%w: bucket %q", provider.ErrExists, name)
	}
	s.buckets[name] = &bucket{created: time.Now().UTC(), objects: map[string]*object{}}
	return nil
}

// DeleteBucket implements provider.BucketManager. A missing bucket is
// ErrNotFound and one that still holds objects ErrInvalid, as on S3.
func (s *Storage) DeleteBucket(ctx context.Context, name string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[name]
	if !ok {
		return fmt.Errorf("%w: bucket %q", provider.ErrNotFound, name)
	}
	if len(b.objects) > 0 {
		return fmt.Errorf("%w: bucket %q is not empty", provider.ErrInvalid, name)
	}
	delete(s.buckets, name)
	return nil
}

// ListBuckets implements provider.Storage: every bucket, sorted by name.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]provider.Bucket, 0, len(s.buckets))
	for _, name := range slices.Sorted(maps.Keys(s.buckets)) {
		out = append(out, provider.Bucket{Name: name, Created: s.buckets[name].created})
	}
	return out, nil
}

// bucketLocked returns the bucket or ErrNotFound; s.mu must be held.
func (s *Storage) bucketLocked(name string) (*bucket, error) {
	b, ok := s.buckets[name]
	if !ok {
		return nil, fmt.Errorf("%w: bucket %q", provider.ErrNotFound, name)
	}
	return b, nil
}

// Listing tokens say what the last entry was: "k" + key for an object, "f" +
// prefix for a folder, so that resuming after a folder skips everything in it.
func (s *Storage) ListObjects(ctx context.Context, bucketName string, opts provider.ListOptions) (provider.Page, error) {
	if err := ctx.Err(); err != nil {
		return provider.Page{}, err
	}
	max := opts.MaxKeys
	if max <= 0 || max > 1000 {
		max = 1000
	}
	var afterKey, afterFolder string
	if opts.Token != "" {
		switch opts.Token[0] {
		case 'k':
			afterKey = opts.Token[1:]
		case 'f':
			afterFolder = opts.Token[1:]
			afterKey = afterFolder
		default:
			return provider.Page{}, fmt.Errorf("%w: bad continuation token", provider.ErrInvalid)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, err := s.bucketLocked(bucketName)
	if err != nil {
		return provider.Page{}, err
	}
	keys := make([]string, 0, len(b.objects))
	for k := range b.objects {
		if strings.HasPrefix(k, opts.Prefix) && k > afterKey {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var page provider.Page
	last := ""
	for _, k := range keys {
		if afterFolder != "" && strings.HasPrefix(k, afterFolder) {
			continue
		}
		if k == opts.Prefix && opts.Delimiter != "" && strings.HasSuffix(k, opts.Delimiter) {
			continue // the folder marker of the folder being listed
		}
		if len(page.Objects) == max {
			page.NextToken = last
			break
		}
		rest := k[len(opts.Prefix):]
		if opts.Delimiter != "" {
			if i := strings.Index(rest, opts.Delimiter); i >= 0 {
				folder := opts.Prefix + rest[:i+len(opts.Delimiter)]
				page.Objects = append(page.Objects, provider.Object{Key: folder, IsFolder: true})
				last = "f" + folder
				afterFolder = folder
				continue
			}
		}
		page.Objects = append(page.Objects, b.objects[k].info(k))
		last = "k" + k
	}
	return page, nil
}

func (o *object) info(key string) provider.Object {
	return provider.Object{
		Key:         key,
		Size:        int64(len(o.data)),
		ModTime:     o.modTime,
		ETag:        `"` + o.etag + `"`,
		ContentType: o.contentType,
		Checksums:   provider.Checksums{MD5: o.md5, SHA256: o.sha256},
		IsFolder:    strings.HasSuffix(key, "/"),
		Metadata:    maps.Clone(o.metadata),
	}
}

func (s *Storage) lookup(bucketName, key string) (*object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, err := s.bucketLocked(bucketName)
	if err != nil {
		return nil, err
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", provider.ErrNotFound, bucketName, key)
	}
	return o, nil
}

// Stat implements provider.Storage: the object's size, times, ETag, content
// type and checksums. A missing bucket or key is ErrNotFound.
func (s *Storage) Stat(ctx context.Context, bucketName, key string) (provider.Object, error) {
	if err := ctx.Err(); err != nil {
		return provider.Object{}, err
	}
	o, err := s.lookup(bucketName, key)
	if err != nil {
		return provider.Object{}, err
	}
	return o.info(key), nil
}

// NewRangeReader implements provider.Storage. The reader serves the stored
// bytes without copying them (objects are immutable once stored) and fails
// once ctx is done, like a network body.
func (s *Storage) NewRangeReader(ctx context.Context, bucketName, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, err := s.lookup(bucketName, key)
	if err != nil {
		return nil, err
	}
	size := int64(len(o.data))
	if offset > size || (offset == size && size > 0) {
		return nil, fmt.Errorf("%w: range offset %d beyond size %d", provider.ErrInvalid, offset, size)
	}
	end := size
	if length >= 0 && offset+length < size {
		end = offset + length
	}
	// Objects are immutable once stored (writes replace the *object), so the
	// slice can be read without the lock.
	return &ctxReader{ctx: ctx, r: bytes.NewReader(o.data[offset:end])}, nil
}

// ctxReader stops a read once ctx is done, like a network body would.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c *ctxReader) Close() error { return nil }

// readAll reads r while honouring ctx, so a cancelled write stops promptly
// even when r never returns EOF. It collects fixed chunks and joins them at
// the end: growing one buffer would copy ever larger slices and could stall
// a cancellation for seconds.
func readAll(ctx context.Context, r io.Reader, size int64) ([]byte, error) {
	var chunks [][]byte
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := make([]byte, 256<<10)
		n, err := io.ReadFull(r, chunk)
		if n > 0 {
			chunks = append(chunks, chunk[:n])
			total += n
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if size >= 0 && int64(total) != size {
		return nil, fmt.Errorf("%w: read %d bytes, expected %d", provider.ErrInvalid, total, size)
	}
	return bytes.Join(chunks, nil), nil
}

// userMetadata is the metadata to store: a copy, or nil when empty.
func userMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	return maps.Clone(md)
}

func newObject(data []byte, contentType string) *object {
	m := md5.Sum(data)
	h := sha256.Sum256(data)
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return &object{
		data:        data,
		modTime:     time.Now().UTC(),
		contentType: contentType,
		md5:         hex.EncodeToString(m[:]),
		etag:        hex.EncodeToString(m[:]),
		sha256:      hex.EncodeToString(h[:]),
	}
}

func (s *Storage) put(bucketName, key string, o *object) (provider.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucketLocked(bucketName)
	if err != nil {
		return provider.Object{}, err
	}
	b.objects[key] = o
	return o.info(key), nil
}

// Write implements provider.Storage: it reads r to the end (failing when it
// does not yield exactly size bytes, unless size is -1) and then stores the
// object in one step, so a cancelled or failed write leaves nothing behind.
// The returned object's MD5 is marked verified.
func (s *Storage) Write(ctx context.Context, bucketName, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	// Fail fast on a missing bucket before reading the body.
	s.mu.RLock()
	_, err := s.bucketLocked(bucketName)
	s.mu.RUnlock()
	if err != nil {
		return provider.Object{}, err
	}
	data, err := readAll(ctx, r, size)
	if err != nil {
		return provider.Object{}, err
	}
	obj := newObject(data, opts.ContentType)
	obj.metadata = userMetadata(opts.Metadata)
	o, err := s.put(bucketName, key, obj)
	if err != nil {
		return provider.Object{}, err
	}
	// The stored object's MD5 is computed over exactly the bytes given.
	o.Verified = provider.HashMD5
	return o, nil
}

// Delete implements provider.Storage. A missing key is not an error; a
// missing bucket is ErrNotFound.
func (s *Storage) Delete(ctx context.Context, bucketName, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucketLocked(bucketName)
	if err != nil {
		return err
	}
	delete(b.objects, key)
	return nil
}

// CreateFolder implements provider.Storage: it stores an empty object of
// type application/x-directory under key, which ends in "/".
func (s *Storage) CreateFolder(ctx context.Context, bucketName, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.put(bucketName, key, newObject(nil, "application/x-directory"))
	return err
}

// Copy implements provider.Copier: the destination shares the source's bytes
// and checksums and gets a new modification time.
func (s *Storage) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	if err := ctx.Err(); err != nil {
		return provider.Object{}, err
	}
	o, err := s.lookup(srcBucket, srcKey)
	if err != nil {
		return provider.Object{}, err
	}
	cp := *o
	cp.modTime = time.Now().UTC()
	return s.put(dstBucket, dstKey, &cp)
}

// PartLayout reports how a multipart object was split; other objects are
// one part.
func (s *Storage) PartLayout(ctx context.Context, bucketName, key string) (int64, int, error) {
	o, err := s.lookup(bucketName, key)
	if err != nil {
		return 0, 0, err
	}
	if o.parts == 0 {
		return int64(len(o.data)), 1, nil
	}
	return o.partSize, o.parts, nil
}
