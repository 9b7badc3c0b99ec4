package fastr

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/amove/amove-go/provider"
)

// Offset-mode chunks. A chunk is written at its offset into the session's
// data file and checked (its CRC32C, or the SHA-256 an older client
// declared) while it arrives, and then answered. The object's SHA-256 and
// MD5 digest the same buffers on a goroutine of their own, at most
// chunkLag behind the network; when they are done, the data is fsynced and
// the chunk's record is written (a chunkTail until then). So the writer's
// next request (an agent fetching the next chunk from the source) overlaps
// the hashing of this one, which a simple PUT's pipe would also overlap, and
// each byte is still written once and hashed once.
//
// What the answer means: the chunk is written and checked, and the next
// chunk may follow at the offset it gives. The chunk is committed (survives
// a crash of the server) once its record is written, a moment later; after
// a crash GET /v1/uploads/{id} reports the recorded offset, and a writer
// told OffsetMismatch resends from there.

// chunkLag bounds the buffers a chunk's hashing may lag behind its bytes,
// so memory per session stays small whatever the chunk size;
// maxUnrecorded bounds the answered chunks of a session whose records wait
// for their fsync (each a goroutine with two hash states).
const (
	chunkBuffer   = 512 << 10
	chunkLag      = 8 << 20
	maxUnrecorded = 16
)

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

// chunkTail is an answered chunk whose record is not written yet.
type chunkTail struct {
	p   PartInfo
	end int64 // the offset after it
	// hashed closes when the object's hashes after the chunk are known
	// (the next chunk goes on from them), or could not be (herr); done
	// when the chunk is recorded, or failed (err). The fields are set
	// before their channel closes.
	hashed    chan struct{}
	herr      error
	sha, sum5 hash.Hash
	done      chan struct{}
	err       error
}

func (t *chunkTail) finished() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// chunkTails are the unrecorded chunks of each session, in order. A chunk
// holds the session lock until it is answered, so a fast writer may have
// a few chunks answered while their hashing still runs; each digester waits
// for the one before it, so records are written in order.
type chunkTails struct {
	mu sync.Mutex
	m  map[string][]*chunkTail
	wg sync.WaitGroup // running digesters, for Close
	// bufs keeps chunkBuffer-sized buffers between chunks: a chunk of
	// 8 MB would otherwise allocate as much as it carries.
	bufs sync.Pool
}

func (c *chunkTails) buffer() []byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, chunkBuffer)
}

// pending is id's unrecorded chunks, in order. Chunks done (recorded, or
// failed, which fails the ones after them too) are forgotten first.
func (c *chunkTails) pending(id string) []*chunkTail {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := c.m[id]
	for len(ts) > 0 && ts[0].finished() {
		ts = ts[1:]
	}
	if len(ts) == 0 {
		delete(c.m, id)
		return nil
	}
	c.m[id] = ts
	return slices.Clone(ts)
}

func (c *chunkTails) add(id string, t *chunkTail) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]*chunkTail{}
	}
	c.m[id] = append(c.m[id], t)
}

// settleTail waits until the session's chunks are recorded. A chunk that
// could not be recorded is an error: it is not part of the session. The
// caller holds the session lock.
func (s *Server) settleTail(id string) error {
	ts := s.tails.pending(id)
	if len(ts) == 0 {
		return nil
	}
	last := ts[len(ts)-1]
	<-last.done // which the ones before it closed first
	s.tails.pending(id)
	if last.err != nil {
		return fmt.Errorf("recording chunk %d of upload %s: %w", last.p.Number, id, last.err)
	}
	return nil
}

