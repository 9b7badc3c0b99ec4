package onedrive

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/internal/tree"
)

// A Graph upload session takes fragments strictly in offset order, each
// carrying the total size, and every fragment but the last must be a multiple
// of 320 KiB. The transfer engine uploads parts out of order and
// concurrently, so the driver sequences them:
//
//   - UploadPart sends a part as soon as every part before it is on Graph
//     and keeps an early part in memory until then. Memory is bounded by the
//     parts that arrive ahead of a gap, in practice by the engine's
//     concurrency. Sends are serialised per upload: Graph accepts nothing
//     else.
//   - The final fragment makes Graph create the file, so it is held until
//     CompleteMultipart: an aborted upload never leaves an object behind.
//   - When CreateMultipart is not told the size (WriteOptions.Size is zero),
//     no fragment can be sent before CompleteMultipart adds up the parts:
//     every part is held in memory until then, up to maxBuffered bytes.
//
// Part ETags are the parts' MD5 in hex, computed here to recognise a part
// sent again; Graph checks nothing per fragment, so Part.Checksum stays
// zero. Each part's share of the file's quickXorHash is computed at the
// offset it is sent at (see share in hash.go); the shares combine into the
// whole file's hash, which CompleteMultipart compares with the one Graph
// reports: a match is Object.Verified QuickXor, a difference
// provider.ErrChecksum.
//
// Sessions cannot be listed on Graph: ListUploads reports the sessions this
// Storage created or resumed. Another process resumes through Upload.ID,
// which is the uploadUrl with the total size, part size and parent folder in
// its fragment. After such a restart Graph reports only how many bytes it
// committed (nextExpectedRanges), not what they were: ListParts lists the
// committed parts with an empty ETag, the engine cannot match them with its
// journal and sends them again, and UploadPart then accepts the bytes of an
// already committed part without resending them, recording its MD5 and its
// share of the quickXorHash so completion is still verified. A buffered part
// is lost with the process; ListParts never reports it after a restart.

// maxBuffered bounds the parts held for an upload whose size was not given
// to CreateMultipart.
const maxBuffered = 1 << 30

type upload struct {
	mu       sync.Mutex
	bucket   string
	key      string
	url      string // pre-authenticated uploadUrl
	parent   string // "<driveId>/<itemId>" of the folder
	total    int64  // whole size; 0 until known
	partSize int64  // 0 when unknown
	next     int    // next part number to send
	sent     int64  // bytes Graph has committed
	buffered int64  // bytes in early
	parts    map[int]provider.Part
	early    map[int][]byte   // parts waiting for their turn (and the final one)
	shares   map[int][20]byte // each sent part's share of the quickXorHash
}

// PartLimits implements provider.MultipartUploader: parts in multiples of
// 320 KiB, Graph's fragment rule, and each part one fragment of at most 60
// MiB.
func (s *Storage) PartLimits() provider.PartLimits {
	return provider.PartLimits{
		MinPartSize:  fragmentMultiple,
		MaxPartSize:  maxFragment, // one fragment per part; 60 MiB is a multiple of 320 KiB
		MaxParts:     10000,
		PartMultiple: fragmentMultiple,
		MaxSinglePut: simpleMax,
	}
}

// CreateMultipart implements provider.MultipartUploader: it opens a Graph
// upload session that replaces any file at key. With WriteOptions.Size and
// PartSize given, the Upload.ID carries enough to adopt the session from
// another process.
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if err := provider.NoMetadata("onedrive", opts); err != nil {
		return provider.Upload{}, err
	}
	if opts.Size < 0 || opts.PartSize < 0 {
		return provider.Upload{}, fmt.Errorf("%w: size %d, part size %d", provider.ErrInvalid, opts.Size, opts.PartSize)
	}
	parent, name, _, err := s.fs.Parent(ctx, bucket, key)
	if err != nil {
		return provider.Upload{}, err
	}
	loc, err := s.createSession(ctx, parent, name)
	if err != nil {
		return provider.Upload{}, err
	}
	up := &upload{bucket: bucket, key: key, url: loc, parent: parent, total: opts.Size, partSize: opts.PartSize, next: 1,
		parts: map[int]provider.Part{}, early: map[int][]byte{}, shares: map[int][20]byte{}}
	q := url.Values{"parent": {parent}}
	if opts.Size > 0 && opts.PartSize > 0 {
		// Enough to adopt the session from another process.
		q.Set("size", strconv.FormatInt(opts.Size, 10))
		q.Set("ps", strconv.FormatInt(opts.PartSize, 10))
	}
	id := loc + "#" + q.Encode()
	s.mu.Lock()
	s.uploads[id] = up
	s.mu.Unlock()
	return provider.Upload{Bucket: bucket, Key: key, ID: id}, nil
}

