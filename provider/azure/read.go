package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/amove/amove-go/provider"
)

// maxRangeMD5 is the largest range Azure computes an MD5 for when a GET
// asks for one (x-ms-range-get-content-md5). Azure refuses a bigger range
// with 400; Azurite 3.35 answers it without the MD5.
const maxRangeMD5 = 4 << 20

// errClosed is a Read after Close.
var errClosed = errors.New("azure: read of a closed blob reader")

// NewRangeReader reads length bytes from offset (to the end when length < 0,
// and at most to the end when the range runs past it).
//
// The reader GETs the range in spans of at most 4 MiB, each with the MD5 the
// service computes for it, and returns a span's bytes only after they match
// that MD5: a mismatch is a Read error matching provider.ErrChecksum. It is
// a provider.VerifiedReader whose Checksum is the MD5 of the whole range
// once every byte was returned. Only one span is buffered at a time; spans
// after the first are pinned to the blob's ETag, so a blob replaced while it
// is read fails instead of mixing two versions. A span whose body breaks
// off is fetched again (readRetries times), except under
// provider.WithoutRetries, where the caller reads the range again itself.
func (s *Storage) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		// The SDK reads a zero count as "to the end"; check the blob exists
		// and hand back nothing.
		if _, err := s.Stat(ctx, bucket, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	r, err := newVerifiedReader(ctx, s.fetchSpan(bucket, key), bucket+"/"+key, offset, length)
	if err == nil {
		return r, nil
	}
	var re *azcore.ResponseError
	if offset == 0 && errors.As(err, &re) && re.StatusCode == http.StatusRequestedRangeNotSatisfiable ||
		errors.Is(err, errUnverifiable) {
		// An empty blob has no byte 0 to range over (Azure answers 416), and
		// an answer without Content-Range gives no size to split by: read
		// it unchecked, as one plain GET.
		return s.plainReader(ctx, bucket, key, offset, length)
	}
	return nil, err
}

// plainReader reads the range with one GET and no digest.
func (s *Storage) plainReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	opts := &blob.DownloadStreamOptions{}
	if offset > 0 || length > 0 {
		opts.Range = blob.HTTPRange{Offset: offset}
		if length > 0 {
			opts.Range.Count = length
		}
	}
	resp, err := s.blockBlob(bucket, key).DownloadStream(ctx, opts)
	if err != nil {
		return nil, mapErr(err, bucket+"/"+key)
	}
	if provider.RetriesDisabled(ctx) {
		// The caller reads the range again itself.
		return resp.Body, nil
	}
	// A dropped connection resumes where it stopped, pinned to the ETag so
	// a blob replaced meanwhile fails instead of mixing two versions.
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: readRetries}), nil
}

// span is the answer to one ranged GET.
type span struct {
	body  io.ReadCloser
	md5   []byte // the service's MD5 of the range; nil when it sent none
	count int64  // bytes in body (Content-Length); -1 unknown
	size  int64  // the blob's size (Content-Range); -1 unknown
	etag  azcore.ETag
}

// fetchFunc GETs count bytes at off (count <= maxRangeMD5) with the
// service's MD5 of them, only if the blob still has etag when it is set.
type fetchFunc func(ctx context.Context, off, count int64, etag azcore.ETag) (span, error)

func (s *Storage) fetchSpan(bucket, key string) fetchFunc {
	bb := s.blockBlob(bucket, key)
	what := bucket + "/" + key
	return func(ctx context.Context, off, count int64, etag azcore.ETag) (span, error) {
		opts := &blob.DownloadStreamOptions{
			Range:              blob.HTTPRange{Offset: off, Count: count},
			RangeGetContentMD5: to(true),
		}
		if etag != "" {
			opts.AccessConditions = &blob.AccessConditions{
				ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag},
			}
		}
		resp, err := bb.DownloadStream(ctx, opts)
		if err != nil {
			if etag != "" && bloberror.HasCode(err, bloberror.ConditionNotMet) {
				return span{}, fmt.Errorf("%s changed while it was read: %w", what, err)
			}
			return span{}, mapErr(err, what)
		}
		sp := span{body: resp.Body, md5: resp.ContentMD5, count: -1, size: -1}
		if resp.ContentLength != nil {
			sp.count = *resp.ContentLength
		}
		if resp.ContentRange != nil {
			sp.size = rangeSize(*resp.ContentRange)
		}
		if resp.ETag != nil {
			sp.etag = *resp.ETag
		}
		return sp, nil
	}
}

