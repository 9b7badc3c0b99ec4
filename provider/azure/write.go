package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"golang.org/x/sync/errgroup"

	"github.com/amove/amove-go/provider"
)

// Azure's block blob limits (service version 2019-12-12 and later).
const (
	maxPartSize  = 4000 << 20
	maxParts     = 50000
	maxSinglePut = 5000 << 20

	defaultPartSize    = 8 << 20
	defaultConcurrency = 4
	defaultContentType = "application/octet-stream"

	// cleanupTimeout bounds the requests that discard the blocks of a failed
	// write; they run after the caller's context is done.
	cleanupTimeout = 5 * time.Second
)

// Write stores r under key. Objects up to the part size go up in one Put
// Blob with their MD5; bigger ones, and streams of unknown size, are staged
// as blocks (opts.Concurrency at a time) and committed in one Put Block
// List that also sets the MD5 computed while reading. Until that commit
// nothing is visible, so a cancelled or failed write leaves no object; its
// staged blocks are discarded when no blob exists under the key (see
// discardBlocks), or else expire after seven days.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if size > maxParts*maxPartSize {
		return provider.Object{}, fmt.Errorf("%w: %d bytes is more than an Azure block blob holds", provider.ErrInvalid, size)
	}
	partSize := choosePartSize(opts.PartSize, size)
	if size >= 0 && size <= partSize {
		buf := make([]byte, size)
		n, eof, err := readChunk(ctx, r, buf)
		if err != nil {
			return provider.Object{}, err
		}
		if !eof {
			// A reader longer than size: the caller's size is wrong.
			var one [1]byte
			if m, _ := io.ReadFull(r, one[:]); m > 0 {
				return provider.Object{}, fmt.Errorf("%w: reader has more than %d bytes", provider.ErrInvalid, size)
			}
		}
		if int64(n) != size {
			return provider.Object{}, fmt.Errorf("%w: read %d bytes, expected %d", provider.ErrInvalid, n, size)
		}
		return s.putSingle(ctx, bucket, key, buf, opts)
	}
	return s.writeBlocks(ctx, bucket, key, r, size, partSize, opts)
}

// choosePartSize honours the caller's part size within Azure's limits and
// grows it when a known size would need more than 50,000 blocks.
func choosePartSize(want, size int64) int64 {
	ps := want
	if ps <= 0 {
		ps = defaultPartSize
	}
	if size > 0 {
		if min := (size + maxParts - 1) / maxParts; ps < min {
			ps = min
		}
	}
	return min(ps, maxPartSize)
}

// putSingle writes data with one Put Blob, sending its MD5 both to verify the
// transfer (the service refuses a body that does not give it) and to store
// as the blob's Content-MD5: the object returned is verified by MD5.
func (s *Storage) putSingle(ctx context.Context, bucket, key string, data []byte, opts provider.WriteOptions) (provider.Object, error) {
	sum := md5.Sum(data)
	ct := opts.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	resp, err := s.blockBlob(bucket, key).Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{
		HTTPHeaders:             &blob.HTTPHeaders{BlobContentType: &ct, BlobContentMD5: sum[:]},
		Metadata:                metadata(opts.Metadata),
		TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
	})
	if err != nil {
		return provider.Object{}, mapErr(ctxErr(ctx, err), bucket+"/"+key)
	}
	// The answer's Content-MD5 is the service's digest of what it stored.
	if got := resp.ContentMD5; len(got) > 0 && !bytes.Equal(got, sum[:]) {
		return provider.Object{}, fmt.Errorf("%w: %s/%s stored with MD5 %s, sent %s", provider.ErrChecksum, bucket, key, hexMD5(got), hexMD5(sum[:]))
	}
	o := provider.Object{
		Key:         key,
		Size:        int64(len(data)),
		ContentType: ct,
		Checksums:   provider.Checksums{MD5: hexMD5(sum[:])},
		IsFolder:    strings.HasSuffix(key, "/"),
		Verified:    provider.HashMD5,
	}
	if resp.ETag != nil {
		o.ETag = string(*resp.ETag)
	}
	if resp.LastModified != nil {
		o.ModTime = resp.LastModified.UTC()
	}
	return o, nil
}

