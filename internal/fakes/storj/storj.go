// Package storj is an in-memory fake of a Storj project as uplink presents
// it, for tests where no satellite can run. It implements the driver's
// Project interface (provider/storj) with the behaviour a satellite shows
// through uplink:
//
//   - bucket names of 3 to 63 characters: dot-separated labels of lower-case
//     letters, digits and hyphens that start and end with a letter or digit,
//     and not an IP address (uplink.ErrBucketNameInvalid otherwise);
//   - uplink.ErrBucketAlreadyExists, ErrBucketNotFound, ErrBucketNotEmpty
//     (DeleteBucket on a bucket with objects), ErrObjectNotFound, and
//     ErrObjectKeyInvalid for an empty key;
//   - DeleteObject of a missing key returns (nil, nil);
//   - uploads are invisible until Commit, gone after Abort, and fail with
//     the context once it is done; ErrUploadDone after either;
//   - multipart uploads: metadata given at BeginUpload, parts that can be
//     uploaded again (the last one wins), CommitUpload of every held part
//     in number order, failing when a part but the last is below 5 MiB,
//     uplink.ErrUploadIDInvalid for an unknown upload;
//   - listing with a Prefix that is empty or ends in "/", a Cursor relative
//     to it (the first item is the one after it), and collapsed prefixes
//     (IsPrefix, key ending in "/") unless Recursive; System and Custom
//     metadata only when asked for.
//
// Listings come in plain key order, as on a project whose paths are not
// encrypted; with encrypted paths a satellite lists in the order of the
// encrypted keys. Access grants, caveats, expiry and limits are not
// modelled: every call has full access, and RevokeAccess
// only records the grant.
package storj

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	storjdriver "github.com/amove/amove-go/provider/storj"
	"storj.io/common/grant"
	"storj.io/uplink"
)

// Project is a fake Storj project. It is safe for concurrent use.
type Project struct {
	mu      sync.RWMutex
	buckets map[string]*bucket
	uploads map[string]*pending // by upload id
	revoked map[string]bool     // serialized API keys
	closed  bool
}

// pending is an unfinished multipart upload.
type pending struct {
	bucket, key string
	created     time.Time
	custom      uplink.CustomMetadata
	parts       map[uint32]*part
}

type part struct {
	data     []byte
	etag     []byte
	modified time.Time
}

// MinPartSize is the satellite's smallest part but the last.
const MinPartSize = 5 << 20

type bucket struct {
	created time.Time
	objects map[string]*object
}

type object struct {
	data    []byte
	created time.Time
	custom  uplink.CustomMetadata
}

var _ storjdriver.Project = (*Project)(nil)

// New returns an empty project.
func New() *Project {
	return &Project{buckets: map[string]*bucket{}, uploads: map[string]*pending{}, revoked: map[string]bool{}}
}

// errClosed is what uplink answers on a closed project.
var errClosed = errors.New("uplink: project closed")

// ValidBucketName reports whether a satellite accepts name as a bucket name.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 || net.ParseIP(name) != nil {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func (p *Project) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.closed {
		return errClosed
	}
	return nil
}

// bucketLocked returns the named bucket; p.mu must be held.
func (p *Project) bucketLocked(ctx context.Context, name string) (*bucket, error) {
	if err := p.check(ctx); err != nil {
		return nil, err
	}
	if !ValidBucketName(name) {
		return nil, fmt.Errorf("%w (%q)", uplink.ErrBucketNameInvalid, name)
	}
	b, ok := p.buckets[name]
	if !ok {
		return nil, fmt.Errorf("%w (%q)", uplink.ErrBucketNotFound, name)
	}
	return b, nil
}

// CreateBucket implements storj.Project.
func (p *Project) CreateBucket(ctx context.Context, name string) (*uplink.Bucket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return nil, err
	}
	if !ValidBucketName(name) {
		return nil, fmt.Errorf("%w (%q)", uplink.ErrBucketNameInvalid, name)
	}
	if b, ok := p.buckets[name]; ok {
		return &uplink.Bucket{Name: name, Created: b.created}, fmt.Errorf("%w (%q)", uplink.ErrBucketAlreadyExists, name)
	}
	b := &bucket{created: time.Now().UTC(), objects: map[string]*object{}}
	p.buckets[name] = b
	return &uplink.Bucket{Name: name, Created: b.created}, nil
}

