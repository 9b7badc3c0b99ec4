package provider

import (
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
)

// CRC32C is the Castagnoli table: hardware-accelerated on amd64 and arm64,
// so checking a download with it costs a small fraction of an MD5.
var CRC32C = crc32.MakeTable(crc32.Castagnoli)

// CombineCRC32C returns the CRC32C of a||b from crcA = CRC32C(a),
// crcB = CRC32C(b) and the length of b, without the bytes: how parts checked
// one by one (in any order) add up to the whole object's checksum. The
// method is zlib's crc32_combine (GF(2) matrix squaring).
func CombineCRC32C(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = crc32.Castagnoli // reversed polynomial: the operator for one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // apply len2 zeros, a bit at a time
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}

// FormatCRC32C writes a CRC32C as Checksums holds it: lowercase hex of the
// big-endian value.
func FormatCRC32C(v uint32) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint32(nil, v))
}

// ParseCRC32C reads what FormatCRC32C wrote.
func ParseCRC32C(s string) (uint32, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}
