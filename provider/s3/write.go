package s3

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/amove/amove-go/provider"
)

const (
	defaultPartSize    = 16 << 20
	defaultConcurrency = 4
	// abortTimeout bounds the clean-up of a failed multipart write, which
	// runs after the caller's context is already done.
	abortTimeout = 30 * time.Second
)

// partSize picks the part size for an object of size bytes (-1: unknown).
func partSize(lim provider.PartLimits, requested, size int64) int64 {
	return lim.PartSize(requested, defaultPartSize, size)
}

// Write stores r. Objects that fit in one part go up in a single PUT; larger
// ones, and streams of unknown size that turn out larger, go up as a
// multipart upload with Concurrency parts in flight. A failed or cancelled
// multipart write is aborted, so no object and no orphaned parts remain.
//
// Integrity: where the server keeps full-object CRC32Cs a single PUT
// carries the body's CRC32C and a multipart upload per-part and
// full-object CRC32Cs; elsewhere the body's or each part's MD5. The server
// checks them before it stores anything; the Object returned names the
// checksum in Verified. A mismatch is an error matching
// provider.ErrChecksum.
//
// A body that is an io.ReadSeeker at its start holding exactly size bytes
// (a *bytes.Reader, a file's io.SectionReader) and fits in one part is
// sent as it is: no buffer, no copy.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if size > s.q.limits.MaxPartSize*int64(s.q.limits.MaxParts) {
		return provider.Object{}, fmt.Errorf("%w: %d bytes exceed the provider's largest object", provider.ErrInvalid, size)
	}
	ps := partSize(s.q.limits, opts.PartSize, size)
	if rs, ok := r.(io.ReadSeeker); ok && size >= 0 && size <= ps && holds(rs, size) {
		// The caller already holds the bytes, or can read them again (the
		// transfer engine's window on a local file): send them without
		// another copy.
		return s.put(ctx, bucket, key, rs, size, opts)
	}
	if size >= 0 && size <= ps {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return provider.Object{}, fmt.Errorf("reading %s/%s: %w", bucket, key, err)
		}
		if err := expectEOF(r, size); err != nil {
			return provider.Object{}, err
		}
		return s.putSingle(ctx, bucket, key, buf, opts)
	}
	// Read the first part before starting an upload, so a small stream of
	// unknown size costs one request, not three.
	first := make([]byte, ps)
	n, err := io.ReadFull(r, first)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if size >= 0 && int64(n) != size {
			return provider.Object{}, fmt.Errorf("%w: reader gave %d bytes, expected %d", provider.ErrInvalid, n, size)
		}
		return s.putSingle(ctx, bucket, key, first[:n], opts)
	case err != nil:
		return provider.Object{}, fmt.Errorf("reading %s/%s: %w", bucket, key, err)
	}
	return s.writeMultipart(ctx, bucket, key, first, r, size, ps, opts)
}

// holds reports whether r is at its start and holds exactly size bytes; it
// leaves r at its start.
func holds(r io.ReadSeeker, size int64) bool {
	if pos, err := r.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		return false
	}
	end, err := r.Seek(0, io.SeekEnd)
	if _, serr := r.Seek(0, io.SeekStart); err != nil || serr != nil {
		return false
	}
	return end == size
}