// StatBucket implements storj.Project.
func (p *Project) StatBucket(ctx context.Context, name string) (*uplink.Bucket, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b, err := p.bucketLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	return &uplink.Bucket{Name: name, Created: b.created}, nil
}

// DeleteBucket implements storj.Project: only an empty bucket goes.
func (p *Project) DeleteBucket(ctx context.Context, name string) (*uplink.Bucket, error) {
	return p.deleteBucket(ctx, name, false)
}

// DeleteBucketWithObjects implements storj.Project.
func (p *Project) DeleteBucketWithObjects(ctx context.Context, name string) (*uplink.Bucket, error) {
	return p.deleteBucket(ctx, name, true)
}

func (p *Project) deleteBucket(ctx context.Context, name string, withObjects bool) (*uplink.Bucket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := p.bucketLocked(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(b.objects) > 0 && !withObjects {
		return nil, fmt.Errorf("%w (%q)", uplink.ErrBucketNotEmpty, name)
	}
	delete(p.buckets, name)
	return &uplink.Bucket{Name: name, Created: b.created}, nil
}

// Buckets implements storj.Project, in name order.
func (p *Project) Buckets(ctx context.Context) iter.Seq2[*uplink.Bucket, error] {
	return func(yield func(*uplink.Bucket, error) bool) {
		p.mu.RLock()
		if err := p.check(ctx); err != nil {
			p.mu.RUnlock()
			yield(nil, err)
			return
		}
		var out []*uplink.Bucket
		for _, name := range slices.Sorted(maps.Keys(p.buckets)) {
			out = append(out, &uplink.Bucket{Name: name, Created: p.buckets[name].created})
		}
		p.mu.RUnlock()
		for _, b := range out {
			if !yield(b, nil) {
				return
			}
		}
	}
}

// Objects implements storj.Project.
func (p *Project) Objects(ctx context.Context, bucketName string, opts *uplink.ListObjectsOptions) iter.Seq2[*uplink.Object, error] {
	if opts == nil {
		opts = &uplink.ListObjectsOptions{}
	}
	return func(yield func(*uplink.Object, error) bool) {
		if opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
			yield(nil, fmt.Errorf("uplink: prefix %q should end with slash", opts.Prefix))
			return
		}
		items, err := p.list(ctx, bucketName, opts)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

// list snapshots one listing under the lock.
func (p *Project) list(ctx context.Context, bucketName string, opts *uplink.ListObjectsOptions) ([]*uplink.Object, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b, err := p.bucketLocked(ctx, bucketName)
	if err != nil {
		return nil, err
	}
	var out []*uplink.Object
	lastPrefix := ""
	for _, key := range slices.Sorted(maps.Keys(b.objects)) {
		rel, ok := strings.CutPrefix(key, opts.Prefix)
		if !ok {
			continue
		}
		if !opts.Recursive {
			if i := strings.Index(rel, "/"); i >= 0 {
				dir := rel[:i+1]
				if dir == lastPrefix || dir <= opts.Cursor {
					continue
				}
				lastPrefix = dir
				out = append(out, &uplink.Object{Key: opts.Prefix + dir, IsPrefix: true})
				continue
			}
		}
		if opts.Cursor != "" && rel <= opts.Cursor {
			continue
		}
		o := b.objects[key]
		item := &uplink.Object{Key: key}
		if opts.System {
			item.System = o.system()
		}
		if opts.Custom {
			item.Custom = o.custom.Clone()
		}
		out = append(out, item)
	}
	return out, nil
}

func (o *object) system() uplink.SystemMetadata {
	return uplink.SystemMetadata{Created: o.created, ContentLength: int64(len(o.data))}
}

func (o *object) info(key string) *uplink.Object {
	return &uplink.Object{Key: key, System: o.system(), Custom: o.custom.Clone()}
}

func (p *Project) objectLocked(ctx context.Context, bucketName, key string) (*object, error) {
	b, err := p.bucketLocked(ctx, bucketName)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, uplink.ErrObjectKeyInvalid
	}
	o, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("%w (%q)", uplink.ErrObjectNotFound, key)
	}
	return o, nil
}

