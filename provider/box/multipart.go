package box

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/internal/tree"
)

// Box chunked sessions fit the engine's parts only loosely: Box accepts
// them in any order and in parallel, but it picks the part size itself when
// the session is created, the session must be told the file size, files
// under 20 MB cannot use a session, and the commit needs the SHA-1 of the
// whole file. So:
//
//   - When CreateMultipart knows the size (at least 20 MB) and the engine's
//     part size, it opens the session at once. UploadPart maps the engine's
//     part onto Box's parts by offset: a Box part is sent as soon as every
//     engine part it overlaps is here, so when the sizes differ the parts
//     are re-cut rather than refused. PartLimits asks for multiples of
//     8 MiB, the part_size Box gives sessions, so normally each engine part
//     is whole Box parts and goes up at once, concurrently with the others.
//   - The whole-file SHA-1 is computed in offset order, so a part that
//     arrives ahead of a gap is held in memory until the gap fills, as are
//     bytes of a Box part still waiting for its other half. Memory is
//     bounded in practice by the engine's concurrency.
//   - Otherwise (size or part size not given, or a file under 20 MB) every
//     part is held in memory, up to maxBuffered bytes, and
//     CompleteMultipart writes the assembled file as Write would: one form
//     upload under 20 MB, a session above.
//
// Part ETags are the parts' SHA-1 in hex, computed here. Box checks every
// part's Digest on receipt and answers the part's SHA-1: when an engine part
// is exactly one Box part, that SHA-1 is its Part.Checksum; a part cut into
// several Box parts, or held in memory, has none. Box checks the whole
// file's SHA-1 at commit, and CompleteMultipart compares the file's SHA-1
// Box reports with the bytes given, so its Object is Verified SHA-1 (Box's
// commit needs that digest, so there is no completion without it).
//
// Box cannot list sessions: ListUploads reports the ones this Storage
// created or resumed. Another process resumes through Upload.ID (session id,
// sizes and folder in its fragment) and learns from Box's part list which
// byte ranges Box holds, but not the bytes, and the commit's whole-file
// SHA-1 needs them all: after a restart ListParts lists the parts Box holds
// with an empty ETag, the engine sends them again, and UploadPart checks
// them against the SHA-1 Box recorded instead of uploading them twice.
// Parts only held in memory are lost with the process.

const (
	// boxPartSize is the part_size Box hands out for sessions (and the
	// fake's default); engine parts that are multiples of it map onto whole
	// Box parts.
	boxPartSize = 8 << 20
	// maxBuffered bounds the bytes held for one upload.
	maxBuffered    = 1 << 30
	deferredPrefix = "local:"
)

// errOtherBytes marks a part sent again after a restart whose bytes differ
// from those Box holds: Box's SHA-1 of the part disagrees with them.
var errOtherBytes = fmt.Errorf("%w: Box holds other bytes", provider.ErrChecksum)

type boxRange struct {
	boxPart
	checked bool // the bytes here were seen to match Box's SHA-1
}

type upload struct {
	mu       sync.Mutex
	bucket   string
	key      string
	parent   string // folder id
	name     string
	total    int64 // whole size; 0 while unknown
	partSize int64 // the engine's part size; 0 while unknown
	sess     string
	boxSize  int64 // Box's part_size
	parts    map[int]provider.Part
	data     map[int][]byte // part bytes still needed for hashing or a Box part
	buffered int64
	hashed   int       // parts 1..hashed are in sum
	sum      hash.Hash // SHA-1 of the file so far
	box      map[int64]boxRange
	busy     map[int64]bool // Box parts being sent
}

func newUpload(bucket, key, parent, name string) *upload {
	return &upload{bucket: bucket, key: key, parent: parent, name: name, parts: map[int]provider.Part{},
		data: map[int][]byte{}, sum: sha1.New(), box: map[int64]boxRange{}, busy: map[int64]bool{}}
}

// PartLimits implements provider.MultipartUploader: parts in multiples of 8
// MiB, the part size Box gives sessions, so each engine part maps onto whole
// Box parts, and at most 128 MiB, since a part may be held in memory.
func (s *Storage) PartLimits() provider.PartLimits {
	return provider.PartLimits{
		MinPartSize:  boxPartSize,
		MaxPartSize:  16 * boxPartSize, // each part is held in memory
		MaxParts:     100000,           // Box documents no part count limit
		PartMultiple: boxPartSize,
		MaxSinglePut: chunkedMin - 1, // Write sends smaller files in one form upload
	}
}

