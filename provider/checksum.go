package provider

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// ErrChecksum is the one sentinel for damaged bytes: a provider refused a
// body whose digest did not match (S3 BadDigest, Azure Md5Mismatch, a
// Dropbox content_hash error...), or a digest the provider computed differs
// from the bytes that were sent or received. Sending the bytes again can
// help, so the transfer engine retries it.
var ErrChecksum = errors.New("checksum mismatch")

// Hash names a checksum algorithm.
type Hash string

// The checksums providers compute. Values are lowercase hex of the digest
// bytes (CRCs big-endian), whatever encoding the provider's API uses.
const (
	HashMD5    Hash = "md5"
	HashSHA1   Hash = "sha1"
	HashSHA256 Hash = "sha256"
	HashCRC32  Hash = "crc32"  // IEEE
	HashCRC32C Hash = "crc32c" // Castagnoli
	// HashCRC64 is CRC-64/NVME: S3's CRC64NVME and Azure's x-ms-content-crc64
	// use the same polynomial, initial value and final XOR.
	HashCRC64 Hash = "crc64"
	// HashDropbox is Dropbox's content_hash: SHA-256 of the concatenated
	// SHA-256 digests of 4 MiB blocks.
	HashDropbox Hash = "dropbox"
	// HashQuickXor is Microsoft's QuickXorHash (OneDrive, SharePoint).
	HashQuickXor Hash = "quickxor"
	// HashMD5Parts is the digest in an S3 multipart ETag ("<hex>-N"): the
	// MD5 of the concatenated binary MD5 digests of the object's parts, in
	// order. No stream computes it (NewHash does not know it); it is folded
	// from the MD5s of ranges cut at the object's own part boundaries
	// (PartLayouter), which only the reader can vouch for, so Preference
	// leaves it out and Best never returns it.
	HashMD5Parts Hash = "md5parts"
)

// Checksum is one digest with its algorithm.
type Checksum struct {
	Hash  Hash
	Value string // lowercase hex
}

// IsZero reports whether c names no digest.
func (c Checksum) IsZero() bool { return c.Hash == "" || c.Value == "" }

// String is "algorithm:hex", the form journals store; empty for a zero c.
func (c Checksum) String() string {
	if c.IsZero() {
		return ""
	}
	return string(c.Hash) + ":" + c.Value
}

// ParseChecksum reads what String wrote. The empty string is the zero
// Checksum.
func ParseChecksum(s string) (Checksum, error) {
	if s == "" {
		return Checksum{}, nil
	}
	alg, v, ok := strings.Cut(s, ":")
	if !ok || v == "" {
		return Checksum{}, fmt.Errorf("%w: checksum %q is not algorithm:hex", ErrInvalid, s)
	}
	if _, err := hex.DecodeString(v); err != nil {
		return Checksum{}, fmt.Errorf("%w: checksum %q is not algorithm:hex", ErrInvalid, s)
	}
	return Checksum{Hash: Hash(alg), Value: strings.ToLower(v)}, nil
}

// Equal reports whether c and o are the same algorithm with the same value.
func (c Checksum) Equal(o Checksum) bool {
	return !c.IsZero() && c.Hash == o.Hash && strings.EqualFold(c.Value, o.Value)
}

// NewHash returns a Digest that computes h, or false for an algorithm this
// package does not know. It is the one constructor of the project's
// streaming digests; the caller closes the Digest once done with it. MD5
// digests share the process's SIMD hasher (md5.go) when several streams
// are hashed at once.
func NewHash(h Hash) (Digest, bool) {
	var hh hash.Hash
	switch h {
	case HashMD5:
		return newMD5(), true
	case HashSHA1:
		hh = sha1.New()
	case HashSHA256:
		hh = sha256.New()
	case HashCRC32:
		hh = crc32.NewIEEE()
	case HashCRC32C:
		hh = crc32.New(CRC32C)
	case HashCRC64:
		hh = crc64.New(crc64NVME)
	case HashDropbox:
		hh = NewDropboxHash()
	case HashQuickXor:
		hh = NewQuickXor()
	default:
		return nil, false
	}
	return plainDigest{hh}, true
}

// Hashable reports whether NewHash computes h.
func Hashable(h Hash) bool {
	switch h {
	case HashMD5, HashSHA1, HashSHA256, HashCRC32, HashCRC32C, HashCRC64, HashDropbox, HashQuickXor:
		return true
	}
	return false
}

var crc64NVME = crc64.MakeTable(0x9A6C9329AC4BC9B5)

// SumBytes returns the h digest of b, or a zero Checksum for an unknown h.
func SumBytes(h Hash, b []byte) Checksum {
	hh, ok := NewHash(h)
	if !ok {
		return Checksum{}
	}
	defer hh.Close()
	hh.Write(b)
	return Checksum{Hash: h, Value: hex.EncodeToString(hh.Sum(nil))}
}

// RangeHash is the algorithm of the range digests CombineChecksums folds
// into an h digest: h itself for a Combinable h, MD5 for HashMD5Parts
// (whose ranges must then be the object's parts), empty when h does not
// fold.
func RangeHash(h Hash) Hash {
	switch {
	case Combinable(h):
		return h
	case h == HashMD5Parts:
		return HashMD5
	}
	return ""
}

// Combinable reports whether digests of consecutive byte ranges can be
// folded into the digest of the whole (CombineChecksums) without the bytes,
// so ranges hashed concurrently still give a whole-object check.
func Combinable(h Hash) bool { return h == HashCRC32C || h == HashCRC32 || h == HashCRC64 }

