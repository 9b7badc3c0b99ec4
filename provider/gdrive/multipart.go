package gdrive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/internal/tree"
)

// A Drive resumable session takes bytes strictly in offset order, and the
// total must be known on the last chunk. The transfer engine uploads parts
// out of order and concurrently, so UploadPart sends a part as soon as every
// part before it is on Drive and keeps an early part in memory until then;
// a part that is not a multiple of 256 KiB can only be the last one and is
// sent by CompleteMultipart, which knows the total. Memory is bounded by the
// parts in flight ahead of the gap, i.e. by the engine's concurrency.
//
// Sessions cannot be listed on Drive: ListUploads reports the sessions this
// Storage started, and another process resumes through the Upload.ID kept in
// its journal, which is the session URI (with the part size in its fragment
// when CreateMultipart was given one). A buffered part is not on Drive until
// the gap before it fills: after a crash ListParts reports only what Drive
// committed, and the engine re-sends the rest.
//
// Drive checks nothing per chunk, so Part.Checksum stays zero; part ETags
// are the parts' MD5, computed here to recognise a part sent again. The MD5
// of the whole file is computed in part order as parts go up and compared
// at completion with the md5Checksum Drive reports (Object.Verified MD5, or
// provider.ErrChecksum). After a restart the parts Drive committed earlier
// are listed without an ETag; when the caller sends them again they are not
// uploaded twice but hashed, in order, and held until the parts before them
// are (up to maxHashHold bytes). If they are not all sent again, or more
// would have to be held, completion reports no Verified rather than
// claiming a check it did not make.

// maxHashHold bounds the bytes held for hashing in part order after a
// restart.
const maxHashHold = 256 << 20

type upload struct {
	mu       sync.Mutex
	bucket   string
	key      string
	url      string
	partSize int64
	next     int   // next part number to send
	sent     int64 // bytes Drive has committed
	parts    map[int]provider.Part
	early    map[int][]byte // parts waiting for the gap before them
	sum      hash.Hash      // MD5 of parts 1..hashed; nil once given up
	hashed   int
	held     map[int][]byte // parts waiting to be hashed in order
	heldSize int64
}

func newUpload(bucket, key, loc string) *upload {
	return &upload{bucket: bucket, key: key, url: loc, next: 1, parts: map[int]provider.Part{},
		early: map[int][]byte{}, sum: md5.New(), held: map[int][]byte{}}
}

// hash adds part n's bytes to the file's MD5, in part order, holding the
// part until those before it are hashed; up.mu must be held.
func (up *upload) hash(n int, data []byte) {
	if up.sum == nil || n <= up.hashed {
		return
	}
	if _, ok := up.held[n]; !ok {
		up.held[n] = data
		up.heldSize += int64(len(data))
	}
	for d, ok := up.held[up.hashed+1]; ok; d, ok = up.held[up.hashed+1] {
		up.sum.Write(d)
		delete(up.held, up.hashed+1)
		up.heldSize -= int64(len(d))
		up.hashed++
	}
	if up.heldSize > maxHashHold {
		up.sum, up.held, up.heldSize = nil, nil, 0 // no whole-file check then
	}
}

// PartLimits implements provider.MultipartUploader: parts in multiples of
// 256 KiB, Drive's chunk rule, and at most 1 GiB, since each part is one
// request body.
func (s *Storage) PartLimits() provider.PartLimits {
	return provider.PartLimits{
		MinPartSize:  chunkMultiple,
		MaxPartSize:  1 << 30, // each part is one request body
		MaxParts:     10000,
		PartMultiple: chunkMultiple,
		MaxSinglePut: simpleMax,
	}
}

// CreateMultipart implements provider.MultipartUploader: it opens a Drive
// resumable session for a new file, or for a new version of the file already
// at key. The Upload.ID is the session URI, so another process can resume
// it.
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if err := provider.NoMetadata("gdrive", opts); err != nil {
		return provider.Upload{}, err
	}
	parent, name, existing, err := s.fs.Parent(ctx, bucket, key)
	if err != nil {
		return provider.Upload{}, err
	}
	meta := map[string]any{}
	method, u := http.MethodPost, s.uploadBase
	if existing != nil {
		method, u = http.MethodPatch, s.uploadBase+"/"+url.PathEscape(existing.ID)
	} else {
		meta["name"], meta["parents"] = name, []string{parent}
	}
	if opts.ContentType != "" {
		meta["mimeType"] = opts.ContentType
	}
	body, _ := json.Marshal(meta)
	u += "?uploadType=resumable&supportsAllDrives=true&fields=" + url.QueryEscape(fileFields)
	var loc string
	err = tree.Retry(ctx, false, func() error {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		if opts.ContentType != "" {
			req.Header.Set("X-Upload-Content-Type", opts.ContentType)
		}
		resp, err := s.hc.Do(req)
		if err != nil {
			return mapError(err, key)
		}
		defer drain(resp)
		if err := googleapi.CheckResponse(resp); err != nil {
			return mapError(err, key)
		}
		loc = resp.Header.Get("Location")
		if loc == "" {
			return errors.New("resumable upload: no session URI in Location")
		}
		return nil
	})
	if err != nil {
		return provider.Upload{}, err
	}
	up := newUpload(bucket, key, loc)
	id := loc
	if opts.PartSize > 0 {
		up.partSize = chunkSize(opts.PartSize)
		id += "#ps=" + strconv.FormatInt(up.partSize, 10)
	}
	s.mu.Lock()
	s.uploads[id] = up
	s.mu.Unlock()
	return provider.Upload{Bucket: bucket, Key: key, ID: id}, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
}

