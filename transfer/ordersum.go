package transfer

import (
	"context"
	"encoding/hex"
	"io"
	"os"
	"sync"

	"github.com/amove/amove-go/provider"
)

// orderSum computes a download's source digest that does not fold across
// ranges (MD5, SHA-1, SHA-256, a Dropbox content hash...) while the ranges
// land: a digest must see the bytes in order, ranges land in any order, so
// each range is read back once, as soon as it and every range before it
// are in the file (from the page cache, overlapped with the download),
// and the digest is ready when the last range lands; never a pass over the
// file after the download. Ranges a run before a restart wrote are read
// back the same way, once. The digest is closed once every range is
// hashed or one failed; a download abandoned halfway leaves it to the
// garbage collector (provider.Digest).
type orderSum struct {
	lf       localFile
	alg      provider.Hash
	h        provider.Digest
	partSize int64
	size     int64
	parts    int

	mu     sync.Mutex
	landed map[int]bool
	next   int  // the next range to hash
	busy   bool // a goroutine is hashing; it hashes whatever lands meanwhile too
	err    error
	final  provider.Checksum // the digest, once every range is hashed
	done   chan struct{}     // closed once every range is hashed or one failed
}

// newOrderSum returns nil when alg cannot be computed here.
func newOrderSum(lf localFile, alg provider.Hash, size, partSize int64) *orderSum {
	h, ok := provider.NewHash(alg)
	if !ok {
		return nil
	}
	return &orderSum{lf: lf, alg: alg, h: h, partSize: partSize, size: size,
		parts: int((size + partSize - 1) / partSize), landed: map[int]bool{}, next: 1, done: make(chan struct{})}
}

// land records that range num is in the file, and hashes every range that
// is now next in line, unless another goroutine is doing so already.
func (o *orderSum) land(num int) {
	o.mu.Lock()
	o.landed[num] = true
	if o.busy {
		o.mu.Unlock()
		return
	}
	o.busy = true
	for o.err == nil && o.landed[o.next] {
		n := o.next
		o.mu.Unlock()
		err := o.hashRange(n) // o.h is this goroutine's alone while busy
		o.mu.Lock()
		delete(o.landed, n)
		o.next++
		if err != nil {
			o.err = err
		}
	}
	o.busy = false
	if o.err != nil || o.next > o.parts {
		select {
		case <-o.done:
		default:
			if o.err == nil {
				o.final = provider.Checksum{Hash: o.alg, Value: hex.EncodeToString(o.h.Sum(nil))}
			}
			o.h.Close()
			close(o.done)
		}
	}
	o.mu.Unlock()
}

func (o *orderSum) hashRange(num int) error {
	f, err := o.lf.root.OpenFile(o.lf.tmp, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	off := int64(num-1) * o.partSize
	_, err = io.Copy(o.h, io.NewSectionReader(f, off, min(o.partSize, o.size-off)))
	return err
}

// sum waits until every range is hashed and returns the digest.
func (o *orderSum) sum(ctx context.Context) (provider.Checksum, error) {
	select {
	case <-o.done:
	case <-ctx.Done():
		return provider.Checksum{}, ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return provider.Checksum{}, o.err
	}
	return o.final, nil
}
