package provider

import (
	"errors"
	"hash"
	"runtime"
	"sync"
	"sync/atomic"

	md5simd "github.com/minio/md5-simd"
)

// Digest is a running checksum of one stream: a hash.Hash that may hold a
// share of something the whole process uses (an MD5 stream's lane in the
// SIMD hasher), which Close gives back. Close every Digest once its Sum is
// taken; it is unusable after Close, and a second Close does nothing.
type Digest interface {
	hash.Hash
	// Close releases the digest.
	Close()
}

// plainDigest is a Digest that holds nothing beyond its memory.
type plainDigest struct{ hash.Hash }

func (plainDigest) Close() {}

// md5Server hashes the MD5 streams of the whole process: md5-simd packs
// up to 16 independent streams into one core's vector lanes (AVX-512; 8
// with AVX2), so the parts of one object and many small files, each an
// MD5 of its own, cost a fraction of a core instead of one core per 600
// MB/s. It is one goroutine and 1.5 MiB of block buffers, made on first
// use and never closed: like a sync.Pool it is a process-wide resource
// that outlives every job, and sharing it is what fills its lanes. Where
// md5-simd has no assembly (not amd64, or no AVX2) it is crypto/md5.
var md5Server = sync.OnceValue(md5simd.NewServer)

// md5Open counts the MD5 digests open in the process. The SIMD server
// pays a copy and a hand-off between goroutines per 32 KiB, which its
// lanes repay only when several streams are hashed at once: with one or
// two streams it costs about 1.5 to 2 times the CPU of crypto/md5 on the
// caller's goroutine, from three on less (a fifth at 16). So the first two
// concurrent streams get crypto/md5, the others the server.
var md5Open atomic.Int64

// md5SIMDFrom is the number of open MD5 digests (this one included) from
// which a new one goes to the SIMD server.
const md5SIMDFrom = 3

// md5Digest is an MD5 Digest from newMD5. Its lock makes a Write that
// comes after Close (an HTTP transport may still read a request body, and
// feed a hash through an io.TeeReader, after the request returned) an
// error rather than a race with Close.
type md5Digest struct {
	mu      sync.Mutex
	h       md5simd.Hasher // nil once closed
	cleanup runtime.Cleanup

	// stage (SIMD server digests only) gathers writes into whole
	// md5Chunk blocks: md5-simd hands the server one block per Write
	// call and chunk, and a write that does not end on 64 bytes makes
	// the next one hand over a 64-byte block of its own first. Socket
	// reads end anywhere, so unstaged, half the lanes of a round carried
	// 64 bytes while the others carried 32 KiB (the round runs as long
	// as its longest lane), and each byte cost two hand-offs. Staged,
	// every hand-off but the last is md5Chunk bytes, so the lanes of a
	// round are equally long.
	stage *[]byte
}

// md5Chunk is md5-simd's hand-off size (its internalBlockSize, 32 KiB):
// the server hashes at most this much of one stream per round.
const md5Chunk = 32 << 10

// md5Stages recycles the staging buffers, so that many short-lived
// digests (small files) do not each allocate 32 KiB.
var md5Stages = sync.Pool{New: func() any {
	b := make([]byte, 0, md5Chunk)
	return &b
}}

// errDigestClosed is what a Write after Close returns.
var errDigestClosed = errors.New("provider: write to a closed digest")

// newMD5 is the one constructor of MD5 digests (NewHash, SumBytes).
func newMD5() Digest {
	d := &md5Digest{}
	if md5Open.Add(1) >= md5SIMDFrom {
		d.h = md5Server().NewHash()
		d.stage = md5Stages.Get().(*[]byte)
	} else {
		d.h = md5simd.StdlibHasher()
	}
	h := d.h
	// A digest dropped without Close would keep its place in the server
	// (which walks every registered stream while it fills lanes) and in
	// md5Open: the garbage collector gives both back. Callers still
	// close, so the release does not wait for a collection.
	d.cleanup = runtime.AddCleanup(d, releaseMD5, h)
	return d
}

func releaseMD5(h md5simd.Hasher) {
	h.Close()
	md5Open.Add(-1)
}

// Write implements hash.Hash; after Close it returns an error.
func (d *md5Digest) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h == nil {
		return 0, errDigestClosed
	}
	if d.stage == nil {
		return d.h.Write(p)
	}
	n := len(p)
	if st := *d.stage; len(st) > 0 {
		k := min(len(p), md5Chunk-len(st))
		st = append(st, p[:k]...)
		p = p[k:]
		if len(st) == md5Chunk {
			if _, err := d.h.Write(st); err != nil {
				return 0, err
			}
			st = st[:0]
		}
		*d.stage = st
	}
	// With the stage empty, whole chunks go straight from p.
	if whole := len(p) &^ (md5Chunk - 1); whole > 0 {
		if _, err := d.h.Write(p[:whole]); err != nil {
			return 0, err
		}
		p = p[whole:]
	}
	*d.stage = append(*d.stage, p...)
	return n, nil
}

// flush hands the staged bytes to the hasher; d.mu is held.
func (d *md5Digest) flush() {
	if d.stage != nil && len(*d.stage) > 0 {
		d.h.Write(*d.stage) // md5-simd's Write fails only after Close
		*d.stage = (*d.stage)[:0]
	}
}

// Sum implements hash.Hash; it panics after Close, like Reset.
func (d *md5Digest) Sum(b []byte) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flush()
	return d.h.Sum(b)
}

// Reset implements hash.Hash.
func (d *md5Digest) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stage != nil {
		*d.stage = (*d.stage)[:0]
	}
	d.h.Reset()
}

// Size implements hash.Hash.
func (d *md5Digest) Size() int { return md5simd.Size }

// BlockSize implements hash.Hash.
func (d *md5Digest) BlockSize() int { return md5simd.BlockSize }

// Close implements Digest.
func (d *md5Digest) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h == nil {
		return
	}
	d.cleanup.Stop()
	releaseMD5(d.h)
	d.h = nil
	if d.stage != nil {
		*d.stage = (*d.stage)[:0]
		md5Stages.Put(d.stage)
		d.stage = nil
	}
}