// CreateMultipart implements provider.MultipartUploader. With the size (at
// least 20 MB) and part size known it opens a Box upload session at once;
// otherwise the parts are gathered in memory and sent on completion (see the
// comment at the top of multipart.go).
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if err := provider.NoMetadata("box", opts); err != nil {
		return provider.Upload{}, err
	}
	if opts.Size < 0 || opts.PartSize < 0 {
		return provider.Upload{}, fmt.Errorf("%w: size %d, part size %d", provider.ErrInvalid, opts.Size, opts.PartSize)
	}
	parent, name, _, err := s.fs.Parent(ctx, bucket, key)
	if err != nil {
		return provider.Upload{}, err
	}
	up := newUpload(bucket, key, parent, name)
	up.total = opts.Size
	var id string
	if opts.Size >= chunkedMin && opts.PartSize > 0 {
		sess, err := s.createSession(ctx, parent, name, opts.Size)
		if err != nil {
			return provider.Upload{}, err
		}
		up.sess, up.boxSize, up.partSize = sess.ID, sess.PartSize, opts.PartSize
		q := url.Values{
			"size": {strconv.FormatInt(opts.Size, 10)}, "ps": {strconv.FormatInt(opts.PartSize, 10)},
			"bs": {strconv.FormatInt(sess.PartSize, 10)}, "parent": {parent}, "name": {name},
		}
		id = sess.ID + "#" + q.Encode()
	} else {
		id = deferredPrefix + rand.Text()
	}
	s.mu.Lock()
	s.uploads[id] = up
	s.mu.Unlock()
	return provider.Upload{Bucket: bucket, Key: key, ID: id}, nil
}

// state returns the upload of u, adopting a session another process started
// from the parts Box lists.
func (s *Storage) state(ctx context.Context, u provider.Upload) (*upload, error) {
	s.mu.Lock()
	up := s.uploads[u.ID]
	s.mu.Unlock()
	if up != nil {
		return up, nil
	}
	sess, frag, _ := strings.Cut(u.ID, "#")
	q, _ := url.ParseQuery(frag)
	total, _ := strconv.ParseInt(q.Get("size"), 10, 64)
	ps, _ := strconv.ParseInt(q.Get("ps"), 10, 64)
	bs, _ := strconv.ParseInt(q.Get("bs"), 10, 64)
	if strings.HasPrefix(u.ID, deferredPrefix) || total <= 0 || ps <= 0 || bs <= 0 || q.Get("parent") == "" || q.Get("name") == "" {
		return nil, fmt.Errorf("%w: upload %q is unknown here and carries no session to resume", provider.ErrNotFound, u.ID)
	}
	up = newUpload(u.Bucket, u.Key, q.Get("parent"), q.Get("name"))
	up.sess, up.total, up.partSize, up.boxSize = sess, total, ps, bs
	listed, err := s.boxParts(ctx, sess)
	if err != nil {
		return nil, err
	}
	for _, p := range listed {
		if p.Offset%bs == 0 {
			up.box[p.Offset/bs] = boxRange{boxPart: p}
		}
	}
	// An engine part is on Box when every Box part it overlaps is; what its
	// bytes were is unknown until it is sent again.
	for n := 1; n <= up.numParts(); n++ {
		if up.onBox(n) {
			up.parts[n] = provider.Part{Number: n, Size: up.partLen(n), Checksum: up.boxSum(n, false)}
		}
	}
	s.mu.Lock()
	if prev := s.uploads[u.ID]; prev != nil {
		up = prev
	} else {
		s.uploads[u.ID] = up
	}
	s.mu.Unlock()
	return up, nil
}

// boxParts lists the parts Box holds for a session, all pages.
func (s *Storage) boxParts(ctx context.Context, sess string) ([]boxPart, error) {
	var out []boxPart
	for {
		var page struct {
			Entries    []boxPart `json:"entries"`
			TotalCount int       `json:"total_count"`
		}
		u := fmt.Sprintf("%s/parts?limit=1000&offset=%d", s.sessionURL(sess), len(out))
		if _, err := s.do(ctx, http.MethodGet, u, nil, nil, true, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Entries...)
		if len(page.Entries) == 0 || len(out) >= page.TotalCount {
			return out, nil
		}
	}
}

