package providertest

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"hash/crc64"

	"github.com/amove/amove-go/provider"
)

// Sums computes every checksum provider.Checksums can hold. CRC64 is
// Azure's (polynomial 0x9A6C9329AC4BC9B5, the azblob SDK's table).
func Sums(b []byte) provider.Checksums {
	m := md5.Sum(b)
	s1 := sha1.Sum(b)
	s2 := sha256.Sum256(b)
	c32 := binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, provider.CRC32C))
	c64 := binary.BigEndian.AppendUint64(nil, crc64.Checksum(b, crc64.MakeTable(0x9A6C9329AC4BC9B5)))
	return provider.Checksums{
		MD5:    hex.EncodeToString(m[:]),
		SHA1:   hex.EncodeToString(s1[:]),
		SHA256: hex.EncodeToString(s2[:]),
		CRC32C: hex.EncodeToString(c32),
		CRC64:  hex.EncodeToString(c64),
	}
}
