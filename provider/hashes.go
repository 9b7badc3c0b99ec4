package provider

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// dropboxBlock is the block size of Dropbox's content_hash.
const dropboxBlock = 4 << 20

// dropboxHash is Dropbox's content_hash: SHA-256 over the concatenated
// SHA-256 digests of 4 MiB blocks.
type dropboxHash struct {
	all   hash.Hash
	block hash.Hash
	n     int
}

// NewDropboxHash returns a hash.Hash computing Dropbox's content_hash.
func NewDropboxHash() hash.Hash {
	return &dropboxHash{all: sha256.New(), block: sha256.New()}
}

func (c *dropboxHash) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(len(p), dropboxBlock-c.n)
		c.block.Write(p[:k])
		c.n += k
		p = p[k:]
		if c.n == dropboxBlock {
			c.all.Write(c.block.Sum(nil))
			c.block.Reset()
			c.n = 0
		}
	}
	return total, nil
}

func (c *dropboxHash) Sum(b []byte) []byte {
	all := sha256.New()
	// Copy the running state: Sum must not change it.
	if st, err := c.all.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary(); err == nil {
		_ = all.(interface{ UnmarshalBinary([]byte) error }).UnmarshalBinary(st)
	}
	if c.n > 0 {
		all.Write(c.block.Sum(nil))
	}
	return all.Sum(b)
}

func (c *dropboxHash) Reset() {
	c.all.Reset()
	c.block.Reset()
	c.n = 0
}

func (c *dropboxHash) Size() int      { return sha256.Size }
func (c *dropboxHash) BlockSize() int { return sha256.BlockSize }

// quickXor is Microsoft's QuickXorHash: every input byte is XORed into a
// circular 160-bit little-endian register at a bit offset that advances 11
// bits per byte; at the end the 64-bit little-endian length is XORed into the
// last 8 bytes. Since 160 is a multiple of 8, a byte shifted past the end of
// the register wraps to its start a whole byte at a time.
type quickXor struct {
	reg [20]byte
	pos int // bit offset of the next byte
	n   uint64
}

// NewQuickXor returns a hash.Hash computing QuickXorHash.
func NewQuickXor() hash.Hash { return &quickXor{} }

func (q *quickXor) Write(p []byte) (int, error) {
	for _, b := range p {
		i, shift := q.pos/8, q.pos%8
		v := uint16(b) << shift
		q.reg[i] ^= byte(v)
		q.reg[(i+1)%20] ^= byte(v >> 8)
		q.pos = (q.pos + 11) % 160
	}
	q.n += uint64(len(p))
	return len(p), nil
}

func (q *quickXor) Sum(b []byte) []byte {
	out := q.reg
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], q.n)
	for i := range l {
		out[12+i] ^= l[i]
	}
	return append(b, out[:]...)
}

func (q *quickXor) Reset()         { *q = quickXor{} }
func (q *quickXor) Size() int      { return 20 }
func (q *quickXor) BlockSize() int { return 64 }
