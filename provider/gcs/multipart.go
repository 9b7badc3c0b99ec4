package gcs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/iterator"

	"github.com/amove/amove-go/provider"
)

// Cloud Storage has no S3-style multipart upload in its JSON API, so the
// driver builds one on compose. An upload of key with id ID stages its
// objects under
//
//	.amove-uploads/<key>/upload-<ID>/info        the upload's options (JSON)
//	.amove-uploads/<key>/upload-<ID>/p00001      part 1, and so on
//	.amove-uploads/<key>/upload-<ID>/c1-00000    intermediate composites
//
// CompleteMultipart composes the parts into key (32 sources per compose, in
// a tree when there are more) and deletes the staging objects; Abort deletes
// them. Keeping the key in the staging name lets ListUploads filter by key
// prefix on the server. ListObjects hides ".amove-uploads/" unless the
// listing is inside it. The prefix is reserved: do not store user objects
// there.
const uploadsRoot = ".amove-uploads/"

// maxCompose is Cloud Storage's limit of sources per compose request.
const maxCompose = 32

// minPart is the smallest non-final part the driver accepts. Compose itself
// has no minimum; the floor keeps the number of compose requests and staged
// objects proportionate to the data, and it is enforced at completion like
// S3's EntityTooSmall.
const minPart = 256 << 10

// stagingOverhead is what the staging name adds to a key:
// ".amove-uploads/" + "/upload-" + 32 hex + "/" + "c9-00000".
const stagingOverhead = len(uploadsRoot) + len("/upload-") + 32 + 1 + len("c9-00000")

var stagedName = regexp.MustCompile(`^(.+)/upload-([0-9a-f]{32})/(info|p\d{5}|c\d+-\d{5})$`)

// PartLimits are what CompleteMultipart enforces and Cloud Storage allows.
func (s *Storage) PartLimits() provider.PartLimits {
	return provider.PartLimits{
		MinPartSize:  minPart,
		MaxPartSize:  5 << 40,
		MaxParts:     10000,
		MaxSinglePut: 5 << 40,
	}
}

func stagingPrefix(u provider.Upload) string {
	return uploadsRoot + u.Key + "/upload-" + u.ID + "/"
}

func partName(u provider.Upload, n int) string {
	return fmt.Sprintf("%sp%05d", stagingPrefix(u), n)
}