// StatObject implements storj.Project.
func (p *Project) StatObject(ctx context.Context, bucketName, key string) (*uplink.Object, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	o, err := p.objectLocked(ctx, bucketName, key)
	if err != nil {
		return nil, err
	}
	return o.info(key), nil
}

// DeleteObject implements storj.Project: a missing key is (nil, nil).
func (p *Project) DeleteObject(ctx context.Context, bucketName, key string) (*uplink.Object, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, err := p.objectLocked(ctx, bucketName, key)
	if errors.Is(err, uplink.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	delete(p.buckets[bucketName].objects, key)
	return o.info(key), nil
}

// UploadObject implements storj.Project.
func (p *Project) UploadObject(ctx context.Context, bucketName, key string, _ *uplink.UploadOptions) (storjdriver.Upload, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if _, err := p.bucketLocked(ctx, bucketName); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, uplink.ErrObjectKeyInvalid
	}
	return &upload{ctx: ctx, p: p, bucket: bucketName, key: key}, nil
}

type upload struct {
	ctx         context.Context
	p           *Project
	bucket, key string
	buf         bytes.Buffer
	custom      uplink.CustomMetadata
	done        bool
	committed   *object
}

func (u *upload) Write(b []byte) (int, error) {
	if u.done {
		return 0, uplink.ErrUploadDone
	}
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	return u.buf.Write(b)
}

func (u *upload) SetCustomMetadata(ctx context.Context, custom uplink.CustomMetadata) error {
	if u.done {
		return uplink.ErrUploadDone
	}
	if err := custom.Verify(); err != nil {
		return err
	}
	u.custom = custom.Clone()
	return nil
}

func (u *upload) Commit() error {
	if u.done {
		return uplink.ErrUploadDone
	}
	u.done = true
	if err := u.ctx.Err(); err != nil {
		return err
	}
	o := &object{data: bytes.Clone(u.buf.Bytes()), created: time.Now().UTC(), custom: u.custom}
	if o.custom == nil {
		o.custom = uplink.CustomMetadata{}
	}
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	b, err := u.p.bucketLocked(context.Background(), u.bucket)
	if err != nil {
		return err
	}
	b.objects[u.key] = o
	u.committed = o
	return nil
}

func (u *upload) Abort() error {
	if u.done {
		return uplink.ErrUploadDone
	}
	u.done = true
	u.buf = bytes.Buffer{}
	return nil
}

func (u *upload) Info() *uplink.Object {
	if u.committed != nil {
		return u.committed.info(u.key)
	}
	return &uplink.Object{Key: u.key, System: uplink.SystemMetadata{ContentLength: int64(u.buf.Len())}, Custom: u.custom.Clone()}
}

// DownloadObject implements storj.Project. A negative Length reads to the
// end; an Offset past the end is an error, as on a satellite.
func (p *Project) DownloadObject(ctx context.Context, bucketName, key string, opts *uplink.DownloadOptions) (storjdriver.Download, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	o, err := p.objectLocked(ctx, bucketName, key)
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &uplink.DownloadOptions{Length: -1}
	}
	size := int64(len(o.data))
	off, n := opts.Offset, opts.Length
	if off < 0 {
		if n >= 0 {
			return nil, errors.New("uplink: suffix download with a length is not supported")
		}
		off = max(size+off, 0)
	}
	if off > size {
		return nil, fmt.Errorf("uplink: offset %d beyond object size %d", off, size)
	}
	end := size
	if n >= 0 && off+n < size {
		end = off + n
	}
	return &download{ctx: ctx, r: bytes.NewReader(o.data[off:end]), info: o.info(key)}, nil
}

type download struct {
	ctx  context.Context
	r    io.Reader
	info *uplink.Object
}

func (d *download) Read(b []byte) (int, error) {
	if err := d.ctx.Err(); err != nil {
		return 0, err
	}
	return d.r.Read(b)
}

func (d *download) Close() error { return nil }

func (d *download) Info() *uplink.Object { return d.info }

