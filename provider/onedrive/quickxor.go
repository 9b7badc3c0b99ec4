package onedrive

import (
	"encoding/base64"
	"encoding/binary"
	"hash"
)

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

var _ hash.Hash = (*quickXor)(nil)

func newQuickXor() *quickXor { return &quickXor{} }

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

// base64Sum is the form Graph reports in file.hashes.quickXorHash.
func (q *quickXor) base64Sum() string { return base64.StdEncoding.EncodeToString(q.Sum(nil)) }

// QuickXorHash returns the base64 QuickXorHash of data (the fake uses it).
func QuickXorHash(data []byte) string {
	q := newQuickXor()
	q.Write(data)
	return q.base64Sum()
}
