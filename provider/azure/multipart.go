package azure

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/amove/amove-go/provider"
)

// Multipart uploads are block staging. Azure keeps no upload object: an
// upload is a random token, and part n is the block whose id encodes
// (token, n). The service remembers staged blocks per blob, so ListParts and
// ListUploads read them back with Get Block List and a listing of blobs that
// have only uncommitted blocks, which is what lets the transfer engine
// resume a half-written blob from another process.
//
// Block ids are base64 of "amv1-<16 hex token>-<5 digit part>": every id has
// the same length, as Azure requires of all blocks of one blob.

const (
	blockIDTag = "amv1"
	tokenLen   = 16
)

func newToken() string {
	b := make([]byte, tokenLen/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func validToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	_, err := hex.DecodeString(t)
	return err == nil
}

func blockID(token string, n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%s-%05d", blockIDTag, token, n))
}

// parseBlockID reverses blockID; ok is false for blocks written by others.
func parseBlockID(id string) (token string, n int, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return "", 0, false
	}
	tag, rest, ok1 := strings.Cut(string(raw), "-")
	token, num, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || tag != blockIDTag || !validToken(token) || len(num) != 5 {
		return "", 0, false
	}
	n, err = strconv.Atoi(num)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return token, n, true
}

// uploadMeta remembers the WriteOptions of uploads created by this process,
// for the commit. Azure has nowhere to keep them before the blob exists, so
// an upload resumed by another process is committed with the default content
// type and no metadata.
type uploadMeta struct {
	mu   sync.Mutex
	opts map[string]provider.WriteOptions
}

func newUploadMeta() *uploadMeta { return &uploadMeta{opts: map[string]provider.WriteOptions{}} }

func (m *uploadMeta) set(token string, o provider.WriteOptions) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opts[token] = o
}

func (m *uploadMeta) get(token string) provider.WriteOptions {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opts[token]
}

func (m *uploadMeta) drop(token string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.opts, token)
}

// minPartSize is the driver's own rule, not Azure's: the service takes
// blocks of any size, but a blob holds at most 50,000 of them, so tiny parts
// would cap the object far below Azure's limit (1 MiB parts still reach
// 48 GiB; the engine scales parts up from there). CompleteMultipart refuses
// smaller non-final parts so the advertised limit is also enforced.
const minPartSize = 1 << 20

// PartLimits are Azure's block rules plus the driver's 1 MiB minimum.
func (s *Storage) PartLimits() provider.PartLimits {
	return provider.PartLimits{
		MinPartSize:  minPartSize,
		MaxPartSize:  maxPartSize,
		MaxParts:     maxParts,
		MaxSinglePut: maxSinglePut,
	}
}

func checkUpload(u provider.Upload) error {
	if !validToken(u.ID) {
		return fmt.Errorf("%w: azure upload id %q", provider.ErrInvalid, u.ID)
	}
	return nil
}

// CreateMultipart checks the container exists and returns a fresh upload
// token. Nothing is stored on the service until the first part.
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if _, err := s.container(bucket).GetProperties(ctx, nil); err != nil {
		return provider.Upload{}, mapErr(err, bucket)
	}
	u := provider.Upload{Bucket: bucket, Key: key, ID: newToken()}
	s.meta.set(u.ID, opts)
	return u, nil
}

// UploadPart stages size bytes of r as block n of the upload, with its MD5
// for the service to verify. The part's ETag is its block id, which is what
// ListParts can report back.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return provider.Part{}, err
	}
	if r == nil {
		return provider.Part{}, fmt.Errorf("%w: nil reader", provider.ErrInvalid)
	}
	if n < 1 || n > maxParts {
		return provider.Part{}, fmt.Errorf("%w: part number %d outside 1..%d", provider.ErrInvalid, n, maxParts)
	}
	if size < 0 || size > maxPartSize {
		return provider.Part{}, fmt.Errorf("%w: part size %d", provider.ErrInvalid, size)
	}
	body, sum, err := section(r, size)
	if err != nil {
		return provider.Part{}, err
	}
	id := blockID(u.ID, n)
	_, err = s.blockBlob(u.Bucket, u.Key).StageBlock(ctx, id, streaming.NopCloser(body), &blockblob.StageBlockOptions{
		TransactionalValidation: blob.TransferValidationTypeMD5(sum),
	})
	if err != nil {
		return provider.Part{}, mapErr(ctxErr(ctx, err), u.Bucket+"/"+u.Key)
	}
	return provider.Part{Number: n, Size: size, ETag: id, Checksum: provider.Checksum{Hash: provider.HashMD5, Value: hex.EncodeToString(sum)}}, nil
}

