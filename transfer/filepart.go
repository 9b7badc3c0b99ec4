package transfer

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/amove/amove-go/provider"
)

// filePart is the body of one part (or one small object) of an upload from
// a local file: a window on the open file (io.SectionReader), so no buffer
// holds the part and an upload's memory does not grow with its concurrency
// or part size. Drivers take an io.ReadSeeker: they may read it more than
// once (their own digest, the SDK's payload hash, a retry), seeking back to
// the start in between.
//
// filePart hashes what it returns: every pass that starts at offset 0 and
// reads on in order is hashed, and the digests of the last pass that read
// every byte are kept. That pass is the one the driver sent (it reads the
// body to send it after any pass of its own), so the digests are of the
// bytes the provider received, without a second read of the file.
type filePart struct {
	r    *io.SectionReader
	size int64
	algs []provider.Hash
	hs   []provider.Digest

	// mu: an HTTP transport may still call Read from its own goroutine
	// after the request returned.
	mu     sync.Mutex
	pos    int64               // offset of the next byte Read returns
	hashed int64               // bytes of the current pass hashed, from offset 0
	sums   []provider.Checksum // of the last whole pass; nil before one
}

// newFilePart reads size bytes of f from off, hashed with algs (unknown or
// empty algorithms are left out).
func newFilePart(f *os.File, off, size int64, algs ...provider.Hash) *filePart {
	p := &filePart{r: io.NewSectionReader(f, off, size), size: size}
	for _, a := range algs {
		if a == "" || p.has(a) {
			continue
		}
		if h, ok := provider.NewHash(a); ok {
			p.algs, p.hs = append(p.algs, a), append(p.hs, h)
		}
	}
	if size == 0 {
		p.snapshot()
	}
	return p
}

func (p *filePart) has(a provider.Hash) bool {
	for _, b := range p.algs {
		if a == b {
			return true
		}
	}
	return false
}

func (p *filePart) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, err := p.r.Read(b)
	if n > 0 && p.pos == p.hashed {
		for _, h := range p.hs {
			h.Write(b[:n])
		}
		p.hashed += int64(n)
		if p.hashed == p.size {
			p.snapshot()
		}
	}
	p.pos += int64(n)
	return n, err
}

func (p *filePart) Seek(off int64, whence int) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	np, err := p.r.Seek(off, whence)
	if err != nil {
		return np, err
	}
	p.pos = np
	if np == 0 && p.hashed != 0 {
		// A new pass: hashed again from the start.
		for _, h := range p.hs {
			h.Reset()
		}
		p.hashed = 0
	}
	return np, nil
}

func (p *filePart) snapshot() {
	p.sums = make([]provider.Checksum, len(p.hs))
	for k, h := range p.hs {
		p.sums[k] = provider.Checksum{Hash: p.algs[k], Value: hex.EncodeToString(h.Sum(nil))}
	}
}

// sum is the alg digest of the last pass that read every byte; when alg
// was not hashed, or no pass read every byte, it reads the window once
// more for it. A zero alg gives a zero Checksum.
func (p *filePart) sum(alg provider.Hash) (provider.Checksum, error) {
	if alg == "" {
		return provider.Checksum{}, nil
	}
	p.mu.Lock()
	for k, a := range p.algs {
		if a == alg && p.sums != nil {
			p.mu.Unlock()
			return p.sums[k], nil
		}
	}
	p.mu.Unlock()
	h, ok := provider.NewHash(alg)
	if !ok {
		return provider.Checksum{}, fmt.Errorf("%w: checksum algorithm %q", provider.ErrUnsupported, alg)
	}
	defer h.Close()
	if _, err := io.Copy(h, io.NewSectionReader(p.r, 0, p.size)); err != nil {
		return provider.Checksum{}, err
	}
	return provider.Checksum{Hash: alg, Value: hex.EncodeToString(h.Sum(nil))}, nil
}

// close releases the digests once the part is sent and its sums taken;
// what a transport still reads afterwards is no longer hashed, and sum
// reads the window again.
func (p *filePart) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.hs {
		h.Close()
	}
	p.algs, p.hs, p.sums = nil, nil, nil
}

// partHashes remembers the algorithm of the digests a destination reported
// for the parts it received, so later parts are hashed in it while they are
// sent rather than read again (filePart.sum).
type partHashes struct {
	mu   sync.Mutex
	last provider.Hash
}

func (h *partHashes) get() provider.Hash {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

func (h *partHashes) set(a provider.Hash) {
	h.mu.Lock()
	h.last = a
	h.mu.Unlock()
}
