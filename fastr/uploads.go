package fastr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Upload sessions. Each part is its own file named "<number>-<sha256>", so a
// single rename publishes the bytes and their checksum together, parts can
// arrive concurrently and out of order, and a retried part simply replaces
// the earlier one. Offset mode (PATCH with X-Fastr-Offset) is the same store
// used sequentially: a chunk at the committed offset becomes part k+1.

// Part limits of the protocol. Small parts are refused at completion (except
// the last) so a session cannot become a million tiny files.
const (
	MinPartSize  = 1 << 20
	MaxPartSize  = 5 << 30
	MaxParts     = 10000
	MaxObjectPut = 5 << 30
)

type sessionFile struct {
	ID          string    `json:"id"`
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	ContentType string    `json:"contentType,omitempty"`
	Created     time.Time `json:"created"`
	// Metadata is the object's user metadata (CreateUploadRequest).
	Metadata map[string]string `json:"metadata,omitempty"`
	// AccessKey created the session: it counts against that key's
	// MaxUploadsPerKey. Empty in sessions of older servers.
	AccessKey string `json:"accessKey,omitempty"`
}

// DefaultMaxUploadsPerKey is how many upload sessions one access key may
// have open at once when Options.MaxUploadsPerKey is zero.
const DefaultMaxUploadsPerKey = 1000

// sessionLocks serialises the steps of one session that must not interleave
// (publishing a part, checking the offset, completing, aborting). A lock
// lives only while someone holds or waits for it, so ids from requests
// (sessions that never existed) leave nothing behind.
type sessionLocks struct {
	mu    sync.Mutex
	m     map[string]*sessionLock
	swept time.Time
}

type sessionLock struct {
	sync.Mutex
	refs int // holders and waiters; guarded by sessionLocks.mu
}

// sweepStale aborts sessions older than UploadTTL, so abandoned uploads do
// not fill the disk. It runs at most once an hour.
func (s *Server) sweepStale() {
	now := s.now()
	s.locks.mu.Lock()
	due := now.Sub(s.locks.swept) > time.Hour
	if due {
		s.locks.swept = now
	}
	s.locks.mu.Unlock()
	if !due {
		return
	}
	f, err := s.root.Open(uploadsDir)
	if err != nil {
		return
	}
	ents, _ := f.ReadDir(-1)
	f.Close()
	for _, e := range ents {
		if sf, err := s.readSession(e.Name()); err == nil && now.Sub(sf.Created) > s.opts.UploadTTL {
			_ = s.abortUpload(sf.ID)
		}
	}
}

func (l *sessionLocks) lock(id string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sessionLock{}
	}
	m := l.m[id]
	if m == nil {
		m = &sessionLock{}
		l.m[id] = m
	}
	m.refs++
	l.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		l.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}

// held is how many sessions have a lock in the table (for tests).
func (l *sessionLocks) held() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// uploadCounts counts the open sessions of each access key, so one key
// cannot fill the disk's directory with sessions. It is read from disk on
// first use and kept up to date by create, complete and abort.
type uploadCounts struct {
	mu     sync.Mutex
	loaded bool
	n      map[string]int
}

// reserve counts a new session of ak, or refuses when ak already has max;
// release undoes it when the session could not be created.
func (s *Server) reserveUpload(ak string) (release func(), err error) {
	c := &s.uploads
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		c.n = map[string]int{}
		if f, err := s.root.Open(uploadsDir); err == nil {
			ents, _ := f.ReadDir(-1)
			f.Close()
			for _, e := range ents {
				if sf, err := s.readSession(e.Name()); err == nil && sf.AccessKey != "" {
					c.n[sf.AccessKey]++
				}
			}
		}
		c.loaded = true
	}
	limit := s.opts.MaxUploadsPerKey
	if limit <= 0 {
		limit = DefaultMaxUploadsPerKey
	}
	if c.n[ak] >= limit {
		e := errf(http.StatusTooManyRequests, CodeSlowDown, "this access key has %d open upload sessions, the most it may have; complete or abort some", c.n[ak])
		e.RetryAfter = time.Minute
		return nil, e
	}
	c.n[ak]++
	return func() { s.uploadGone(ak) }, nil
}