// section returns the next size bytes of r as a seekable reader of exactly
// that length, and their MD5. It reads them once to hash them and rewinds.
func section(r io.ReadSeeker, size int64) (io.ReadSeeker, []byte, error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, nil, fmt.Errorf("part reader: %w", err)
	}
	h, _ := provider.NewHash(provider.HashMD5)
	defer h.Close()
	got, err := io.CopyN(h, r, size)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("part reader: %w", err)
	}
	if got != size {
		return nil, nil, fmt.Errorf("%w: part has %d bytes, expected %d", provider.ErrInvalid, got, size)
	}
	ra, ok := r.(io.ReaderAt)
	if !ok {
		ra = &seekReaderAt{r: r}
	}
	return io.NewSectionReader(ra, start, size), h.Sum(nil), nil
}

// seekReaderAt adapts an io.ReadSeeker to io.ReaderAt for a single user
// (the SDK reads a part body sequentially, and rewinds only to retry).
type seekReaderAt struct {
	mu sync.Mutex
	r  io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.r, p)
}

// uncommitted returns the uncommitted blocks of a blob; none when the blob
// has no blocks at all.
func (s *Storage) uncommitted(ctx context.Context, bb *blockblob.Client) ([]*blockblob.Block, error) {
	resp, err := bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		if isBlobNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return resp.UncommittedBlocks, nil
}

// ListParts reports the staged blocks of the upload in part order. An upload
// with no part yet has none.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return nil, err
	}
	blocks, err := s.uncommitted(ctx, s.blockBlob(u.Bucket, u.Key))
	if err != nil {
		return nil, mapErr(err, u.Bucket+"/"+u.Key)
	}
	var parts []provider.Part
	for _, b := range blocks {
		if b == nil || b.Name == nil {
			continue
		}
		token, n, ok := parseBlockID(*b.Name)
		if !ok || token != u.ID {
			continue
		}
		p := provider.Part{Number: n, ETag: *b.Name}
		if b.Size != nil {
			p.Size = *b.Size
		}
		parts = append(parts, p)
	}
	slices.SortFunc(parts, func(a, b provider.Part) int { return a.Number - b.Number })
	return parts, nil
}

// CompleteMultipart commits the parts in the given (ascending) order. Like
// any Put Block List it discards every other uncommitted block of the blob,
// including those of other uploads to the same key.
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	if err := checkUpload(u); err != nil {
		return provider.Object{}, err
	}
	if len(parts) == 0 {
		return provider.Object{}, fmt.Errorf("%w: no parts", provider.ErrInvalid)
	}
	// The staged blocks are the truth about part sizes; the caller's Part
	// values may come from an earlier process.
	staged, err := s.ListParts(ctx, u)
	if err != nil {
		return provider.Object{}, err
	}
	sizes := make(map[int]int64, len(staged))
	for _, p := range staged {
		sizes[p.Number] = p.Size
	}
	ids := make([]string, len(parts))
	var size int64
	for i, p := range parts {
		if i > 0 && p.Number <= parts[i-1].Number {
			return provider.Object{}, fmt.Errorf("%w: parts out of order at %d", provider.ErrInvalid, p.Number)
		}
		ids[i] = blockID(u.ID, p.Number)
		if p.ETag != "" && p.ETag != ids[i] {
			return provider.Object{}, fmt.Errorf("%w: part %d has ETag %q, not a block of upload %s", provider.ErrInvalid, p.Number, p.ETag, u.ID)
		}
		got, ok := sizes[p.Number]
		if !ok {
			return provider.Object{}, fmt.Errorf("%w: part %d of upload %s is not staged", provider.ErrInvalid, p.Number, u.ID)
		}
		if i < len(parts)-1 && got < minPartSize {
			return provider.Object{}, fmt.Errorf("%w: part %d is %d bytes, below the %d byte minimum", provider.ErrInvalid, p.Number, got, minPartSize)
		}
		size += got
	}
	// The parts were hashed one by one, so there is no MD5 of the whole.
	o, err := s.commit(ctx, u.Bucket, u.Key, ids, nil, s.meta.get(u.ID))
	if err != nil {
		return provider.Object{}, err
	}
	s.meta.drop(u.ID)
	st, err := s.Stat(ctx, u.Bucket, u.Key)
	if err != nil {
		// Committed, but the size is only what the parts claimed.
		o.Size = size
		return o, nil
	}
	return st, nil
}

