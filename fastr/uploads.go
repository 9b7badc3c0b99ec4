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
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/provider"
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
	parts, _, err := s.parts(id)
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
	old, chunks, err := s.parts(id)
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

// appendChunk is offset mode: the chunk must start at the committed offset,
// else the answer is OffsetMismatch with the offset to resume from. The
// offset is checked before the body is read (a wrong writer learns at once)
// and again under the session lock, which a chunk holds while its body
// arrives: the bytes go straight into the session's data file, so a second
// writer waits and then learns the new offset.
func (s *Server) appendChunk(id string, offset int64, body io.Reader, want chunkSums) (PartInfo, int64, error) {
	if _, err := s.readSession(id); err != nil {
		return PartInfo{}, 0, err
	}
	check := func() ([]PartInfo, bool, int, error) {
		parts, chunks, err := s.parts(id)
		if err != nil {
			return nil, false, 0, err
		}
		off, k := committed(parts)
		if off != offset {
			return nil, false, 0, offsetMismatch(off)
		}
		return parts, chunks, k, nil
	}
	if _, _, _, err := check(); err != nil {
		return PartInfo{}, 0, err
	}
	unlock := s.locks.lock(id)
	defer unlock()
	if _, err := s.readSession(id); err != nil {
		return PartInfo{}, 0, err // completed or aborted while we waited
	}
	parts, chunks, k, err := check()
	if err != nil {
		return PartInfo{}, 0, err
	}
	if len(parts) > 0 && !chunks {
		// Parts of an older server's offset session: go on in part files.
		t, err := s.receivePart(id, body, want.sha256...)
		if err != nil {
			return PartInfo{}, 0, err
		}
		defer t.discard()
		p, err := s.publishPart(id, k+1, t)
		return p, offset + p.Size, err
	}
	p, err := s.writeChunk(id, parts, k, offset, body, want)
	return p, offset + p.Size, err
}

// chunkSums are the checksums a client declared for a chunk: hex SHA-256s
// (the signed payload hash and X-Fastr-Chunk-SHA256; empty or
// UNSIGNED-PAYLOAD when not given) and the hex CRC32C of
// X-Fastr-Chunk-CRC32C.
type chunkSums struct {
	sha256 []string
	crc32c string
}

// needSHA256 says whether a chunk must be SHA-256 hashed on its own.
func (c chunkSums) needSHA256() bool {
	for _, w := range c.sha256 {
		if w != "" && w != UnsignedPayload {
			return true
		}
	}
	return false
}