// Range is the digest of one byte range, for CombineChecksums.
type Range struct {
	Size int64
	Sum  Checksum
}

// CombineChecksums folds the digests of consecutive ranges, in order, into
// the digest of their concatenation. ok is false when h does not fold or a
// range lacks its RangeHash digest. For HashMD5Parts the ranges must be
// the object's parts: the result is the MD5 of their MD5s.
func CombineChecksums(h Hash, ranges []Range) (Checksum, bool) {
	if h == HashMD5Parts {
		return combineMD5Parts(ranges)
	}
	if !Combinable(h) {
		return Checksum{}, false
	}
	var whole uint64
	for _, r := range ranges {
		if r.Sum.Hash != h {
			return Checksum{}, false
		}
		b, err := hex.DecodeString(r.Sum.Value)
		if err != nil {
			return Checksum{}, false
		}
		switch h {
		case HashCRC64:
			if len(b) != 8 {
				return Checksum{}, false
			}
			whole = combineCRC64(whole, beUint(b), r.Size)
		default:
			if len(b) != 4 {
				return Checksum{}, false
			}
			poly := uint32(crc32.Castagnoli)
			if h == HashCRC32 {
				poly = crc32.IEEE
			}
			whole = uint64(combineCRC32(poly, uint32(whole), uint32(beUint(b)), r.Size))
		}
	}
	n := 4
	if h == HashCRC64 {
		n = 8
	}
	out := make([]byte, n)
	for i := range n {
		out[n-1-i] = byte(whole >> (8 * i))
	}
	return Checksum{Hash: h, Value: hex.EncodeToString(out)}, true
}

// combineMD5Parts is S3's multipart ETag digest of parts with MD5 sums:
// 16 bytes a part, hashed on the spot by crypto/md5.
func combineMD5Parts(parts []Range) (Checksum, bool) {
	if len(parts) == 0 {
		return Checksum{}, false
	}
	all := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(p.Sum.Value)
		if p.Sum.Hash != HashMD5 || err != nil || len(b) != md5.Size {
			return Checksum{}, false
		}
		all.Write(b)
	}
	return Checksum{Hash: HashMD5Parts, Value: hex.EncodeToString(all.Sum(nil))}, true
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// field is where c keeps the digest of algorithm h; nil for an unknown h.
func (c *Checksums) field(h Hash) *string {
	switch h {
	case HashMD5:
		return &c.MD5
	case HashSHA1:
		return &c.SHA1
	case HashSHA256:
		return &c.SHA256
	case HashCRC32:
		return &c.CRC32
	case HashCRC32C:
		return &c.CRC32C
	case HashCRC64:
		return &c.CRC64
	case HashDropbox:
		return &c.Dropbox
	case HashQuickXor:
		return &c.QuickXor
	case HashMD5Parts:
		return &c.MD5Parts
	}
	return nil
}

// Get returns the digest of algorithm h, or a zero Checksum.
func (c Checksums) Get(h Hash) Checksum {
	f := c.field(h)
	if f == nil || *f == "" {
		return Checksum{}
	}
	return Checksum{Hash: h, Value: strings.ToLower(*f)}
}

// Set records sum in the field of its algorithm; unknown algorithms are
// ignored.
func (c *Checksums) Set(sum Checksum) {
	if f := c.field(sum.Hash); f != nil {
		*f = strings.ToLower(sum.Value)
	}
}

// Preference is the order in which a reader picks one of an object's
// checksums to verify: the cheapest to compute first, combinable CRCs
// before cryptographic digests.
var Preference = []Hash{HashCRC32C, HashCRC64, HashCRC32, HashQuickXor, HashMD5, HashSHA1, HashSHA256, HashDropbox}

// Best returns the first of c's digests in Preference order, restricted to
// the algorithms accept allows (nil accepts all); zero when none is known.
func (c Checksums) Best(accept func(Hash) bool) Checksum {
	for _, h := range Preference {
		if s := c.Get(h); !s.IsZero() && (accept == nil || accept(h)) {
			return s
		}
	}
	return Checksum{}
}

// MarshalText writes String's form, so a Checksum is one JSON string.
func (c Checksum) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads String's form.
func (c *Checksum) UnmarshalText(b []byte) error {
	v, err := ParseChecksum(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// VerifiedReader is implemented by readers from NewRangeReader that compare
// the bytes they return with digests the provider computed for them (Azure
// answers an MD5 of every range up to 4 MiB). Once the reader returned every
// byte of its range, Checksum is the digest of those bytes, in an algorithm
// whose per-range values the provider vouched for; zero when it compared
// nothing. A mismatch is a Read error matching ErrChecksum.
type VerifiedReader interface {
	// Checksum is the digest of the bytes read, valid once the whole range
	// was read; zero when nothing was compared.
	Checksum() Checksum
}

// ObjectReader is implemented by readers from NewRangeReader of a whole
// object (offset 0, length -1) that learned, from the response carrying
// the bytes, the object's whole-object digests (S3 answers them on a GET
// with x-amz-checksum-mode). Object holds the ETag, Size and Checksums of
// the object being read, so a reader planned with a costlier digest (the
// MD5 a listing gave) can check the bytes with a cheaper one the provider
// holds for the same version, while they stream.
type ObjectReader interface {
	// Object describes the object whose bytes the reader returns.
	Object() Object
}