// createSession starts an upload session for name in parent and returns its
// uploadUrl.
func (s *Storage) createSession(ctx context.Context, parent, name string) (string, error) {
	body, _ := json.Marshal(map[string]any{"item": map[string]any{"@microsoft.graph.conflictBehavior": "replace"}})
	var sess struct {
		UploadURL string `json:"uploadUrl"`
	}
	if _, err := s.do(ctx, s.hc, http.MethodPost, s.childURL(parent, name, "/createUploadSession"), body, nil, false, &sess); err != nil {
		return "", err
	}
	if !strings.HasPrefix(sess.UploadURL, "http") {
		return "", fmt.Errorf("createUploadSession: no uploadUrl in the answer")
	}
	return sess.UploadURL, nil
}

// state returns the upload of u, adopting a session another process started
// from what Graph committed.
func (s *Storage) state(ctx context.Context, u provider.Upload) (*upload, error) {
	s.mu.Lock()
	up := s.uploads[u.ID]
	s.mu.Unlock()
	if up != nil {
		return up, nil
	}
	loc, frag, _ := strings.Cut(u.ID, "#")
	q, _ := url.ParseQuery(frag)
	total, _ := strconv.ParseInt(q.Get("size"), 10, 64)
	ps, _ := strconv.ParseInt(q.Get("ps"), 10, 64)
	if total <= 0 || ps <= 0 || q.Get("parent") == "" || !strings.HasPrefix(loc, "http") {
		return nil, fmt.Errorf("%w: upload %q is unknown here and carries no sizes to resume with", provider.ErrNotFound, redact(u.ID))
	}
	committed, err := s.committed(ctx, loc)
	if err != nil {
		return nil, err
	}
	if committed%ps != 0 {
		return nil, fmt.Errorf("%w: Graph committed %d bytes, not a whole number of %d-byte parts", provider.ErrInvalid, committed, ps)
	}
	up = &upload{bucket: u.Bucket, key: u.Key, url: loc, parent: q.Get("parent"), total: total, partSize: ps,
		next: int(committed/ps) + 1, sent: committed,
		parts: map[int]provider.Part{}, early: map[int][]byte{}, shares: map[int][20]byte{}}
	for n := 1; n < up.next; n++ {
		up.parts[n] = provider.Part{Number: n, Size: ps} // content unknown: no ETag
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

// committed asks Graph how many bytes of the session it holds. A session that
// is gone (finished, cancelled or expired) is ErrNotFound.
func (s *Storage) committed(ctx context.Context, loc string) (int64, error) {
	var st struct {
		NextExpectedRanges []string `json:"nextExpectedRanges"`
	}
	if _, err := s.do(ctx, s.plain, http.MethodGet, loc, nil, nil, true, &st); err != nil {
		return 0, err
	}
	if len(st.NextExpectedRanges) == 0 {
		return 0, fmt.Errorf("%w: upload session reports no expected range", provider.ErrInvalid)
	}
	// "26-" or "26-127": the first missing byte.
	start, _, _ := strings.Cut(st.NextExpectedRanges[0], "-")
	n, err := strconv.ParseInt(start, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: nextExpectedRanges %q", provider.ErrInvalid, st.NextExpectedRanges)
	}
	return n, nil
}

// send puts data at offset up.sent and returns the item when it was the last
// fragment; up.mu must be held. A fragment whose answer was lost is found
// committed by a status query rather than failing on its 416 retry.
func (s *Storage) send(ctx context.Context, up *upload, data []byte) (*driveItem, error) {
	off := up.sent
	hdr := http.Header{
		"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", off, off+int64(len(data))-1, up.total)},
		"Content-Type":  {"application/octet-stream"},
	}
	var res struct {
		driveItem
		NextExpectedRanges []string `json:"nextExpectedRanges"`
	}
	resp, err := s.do(ctx, s.plain, http.MethodPut, up.url, data, hdr, true, &res)
	final := off+int64(len(data)) == up.total
	if err != nil {
		if !final && !errors.Is(err, context.Canceled) {
			if c, cerr := s.committed(ctx, up.url); cerr == nil && c == off+int64(len(data)) {
				up.sent = c
				return nil, nil
			}
		}
		return nil, err
	}
	up.sent = off + int64(len(data))
	if !final {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("upload session ended with status %d", resp.StatusCode)
	}
	return &res.driveItem, nil
}