// writeChunk writes chunk k+1 at offset into the session's data file,
// hashing it on the way, then makes it durable and records it. Bytes past
// the committed offset (a chunk that failed half way) are simply
// overwritten by the next chunk or cut off by complete. The caller holds the
// session lock.
//
// The chunk's own SHA-256 is computed only when the client declared one; a
// chunk sent with a CRC32C costs the object's SHA-256 and MD5, as a simple
// PUT does, plus a CRC at memory speed. Its ETag is then its CRC32C.
func (s *Server) writeChunk(id string, parts []PartInfo, k int, offset int64, body io.Reader, want chunkSums) (PartInfo, error) {
	if want.crc32c != "" && !isHex(want.crc32c, 8) {
		return PartInfo{}, errf(http.StatusBadRequest, CodeInvalidArgument, "%s must be 8 hex digits", HeaderChunkCRC32C)
	}
	sha, sum5, err := s.objectHashes(id, parts, k)
	if err != nil {
		return PartInfo{}, err
	}
	f, err := s.root.OpenFile(sessionDir(id)+"/"+dataFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return PartInfo{}, err
	}
	defer f.Close()
	w := &chunkWriter{f: f, off: offset, hashes: []hash.Hash{crc32.New(provider.CRC32C), sha, sum5}}
	if want.needSHA256() {
		w.hashes = append(w.hashes, sha256.New())
	}
	n, err := w.readFrom(io.LimitReader(body, MaxPartSize+1))
	if err != nil {
		return PartInfo{}, err
	}
	if n > MaxPartSize {
		return PartInfo{}, errf(http.StatusRequestEntityTooLarge, CodeEntityTooLarge, "part larger than %d bytes", int64(MaxPartSize))
	}
	etag := hex.EncodeToString(w.hashes[0].Sum(nil))
	if want.crc32c != "" && !strings.EqualFold(want.crc32c, etag) {
		return PartInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "chunk CRC32C %s differs from the declared %s", etag, want.crc32c)
	}
	if want.needSHA256() {
		etag = hex.EncodeToString(w.hashes[3].Sum(nil))
		for _, w := range want.sha256 {
			if w != "" && w != UnsignedPayload && w != etag {
				return PartInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "chunk SHA-256 %s differs from the declared %s", etag, w)
			}
		}
	}
	// The record must never describe bytes a power loss could take back:
	// complete trusts the saved hashes and does not read the data again.
	if err := f.Sync(); err != nil {
		return PartInfo{}, err
	}
	var st chunkState
	if st.SHA256, err = sha.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return PartInfo{}, err
	}
	if st.MD5, err = sum5.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return PartInfo{}, err
	}
	b, _ := json.Marshal(st)
	p := PartInfo{Number: k + 1, Size: n, ETag: etag}
	// Records past k are left over from a chain a crash broke (a lost
	// record); their hash states no longer follow from the chunks before.
	for _, old := range parts[k:] {
		_ = s.root.Remove(sessionDir(id) + "/" + chunkName(old))
	}
	if err := s.writeFileAtomic(sessionDir(id)+"/"+chunkName(p), b); err != nil {
		return PartInfo{}, err
	}
	return p, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// chunkWriter writes an offset-mode chunk at its place in the data file and
// feeds every hash with the same bytes, so each byte is written and hashed
// exactly once.
type chunkWriter struct {
	f      *os.File
	off    int64
	hashes []hash.Hash
}

// chunkBuffer is what chunkWriter reads and hands on at a time.
const chunkBuffer = 256 << 10

// readFrom copies r into the file and the hashes. The file write and each
// hash run on their own goroutine while the next buffer is read from the
// network: the object's SHA-256 and MD5 are the server's main cost, and
// one after the other on one core they would set the pace of the whole
// transfer (a chunk holds the session, so the writer waits for it). A
// failed read is a 400 *Error; a failed write is returned as it is.
func (w *chunkWriter) readFrom(r io.Reader) (int64, error) {
	bufs := [2][]byte{make([]byte, chunkBuffer), make([]byte, chunkBuffer)}
	var wg sync.WaitGroup
	var werr error
	var n int64
	for i := 0; ; i ^= 1 {
		m, rerr := fill(r, bufs[i])
		wg.Wait() // the other buffer is written and hashed
		if werr != nil {
			return n, werr
		}
		if m > 0 {
			b, off := bufs[i][:m], w.off
			wg.Add(len(w.hashes) + 1)
			go func() {
				defer wg.Done()
				if _, err := w.f.WriteAt(b, off); err != nil {
					werr = err
					return
				}
				startWriteback(w.f, off, int64(len(b)))
			}()
			for _, h := range w.hashes {
				go func() {
					defer wg.Done()
					h.Write(b)
				}()
			}
			w.off += int64(m)
			n += int64(m)
		}
		switch {
		case rerr == io.EOF:
			wg.Wait()
			return n, werr
		case rerr != nil:
			wg.Wait()
			return n, errf(http.StatusBadRequest, CodeInvalidArgument, "reading chunk: %v", rerr)
		}
	}
}

// fill reads into b until it is full or r ends. Unlike io.ReadFull it
// keeps io.EOF (the body ended) apart from io.ErrUnexpectedEOF (the body
// was cut short, which net/http reports so): only the first is an end.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
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
	// session.json goes first: from then on the session does not exist,
	// even if removing the parts fails half way.
	if err := s.root.Remove(sessionDir(id) + "/session.json"); err != nil {
		return err
	}
	_ = s.root.RemoveAll(sessionDir(id))
	s.uploadGone(sf.AccessKey)
	return nil
}