// expectEOF checks that r holds nothing beyond the size the caller promised.
func expectEOF(r io.Reader, size int64) error {
	var one [1]byte
	n, err := r.Read(one[:])
	if n > 0 {
		return fmt.Errorf("%w: reader holds more than the %d bytes announced", provider.ErrInvalid, size)
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

func (s *Storage) putSingle(ctx context.Context, bucket, key string, data []byte, opts provider.WriteOptions) (provider.Object, error) {
	return s.put(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), opts)
}

// put writes body, at its start, with one PutObject. Where the server
// keeps full-object CRC32Cs it sends the body's CRC32C
// (x-amz-checksum-crc32c), else its MD5 (Content-MD5): either way the
// server refuses (BadDigest) a body that changed on the way, and the
// object returned names the checksum it checked in Verified. The CRC32C
// costs next to nothing to compute (the MD5 was most of an upload's CPU
// per byte), and the server keeps it, so a download of the object is
// checked with a CRC32C too. A server that refuses checksum headers gets
// Content-MD5 from then on (as in createMultipart); one that ignores the
// header (does not report it back) leaves Verified empty: the ETag's MD5 is
// then the caller's to compare (transfer's checkWritten does).
func (s *Storage) put(ctx context.Context, bucket, key string, body io.ReadSeeker, size int64, opts provider.WriteOptions) (provider.Object, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		Metadata:      opts.Metadata,
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	withCRC := s.crc()
	var crc uint32
	var sum []byte
	var err error
	if withCRC {
		crc, err = crcOf(body)
		in.ChecksumCRC32C = aws.String(crcBase64(crc))
	} else {
		sum, err = md5Of(body)
		in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum))
	}
	if err != nil {
		return provider.Object{}, fmt.Errorf("reading %s/%s: %w", bucket, key, err)
	}
	out, err := s.client.PutObject(ctx, in, sdk(ctx)...)
	if err != nil && withCRC && checksumRefused(err) {
		// An S3-compatible server that does not know checksum headers:
		// stop sending them, and send this body again with its MD5.
		s.noChecksums.Store(true)
		if _, serr := body.Seek(0, io.SeekStart); serr != nil {
			return provider.Object{}, fmt.Errorf("reading %s/%s: %w", bucket, key, serr)
		}
		return s.put(ctx, bucket, key, body, size, opts)
	}
	if err != nil {
		return provider.Object{}, mapError(err, bucket+"/"+key)
	}
	o := objectFrom(key, size, time.Now().UTC(), aws.ToString(out.ETag), opts.ContentType)
	reported{crc32: out.ChecksumCRC32, crc32c: out.ChecksumCRC32C, crc64: out.ChecksumCRC64NVME,
		sha1: out.ChecksumSHA1, sha256: out.ChecksumSHA256, typ: out.ChecksumType}.fill(&o.Checksums)
	switch {
	case !withCRC:
		// The server stored the body only because its MD5 was sum.
		o.Checksums.MD5 = hex.EncodeToString(sum)
		o.Verified = provider.HashMD5
	case o.Checksums.CRC32C == provider.FormatCRC32C(crc):
		// The server reports the CRC32C it checked the body against. (One
		// that reports none may have ignored the header; one that reports
		// another is left for the caller's comparison to catch.)
		o.Verified = provider.HashCRC32C
	}
	return o, nil
}

func (s *Storage) writeMultipart(ctx context.Context, bucket, key string, first []byte, r io.Reader, size, ps int64, opts provider.WriteOptions) (obj provider.Object, err error) {
	u, err := s.CreateMultipart(ctx, bucket, key, opts)
	if err != nil {
		return provider.Object{}, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			if aerr := s.AbortMultipart(actx, u); aerr != nil {
				s.log.Warn("s3: aborting multipart upload failed", "bucket", bucket, "key", key, "uploadId", u.ID, "err", aerr)
			}
		}
	}()
	conc := opts.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}
	// conc+1 buffers: conc parts in flight while the next one is read.
	pool := make(chan []byte, conc+1)
	pool <- first
	for range conc {
		pool <- nil // allocated on first use
	}
	g, gctx := errgroup.WithContext(ctx)
	var parts []provider.Part
	var total int64
	partCh := make(chan provider.Part, 16)
	collected := make(chan struct{})
	go func() {
		for p := range partCh {
			parts = append(parts, p)
		}
		close(collected)
	}()
	haveFirst := true
	for n := 1; ; n++ {
		if n > s.q.limits.MaxParts {
			err = fmt.Errorf("%w: stream exceeds %d parts of %d bytes", provider.ErrInvalid, s.q.limits.MaxParts, ps)
			break
		}
		var buf []byte
		select {
		case buf = <-pool:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			break
		}
		if buf == nil {
			buf = make([]byte, ps)
		}
		var nread int
		var rerr error
		if haveFirst {
			nread, haveFirst = len(buf), false
		} else {
			nread, rerr = io.ReadFull(r, buf)
		}
		if nread == 0 && (rerr == io.EOF || rerr == io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			err = fmt.Errorf("reading %s/%s: %w", bucket, key, rerr)
			break
		}
		total += int64(nread)
		g.Go(func() error {
			defer func() { pool <- buf }()
			p, err := s.UploadPart(gctx, u, n, bytes.NewReader(buf[:nread]), int64(nread))
			if err != nil {
				return err
			}
			partCh <- p
			return nil
		})
		if rerr != nil { // short read: that was the last part
			break
		}
	}
	werr := g.Wait()
	close(partCh)
	<-collected
	switch {
	case err != nil:
		return provider.Object{}, err
	case werr != nil:
		return provider.Object{}, werr
	case ctx.Err() != nil:
		return provider.Object{}, ctx.Err()
	case size >= 0 && total != size:
		return provider.Object{}, fmt.Errorf("%w: reader gave %d bytes, expected %d", provider.ErrInvalid, total, size)
	}
	o, err := s.CompleteMultipart(ctx, u, parts)
	if err != nil {
		return provider.Object{}, err
	}
	o.Size = total
	o.ContentType = opts.ContentType
	return o, nil
}

var errNoParts = errors.New("no parts")