func (up *upload) numParts() int { return int((up.total + up.partSize - 1) / up.partSize) }

func (up *upload) partLen(n int) int64 {
	off := int64(n-1) * up.partSize
	return min(up.partSize, up.total-off)
}

// boxRangeOf returns the Box parts that engine part n overlaps.
func (up *upload) boxRangeOf(n int) (first, last int64) {
	off := int64(n-1) * up.partSize
	return off / up.boxSize, (off + up.partLen(n) - 1) / up.boxSize
}

// partsOf returns the engine parts that Box part k overlaps.
func (up *upload) partsOf(k int64) (first, last int) {
	off := k * up.boxSize
	end := min(off+up.boxSize, up.total)
	return int(off/up.partSize) + 1, int((end-1)/up.partSize) + 1
}

// onBox reports whether every Box part that engine part n overlaps is on
// Box.
func (up *upload) onBox(n int) bool {
	first, last := up.boxRangeOf(n)
	for k := first; k <= last; k++ {
		if _, ok := up.box[k]; !ok {
			return false
		}
	}
	return true
}

// boxSum is the SHA-1 Box answered for engine part n when the part is
// exactly one Box part (and, with checked, its bytes were seen to match);
// zero otherwise.
func (up *upload) boxSum(n int, checked bool) provider.Checksum {
	first, last := up.boxRangeOf(n)
	b, ok := up.box[first]
	if first != last || !ok || checked && !b.checked || b.SHA1 == "" ||
		b.Offset != int64(n-1)*up.partSize || b.Size != up.partLen(n) {
		return provider.Checksum{}
	}
	return provider.Checksum{Hash: provider.HashSHA1, Value: strings.ToLower(b.SHA1)}
}

// assemble returns Box part k's bytes, or nil while a part it overlaps is
// missing.
func (up *upload) assemble(k int64) []byte {
	off := k * up.boxSize
	end := min(off+up.boxSize, up.total)
	first, last := up.partsOf(k)
	if first == last {
		d, ok := up.data[first]
		if !ok {
			return nil
		}
		start := off - int64(first-1)*up.partSize
		return d[start : start+end-off]
	}
	buf := make([]byte, 0, end-off)
	for n := first; n <= last; n++ {
		d, ok := up.data[n]
		if !ok {
			return nil
		}
		pOff := int64(n-1) * up.partSize
		lo, hi := max(off, pOff)-pOff, min(end, pOff+int64(len(d)))-pOff
		buf = append(buf, d[lo:hi]...)
	}
	return buf
}

// UploadPart implements provider.MultipartUploader: it maps engine part n
// onto Box's parts by offset and sends every Box part whose bytes are all
// here; a part Box already holds after a restart is checked against Box's
// SHA-1 instead of being sent twice.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if n < 1 || size <= 0 || size > maxBuffered {
		return provider.Part{}, fmt.Errorf("%w: part %d of %d bytes", provider.ErrInvalid, n, size)
	}
	up, err := s.state(ctx, u)
	if err != nil {
		return provider.Part{}, err
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return provider.Part{}, fmt.Errorf("part %d: %w", n, err)
	}
	sum := sha1.Sum(data)
	part := provider.Part{Number: n, Size: size, ETag: hex.EncodeToString(sum[:])}

	up.mu.Lock()
	defer up.mu.Unlock()
	if up.sess != "" && (n > up.numParts() || size != up.partLen(n)) {
		return provider.Part{}, fmt.Errorf("%w: part %d is %d bytes; this upload of %d bytes has %d-byte parts", provider.ErrInvalid, n, size, up.total, up.partSize)
	}
	old, seen := up.parts[n]
	switch {
	case seen && old.ETag == part.ETag:
		// A retry: send whatever of it did not reach Box.
	case seen && old.ETag != "" || seen && old.Size != size:
		return provider.Part{}, fmt.Errorf("%w: part %d was already sent with other content", provider.ErrInvalid, n)
	default:
		// New, or on Box since before a restart and now known.
		if up.buffered+size > maxBuffered {
			return provider.Part{}, fmt.Errorf("%w: more than %d bytes of parts held for one upload", provider.ErrInvalid, maxBuffered)
		}
		up.parts[n] = part
		up.data[n] = data
		up.buffered += size
		// Hash in offset order; a part after a gap waits in data.
		for d, ok := up.data[up.hashed+1]; ok; d, ok = up.data[up.hashed+1] {
			up.sum.Write(d)
			up.hashed++
		}
	}
	if up.sess == "" {
		return part, nil
	}
	first, last := up.boxRangeOf(n)
	for k := first; k <= last; k++ {
		if err := s.sendBox(ctx, up, k); err != nil {
			if errors.Is(err, errOtherBytes) {
				// The hash now covers the wrong bytes: forget this state so
				// a later call starts again from what Box holds.
				s.mu.Lock()
				delete(s.uploads, u.ID)
				s.mu.Unlock()
			}
			return provider.Part{}, err
		}
	}
	up.release()
	part.Checksum = up.boxSum(n, true)
	up.parts[n] = part
	return part, nil
}