// AbortMultipart discards the upload's blocks as far as Azure allows. Azure
// has no call to drop uncommitted blocks; they go when the blob is next
// committed, or after seven days. So when no blob exists under the key and
// the staged blocks belong to this upload only, the driver commits an empty
// blob (If-None-Match: *), which discards them, and deletes it again
// (If-Match its ETag). When a committed blob exists, or another upload has
// blocks staged for the same key, nothing is touched and the blocks expire.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	s.meta.drop(u.ID)
	err := s.discardBlocks(ctx, s.blockBlob(u.Bucket, u.Key), u.ID)
	return mapErr(err, u.Bucket+"/"+u.Key)
}

// discardBlocks is the mechanism behind AbortMultipart and failed writes.
func (s *Storage) discardBlocks(ctx context.Context, bb *blockblob.Client, token string) error {
	blocks, err := s.uncommitted(ctx, bb)
	if err != nil {
		return err
	}
	if len(blocks) == 0 {
		return nil
	}
	for _, b := range blocks {
		if b == nil || b.Name == nil {
			continue
		}
		if t, _, ok := parseBlockID(*b.Name); !ok || t != token {
			return nil // another writer's blocks: not ours to drop
		}
	}
	resp, err := bb.CommitBlockList(ctx, []string{}, &blockblob.CommitBlockListOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
			IfNoneMatch: to(azcore.ETagAny),
		}},
	})
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && (re.StatusCode == 409 || re.StatusCode == 412) {
			return nil // a committed blob exists: leave it and the blocks alone
		}
		return err
	}
	_, err = bb.Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{
			IfMatch: resp.ETag,
		}},
	})
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && (re.StatusCode == 404 || re.StatusCode == 412) {
			return nil // someone else wrote or removed the blob meanwhile
		}
	}
	return err
}

// ListUploads reports uploads in progress under prefix: blobs that have
// staged blocks but no committed content, one Upload per token found in
// their block ids. Blocks staged over an existing committed blob are not
// visible this way (Azure lists such a blob as the committed one), nor are
// blocks written by other tools.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	all, err := s.blobNames(ctx, bucket, prefix, true)
	if err != nil {
		return nil, err
	}
	committed, err := s.blobNames(ctx, bucket, prefix, false)
	if err != nil {
		return nil, err
	}
	var out []provider.Upload
	for _, name := range all {
		if _, ok := slices.BinarySearch(committed, name); ok {
			continue
		}
		blocks, err := s.uncommitted(ctx, s.blockBlob(bucket, name))
		if err != nil {
			return nil, mapErr(err, bucket+"/"+name)
		}
		seen := map[string]bool{}
		for _, b := range blocks {
			if b == nil || b.Name == nil {
				continue
			}
			if token, _, ok := parseBlockID(*b.Name); ok && !seen[token] {
				seen[token] = true
				out = append(out, provider.Upload{Bucket: bucket, Key: name, ID: token})
			}
		}
	}
	slices.SortFunc(out, func(a, b provider.Upload) int { return strings.Compare(a.Key+"\x00"+a.ID, b.Key+"\x00"+b.ID) })
	return out, nil
}

// blobNames lists every blob name under prefix in order, with or without
// blobs that have only uncommitted blocks.
func (s *Storage) blobNames(ctx context.Context, bucket, prefix string, uncommitted bool) ([]string, error) {
	pager := s.container(bucket).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  nonEmpty(prefix),
		Include: container.ListBlobsInclude{UncommittedBlobs: uncommitted},
	})
	var names []string
	for pager.More() {
		resp, err := pager.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err, bucket)
		}
		if resp.Segment == nil {
			continue
		}
		for _, b := range resp.Segment.BlobItems {
			if b != nil && b.Name != nil {
				names = append(names, *b.Name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}
