package gcs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/storage"

	"github.com/amove/amove-go/provider"
)

const (
	// chunkMultiple is the granularity of resumable upload chunks.
	chunkMultiple = 256 << 10
	// defaultChunk is the client library's default: big enough for few
	// round trips, small enough to buffer per concurrent write.
	defaultChunk = 16 << 20
	// maxChunk bounds the per-write buffer a caller's PartSize can ask for.
	maxChunk = 256 << 20
)

// objectFrom converts the client's attributes.
func objectFrom(a *storage.ObjectAttrs) provider.Object {
	o := provider.Object{
		Key:         a.Name,
		Size:        a.Size,
		ModTime:     a.Updated,
		ETag:        a.Etag,
		ContentType: a.ContentType,
		IsFolder:    strings.HasSuffix(a.Name, "/"),
	}
	if len(a.MD5) > 0 {
		o.Checksums.MD5 = hex.EncodeToString(a.MD5)
	}
	// The client reports CRC32C as a number; zero is both "unknown" and a
	// real checksum, and only the empty object has it, so keep it there.
	if a.CRC32C != 0 || a.Size == 0 {
		o.Checksums.CRC32C = hex.EncodeToString(binary.BigEndian.AppendUint32(nil, a.CRC32C))
	}
	if len(a.Metadata) > 0 {
		o.Metadata = a.Metadata
	}
	return o
}

// bucket returns the handle of a bucket for calls made with ctx. Under
// provider.WithoutRetries the client sends each request once, because the
// caller (the transfer engine) retries the whole step; otherwise the
// client's default retries apply.
func (s *Storage) bucket(ctx context.Context, name string) *storage.BucketHandle {
	b := s.client.Bucket(name)
	if provider.RetriesDisabled(ctx) {
		b = b.Retryer(storage.WithPolicy(storage.RetryNever))
	}
	return b
}

// object is bucket's object handle, with the same retries.
func (s *Storage) object(ctx context.Context, bucket, key string) *storage.ObjectHandle {
	return s.bucket(ctx, bucket).Object(key)
}

// Stat returns the object's attributes.
func (s *Storage) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	a, err := s.object(ctx, bucket, key).Attrs(ctx)
	if err != nil {
		return provider.Object{}, mapErr(err, bucket+"/"+key)
	}
	return objectFrom(a), nil
}

// NewRangeReader reads length bytes from offset (to the end when length < 0).
func (s *Storage) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	if length < 0 {
		length = -1 // the client's "to the end"
	}
	r, err := s.object(ctx, bucket, key).NewRangeReader(ctx, offset, length)
	if err != nil {
		return nil, mapErr(err, bucket+"/"+key)
	}
	return &reader{r: r, what: bucket + "/" + key}, nil
}

// reader maps errors that surface mid-body.
type reader struct {
	r    *storage.Reader
	what string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = mapErr(err, r.what)
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }

// chunkSize turns a requested part size into a resumable chunk size: a
// multiple of 256 KiB, at most maxChunk.
func chunkSize(partSize int64) int {
	if partSize <= 0 {
		return defaultChunk
	}
	partSize = min(partSize, maxChunk)
	if rem := partSize % chunkMultiple; rem != 0 {
		partSize += chunkMultiple - rem
	}
	return int(partSize)
}

// Write uploads r as key: in one request when it fits in a chunk, otherwise
// as a resumable upload, which Cloud Storage only commits when the final
// chunk arrives. A failing reader or a cancelled ctx cancels the upload
// before that, so nothing is left behind.
//
// Integrity: the client sends the CRC32C of the bytes with the request (or
// the final chunk), which Cloud Storage checks before it commits, and the
// driver compares its own CRC32C of the bytes read with the one the service
// reports for the stored object: the Object returned is verified by CRC32C.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	a, verified, err := s.writeOpts(ctx, s.object(ctx, bucket, key), r, size, opts, nil)
	if err != nil {
		return provider.Object{}, err
	}
	o := objectFrom(a)
	o.Verified = verified
	return o, nil
}

func (s *Storage) write(ctx context.Context, obj *storage.ObjectHandle, r io.Reader, size int64, opts provider.WriteOptions) (*storage.ObjectAttrs, error) {
	a, _, err := s.writeOpts(ctx, obj, r, size, opts, nil)
	return a, err
}

