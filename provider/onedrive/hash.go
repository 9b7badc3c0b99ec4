package onedrive

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"

	"github.com/amove/amove-go/provider/hash/quickxor"
)

// QuickXorHash (package quickxor) XORs every byte into a 160-bit
// register at a bit offset that advances 11 bits per byte and XORs the
// total length into the last 8 bytes at the end. The register's state
// after n bytes depends only on n mod 160 for the offset, so the share of
// bytes that start at offset off is what they XOR into the register after
// off mod 160 zero bytes, length left out: shares of the parts of a file,
// XORed together in any order, plus the file's length, give the file's
// hash. That is what lets a multipart upload check the whole file against
// Graph's quickXorHash when parts arrive out of order or after a restart.

// share returns data's contribution to the quickXorHash register of a file
// in which data starts at offset off.
func share(data []byte, off int64) [20]byte {
	h := quickxor.New()
	z := int(off % 160)
	h.Write(make([]byte, z))
	h.Write(data)
	var reg [20]byte
	copy(reg[:], h.Sum(nil))
	foldLength(&reg, uint64(z)+uint64(len(data))) // take the length out again
	return reg
}

// foldLength XORs the little-endian length n into the last 8 bytes of reg,
// as QuickXorHash's final step does (applying it twice undoes it).
func foldLength(reg *[20]byte, n uint64) {
	var l [8]byte
	binary.LittleEndian.PutUint64(l[:], n)
	for i := range l {
		reg[12+i] ^= l[i]
	}
}

// combine returns the quickXorHash digest of a file of total bytes whose
// parts have the given shares.
func combine(shares [][20]byte, total int64) []byte {
	var reg [20]byte
	for _, sh := range shares {
		for i := range reg {
			reg[i] ^= sh[i]
		}
	}
	foldLength(&reg, uint64(total))
	return reg[:]
}

// quickXor returns the quickXorHash digest of data.
func quickXor(data []byte) []byte {
	h := quickxor.New()
	h.Write(data)
	return h.Sum(nil)
}

// graphHex converts Graph's base64 quickXorHash to provider's lowercase
// hex; "" when it is missing or malformed.
func graphHex(b64 string) string {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 20 {
		return ""
	}
	return hex.EncodeToString(b)
}