// uploadGone uncounts a session of ak that was completed or aborted.
func (s *Server) uploadGone(ak string) {
	c := &s.uploads
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded || ak == "" {
		return
	}
	if c.n[ak]--; c.n[ak] <= 0 {
		delete(c.n, ak)
	}
}

func sessionDir(id string) string { return uploadsDir + "/" + id }

// createUpload opens a session for accessKey, the key that signed the
// request.
func (s *Server) createUpload(req CreateUploadRequest, accessKey string) (UploadInfo, error) {
	if err := s.needBucket(req.Bucket); err != nil {
		return UploadInfo{}, err
	}
	if e := checkKey(req.Key); e != nil {
		return UploadInfo{}, e
	}
	if isFolderKey(req.Key) {
		return UploadInfo{}, errf(http.StatusBadRequest, CodeInvalidKey, "cannot upload a folder marker in parts")
	}
	if e := checkMetadata(req.Metadata); e != nil {
		return UploadInfo{}, e
	}
	s.sweepStale()
	release, err := s.reserveUpload(accessKey)
	if err != nil {
		return UploadInfo{}, err
	}
	sf := sessionFile{ID: newID(), Bucket: req.Bucket, Key: req.Key, ContentType: req.ContentType, Created: s.now().UTC(),
		AccessKey: accessKey, Metadata: req.Metadata}
	if err := s.root.MkdirAll(sessionDir(sf.ID), 0o755); err != nil {
		release()
		return UploadInfo{}, err
	}
	b, _ := json.Marshal(sf)
	if err := s.writeFileAtomic(sessionDir(sf.ID)+"/session.json", b); err != nil {
		_ = s.root.RemoveAll(sessionDir(sf.ID))
		release()
		return UploadInfo{}, err
	}
	return UploadInfo{ID: sf.ID, Bucket: sf.Bucket, Key: sf.Key, ContentType: sf.ContentType, Created: sf.Created}, nil
}

func noSuchUpload(id string) *Error {
	return errf(http.StatusNotFound, CodeNoSuchUpload, "no upload session %q", id)
}

func (s *Server) readSession(id string) (sessionFile, error) {
	if !validID(id) {
		return sessionFile{}, noSuchUpload(id)
	}
	b, err := s.root.ReadFile(sessionDir(id) + "/session.json")
	if errors.Is(err, fs.ErrNotExist) {
		return sessionFile{}, noSuchUpload(id)
	}
	if err != nil {
		return sessionFile{}, err
	}
	var sf sessionFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return sessionFile{}, err
	}
	return sf, nil
}