// chunkParts is parts with the session's unrecorded chunks at its end, and
// the last of them (nil when all are recorded). A chunk whose recording
// failed is forgotten here, so the committed offset goes back to the last
// record.
func (s *Server) chunkParts(id string) (parts []PartInfo, chunks bool, last *chunkTail, err error) {
	// Pending first: a chunk done by now has its record on disk before
	// the directory is read.
	ts := s.tails.pending(id)
	parts, chunks, err = s.parts(id)
	if err != nil {
		return nil, false, nil, err
	}
	if chunks {
		// Records are written in order, so one after a gap is left from
		// a chain a crash broke: it does not count (and is replaced).
		_, k := committed(parts)
		parts = parts[:k]
	}
	if len(ts) == 0 {
		return parts, chunks, nil, nil
	}
	for _, t := range ts {
		if t.p.Number == len(parts)+1 || (len(parts) == 0 && t.p.Number == 1) {
			parts = append(parts, t.p)
		}
	}
	return parts, true, ts[len(ts)-1], nil
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
	check := func() ([]PartInfo, bool, *chunkTail, int, error) {
		parts, chunks, tail, err := s.chunkParts(id)
		if err != nil {
			return nil, false, nil, 0, err
		}
		off, k := committed(parts)
		if off != offset {
			return nil, false, nil, 0, offsetMismatch(off)
		}
		return parts, chunks, tail, k, nil
	}
	if _, _, _, _, err := check(); err != nil {
		return PartInfo{}, 0, err
	}
	unlock := s.locks.lock(id)
	defer unlock()
	if _, err := s.readSession(id); err != nil {
		return PartInfo{}, 0, err // completed or aborted while we waited
	}
	parts, chunks, tail, k, err := check()
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
	p, err := s.writeChunk(id, parts, k, tail, offset, body, want)
	return p, offset + p.Size, err
}

// writeChunk writes chunk k+1 at offset into the session's data file and
// checks it, and leaves its hashing and recording to a digester. prev is
// chunk k while it is unrecorded. Bytes past the committed offset (a chunk
// that failed half way) are simply overwritten by the next chunk or cut off
// by complete. The caller holds the session lock.
func (s *Server) writeChunk(id string, parts []PartInfo, k int, prev *chunkTail, offset int64, body io.Reader, want chunkSums) (PartInfo, error) {
	if want.crc32c != "" && !isHex(want.crc32c, 8) {
		return PartInfo{}, errf(http.StatusBadRequest, CodeInvalidArgument, "%s must be 8 hex digits", HeaderChunkCRC32C)
	}
	// Small chunks can be answered faster than they are hashed, and hashed
	// faster than the disk takes them: at most two per session hold
	// buffers (are hashing), at most maxUnrecorded wait for their fsync.
	if ts := s.tails.pending(id); len(ts) >= 2 {
		<-ts[len(ts)-2].hashed
		if len(ts) >= maxUnrecorded {
			<-ts[len(ts)-maxUnrecorded].done
		}
	}
	f, err := s.root.OpenFile(sessionDir(id)+"/"+dataFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return PartInfo{}, err
	}
	d := &digester{s: s, id: id, f: f, prev: prev, parts: parts, k: k,
		in: make(chan []byte, chunkLag/chunkBuffer), free: make(chan []byte, chunkLag/chunkBuffer)}
	for range cap(d.free) {
		d.free <- nil // a buffer is taken when first needed
	}
	s.tails.wg.Add(1)
	go d.run()

	crc := crc32.New(provider.CRC32C)
	var sha hash.Hash
	if want.needSHA256() {
		sha = sha256.New() // an older client: its chunk SHA-256 is checked
	}
	off, werr := offset, error(nil)
	for werr == nil {
		b := <-d.free
		if b == nil {
			b = s.tails.buffer()
		}
		n, rerr := fill(io.LimitReader(body, MaxPartSize+1-(off-offset)), b)
		if n > 0 {
			b = b[:n]
			if _, err := f.WriteAt(b, off); err != nil {
				d.free <- b[:cap(b)]
				werr = err
				break
			}
			startWriteback(f, off, int64(n))
			crc.Write(b)
			if sha != nil {
				sha.Write(b)
			}
			off += int64(n)
			d.in <- b
		} else {
			d.free <- b[:cap(b)]
		}
		switch {
		case rerr == io.EOF:
			return s.finishChunk(d, k, offset, off, crc, sha, want)
		case rerr != nil:
			werr = errf(http.StatusBadRequest, CodeInvalidArgument, "reading chunk: %v", rerr)
		}
	}
	d.abort()
	return PartInfo{}, werr
}

// finishChunk checks a received chunk against what the client declared and
// answers for it: the digester records it, or drops it when refused.
func (s *Server) finishChunk(d *digester, k int, start, end int64, crc, sha hash.Hash, want chunkSums) (PartInfo, error) {
	if end-start > MaxPartSize {
		d.abort()
		return PartInfo{}, errf(http.StatusRequestEntityTooLarge, CodeEntityTooLarge, "part larger than %d bytes", int64(MaxPartSize))
	}
	etag := hex.EncodeToString(crc.Sum(nil))
	if want.crc32c != "" && !strings.EqualFold(want.crc32c, etag) {
		d.abort()
		return PartInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "chunk CRC32C %s differs from the declared %s", etag, want.crc32c)
	}
	if sha != nil {
		etag = hex.EncodeToString(sha.Sum(nil))
		for _, w := range want.sha256 {
			if w != "" && w != UnsignedPayload && w != etag {
				d.abort()
				return PartInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "chunk SHA-256 %s differs from the declared %s", etag, w)
			}
		}
	}
	t := &chunkTail{p: PartInfo{Number: k + 1, Size: end - start, ETag: etag}, end: end, hashed: make(chan struct{}), done: make(chan struct{})}
	s.tails.add(d.id, t)
	d.tail = t
	close(d.in)
	return t.p, nil
}

