package s3

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/amove/amove-go/provider"
)

// crcOf reads r to the end for its CRC32C and seeks back to the start.
func crcOf(r io.ReadSeeker) (uint32, error) {
	h := crc32.New(provider.CRC32C)
	if err := hashOf(r, h); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// md5Of reads r to the end for its MD5 and seeks back to the start. The
// parts of an upload are hashed concurrently: provider.NewHash shares
// them out over the process's SIMD MD5 lanes.
func md5Of(r io.ReadSeeker) ([]byte, error) {
	h, _ := provider.NewHash(provider.HashMD5)
	defer h.Close()
	if err := hashOf(r, h); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func hashOf(r io.ReadSeeker, h hash.Hash) error {
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	_, err := r.Seek(0, io.SeekStart)
	return err
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

// reported holds the additional checksums an S3 response carries (with
// x-amz-checksum-mode on a HEAD, or after a write that sent one).
type reported struct {
	crc32, crc32c, crc64, md5, sha1, sha256 *string
	typ                                     types.ChecksumType
}

// fill records in c every full-object checksum of r. A composite one (of a
// multipart object, "x-N") is a checksum of checksums and is left out.
func (r reported) fill(c *provider.Checksums) {
	if r.typ != "" && r.typ != types.ChecksumTypeFullObject {
		return
	}
	for _, v := range []struct {
		h   provider.Hash
		v   *string
		len int
	}{
		{provider.HashCRC32, r.crc32, 4},
		{provider.HashCRC32C, r.crc32c, 4},
		{provider.HashCRC64, r.crc64, 8}, // S3's CRC64NVME
		{provider.HashMD5, r.md5, 16},
		{provider.HashSHA1, r.sha1, 20},
		{provider.HashSHA256, r.sha256, 32},
	} {
		b, err := base64.StdEncoding.DecodeString(aws.ToString(v.v))
		if err == nil && len(b) == v.len {
			c.Set(provider.Checksum{Hash: v.h, Value: hex.EncodeToString(b)})
		}
	}
}

// etagMD5 reads a plain (non-multipart) ETag, which S3 computes as the hex
// MD5 of the content of an object or a part. A multipart ETag ("x-N") is a
// checksum of checksums and gives nothing.
func etagMD5(etag string) provider.Checksum {
	e := strings.ToLower(strings.Trim(etag, `"`))
	if len(e) != 32 || strings.Contains(e, "-") {
		return provider.Checksum{}
	}
	if !isHex(e) {
		return provider.Checksum{}
	}
	return provider.Checksum{Hash: provider.HashMD5, Value: e}
}

// etagMD5Parts reads a multipart ETag ("<hex>-N"): the MD5 of the parts'
// MD5s (provider.HashMD5Parts), which a reader can check by fetching the
// object along its parts (PartLayout).
func etagMD5Parts(etag string) provider.Checksum {
	e := strings.ToLower(strings.Trim(etag, `"`))
	sum, n, ok := strings.Cut(e, "-")
	if !ok || len(sum) != 32 || n == "" || strings.TrimLeft(n, "0123456789") != "" {
		return provider.Checksum{}
	}
	if !isHex(sum) {
		return provider.Checksum{}
	}
	return provider.Checksum{Hash: provider.HashMD5Parts, Value: sum}
}

// isHex reports whether s is lower-case hex digits only. It decodes
// nothing: a listing checks every object's ETag, and hex.DecodeString
// allocated for each.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// encrypted reports whether a response names SSE-KMS or SSE-C encryption,
// under which S3's ETag is not the MD5 of the content.
func encrypted(sse types.ServerSideEncryption, customerAlgorithm *string) bool {
	return customerAlgorithm != nil || sse == types.ServerSideEncryptionAwsKms || sse == types.ServerSideEncryptionAwsKmsDsse
}