// writeOpts is write with a hook to set more Writer fields. It reports the
// checksum it compared with the stored object's: CRC32C, or none when the
// service reported none.
func (s *Storage) writeOpts(ctx context.Context, obj *storage.ObjectHandle, r io.Reader, size int64, opts provider.WriteOptions, tweak func(*storage.Writer)) (*storage.ObjectAttrs, provider.Hash, error) {
	what := obj.BucketName() + "/" + obj.ObjectName()
	// The writer aborts the upload when its context ends: the only way to
	// abandon it without committing what was written.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := obj.NewWriter(wctx)
	w.ContentType = opts.ContentType
	w.Metadata = opts.Metadata
	w.ChunkSize = chunkSize(opts.PartSize)
	if size >= 0 && size < int64(w.ChunkSize) {
		// A known small object goes in one request; the buffer need not be
		// bigger than the object.
		w.ChunkSize = chunkSize(max(size, 1))
	}
	if tweak != nil {
		tweak(w)
	}

	cr := &countingReader{ctx: ctx, r: r, crc: crc32.New(provider.CRC32C)}
	_, err := io.Copy(w, cr)
	if err == nil && size >= 0 && cr.n != size {
		err = fmt.Errorf("%w: read %d bytes, expected %d", provider.ErrInvalid, cr.n, size)
	}
	if err != nil {
		cancel()
		_ = w.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, "", cerr
		}
		if cr.err != nil {
			return nil, "", cr.err // the caller's reader failed: return its error
		}
		return nil, "", mapErr(err, what)
	}
	if err := w.Close(); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, "", cerr
		}
		return nil, "", mapErr(err, what)
	}
	a := w.Attrs()
	verified, err := s.checkStored(ctx, obj, a, cr.crc.Sum32(), w.MD5)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	return a, verified, nil
}

// checkStored compares the digests the service reports for a stored object
// with the CRC32C (and MD5, when given) of the bytes sent. The service
// checks what the client sends before it commits, but an emulator may not
// (fake-gcs-server ignores the hashes of resumable uploads), so the driver
// compares too. A mismatch deletes that generation of the object, which
// holds damaged bytes, and matches provider.ErrChecksum.
func (s *Storage) checkStored(ctx context.Context, obj *storage.ObjectHandle, a *storage.ObjectAttrs, crc uint32, md5sum []byte) (provider.Hash, error) {
	if a == nil {
		return "", nil
	}
	var bad string
	switch {
	case len(md5sum) > 0 && len(a.MD5) > 0 && !bytes.Equal(md5sum, a.MD5):
		bad = fmt.Sprintf("MD5 %x, sent %x", a.MD5, md5sum)
	case a.CRC32C != crc && (a.CRC32C != 0 || a.Size == 0):
		bad = fmt.Sprintf("CRC32C %08x, sent %08x", a.CRC32C, crc)
	}
	if bad != "" {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := obj.Generation(a.Generation).Delete(dctx); err != nil {
			s.log.WarnContext(ctx, "gcs: a damaged object could not be deleted", "bucket", a.Bucket, "key", a.Name, "err", err)
		}
		return "", fmt.Errorf("%w: stored with %s", provider.ErrChecksum, bad)
	}
	if a.CRC32C == 0 && a.Size > 0 {
		return "", nil // the service reported no CRC32C
	}
	return provider.HashCRC32C, nil
}

// countingReader counts bytes, stops once ctx is done (a reader that never
// blocks would otherwise keep io.Copy busy), and remembers the reader's own
// error apart from the writer's.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
	err error
	crc hash.Hash32 // hashes what was read, when set
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.crc != nil {
		c.crc.Write(p[:n])
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// Delete removes the object. A missing object is not an error; a missing
// bucket is, which costs one bucket lookup when the object is missing.
func (s *Storage) Delete(ctx context.Context, bucket, key string) error {
	err := s.object(ctx, bucket, key).Delete(ctx)
	if !errors.Is(err, storage.ErrObjectNotExist) {
		return mapErr(err, bucket+"/"+key)
	}
	if _, err := s.bucket(ctx, bucket).Attrs(ctx); err != nil {
		return mapErr(err, bucket)
	}
	return nil
}

// CreateFolder writes an empty marker object whose key ends in "/".
func (s *Storage) CreateFolder(ctx context.Context, bucket, key string) error {
	_, err := s.write(ctx, s.object(ctx, bucket, key), strings.NewReader(""), 0, provider.WriteOptions{ContentType: "application/x-directory"})
	return err
}

// Copy copies inside Cloud Storage (rewrite), looping over rewrite tokens
// for large or cross-location copies.
func (s *Storage) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	a, err := s.object(ctx, dstBucket, dstKey).CopierFrom(s.object(ctx, srcBucket, srcKey)).Run(ctx)
	if err != nil {
		return provider.Object{}, mapErr(err, srcBucket+"/"+srcKey+" -> "+dstBucket+"/"+dstKey)
	}
	return objectFrom(a), nil
}