// BeginUpload implements storj.Project.
func (p *Project) BeginUpload(ctx context.Context, bucketName, key string, custom uplink.CustomMetadata) (uplink.UploadInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.bucketLocked(ctx, bucketName); err != nil {
		return uplink.UploadInfo{}, err
	}
	if key == "" {
		return uplink.UploadInfo{}, uplink.ErrObjectKeyInvalid
	}
	if err := custom.Verify(); err != nil {
		return uplink.UploadInfo{}, err
	}
	id := newID()
	p.uploads[id] = &pending{bucket: bucketName, key: key, created: time.Now().UTC(), custom: custom.Clone(), parts: map[uint32]*part{}}
	return uplink.UploadInfo{UploadID: id, Key: key, System: uplink.SystemMetadata{Created: p.uploads[id].created}}, nil
}

// pendingLocked returns an upload; p.mu must be held.
func (p *Project) pendingLocked(ctx context.Context, bucketName, key, id string) (*pending, error) {
	if _, err := p.bucketLocked(ctx, bucketName); err != nil {
		return nil, err
	}
	u, ok := p.uploads[id]
	if !ok || u.bucket != bucketName || u.key != key {
		return nil, fmt.Errorf("%w (%q)", uplink.ErrUploadIDInvalid, id)
	}
	return u, nil
}

// UploadPart implements storj.Project.
func (p *Project) UploadPart(ctx context.Context, bucketName, key, id string, n uint32) (storjdriver.PartUpload, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if _, err := p.pendingLocked(ctx, bucketName, key, id); err != nil {
		return nil, err
	}
	return &partUpload{ctx: ctx, p: p, bucket: bucketName, key: key, id: id, n: n}, nil
}

type partUpload struct {
	ctx         context.Context
	p           *Project
	bucket, key string
	id          string
	n           uint32
	buf         bytes.Buffer
	etag        []byte
	done        bool
}

func (u *partUpload) Write(b []byte) (int, error) {
	if u.done {
		return 0, uplink.ErrUploadDone
	}
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	return u.buf.Write(b)
}

func (u *partUpload) SetETag(etag []byte) error {
	if u.done {
		return uplink.ErrUploadDone
	}
	u.etag = bytes.Clone(etag)
	return nil
}

func (u *partUpload) Commit() error {
	if u.done {
		return uplink.ErrUploadDone
	}
	u.done = true
	if err := u.ctx.Err(); err != nil {
		return err
	}
	u.p.mu.Lock()
	defer u.p.mu.Unlock()
	up, err := u.p.pendingLocked(context.Background(), u.bucket, u.key, u.id)
	if err != nil {
		return err
	}
	up.parts[u.n] = &part{data: bytes.Clone(u.buf.Bytes()), etag: u.etag, modified: time.Now().UTC()}
	return nil
}

func (u *partUpload) Abort() error {
	if u.done {
		return uplink.ErrUploadDone
	}
	u.done = true
	return nil
}

func (u *partUpload) Info() *uplink.Part {
	return &uplink.Part{PartNumber: u.n, Size: int64(u.buf.Len()), ETag: u.etag}
}

// CommitUpload implements storj.Project: every held part, in number order.
func (p *Project) CommitUpload(ctx context.Context, bucketName, key, id string, opts *uplink.CommitUploadOptions) (*uplink.Object, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	up, err := p.pendingLocked(ctx, bucketName, key, id)
	if err != nil {
		return nil, err
	}
	numbers := slices.Sorted(maps.Keys(up.parts))
	var data []byte
	for i, n := range numbers {
		if i < len(numbers)-1 && len(up.parts[n].data) < MinPartSize {
			return nil, fmt.Errorf("uplink: metaclient: size of part number %d is below minimum threshold, got: %d, min: %d", n, len(up.parts[n].data), MinPartSize)
		}
		data = append(data, up.parts[n].data...)
	}
	custom := up.custom
	if opts != nil && len(opts.CustomMetadata) > 0 {
		custom = opts.CustomMetadata.Clone()
	}
	o := &object{data: data, created: time.Now().UTC(), custom: custom}
	if o.custom == nil {
		o.custom = uplink.CustomMetadata{}
	}
	p.buckets[bucketName].objects[key] = o
	delete(p.uploads, id)
	return o.info(key), nil
}

// AbortUpload implements storj.Project.
func (p *Project) AbortUpload(ctx context.Context, bucketName, key, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.pendingLocked(ctx, bucketName, key, id); err != nil {
		return err
	}
	delete(p.uploads, id)
	return nil
}