// sendBox sends Box part k if its bytes are all here and Box lacks it, or
// checks them against what Box holds; up.mu is held, and released while
// the part travels so other parts go up in parallel.
func (s *Storage) sendBox(ctx context.Context, up *upload, k int64) error {
	if up.busy[k] {
		return nil // another call is sending it and reports its failure
	}
	have, onBox := up.box[k]
	if onBox && have.checked {
		return nil
	}
	b := up.assemble(k)
	if b == nil {
		return nil // waiting for a neighbour
	}
	sum := sha1.Sum(b)
	if onBox {
		if !strings.EqualFold(have.SHA1, hex.EncodeToString(sum[:])) {
			return fmt.Errorf("%w at offset %d than were sent now", errOtherBytes, have.Offset)
		}
		have.checked = true
		up.box[k] = have
		return nil
	}
	off := k * up.boxSize
	h := http.Header{
		"Content-Type":  {"application/octet-stream"},
		"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", off, off+int64(len(b))-1, up.total)},
		"Digest":        {"sha=" + base64.StdEncoding.EncodeToString(sum[:])},
	}
	up.busy[k] = true
	up.mu.Unlock()
	var res struct {
		Part boxPart `json:"part"`
	}
	_, err := s.do(ctx, http.MethodPut, s.sessionURL(up.sess), b, h, true, &res)
	if err != nil && ctx.Err() == nil {
		// Box refuses to overwrite a part: a retry after a lost answer fails
		// though the part arrived. The part list tells.
		if listed, lerr := s.boxParts(ctx, up.sess); lerr == nil {
			for _, p := range listed {
				if p.Offset == off && strings.EqualFold(p.SHA1, hex.EncodeToString(sum[:])) {
					res.Part, err = p, nil
				}
			}
		}
	}
	up.mu.Lock()
	delete(up.busy, k)
	if err != nil {
		return err
	}
	up.box[k] = boxRange{boxPart: res.Part, checked: true}
	return nil
}

// release drops the bytes of parts that are hashed and whose Box parts are
// all on Box and checked; up.mu is held.
func (up *upload) release() {
	for n, d := range up.data {
		if n > up.hashed {
			continue
		}
		first, last := up.boxRangeOf(n)
		done := true
		for k := first; k <= last && done; k++ {
			done = up.box[k].checked
		}
		if done {
			delete(up.data, n)
			up.buffered -= int64(len(d))
		}
	}
}

