package fastr

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Upload sessions come in two layouts, fixed by the first write.
//
// Part mode (PUT parts): each part is its own file named "<number>-<sha256>",
// so a single rename publishes the bytes and their checksum together, parts
// can arrive concurrently and out of order, and a retried part simply
// replaces the earlier one. Complete concatenates them.
//
// Offset mode (PATCH with X-Fastr-Offset): chunks arrive in order, so each is
// written once, at its offset, into one file "data" that becomes the object,
// and hashed once as it arrives: the object's running SHA-256 and MD5, and
// the chunk's own checksum the client declared (CRC32C, or SHA-256 from an
// older client), which is the part's ETag. The file
// "<number>-<size>-<etag>.chunk" records chunk k+1 with the saved state of
// those running hashes after it; it is written after the chunk's bytes are
// fsynced, so a record (which survives a restart) always describes bytes on
// disk. Complete truncates "data" to the committed offset, takes the
// object's checksums from the last record, and renames the file into place:
// no second pass over the bytes. A session written by an older server (an
// offset session made of part files) goes on in part files.

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

// parts lists the stored parts in number order, and whether they are the
// chunk records of an offset-mode session (bytes in its data file) rather
// than part files.
func (s *Server) parts(id string) (out []PartInfo, chunks bool, err error) {
	f, err := s.root.Open(sessionDir(id))
	if err != nil {
		return nil, false, noSuchUpload(id)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, false, err
	}
	for _, e := range ents {
		if p, ok := parseChunkName(e.Name()); ok {
			out = append(out, p)
			chunks = true
			continue
		}
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
	return out, chunks, nil
}

const (
	dataFile    = "data"
	chunkSuffix = ".chunk"
)

func chunkName(p PartInfo) string {
	return fmt.Sprintf("%d-%d-%s%s", p.Number, p.Size, p.ETag, chunkSuffix)
}

// parseChunkName reads "<number>-<size>-<etag>.chunk", the etag being the
// chunk's SHA-256 or CRC32C in hex.
func parseChunkName(name string) (PartInfo, bool) {
	rest, ok := strings.CutSuffix(name, chunkSuffix)
	if !ok {
		return PartInfo{}, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 3 || (!isHex(f[2], 64) && !isHex(f[2], 8)) {
		return PartInfo{}, false
	}
	n, err1 := strconv.Atoi(f[0])
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || n < 1 || size < 0 {
		return PartInfo{}, false
	}
	return PartInfo{Number: n, Size: size, ETag: f[2]}, true
}

// chunkState is the body of a chunk record: the object's running hashes
// after the chunk, as their MarshalBinary states.
type chunkState struct {
	SHA256 []byte `json:"sha256State"`
	MD5    []byte `json:"md5State"`
}

// objectHashes are the running SHA-256 and MD5 of an offset-mode object
// after its first k chunks (parts[:k]), restored from chunk k's record.
func (s *Server) objectHashes(id string, parts []PartInfo, k int) (sha, sum5 hash.Hash, err error) {
	sha, sum5 = sha256.New(), md5.New()
	if k == 0 {
		return sha, sum5, nil
	}
	b, err := s.root.ReadFile(sessionDir(id) + "/" + chunkName(parts[k-1]))
	if err != nil {
		return nil, nil, err
	}
	var st chunkState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("chunk record %d of upload %s: %w", k, id, err)
	}
	if err := sha.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.SHA256); err != nil {
		return nil, nil, fmt.Errorf("chunk record %d of upload %s: %w", k, id, err)
	}
	if err := sum5.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.MD5); err != nil {
		return nil, nil, fmt.Errorf("chunk record %d of upload %s: %w", k, id, err)
	}
	return sha, sum5, nil
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
	parts, _, _, err := s.chunkParts(id)
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
	old, chunks, _, err := s.chunkParts(id)
	if err != nil {
		return PartInfo{}, err
	}
	if chunks {
		return PartInfo{}, offsetModeOnly()
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

func offsetModeOnly() *Error {
	return errf(http.StatusConflict, CodeInvalidState, "this upload session is in offset mode (PATCH); it takes no parts")
}

func offsetMismatch(expected int64) *Error {
	e := errf(http.StatusConflict, CodeOffsetMismatch, "chunk does not start at the committed offset %d", expected)
	e.ExpectedOffset = &expected
	return e
}

// completeUpload makes the session's object: it verifies the whole SHA-256
// when given and renames the assembled file into place; then the session is
// gone. Part files are concatenated into a temp file; an offset-mode
// session's data file already is the object.
func (s *Server) completeUpload(id string, req CompleteRequest) (ObjectInfo, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	sf, err := s.readSession(id)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := s.settleTail(id); err != nil {
		return ObjectInfo{}, err
	}
	stored, chunks, err := s.parts(id)
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
		case chunks && p.Number != i+1:
			// A chunk's bytes sit at the offset after all chunks before it.
			return ObjectInfo{}, errf(http.StatusBadRequest, CodeInvalidPart, "offset-mode chunks complete as 1..n; chunk %d cannot be left out", i+1)
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
	var o ObjectInfo
	if chunks || len(stored) == 0 {
		o, err = s.completeChunks(sf, stored, chosen, req.SHA256)
	} else {
		o, err = s.completeParts(sf, chosen, req.SHA256)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	_ = s.root.RemoveAll(sessionDir(id))
	s.uploadGone(sf.AccessKey)
	return o, nil
}

// completeParts concatenates part files into a temp file while hashing it
// and commits it.
func (s *Server) completeParts(sf sessionFile, chosen []PartInfo, wantSHA string) (ObjectInfo, error) {
	t, err := s.createTemp()
	if err != nil {
		return ObjectInfo{}, err
	}
	defer t.discard()
	for _, p := range chosen {
		f, err := s.root.Open(fmt.Sprintf("%s/%d-%s", sessionDir(sf.ID), p.Number, p.ETag))
		if err != nil {
			return ObjectInfo{}, err
		}
		_, err = io.Copy(t, f)
		f.Close()
		if err != nil {
			return ObjectInfo{}, err
		}
	}
	if wantSHA != "" && wantSHA != t.sum() {
		return ObjectInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "assembled SHA-256 %s differs from the declared %s", t.sum(), wantSHA)
	}
	return t.commit(sf.Bucket, sf.Key, sf.ContentType, sf.Metadata)
}

// completeChunks commits an offset-mode session's data file, cut to the
// chosen chunks, with the checksums its last chunk record saved: the bytes
// are neither copied nor read again. A failure before the rename leaves
// the session as it was.
func (s *Server) completeChunks(sf sessionFile, stored, chosen []PartInfo, wantSHA string) (ObjectInfo, error) {
	var size int64
	for _, p := range chosen {
		size += p.Size
	}
	sha, sum5, err := s.objectHashes(sf.ID, stored, len(chosen))
	if err != nil {
		return ObjectInfo{}, err
	}
	sum := hex.EncodeToString(sha.Sum(nil))
	if wantSHA != "" && wantSHA != sum {
		return ObjectInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "assembled SHA-256 %s differs from the declared %s", sum, wantSHA)
	}
	name := sessionDir(sf.ID) + "/" + dataFile
	flag := os.O_RDWR
	if len(chosen) == 0 {
		flag |= os.O_CREATE // an empty object: no chunk made the file
	}
	f, err := s.root.OpenFile(name, flag, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		// A crash after the rename that published the object and before
		// the session was removed: the object is there, complete again.
		if o, serr := s.stat(sf.Bucket, sf.Key); serr == nil && o.Size == size && o.SHA256 == sum {
			return o, nil
		}
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return ObjectInfo{}, err
	}
	// Not t.discard: until the rename, the data file is the session's.
	t := &tempFile{s: s, name: name, f: f, sha: sha, md5: sum5, size: size}
	o, err := t.commit(sf.Bucket, sf.Key, sf.ContentType, sf.Metadata)
	if t.f != nil {
		t.f.Close()
	}
	return o, err
}

func (s *Server) abortUpload(id string) error {
	unlock := s.locks.lock(id)
	defer unlock()
	sf, err := s.readSession(id)
	if err != nil {
		return err
	}
	// The last chunk's record must be written before the directory goes
	// (whether or not it could be).
	_ = s.settleTail(id)
	// session.json goes first: from then on the session does not exist,
	// even if removing the parts fails half way.
	if err := s.root.Remove(sessionDir(id) + "/session.json"); err != nil {
		return err
	}
	_ = s.root.RemoveAll(sessionDir(id))
	s.uploadGone(sf.AccessKey)
	return nil
}
