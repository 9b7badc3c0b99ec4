package s3

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/amove/amove-go/provider"
)

// crcOf reads r to the end for its CRC32C and seeks back to the start.
func crcOf(r io.ReadSeeker) (uint32, error) {
	h := crc32.New(provider.CRC32C)
	if _, err := io.Copy(h, r); err != nil {
		return 0, err
	}
	_, err := r.Seek(0, io.SeekStart)
	return h.Sum32(), err
}

// The wire form of S3 checksums is base64 of the big-endian value; the
// provider package uses lowercase hex.
func crcBase64(v uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, v))
}

// parseCRC reads a CRC32C in the provider's hex or the wire's base64.
func parseCRC(s string) (uint32, bool) {
	if v, ok := provider.ParseCRC32C(s); ok {
		return v, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}

// fullCRC is the CRC32C a HEAD reports for the whole object: only a
// full-object value (a composite one, "x-N", is a checksum of checksums).
func fullCRC(value *string, typ types.ChecksumType) string {
	v := aws.ToString(value)
	if v == "" || (typ != "" && typ != types.ChecksumTypeFullObject) {
		return ""
	}
	if c, ok := parseCRC(v); ok {
		return provider.FormatCRC32C(c)
	}
	return ""
}