// CompleteMultipart implements provider.MultipartUploader: it commits the
// session with the whole file's SHA-1, which Box checks, or writes the parts
// gathered in memory as Write would. The Object has SHA-1 verified.
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	up, err := s.state(ctx, u)
	if err != nil {
		return provider.Object{}, err
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(parts) == 0 {
		return provider.Object{}, fmt.Errorf("%w: no parts", provider.ErrInvalid)
	}
	var total int64
	for i, p := range parts {
		have, ok := up.parts[p.Number]
		if p.Number != i+1 || !ok || have.Size != p.Size || (p.ETag != "" && have.ETag != "" && p.ETag != have.ETag) {
			return provider.Object{}, fmt.Errorf("%w: part %d (%d bytes) was not uploaded in this session", provider.ErrInvalid, p.Number, p.Size)
		}
		if i < len(parts)-1 && p.Size < boxPartSize {
			return provider.Object{}, fmt.Errorf("%w: part %d is %d bytes; every part but the last must be at least %d", provider.ErrInvalid, p.Number, p.Size, boxPartSize)
		}
		total += p.Size
	}
	if up.total > 0 && total != up.total {
		return provider.Object{}, fmt.Errorf("%w: parts add up to %d bytes, the upload was created for %d", provider.ErrInvalid, total, up.total)
	}
	if up.hashed < len(parts) {
		return provider.Object{}, fmt.Errorf("%w: parts %d to %d have not been sent since the upload was resumed; Box's commit needs the SHA-1 of every byte", provider.ErrInvalid, up.hashed+1, len(parts))
	}
	sum := hex.EncodeToString(up.sum.Sum(nil))
	var e tree.Entry
	if up.sess == "" {
		// Held in memory: write it as Write would.
		rs := make([]io.Reader, len(parts))
		for i := range parts {
			rs[i] = bytes.NewReader(up.data[i+1])
		}
		e, err = s.upload(ctx, up.parent, up.name, io.MultiReader(rs...), total)
		if err != nil {
			return provider.Object{}, err
		}
	} else {
		for k := int64(0); k*up.boxSize < up.total; k++ {
			if err := s.sendBox(ctx, up, k); err != nil {
				return provider.Object{}, err
			}
		}
		var bps []boxPart
		for _, k := range slices.Sorted(maps.Keys(up.box)) {
			bps = append(bps, up.box[k].boxPart)
		}
		if int64(len(bps))*up.boxSize < up.total {
			return provider.Object{}, fmt.Errorf("%w: Box holds %d of the upload's parts", provider.ErrInvalid, len(bps))
		}
		raw, _ := hex.DecodeString(sum)
		it, err := s.commit(ctx, s.sessionURL(up.sess), bps, raw)
		if err != nil {
			return provider.Object{}, err
		}
		if e, err = verified(it, sum, total); err != nil {
			return provider.Object{}, err
		}
	}
	if e.Size != total || e.Checksums.SHA1 != sum {
		return provider.Object{}, fmt.Errorf("%w: Box stored %d bytes with SHA-1 %s, sent %d with %s", provider.ErrChecksum, e.Size, e.Checksums.SHA1, total, sum)
	}
	s.names.added(up.parent, e)
	s.mu.Lock()
	delete(s.uploads, u.ID)
	s.mu.Unlock()
	return tree.Object(u.Key, e), nil
}

// AbortMultipart implements provider.MultipartUploader: it forgets the
// upload and deletes its Box session, if one was opened; a session already
// gone is not an error.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	s.mu.Lock()
	delete(s.uploads, u.ID)
	s.mu.Unlock()
	if strings.HasPrefix(u.ID, deferredPrefix) {
		return nil // nothing reached Box
	}
	sess, _, _ := strings.Cut(u.ID, "#")
	if sess == "" {
		return fmt.Errorf("%w: upload id %q", provider.ErrInvalid, u.ID)
	}
	_, err := s.do(ctx, http.MethodDelete, s.sessionURL(sess), nil, nil, true, nil)
	if errors.Is(err, provider.ErrNotFound) {
		return nil // already gone
	}
	return err
}

// ListParts implements provider.MultipartUploader: the engine parts held in
// memory or stored on Box in every Box part they overlap. Box's own part
// list is asked each time, so a part Box lost is reported missing.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	up, err := s.state(ctx, u)
	if err != nil {
		return nil, err
	}
	var listed []boxPart
	if up.sess != "" {
		// Ask Box, not memory: a part Box lost must be reported missing.
		if listed, err = s.boxParts(ctx, up.sess); err != nil {
			return nil, err
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	onBox := map[int64]bool{}
	for _, p := range listed {
		if up.boxSize > 0 && p.Offset%up.boxSize == 0 {
			onBox[p.Offset/up.boxSize] = true
			if _, ok := up.box[p.Offset/up.boxSize]; !ok {
				up.box[p.Offset/up.boxSize] = boxRange{boxPart: p}
			}
		}
	}
	var out []provider.Part
	for _, n := range slices.Sorted(maps.Keys(up.parts)) {
		// Held here, or on Box in every Box part it overlaps.
		_, ok := up.data[n]
		if !ok && up.sess != "" {
			ok = true
			first, last := up.boxRangeOf(n)
			for k := first; k <= last && ok; k++ {
				ok = onBox[k]
			}
		}
		if ok {
			out = append(out, up.parts[n])
		}
	}
	return out, nil
}

// ListUploads reports the uploads this Storage created or resumed: Box
// cannot list sessions.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tree.KnownUploads(s.uploads, bucket, prefix, func(up *upload) (string, string) { return up.bucket, up.key })
}