// UploadPart implements provider.MultipartUploader: part n is sent once
// every part before it is on Graph and waits in memory until then; the final
// fragment is held until CompleteMultipart, since it creates the file. A
// part Graph committed before a restart is hashed, not sent twice.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if n < 1 || size <= 0 || size > maxFragment {
		return provider.Part{}, fmt.Errorf("%w: part %d of %d bytes (1 to %d allowed)", provider.ErrInvalid, n, size, maxFragment)
	}
	up, err := s.state(ctx, u)
	if err != nil {
		return provider.Part{}, err
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return provider.Part{}, fmt.Errorf("part %d: %w", n, err)
	}
	sum := md5.Sum(data)
	part := provider.Part{Number: n, Size: size, ETag: hex.EncodeToString(sum[:])}
	up.mu.Lock()
	defer up.mu.Unlock()
	if n < up.next {
		old := up.parts[n]
		switch {
		case old.Size == size && old.ETag == part.ETag:
			return old, nil // a retry of a part already on Graph
		case old.Size == size && old.ETag == "" && up.partSize > 0:
			// Committed before a restart: Graph has it, now its hash is known.
			up.parts[n] = part
			up.shares[n] = share(data, int64(n-1)*up.partSize)
			return part, nil
		}
		return provider.Part{}, fmt.Errorf("%w: part %d was already sent with other content", provider.ErrInvalid, n)
	}
	if old, ok := up.early[n]; ok {
		up.buffered -= int64(len(old))
	}
	if up.total == 0 && up.buffered+size > maxBuffered {
		return provider.Part{}, fmt.Errorf("%w: more than %d bytes of parts held for an upload of unknown size; pass WriteOptions.Size to CreateMultipart", provider.ErrInvalid, maxBuffered)
	}
	up.parts[n] = part
	up.early[n] = data
	up.buffered += size
	if err := s.flush(ctx, up); err != nil {
		return provider.Part{}, err
	}
	return part, nil
}

// flush sends the waiting parts that are next in line, are whole multiples
// of 320 KiB and are not the final fragment; up.mu must be held.
func (s *Storage) flush(ctx context.Context, up *upload) error {
	for up.total > 0 {
		data, ok := up.early[up.next]
		n := int64(len(data))
		if !ok || n%fragmentMultiple != 0 || up.sent+n >= up.total {
			return nil
		}
		off := up.sent
		if _, err := s.send(ctx, up, data); err != nil {
			return err
		}
		up.shares[up.next] = share(data, off)
		delete(up.early, up.next)
		up.buffered -= n
		up.next++
	}
	return nil
}

// CompleteMultipart implements provider.MultipartUploader: it sends the
// parts still waiting and the final fragment, which creates the file, then
// compares the quickXorHash Graph reports with the one combined from the
// parts (Verified QuickXor, or ErrChecksum).
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
		if i < len(parts)-1 && p.Size%fragmentMultiple != 0 {
			return provider.Object{}, fmt.Errorf("%w: part %d is %d bytes; every part but the last must be a multiple of %d", provider.ErrInvalid, p.Number, p.Size, fragmentMultiple)
		}
		total += p.Size
	}
	if up.total == 0 {
		up.total = total
	} else if up.total != total {
		return provider.Object{}, fmt.Errorf("%w: parts add up to %d bytes, the upload was created for %d", provider.ErrInvalid, total, up.total)
	}
	if err := s.flush(ctx, up); err != nil {
		return provider.Object{}, err
	}
	last, ok := up.early[len(parts)]
	if up.next != len(parts) || !ok {
		return provider.Object{}, fmt.Errorf("%w: parts before %d are missing", provider.ErrInvalid, up.next)
	}
	off := up.sent
	it, err := s.send(ctx, up, last)
	if err != nil {
		return provider.Object{}, err
	}
	up.shares[len(parts)] = share(last, off)
	delete(up.early, len(parts))
	up.next++
	s.mu.Lock()
	delete(s.uploads, u.ID)
	s.mu.Unlock()
	e, err := s.verified(driveOf(up.parent), *it, up.quickXor(len(parts), total), total)
	if err != nil {
		return provider.Object{}, err
	}
	return tree.Object(u.Key, e), nil
}

// quickXor combines the parts' shares into the file's quickXorHash digest,
// or returns nil (nothing to compare) when a part's share is unknown.
func (up *upload) quickXor(parts int, total int64) []byte {
	shares := make([][20]byte, 0, parts)
	for n := 1; n <= parts; n++ {
		sh, ok := up.shares[n]
		if !ok {
			return nil
		}
		shares = append(shares, sh)
	}
	return combine(shares, total)
}

// AbortMultipart implements provider.MultipartUploader: it forgets the
// session and deletes it on Graph; no file was created, since the final
// fragment was held back. A session already gone is not an error.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	s.mu.Lock()
	delete(s.uploads, u.ID)
	s.mu.Unlock()
	loc, _, _ := strings.Cut(u.ID, "#")
	if !strings.HasPrefix(loc, "http") {
		return fmt.Errorf("%w: upload id %q", provider.ErrInvalid, redact(u.ID))
	}
	_, err := s.do(ctx, s.plain, http.MethodDelete, loc, nil, nil, true, nil)
	if errors.Is(err, provider.ErrNotFound) {
		return nil // already gone
	}
	return err
}

// ListParts implements provider.MultipartUploader: the parts of this
// session, less those Graph lost, as its nextExpectedRanges show.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	up, err := s.state(ctx, u)
	if err != nil {
		return nil, err
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	committed, err := s.committed(ctx, up.url)
	if err != nil {
		return nil, err
	}
	return tree.HeldParts(up.parts, up.next, committed), nil
}

// ListUploads reports the sessions this Storage created or resumed: Graph
// cannot list them.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tree.KnownUploads(s.uploads, bucket, prefix, func(up *upload) (string, string) { return up.bucket, up.key })
}