// rangeSize reads the complete length of a Content-Range
// ("bytes 0-99/1234"); -1 when it gives none.
func rangeSize(cr string) int64 {
	_, total, ok := strings.Cut(cr, "/")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// errUnverifiable is a first answer that does not say how big the blob is.
var errUnverifiable = errors.New("azure: ranged GET without Content-Range")

// verifiedReader returns a range span by span, each checked against the MD5
// the service computed for it. See NewRangeReader.
type verifiedReader struct {
	ctx   context.Context
	fetch fetchFunc
	what  string

	next    int64 // offset of the next span to return
	end     int64 // end of the range, exclusive
	etag    azcore.ETag
	first   *span // the answer NewRangeReader got, not read yet
	buf     []byte
	cur     []byte // checked bytes of buf not returned yet
	whole   hash.Hash
	vouched bool // every span so far came with the service's MD5
	err     error
	closed  bool
	done    bool // at Close: every byte was returned
}

var _ provider.VerifiedReader = (*verifiedReader)(nil)

// newVerifiedReader GETs the first span, which tells the blob's size, and
// returns a reader that has read none of its body yet.
func newVerifiedReader(ctx context.Context, fetch fetchFunc, what string, offset, length int64) (*verifiedReader, error) {
	count := int64(maxRangeMD5)
	if length > 0 && length < count {
		count = length
	}
	sp, err := fetch(ctx, offset, count, "")
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if sp.size < 0 {
		sp.body.Close()
		return nil, errUnverifiable
	}
	end := sp.size
	if length > 0 && offset+length < end {
		end = offset + length
	}
	r := &verifiedReader{
		ctx:     ctx,
		fetch:   fetch,
		what:    what,
		next:    offset,
		end:     end,
		etag:    sp.etag,
		first:   &sp,
		whole:   md5.New(),
		vouched: true,
	}
	if end <= offset {
		// Azure answers 416 for a range that starts at the end; Azurite
		// answers it with no bytes ("bytes 1000-999/1000"), which the reader
		// passes on, vouching for nothing.
		sp.body.Close()
		r.first, r.end, r.vouched = nil, offset, false
		return r, nil
	}
	r.buf = make([]byte, min(maxRangeMD5, end-offset))
	return r, nil
}

func (r *verifiedReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errClosed
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(r.cur) == 0 {
		if r.next >= r.end {
			return 0, io.EOF
		}
		if err := r.fill(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// fill reads the next span into buf and checks it.
func (r *verifiedReader) fill() error {
	count := min(int64(maxRangeMD5), r.end-r.next)
	data := r.buf[:count]
	var sp span
	// A body that breaks off is fetched again with the one retry policy
	// (which tries once under provider.WithoutRetries); anything else ends
	// the read.
	var broken error
	policy := provider.RetryPolicy{Attempts: readRetries + 1, Base: 50 * time.Millisecond, Max: time.Second}
	err := policy.Do(r.ctx, func(err error) bool { return errors.Is(err, broken) }, func() error {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if r.first != nil {
			sp, r.first = *r.first, nil
		} else {
			var err error
			if sp, err = r.fetch(r.ctx, r.next, count, r.etag); err != nil {
				return ctxErr(r.ctx, err)
			}
		}
		if sp.count != count {
			sp.body.Close()
			return fmt.Errorf("%s: range at %d answered %d bytes, want %d", r.what, r.next, sp.count, count)
		}
		_, err := io.ReadFull(sp.body, data)
		sp.body.Close()
		if err != nil {
			broken = fmt.Errorf("%s: range at %d: %w", r.what, r.next, ctxErr(r.ctx, err))
			return broken
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(sp.md5) == 0 {
		r.vouched = false
	} else if sum := md5.Sum(data); !bytes.Equal(sum[:], sp.md5) {
		return fmt.Errorf("%w: %s bytes %d-%d have MD5 %x, the service computed %x",
			provider.ErrChecksum, r.what, r.next, r.next+count-1, sum, sp.md5)
	}
	r.whole.Write(data)
	r.next += count
	r.cur = data
	return nil
}

// Checksum is the MD5 of the range once every byte of it was returned and
// every span matched the service's MD5; zero before that, and when the
// service sent no MD5 for some span.
func (r *verifiedReader) Checksum() provider.Checksum {
	if !r.returnedAll() || !r.vouched {
		return provider.Checksum{}
	}
	return provider.Checksum{Hash: provider.HashMD5, Value: hex.EncodeToString(r.whole.Sum(nil))}
}

func (r *verifiedReader) returnedAll() bool {
	if r.closed {
		return r.done
	}
	return r.err == nil && r.next >= r.end && len(r.cur) == 0
}

// Close releases the buffer; Checksum still answers for what was read.
func (r *verifiedReader) Close() error {
	if r.closed {
		return nil
	}
	r.done = r.returnedAll()
	r.closed = true
	if r.first != nil {
		r.first.body.Close()
		r.first = nil
	}
	r.buf, r.cur = nil, nil
	return nil
}
