package memory

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/amove/amove-go/provider"
)

// CreateMultipart implements provider.MultipartUploader: it opens an upload
// with a random id in an existing bucket.
func (s *Storage) CreateMultipart(ctx context.Context, bucketName, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if err := ctx.Err(); err != nil {
		return provider.Upload{}, err
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	u := provider.Upload{Bucket: bucketName, Key: key, ID: hex.EncodeToString(id)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucketLocked(bucketName); err != nil {
		return provider.Upload{}, err
	}
	s.uploads[u.ID] = &upload{Upload: u, opts: opts, created: time.Now(), parts: map[int][]byte{}}
	return u, nil
}

func (s *Storage) uploadLocked(u provider.Upload) (*upload, error) {
	up, ok := s.uploads[u.ID]
	if !ok || up.Bucket != u.Bucket || up.Key != u.Key {
		return nil, fmt.Errorf("%w: upload %q of %s/%s", provider.ErrNotFound, u.ID, u.Bucket, u.Key)
	}
	return up, nil
}

// UploadPart implements provider.MultipartUploader: it keeps part n in
// memory, replacing an earlier part n, and returns its MD5 as ETag and
// checksum.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if r == nil {
		return provider.Part{}, fmt.Errorf("%w: nil reader", provider.ErrInvalid)
	}
	if n < 1 || n > s.opts.Limits.MaxParts {
		return provider.Part{}, fmt.Errorf("%w: part number %d outside 1..%d", provider.ErrInvalid, n, s.opts.Limits.MaxParts)
	}
	if size < 0 || size > s.opts.Limits.MaxPartSize {
		return provider.Part{}, fmt.Errorf("%w: part size %d", provider.ErrInvalid, size)
	}
	data, err := readAll(ctx, r, size)
	if err != nil {
		return provider.Part{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	up, err := s.uploadLocked(u)
	if err != nil {
		return provider.Part{}, err
	}
	up.parts[n] = data
	return partInfo(n, data), nil
}

func partInfo(n int, data []byte) provider.Part {
	m := md5.Sum(data)
	sum := hex.EncodeToString(m[:])
	return provider.Part{Number: n, Size: int64(len(data)), ETag: `"` + sum + `"`, Checksum: provider.Checksum{Hash: provider.HashMD5, Value: sum}}
}

// ListParts implements provider.MultipartUploader: the parts uploaded so
// far, by ascending number.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	up, err := s.uploadLocked(u)
	if err != nil {
		return nil, err
	}
	var parts []provider.Part
	for _, n := range slices.Sorted(maps.Keys(up.parts)) {
		parts = append(parts, partInfo(n, up.parts[n]))
	}
	return parts, nil
}

// ListUploads implements provider.MultipartUploader: the open uploads in the
// bucket whose key starts with prefix, sorted by key and id.
func (s *Storage) ListUploads(ctx context.Context, bucketName, prefix string) ([]provider.Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.bucketLocked(bucketName); err != nil {
		return nil, err
	}
	var out []provider.Upload
	for _, up := range s.uploads {
		if up.Bucket == bucketName && strings.HasPrefix(up.Key, prefix) {
			out = append(out, up.Upload)
		}
	}
	slices.SortFunc(out, func(a, b provider.Upload) int { return strings.Compare(a.Key+a.ID, b.Key+b.ID) })
	return out, nil
}

// AbortMultipart implements provider.MultipartUploader: it drops the upload
// and its parts. An unknown upload is ErrNotFound.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.uploadLocked(u); err != nil {
		return err
	}
	delete(s.uploads, u.ID)
	return nil
}

// CompleteMultipart enforces S3's rules: parts ascending, each named part
// uploaded with the same ETag, every part but the last at least MinPartSize
// (and equal in size when EqualParts is set).
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	if err := ctx.Err(); err != nil {
		return provider.Object{}, err
	}
	if len(parts) == 0 {
		return provider.Object{}, fmt.Errorf("%w: no parts", provider.ErrInvalid)
	}
	s.mu.Lock()
	up, err := s.uploadLocked(u)
	if err != nil {
		s.mu.Unlock()
		return provider.Object{}, err
	}
	lim := s.opts.Limits
	var buf bytes.Buffer
	var first int64
	etag := md5.New()
	for i, p := range parts {
		data, ok := up.parts[p.Number]
		if !ok || partInfo(p.Number, data).ETag != p.ETag {
			s.mu.Unlock()
			return provider.Object{}, fmt.Errorf("%w: InvalidPart %d", provider.ErrInvalid, p.Number)
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			s.mu.Unlock()
			return provider.Object{}, fmt.Errorf("%w: InvalidPartOrder", provider.ErrInvalid)
		}
		size := int64(len(data))
		if i == 0 {
			first = size
		}
		last := i == len(parts)-1
		if !last && size < lim.MinPartSize {
			s.mu.Unlock()
			return provider.Object{}, fmt.Errorf("%w: EntityTooSmall: part %d is %d bytes", provider.ErrInvalid, p.Number, size)
		}
		if lim.EqualParts && ((!last && size != first) || (last && size > first)) {
			s.mu.Unlock()
			return provider.Object{}, fmt.Errorf("%w: all non-trailing parts must have the same length", provider.ErrInvalid)
		}
		if lim.PartMultiple > 0 && !last && size%lim.PartMultiple != 0 {
			s.mu.Unlock()
			return provider.Object{}, fmt.Errorf("%w: part %d is not a multiple of %d", provider.ErrInvalid, p.Number, lim.PartMultiple)
		}
		buf.Write(data)
		m := md5.Sum(data)
		etag.Write(m[:])
	}
	delete(s.uploads, u.ID)
	s.mu.Unlock()
	o := newObject(buf.Bytes(), up.opts.ContentType)
	o.metadata = userMetadata(up.opts.Metadata)
	o.etag = fmt.Sprintf("%x-%d", etag.Sum(nil), len(parts))
	o.partSize, o.parts = first, len(parts)
	return s.put(u.Bucket, u.Key, o)
}