// digester feeds the object's running hashes with a chunk's buffers, after
// the chunk before it is hashed, then makes the chunk durable and records
// it after the chunk before it.
type digester struct {
	s     *Server
	id    string
	f     *os.File // the data file; the digester closes it
	prev  *chunkTail
	parts []PartInfo
	k     int

	in   chan []byte // buffers written and checked, in order
	free chan []byte // buffers to fill
	// tail is set before in is closed when the chunk is accepted; nil
	// when refused.
	tail *chunkTail
}

// abort drops the chunk: its bytes sit past the committed offset.
func (d *digester) abort() { close(d.in) }

func (d *digester) run() {
	defer d.s.tails.wg.Done()
	defer d.f.Close()
	sha, sum5, err := d.start()
	for b := range d.in {
		if err == nil {
			// The two hashes on two cores: one after the other they
			// would set the pace of the transfer.
			var wg sync.WaitGroup
			wg.Go(func() { sum5.Write(b) })
			sha.Write(b)
			wg.Wait()
		}
		d.free <- b[:cap(b)]
	}
	// Every buffer is back in free once in is drained.
	for range cap(d.free) {
		if b := <-d.free; b != nil {
			d.s.tails.bufs.Put(&b)
		}
	}
	t := d.tail
	if t == nil {
		return // refused or cut short
	}
	// The next chunk may hash on while this one is fsynced; records are
	// written in order.
	t.herr, t.sha, t.sum5 = err, sha, sum5
	close(t.hashed)
	if err == nil && d.prev != nil {
		<-d.prev.done
		if d.prev.err != nil {
			err = fmt.Errorf("chunk %d before it was not recorded: %w", d.prev.p.Number, d.prev.err)
		}
	}
	if err == nil {
		err = d.record(t, sha, sum5)
	}
	t.err = err
	close(t.done)
	if err != nil {
		d.s.log.Error("fastr: recording a chunk", "upload", d.id, "chunk", t.p.Number, "err", err)
	}
}

// start waits for the chunk before this one to be hashed and takes the
// object's hashes from it, or from the last record.
func (d *digester) start() (sha, sum5 hash.Hash, err error) {
	if d.prev == nil {
		return d.s.objectHashes(d.id, d.parts, d.k)
	}
	<-d.prev.hashed
	if d.prev.herr != nil {
		return nil, nil, fmt.Errorf("chunk %d before it was not hashed: %w", d.prev.p.Number, d.prev.herr)
	}
	sha, sum5 = sha256.New(), md5.New()
	if err := copyHash(sha, d.prev.sha); err != nil {
		return nil, nil, err
	}
	if err := copyHash(sum5, d.prev.sum5); err != nil {
		return nil, nil, err
	}
	return sha, sum5, nil
}

// record makes the chunk's bytes durable, then writes its record with the
// object's hashes after it. The record must never describe bytes a power
// loss could take back: complete trusts the saved hashes and does not read
// the data again.
func (d *digester) record(t *chunkTail, sha, sum5 hash.Hash) error {
	if err := d.f.Sync(); err != nil {
		return err
	}
	var st chunkState
	var err error
	if st.SHA256, err = sha.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return err
	}
	if st.MD5, err = sum5.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	// Records past k are left over from a chain a crash broke (a lost
	// record); their hash states no longer follow from the chunks before.
	// Records are written in order, so none past k can be this chain's.
	stored, _, err := d.s.parts(d.id)
	if err != nil {
		return err
	}
	for _, old := range stored {
		if old.Number > d.k {
			_ = d.s.root.Remove(sessionDir(d.id) + "/" + chunkName(old))
		}
	}
	return d.s.writeFileAtomic(sessionDir(d.id)+"/"+chunkName(t.p), b)
}

// copyHash sets dst to the state of src (both of one algorithm).
func copyHash(dst, src hash.Hash) error {
	b, err := src.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	return dst.(encoding.BinaryUnmarshaler).UnmarshalBinary(b)
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
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