// writeBlocks stages r in blocks of partSize and commits them. A stream of
// unknown size that fits in the first block goes up as a single Put Blob.
func (s *Storage) writeBlocks(ctx context.Context, bucket, key string, r io.Reader, size, partSize int64, opts provider.WriteOptions) (provider.Object, error) {
	what := bucket + "/" + key
	bb := s.blockBlob(bucket, key)
	token := newToken()
	conc := opts.Concurrency
	if conc <= 0 {
		conc = defaultConcurrency
	}

	// A private cancel ends the staging goroutines when the write returns.
	stageCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(stageCtx)
	g.SetLimit(conc)
	// At most conc buffers are being sent and one is being filled.
	free := make(chan []byte, conc+1)
	getBuf := func() []byte {
		select {
		case b := <-free:
			return b
		default:
			return make([]byte, partSize)
		}
	}

	h, _ := provider.NewHash(provider.HashMD5)
	defer h.Close()
	var (
		ids     []string
		total   int64
		readErr error
		stopped bool // the read loop saw gctx end rather than a reader error
	)
	for n := 1; ; n++ {
		buf := getBuf()
		m, eof, err := readChunk(gctx, r, buf)
		if err != nil {
			readErr, stopped = err, gctx.Err() != nil
			break
		}
		if n == 1 && eof && size < 0 {
			return s.putSingle(ctx, bucket, key, buf[:m], opts)
		}
		if m > 0 {
			if n > maxParts {
				readErr = fmt.Errorf("%w: more than %d blocks of %d bytes", provider.ErrInvalid, maxParts, partSize)
				break
			}
			chunk := buf[:m]
			h.Write(chunk)
			total += int64(m)
			id := blockID(token, n)
			ids = append(ids, id)
			g.Go(func() error {
				defer func() {
					select {
					case free <- buf:
					default:
					}
				}()
				return stageBlock(gctx, bb, id, chunk)
			})
		}
		if eof {
			break
		}
		if size >= 0 && total > size {
			readErr = fmt.Errorf("%w: reader has more than %d bytes", provider.ErrInvalid, size)
			break
		}
	}
	// On a reader error the blocks in flight are left to finish rather than
	// cancelled: a cancelled Put Block may still land on the service after
	// the clean-up below listed the blocks, and then outlives it.
	stageErr := g.Wait()

	var err error
	switch {
	case ctx.Err() != nil:
		err = fmt.Errorf("%s: %w", what, ctx.Err())
	case readErr != nil && !stopped:
		err = readErr
	case stageErr != nil:
		err = mapErr(stageErr, what)
	case size >= 0 && total != size:
		err = fmt.Errorf("%w: read %d bytes, expected %d", provider.ErrInvalid, total, size)
	}
	if err == nil {
		var o provider.Object
		o, err = s.commit(ctx, bucket, key, ids, h.Sum(nil), opts)
		if err == nil {
			// The service refused every block whose bytes did not give the
			// MD5 sent with it, and the blob is exactly those blocks; the
			// whole MD5, computed over the same bytes, is now its Content-MD5.
			o.Size, o.Verified = total, provider.HashMD5
			return o, nil
		}
	}
	s.cleanup(ctx, bb, token)
	return provider.Object{}, err
}

// stageBlock sends one block with its MD5 so the service verifies it.
func stageBlock(ctx context.Context, bb *blockblob.Client, id string, chunk []byte) error {
	sum := md5.Sum(chunk)
	_, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(chunk)), &blockblob.StageBlockOptions{
		TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
	})
	return err
}

// commit makes the staged blocks ids the blob's content. sum, when set, is
// stored as the blob's Content-MD5: only pass the MD5 of the whole content,
// computed over the very bytes staged (Azure does not check it).
func (s *Storage) commit(ctx context.Context, bucket, key string, ids []string, sum []byte, opts provider.WriteOptions) (provider.Object, error) {
	ct := opts.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	resp, err := s.blockBlob(bucket, key).CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct, BlobContentMD5: sum},
		Metadata:    metadata(opts.Metadata),
	})
	if err != nil {
		return provider.Object{}, mapErr(ctxErr(ctx, err), bucket+"/"+key)
	}
	o := provider.Object{
		Key:         key,
		ContentType: ct,
		Checksums:   provider.Checksums{MD5: hexMD5(sum)},
		IsFolder:    strings.HasSuffix(key, "/"),
	}
	if resp.ETag != nil {
		o.ETag = string(*resp.ETag)
	}
	if resp.LastModified != nil {
		o.ModTime = resp.LastModified.UTC()
	}
	return o, nil
}

// cleanup discards the blocks of a failed write. It runs on a detached
// context with a short timeout because the caller's is usually cancelled;
// a failure only means the blocks expire on their own in seven days.
func (s *Storage) cleanup(ctx context.Context, bb *blockblob.Client, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := s.discardBlocks(ctx, bb, token); err != nil {
		s.log.Debug("azure: uncommitted blocks left to expire", "blob", bb.URL(), "err", err)
	}
}

// readChunk fills buf from r, checking ctx between reads so a cancelled
// write stops even when r never ends. eof reports that r is exhausted. A
// Read that blocks forever cannot be interrupted; that is io.Reader's limit.
func readChunk(ctx context.Context, r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		m, err := r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

func metadata(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = to(v)
	}
	return out
}