// session returns the state of u, adopting a session another process started
// from the committed range Drive reports.
func (s *Storage) session(ctx context.Context, u provider.Upload) (*upload, error) {
	s.mu.Lock()
	up := s.uploads[u.ID]
	s.mu.Unlock()
	if up != nil {
		return up, nil
	}
	loc, frag, _ := strings.Cut(u.ID, "#ps=")
	ps, err := strconv.ParseInt(frag, 10, 64)
	if err != nil || ps <= 0 || !strings.HasPrefix(loc, "http") {
		return nil, fmt.Errorf("%w: upload %q is unknown here and carries no part size to resume with", provider.ErrNotFound, u.ID)
	}
	up = newUpload(u.Bucket, u.Key, loc)
	up.partSize = ps
	committed, _, err := s.put(ctx, up, nil, 0, "*")
	if err != nil {
		return nil, err
	}
	up.sent = committed / ps * ps
	up.next = int(up.sent/ps) + 1
	for n := 1; n < up.next; n++ {
		up.parts[n] = provider.Part{Number: n, Size: ps}
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

var rangeRE = regexp.MustCompile(`^bytes=0-(\d+)$`)

// put sends data at offset up.sent (a status query when data is nil and
// total is "*") and returns what Drive committed, or the file when the
// upload finished. 429s are retried: the body is in memory.
func (s *Storage) put(ctx context.Context, up *upload, data []byte, offset int64, total string) (int64, *drive.File, error) {
	var committed int64
	var f *drive.File
	err := tree.Retry(ctx, true, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, up.url, bytes.NewReader(data))
		if err != nil {
			return err
		}
		if len(data) == 0 {
			req.Header.Set("Content-Range", "bytes */"+total)
		} else {
			req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%s", offset, offset+int64(len(data))-1, total))
		}
		req.ContentLength = int64(len(data))
		resp, err := s.hc.Do(req)
		if err != nil {
			return mapError(err, "upload chunk")
		}
		defer drain(resp)
		switch {
		case resp.StatusCode == http.StatusPermanentRedirect || resp.Header.Get("X-Http-Status-Code-Override") == "308":
			committed = 0
			if m := rangeRE.FindStringSubmatch(resp.Header.Get("Range")); m != nil {
				end, _ := strconv.ParseInt(m[1], 10, 64)
				committed = end + 1
			}
			return nil
		case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
			f = new(drive.File)
			return json.NewDecoder(resp.Body).Decode(f)
		}
		return mapError(googleapi.CheckResponse(resp), "upload chunk")
	})
	return committed, f, err
}

// UploadPart implements provider.MultipartUploader: part n goes to Drive
// once every part before it is there, and waits in memory until then; a part
// Drive already committed is recognised by its MD5 and not sent twice.
func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if n < 1 || size < 0 {
		return provider.Part{}, fmt.Errorf("%w: part %d of %d bytes", provider.ErrInvalid, n, size)
	}
	up, err := s.session(ctx, u)
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
		switch old := up.parts[n]; {
		case old.Size == size && old.ETag == part.ETag:
			return old, nil // already on Drive: a retry
		case old.Size == size && old.ETag == "":
			// Committed before a restart: Drive has it, now its hash is known.
			up.parts[n] = part
			up.hash(n, data)
			return part, nil
		}
		return provider.Part{}, fmt.Errorf("%w: part %d was already sent with other content", provider.ErrInvalid, n)
	}
	up.parts[n] = part
	up.early[n] = data
	if err := s.flush(ctx, up); err != nil {
		return provider.Part{}, err
	}
	return part, nil
}

