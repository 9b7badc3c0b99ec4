package provider

import (
	"crypto/sha256"
	"crypto/subtle"
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

// quickXor is Microsoft's QuickXorHash: byte i of the input is XORed into a
// circular 160-bit little-endian register at bit offset (11·i) mod 160; at
// the end the 64-bit little-endian length is XORed into the last 8 bytes.
// Bytes 160 apart land on the same offset, so Write only XORs the input
// into a 160-byte accumulator indexed by i mod 160 (crypto/subtle.XORBytes)
// and Sum places the 160 accumulated bytes into the register once.
type quickXor struct {
	acc [160]byte
	n   uint64
}

// NewQuickXor returns a hash.Hash computing QuickXorHash.
func NewQuickXor() hash.Hash { return &quickXor{} }

func (q *quickXor) Write(p []byte) (int, error) {
	total := len(p)
	i := int(q.n % 160)
	// Up to the next multiple of 160, byte by byte.
	for i != 0 && len(p) > 0 {
		q.acc[i] ^= p[0]
		p = p[1:]
		i = (i + 1) % 160
	}
	for len(p) >= 160 {
		subtle.XORBytes(q.acc[:], q.acc[:], p[:160])
		p = p[160:]
	}
	for k, b := range p {
		q.acc[k] ^= b
	}
	q.n += uint64(total)
	return total, nil
}

func (q *quickXor) Sum(b []byte) []byte {
	var reg [20]byte
	for k, v := range q.acc {
		pos := k * 11 % 160
		w := uint16(v) << (pos % 8)
		reg[pos/8] ^= byte(w)
		reg[(pos/8+1)%20] ^= byte(w >> 8)
	}
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], q.n)
	for i := range l {
		reg[12+i] ^= l[i]
	}
	return append(b, reg[:]...)
}

func (q *quickXor) Reset()         { *q = quickXor{} }
func (q *quickXor) Size() int      { return 20 }
func (q *quickXor) BlockSize() int { return 160 }