// uploadInfo is the staged "info" object: the options the final object gets.
type uploadInfo struct {
	ContentType string            `json:"contentType,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func checkUpload(u provider.Upload) error {
	if len(u.ID) != 32 || strings.Trim(u.ID, "0123456789abcdef") != "" {
		return fmt.Errorf("%w: gcs: upload id %q", provider.ErrInvalid, u.ID)
	}
	return nil
}

// CreateMultipart starts an upload by staging its info object.
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if len(key)+stagingOverhead > 1024 {
		return provider.Upload{}, fmt.Errorf("%w: gcs: key too long for a multipart upload (at most %d bytes)", provider.ErrInvalid, 1024-stagingOverhead)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	u := provider.Upload{Bucket: bucket, Key: key, ID: hex.EncodeToString(id)}
	info, err := json.Marshal(uploadInfo{ContentType: opts.ContentType, Metadata: opts.Metadata})
	if err != nil {
		return provider.Upload{}, err
	}
	_, err = s.write(ctx, s.object(ctx, bucket, stagingPrefix(u)+"info"), bytes.NewReader(info), int64(len(info)),
		provider.WriteOptions{ContentType: "application/json"})
	if err != nil {
		return provider.Upload{}, err
	}
	return u, nil
}

func (s *Storage) readInfo(ctx context.Context, u provider.Upload) (uploadInfo, error) {
	var info uploadInfo
	r, err := s.object(ctx, u.Bucket, stagingPrefix(u)+"info").NewReader(ctx)
	if err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return info, fmt.Errorf("%w: upload %q of %s/%s", provider.ErrNotFound, u.ID, u.Bucket, u.Key)
		}
		return info, mapErr(err, u.Bucket+"/"+u.Key)
	}
	defer r.Close()
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&info); err != nil {
		return info, fmt.Errorf("gcs: upload %q of %s/%s: bad info object: %w", u.ID, u.Bucket, u.Key, err)
	}
	return info, nil
}

// UploadPart stages part n. The part's MD5 and CRC32C are computed first and
// sent with it, so Cloud Storage refuses a part that arrives damaged. The
// part's Checksum is the staged object's MD5, compared with the bytes'.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return provider.Part{}, err
	}
	lim := s.PartLimits()
	if r == nil {
		return provider.Part{}, fmt.Errorf("%w: nil reader", provider.ErrInvalid)
	}
	if n < 1 || n > lim.MaxParts {
		return provider.Part{}, fmt.Errorf("%w: part number %d outside 1..%d", provider.ErrInvalid, n, lim.MaxParts)
	}
	if size < 0 || size > lim.MaxPartSize {
		return provider.Part{}, fmt.Errorf("%w: part size %d", provider.ErrInvalid, size)
	}
	if _, err := s.object(ctx, u.Bucket, stagingPrefix(u)+"info").Attrs(ctx); err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return provider.Part{}, fmt.Errorf("%w: upload %q of %s/%s", provider.ErrNotFound, u.ID, u.Bucket, u.Key)
		}
		return provider.Part{}, mapErr(err, u.Bucket+"/"+u.Key)
	}
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return provider.Part{}, err
	}
	md, _ := provider.NewHash(provider.HashMD5)
	defer md.Close()
	crc := crc32.New(provider.CRC32C)
	if _, err := io.Copy(io.MultiWriter(md, crc), &countingReader{ctx: ctx, r: io.LimitReader(r, size)}); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return provider.Part{}, cerr
		}
		return provider.Part{}, err
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return provider.Part{}, err
	}
	obj := s.object(ctx, u.Bucket, partName(u, n))
	a, err := s.writePart(ctx, obj, io.LimitReader(r, size), size, md.Sum(nil), crc.Sum32())
	if err != nil {
		return provider.Part{}, err
	}
	return partFrom(n, a), nil
}

// writePart is write with the part's MD5 and CRC32C, computed beforehand:
// the service refuses a part whose bytes do not give them, and writeOpts
// compares them with the staged object's. CompleteMultipart combines the
// staged parts' CRC32Cs into the whole object's.
func (s *Storage) writePart(ctx context.Context, obj *storage.ObjectHandle, r io.Reader, size int64, sum []byte, crc uint32) (*storage.ObjectAttrs, error) {
	a, _, err := s.writeOpts(ctx, obj, r, size, provider.WriteOptions{ContentType: "application/octet-stream"}, func(w *storage.Writer) {
		w.MD5 = sum
		w.CRC32C, w.SendCRC32C = crc, true
	})
	return a, err
}

func partFrom(n int, a *storage.ObjectAttrs) provider.Part {
	sum := hex.EncodeToString(a.MD5)
	return provider.Part{Number: n, Size: a.Size, ETag: `"` + sum + `"`, Checksum: provider.Checksum{Hash: provider.HashMD5, Value: sum}}
}

// staged lists the staging objects of u.
func (s *Storage) staged(ctx context.Context, u provider.Upload) ([]*storage.ObjectAttrs, error) {
	q := &storage.Query{Prefix: stagingPrefix(u), Projection: storage.ProjectionNoACL}
	if err := q.SetAttrSelection([]string{"Name", "Size", "MD5", "CRC32C", "Generation"}); err != nil {
		return nil, err
	}
	it := s.bucket(ctx, u.Bucket).Objects(ctx, q)
	var out []*storage.ObjectAttrs
	for {
		a, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, mapErr(err, u.Bucket)
		}
		out = append(out, a)
	}
}

// heldParts returns the staged parts of u by number, with their attributes.
func (s *Storage) heldParts(ctx context.Context, u provider.Upload) (map[int]*storage.ObjectAttrs, error) {
	objs, err := s.staged(ctx, u)
	if err != nil {
		return nil, err
	}
	held := map[int]*storage.ObjectAttrs{}
	p := stagingPrefix(u) + "p"
	for _, a := range objs {
		if rest, ok := strings.CutPrefix(a.Name, p); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				held[n] = a
			}
		}
	}
	return held, nil
}

// ListParts reports the staged parts in ascending order.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	if err := checkUpload(u); err != nil {
		return nil, err
	}
	if _, err := s.readInfo(ctx, u); err != nil {
		return nil, err
	}
	held, err := s.heldParts(ctx, u)
	if err != nil {
		return nil, err
	}
	parts := make([]provider.Part, 0, len(held))
	for n, a := range held {
		parts = append(parts, partFrom(n, a))
	}
	slices.SortFunc(parts, func(a, b provider.Part) int { return a.Number - b.Number })
	return parts, nil
}

// ListUploads reports the uploads staged for keys starting with prefix.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	q := &storage.Query{Prefix: uploadsRoot + prefix, Projection: storage.ProjectionNoACL}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil, err
	}
	it := s.bucket(ctx, bucket).Objects(ctx, q)
	seen := map[provider.Upload]bool{}
	var out []provider.Upload
	for {
		a, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			return nil, mapErr(err, bucket)
		}
		m := stagedName.FindStringSubmatch(strings.TrimPrefix(a.Name, uploadsRoot))
		if m == nil {
			continue
		}
		u := provider.Upload{Bucket: bucket, Key: m[1], ID: m[2]}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b provider.Upload) int { return strings.Compare(a.Key+"\x00"+a.ID, b.Key+"\x00"+b.ID) })
	return out, nil
}

// AbortMultipart deletes everything staged for u.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	if err := checkUpload(u); err != nil {
		return err
	}
	objs, err := s.staged(ctx, u)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return fmt.Errorf("%w: upload %q of %s/%s", provider.ErrNotFound, u.ID, u.Bucket, u.Key)
	}
	return s.deleteStaged(ctx, u.Bucket, objs)
}

func (s *Storage) deleteStaged(ctx context.Context, bucket string, objs []*storage.ObjectAttrs) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, a := range objs {
		g.Go(func() error {
			err := s.object(ctx, bucket, a.Name).Delete(gctx)
			if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
				return mapErr(err, bucket+"/"+a.Name)
			}
			return nil
		})
	}
	return g.Wait()
}

// CompleteMultipart checks the parts like S3 does (ascending, each staged
// with the given ETag, every part but the last at least MinPartSize), then
// composes them into the key and deletes the staging objects.
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	if err := checkUpload(u); err != nil {
		return provider.Object{}, err
	}
	if len(parts) == 0 {
		return provider.Object{}, fmt.Errorf("%w: no parts", provider.ErrInvalid)
	}
	info, err := s.readInfo(ctx, u)
	if err != nil {
		return provider.Object{}, err
	}
	held, err := s.heldParts(ctx, u)
	if err != nil {
		return provider.Object{}, err
	}
	srcs := make([]*storage.ObjectHandle, 0, len(parts))
	// The parts' CRC32Cs (each the one UploadPart sent and compared) give
	// the whole object's, which the final compose sends for the service to
	// check and which is compared with the result.
	whole, withCRC := uint32(0), true
	for i, p := range parts {
		a, ok := held[p.Number]
		if !ok || partFrom(p.Number, a).ETag != p.ETag {
			return provider.Object{}, fmt.Errorf("%w: InvalidPart %d", provider.ErrInvalid, p.Number)
		}
		if i > 0 && p.Number <= parts[i-1].Number {
			return provider.Object{}, fmt.Errorf("%w: InvalidPartOrder", provider.ErrInvalid)
		}
		if i < len(parts)-1 && a.Size < minPart {
			return provider.Object{}, fmt.Errorf("%w: EntityTooSmall: part %d is %d bytes, at least %d needed", provider.ErrInvalid, p.Number, a.Size, minPart)
		}
		// Pin the generation listed, so a part overwritten meanwhile fails
		// the compose instead of slipping in.
		srcs = append(srcs, s.object(ctx, u.Bucket, a.Name).Generation(a.Generation))
		// Zero is how the client says "unknown", except for no bytes.
		withCRC = withCRC && (a.CRC32C != 0 || a.Size == 0)
		whole = provider.CombineCRC32C(whole, a.CRC32C, a.Size)
	}

	bkt := s.bucket(ctx, u.Bucket)
	for level := 1; len(srcs) > maxCompose; level++ {
		next := make([]*storage.ObjectHandle, 0, (len(srcs)+maxCompose-1)/maxCompose)
		for i := 0; i < len(srcs); i += maxCompose {
			dst := bkt.Object(fmt.Sprintf("%sc%d-%05d", stagingPrefix(u), level, i/maxCompose))
			a, err := dst.ComposerFrom(srcs[i:min(i+maxCompose, len(srcs))]...).Run(ctx)
			if err != nil {
				return provider.Object{}, mapErr(err, u.Bucket+"/"+u.Key)
			}
			next = append(next, dst.Generation(a.Generation))
		}
		srcs = next
	}
	dst := bkt.Object(u.Key)
	c := dst.ComposerFrom(srcs...)
	c.ContentType = info.ContentType
	c.Metadata = info.Metadata
	c.CRC32C, c.SendCRC32C = whole, withCRC
	a, err := c.Run(ctx)
	if err != nil {
		return provider.Object{}, mapErr(err, u.Bucket+"/"+u.Key)
	}
	var verified provider.Hash
	if withCRC {
		if verified, err = s.checkStored(ctx, dst, a, whole, nil); err != nil {
			return provider.Object{}, fmt.Errorf("%s/%s: %w", u.Bucket, u.Key, err)
		}
	}

	// The object is complete; failing to clean up is logged, not returned,
	// and the leftovers stay visible to ListUploads and AbortMultipart.
	objs, err := s.staged(ctx, u)
	if err == nil {
		err = s.deleteStaged(ctx, u.Bucket, objs)
	}
	if err != nil {
		s.log.WarnContext(ctx, "gcs: multipart staging objects left behind", "bucket", u.Bucket, "key", u.Key, "upload", u.ID, "err", err)
	}
	o := objectFrom(a)
	o.Verified = verified
	return o, nil
}
