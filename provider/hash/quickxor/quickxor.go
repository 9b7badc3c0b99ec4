// Package quickxor computes Microsoft's QuickXorHash, the digest OneDrive
// and SharePoint report for every file (Graph's file.hashes.quickXorHash,
// base64). It imports only the standard library, so the OneDrive driver,
// its fake and the provider package can all use it without importing each
// other.
//
// Byte i of the input is XORed into a circular 160-bit little-endian
// register at bit offset (11·i) mod 160; at the end the 64-bit
// little-endian length is XORed into the last 8 bytes.
package quickxor

import (
	"crypto/subtle"
	"encoding/binary"
	"hash"
)

// Size is the length of a QuickXorHash digest in bytes.
const Size = 20

// BlockSize is the hash's block size: bytes BlockSize apart land on the
// same register offset.
const BlockSize = 160

// digest accumulates the input into a 160-byte array indexed by i mod 160
// (crypto/subtle.XORBytes does 160 bytes at a time), because bytes 160
// apart land on the same offset; Sum places the 160 accumulated bytes into
// the register once.
type digest struct {
	acc [BlockSize]byte
	n   uint64
}

// New returns a hash.Hash computing QuickXorHash.
func New() hash.Hash { return &digest{} }

// Write adds p to the running hash; it never fails.
func (d *digest) Write(p []byte) (int, error) {
	total := len(p)
	i := int(d.n % BlockSize)
	// Up to the next multiple of 160, byte by byte.
	for i != 0 && len(p) > 0 {
		d.acc[i] ^= p[0]
		p = p[1:]
		i = (i + 1) % BlockSize
	}
	for len(p) >= BlockSize {
		subtle.XORBytes(d.acc[:], d.acc[:], p[:BlockSize])
		p = p[BlockSize:]
	}
	for k, b := range p {
		d.acc[k] ^= b
	}
	d.n += uint64(total)
	return total, nil
}

// Sum appends the digest of the bytes written so far to b; the running
// state is not changed.
func (d *digest) Sum(b []byte) []byte {
	var reg [Size]byte
	for k, v := range d.acc {
		pos := k * 11 % 160
		w := uint16(v) << (pos % 8)
		reg[pos/8] ^= byte(w)
		reg[(pos/8+1)%Size] ^= byte(w >> 8)
	}
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], d.n)
	for i := range l {
		reg[12+i] ^= l[i]
	}
	return append(b, reg[:]...)
}

// Reset returns the hash to its initial state.
func (d *digest) Reset() { *d = digest{} }

// Size returns Size.
func (d *digest) Size() int { return Size }

// BlockSize returns BlockSize.
func (d *digest) BlockSize() int { return BlockSize }