// parts lists the stored parts in number order.
func (s *Server) parts(id string) ([]PartInfo, error) {
	f, err := s.root.Open(sessionDir(id))
	if err != nil {
		return nil, noSuchUpload(id)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []PartInfo
	for _, e := range ents {
		num, sum, ok := strings.Cut(e.Name(), "-")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 || len(sum) != 64 {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, PartInfo{Number: n, Size: fi.Size(), ETag: sum})
	}
	slices.SortFunc(out, func(a, b PartInfo) int { return a.Number - b.Number })
	return out, nil
}

// committed is the offset after parts 1..k without a gap.
func committed(parts []PartInfo) (offset int64, k int) {
	for _, p := range parts {
		if p.Number != k+1 {
			break
		}
		offset += p.Size
		k++
	}
	return offset, k
}

func (s *Server) getUpload(id string) (UploadInfo, error) {
	sf, err := s.readSession(id)
	if err != nil {
		return UploadInfo{}, err
	}
	parts, err := s.parts(id)
	if err != nil {
		return UploadInfo{}, err
	}
	off, _ := committed(parts)
	return UploadInfo{ID: sf.ID, Bucket: sf.Bucket, Key: sf.Key, ContentType: sf.ContentType, Created: sf.Created,
		Parts: parts, Offset: off}, nil
}

func (s *Server) listUploads(bucket, prefix string) ([]UploadInfo, error) {
	if err := s.needBucket(bucket); err != nil {
		return nil, err
	}
	f, err := s.root.Open(uploadsDir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := []UploadInfo{}
	for _, e := range ents {
		sf, err := s.readSession(e.Name())
		if err != nil || sf.Bucket != bucket || !strings.HasPrefix(sf.Key, prefix) {
			continue
		}
		out = append(out, UploadInfo{ID: sf.ID, Bucket: sf.Bucket, Key: sf.Key, ContentType: sf.ContentType, Created: sf.Created})
	}
	slices.SortFunc(out, func(a, b UploadInfo) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return a.Created.Compare(b.Created)
	})
	return out, nil
}

// receivePart streams a part body into a temp file under the root (the
// same file system, so the publishing rename is atomic) and checks it against the checksums the client declared.
func (s *Server) receivePart(id string, body io.Reader, wantSHAs ...string) (*tempFile, error) {
	t, err := s.createTemp()
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(t, io.LimitReader(body, MaxPartSize+1))
	if err != nil {
		t.discard()
		return nil, errf(http.StatusBadRequest, CodeInvalidArgument, "reading part: %v", err)
	}
	if n > MaxPartSize {
		t.discard()
		return nil, errf(http.StatusRequestEntityTooLarge, CodeEntityTooLarge, "part larger than %d bytes", int64(MaxPartSize))
	}
	for _, w := range wantSHAs {
		if w != "" && w != UnsignedPayload && w != t.sum() {
			t.discard()
			return nil, errf(http.StatusBadRequest, CodeBadDigest, "part SHA-256 %s differs from the declared %s", t.sum(), w)
		}
	}
	if err := t.f.Close(); err != nil {
		t.discard()
		return nil, err
	}
	t.f = nil
	return t, nil
}

// publishPart renames a received part into the session as number n and
// drops any earlier version of that part. The caller holds the session lock.
func (s *Server) publishPart(id string, n int, t *tempFile) (PartInfo, error) {
	if _, err := s.readSession(id); err != nil {
		return PartInfo{}, err // aborted or completed while the body arrived
	}
	old, err := s.parts(id)
	if err != nil {
		return PartInfo{}, err
	}
	sum := t.sum()
	name := fmt.Sprintf("%s/%d-%s", sessionDir(id), n, sum)
	if err := s.root.Rename(t.name, name); err != nil {
		return PartInfo{}, err
	}
	for _, p := range old {
		if p.Number == n && p.ETag != sum {
			_ = s.root.Remove(fmt.Sprintf("%s/%d-%s", sessionDir(id), n, p.ETag))
		}
	}
	return PartInfo{Number: n, Size: t.size, ETag: sum}, nil
}

func (s *Server) uploadPart(id string, n int, body io.Reader, wantSHAs ...string) (PartInfo, error) {
	if _, err := s.readSession(id); err != nil {
		return PartInfo{}, err
	}
	if n < 1 || n > MaxParts {
		return PartInfo{}, errf(http.StatusBadRequest, CodeInvalidPart, "part number %d outside 1..%d", n, MaxParts)
	}
	t, err := s.receivePart(id, body, wantSHAs...)
	if err != nil {
		return PartInfo{}, err
	}
	defer t.discard()
	unlock := s.locks.lock(id)
	defer unlock()
	return s.publishPart(id, n, t)
}

// appendChunk is offset mode: the chunk must start at the committed offset,
// else the answer is OffsetMismatch with the offset to resume from. The
// offset is checked before the body is read (a wrong writer learns at once)
// and again before publishing (two writers raced).
func (s *Server) appendChunk(id string, offset int64, body io.Reader, wantSHAs ...string) (PartInfo, int64, error) {
	if _, err := s.readSession(id); err != nil {
		return PartInfo{}, 0, err
	}
	check := func() (int, error) {
		parts, err := s.parts(id)
		if err != nil {
			return 0, err
		}
		off, k := committed(parts)
		if off != offset {
			return 0, offsetMismatch(off)
		}
		return k, nil
	}
	if _, err := check(); err != nil {
		return PartInfo{}, 0, err
	}
	t, err := s.receivePart(id, body, wantSHAs...)
	if err != nil {
		return PartInfo{}, 0, err
	}
	defer t.discard()
	unlock := s.locks.lock(id)
	defer unlock()
	k, err := check()
	if err != nil {
		return PartInfo{}, 0, err
	}
	p, err := s.publishPart(id, k+1, t)
	return p, offset + p.Size, err
}

func offsetMismatch(expected int64) *Error {
	e := errf(http.StatusConflict, CodeOffsetMismatch, "chunk does not start at the committed offset %d", expected)
	e.ExpectedOffset = &expected
	return e
}

// completeUpload assembles the parts into a temp file, verifies the whole
// SHA-256 when given, and renames it into place; then the session is gone.
func (s *Server) completeUpload(id string, req CompleteRequest) (ObjectInfo, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	sf, err := s.readSession(id)
	if err != nil {
		return ObjectInfo{}, err
	}
	stored, err := s.parts(id)
	if err != nil {
		return ObjectInfo{}, err
	}
	use := req.Parts
	if len(use) == 0 {
		_, k := committed(stored)
		use = stored[:k]
	}
	byNum := map[int]PartInfo{}
	for _, p := range stored {
		byNum[p.Number] = p
	}
	chosen := make([]PartInfo, 0, len(use))
	for i, p := range use {
		sp, ok := byNum[p.Number]
		switch {
		case i > 0 && p.Number <= use[i-1].Number:
			return ObjectInfo{}, errf(http.StatusBadRequest, CodeInvalidPart, "parts not in ascending order at %d", p.Number)
		case !ok:
			return ObjectInfo{}, errf(http.StatusBadRequest, CodeInvalidPart, "part %d was not uploaded", p.Number)
		case p.ETag != "" && strings.Trim(p.ETag, `"`) != sp.ETag:
			return ObjectInfo{}, errf(http.StatusBadRequest, CodeInvalidPart, "part %d has etag %s, not %s", p.Number, sp.ETag, p.ETag)
		case i < len(use)-1 && sp.Size < MinPartSize:
			return ObjectInfo{}, errf(http.StatusBadRequest, CodeEntityTooSmall, "part %d is %d bytes, below the %d minimum", p.Number, sp.Size, MinPartSize)
		}
		chosen = append(chosen, sp)
	}
	if err := s.needBucket(sf.Bucket); err != nil {
		return ObjectInfo{}, err
	}
	t, err := s.createTemp()
	if err != nil {
		return ObjectInfo{}, err
	}
	defer t.discard()
	for _, p := range chosen {
		f, err := s.root.Open(fmt.Sprintf("%s/%d-%s", sessionDir(id), p.Number, p.ETag))
		if err != nil {
			return ObjectInfo{}, err
		}
		_, err = io.Copy(t, f)
		f.Close()
		if err != nil {
			return ObjectInfo{}, err
		}
	}
	if req.SHA256 != "" && req.SHA256 != t.sum() {
		return ObjectInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "assembled SHA-256 %s differs from the declared %s", t.sum(), req.SHA256)
	}
	o, err := t.commit(sf.Bucket, sf.Key, sf.ContentType, sf.Metadata)
	if err != nil {
		return ObjectInfo{}, err
	}
	_ = s.root.RemoveAll(sessionDir(id))
	s.uploadGone(sf.AccessKey)
	return o, nil
}

func (s *Server) abortUpload(id string) error {
	unlock := s.locks.lock(id)
	defer unlock()
	sf, err := s.readSession(id)
	if err != nil {
		return err
	}
	// session.json goes first: from then on the session does not exist,
	// even if removing the parts fails half way.
	if err := s.root.Remove(sessionDir(id) + "/session.json"); err != nil {
		return err
	}
	_ = s.root.RemoveAll(sessionDir(id))
	s.uploadGone(sf.AccessKey)
	return nil
}