// UploadParts implements storj.Project.
func (p *Project) UploadParts(ctx context.Context, bucketName, key, id string) iter.Seq2[*uplink.Part, error] {
	return func(yield func(*uplink.Part, error) bool) {
		p.mu.RLock()
		up, err := p.pendingLocked(ctx, bucketName, key, id)
		var out []*uplink.Part
		if err == nil {
			for _, n := range slices.Sorted(maps.Keys(up.parts)) {
				pt := up.parts[n]
				out = append(out, &uplink.Part{PartNumber: n, Size: int64(len(pt.data)), Modified: pt.modified, ETag: bytes.Clone(pt.etag)})
			}
		}
		p.mu.RUnlock()
		if err != nil {
			yield(nil, err)
			return
		}
		for _, pt := range out {
			if !yield(pt, nil) {
				return
			}
		}
	}
}

// Uploads implements storj.Project; only recursive listings are modelled.
func (p *Project) Uploads(ctx context.Context, bucketName string, opts *uplink.ListUploadsOptions) iter.Seq2[*uplink.UploadInfo, error] {
	if opts == nil {
		opts = &uplink.ListUploadsOptions{}
	}
	return func(yield func(*uplink.UploadInfo, error) bool) {
		if opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
			yield(nil, fmt.Errorf("uplink: prefix %q should end with slash", opts.Prefix))
			return
		}
		if !opts.Recursive {
			yield(nil, errors.New("fake: non-recursive upload listings are not modelled"))
			return
		}
		p.mu.RLock()
		_, err := p.bucketLocked(ctx, bucketName)
		var out []*uplink.UploadInfo
		for id, up := range p.uploads {
			rel, ok := strings.CutPrefix(up.key, opts.Prefix)
			if err != nil || up.bucket != bucketName || !ok || (opts.Cursor != "" && rel <= opts.Cursor) {
				continue
			}
			out = append(out, &uplink.UploadInfo{UploadID: id, Key: up.key, System: uplink.SystemMetadata{Created: up.created}, Custom: up.custom.Clone()})
		}
		p.mu.RUnlock()
		if err != nil {
			yield(nil, err)
			return
		}
		slices.SortFunc(out, func(a, b *uplink.UploadInfo) int {
			return strings.Compare(a.Key+"\x00"+a.UploadID, b.Key+"\x00"+b.UploadID)
		})
		for _, u := range out {
			if !yield(u, nil) {
				return
			}
		}
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CopyObject implements storj.Project: the copy shares the source's bytes
// and metadata and is created now.
func (p *Project) CopyObject(ctx context.Context, oldBucket, oldKey, newBucket, newKey string, _ *uplink.CopyObjectOptions) (*uplink.Object, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	src, err := p.objectLocked(ctx, oldBucket, oldKey)
	if err != nil {
		return nil, err
	}
	dst, err := p.bucketLocked(ctx, newBucket)
	if err != nil {
		return nil, err
	}
	if newKey == "" {
		return nil, uplink.ErrObjectKeyInvalid
	}
	o := &object{data: src.data, created: time.Now().UTC(), custom: src.custom.Clone()}
	dst.objects[newKey] = o
	return o.info(newKey), nil
}

// RevokeAccess implements storj.Project by recording the grant; the fake
// checks no grants, so a revoked one is only reported by Revoked.
func (p *Project) RevokeAccess(ctx context.Context, access *uplink.Access) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return err
	}
	s, err := access.Serialize()
	if err != nil {
		return err
	}
	key, err := apiKey(s)
	if err != nil {
		return err
	}
	p.revoked[key] = true
	return nil
}

// Revoked reports whether the serialized grant was revoked.
func (p *Project) Revoked(serialized string) bool {
	key, err := apiKey(serialized)
	if err != nil {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.revoked[key]
}

// apiKey returns the grant's API key, which a satellite revokes: the
// serialized grant is not canonical (its encryption keys are a map).
func apiKey(serialized string) (string, error) {
	g, err := grant.ParseAccess(serialized)
	if err != nil {
		return "", err
	}
	return g.APIKey.Serialize(), nil
}

// Close implements storj.Project; later calls fail.
func (p *Project) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return nil
}