// flush sends the waiting parts that are next in line and whole multiples of
// 256 KiB; up.mu must be held.
func (s *Storage) flush(ctx context.Context, up *upload) error {
	for {
		data, ok := up.early[up.next]
		if !ok || len(data) == 0 || len(data)%chunkMultiple != 0 {
			return nil
		}
		committed, _, err := s.put(ctx, up, data, up.sent, "*")
		if err != nil {
			return err
		}
		if committed != up.sent+int64(len(data)) {
			return fmt.Errorf("%w: Drive committed %d bytes, expected %d", provider.ErrInvalid, committed, up.sent+int64(len(data)))
		}
		up.hash(up.next, data)
		up.sent = committed
		delete(up.early, up.next)
		up.next++
	}
}

// CompleteMultipart implements provider.MultipartUploader: it sends the
// parts still waiting, the last one with the total size, and compares the
// md5Checksum Drive reports with the MD5 of the parts' bytes (Verified MD5,
// or ErrChecksum).
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	up, err := s.session(ctx, u)
	if err != nil {
		return provider.Object{}, err
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	var total int64
	for i, p := range parts {
		have, ok := up.parts[p.Number]
		if p.Number != i+1 || !ok || have.Size != p.Size {
			return provider.Object{}, fmt.Errorf("%w: part %d (%d bytes) was not uploaded in this session", provider.ErrInvalid, p.Number, p.Size)
		}
		if i < len(parts)-1 && (p.Size < chunkMultiple || p.Size%chunkMultiple != 0) {
			return provider.Object{}, fmt.Errorf("%w: part %d is %d bytes; every part but the last must be a multiple of %d", provider.ErrInvalid, p.Number, p.Size, chunkMultiple)
		}
		total += p.Size
	}
	if err := s.flush(ctx, up); err != nil {
		return provider.Object{}, err
	}
	var f *drive.File
	if up.next == len(parts) {
		last := up.early[up.next]
		_, f, err = s.put(ctx, up, last, up.sent, strconv.FormatInt(total, 10))
		if err == nil {
			up.hash(up.next, last)
		}
	} else if up.next == len(parts)+1 {
		_, f, err = s.put(ctx, up, nil, 0, strconv.FormatInt(total, 10))
	} else {
		return provider.Object{}, fmt.Errorf("%w: parts before %d are missing", provider.ErrInvalid, up.next)
	}
	if err != nil {
		return provider.Object{}, err
	}
	if f == nil {
		return provider.Object{}, fmt.Errorf("%w: Drive did not finish the upload of %d bytes", provider.ErrInvalid, total)
	}
	s.mu.Lock()
	delete(s.uploads, u.ID)
	s.mu.Unlock()
	var sum []byte
	if up.sum != nil && up.hashed == len(parts) {
		sum = up.sum.Sum(nil)
	}
	e, err := verified(f, sum, total)
	if err != nil {
		return provider.Object{}, err
	}
	return tree.Object(u.Key, e), nil
}

// AbortMultipart implements provider.MultipartUploader: it forgets the
// session and cancels it on Drive; a session already gone is not an error.
func (s *Storage) AbortMultipart(ctx context.Context, u provider.Upload) error {
	s.mu.Lock()
	delete(s.uploads, u.ID)
	s.mu.Unlock()
	loc, _, _ := strings.Cut(u.ID, "#")
	return tree.Retry(ctx, true, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc, nil)
		if err != nil {
			return err
		}
		resp, err := s.hc.Do(req)
		if err != nil {
			return mapError(err, "abort upload")
		}
		defer drain(resp)
		// Google answers a cancelled session with 499; a gone one is fine.
		if resp.StatusCode == 499 || resp.StatusCode == http.StatusNotFound || resp.StatusCode/100 == 2 {
			return nil
		}
		return mapError(googleapi.CheckResponse(resp), "abort upload")
	})
}

// ListParts implements provider.MultipartUploader: the parts of this
// session, less those Drive lost, as Drive's committed byte count shows.
func (s *Storage) ListParts(ctx context.Context, u provider.Upload) ([]provider.Part, error) {
	up, err := s.session(ctx, u)
	if err != nil {
		return nil, err
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	committed, f, err := s.put(ctx, up, nil, 0, "*")
	if err != nil {
		return nil, err
	}
	if f != nil {
		return nil, fmt.Errorf("%w: upload already finished", provider.ErrNotFound)
	}
	return tree.HeldParts(up.parts, up.next, committed), nil
}

// ListUploads reports the sessions this Storage started or resumed: Drive
// cannot list them.
func (s *Storage) ListUploads(ctx context.Context, bucket, prefix string) ([]provider.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return tree.KnownUploads(s.uploads, bucket, prefix, func(up *upload) (string, string) { return up.bucket, up.key })
}
