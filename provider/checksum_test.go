package provider_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/hash/quickxor"
)

// Known answers from the algorithms' own references: CRC catalogue check
// values for "123456789", RFC 1321 / FIPS 180 digests of "abc".
func TestSumBytesKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		h    provider.Hash
		in   string
		want string
	}{
		{provider.HashCRC32, "123456789", "cbf43926"},
		{provider.HashCRC32C, "123456789", "e3069283"},
		{provider.HashCRC64, "123456789", "ae8b14860a799888"}, // CRC-64/NVME
		{provider.HashMD5, "abc", "900150983cd24fb0d6963f7d28e17f72"},
		{provider.HashSHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{provider.HashSHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	} {
		if got := provider.SumBytes(tc.h, []byte(tc.in)); got.Value != tc.want || got.Hash != tc.h {
			t.Errorf("%s(%q) = %v, want %s", tc.h, tc.in, got, tc.want)
		}
	}
	if got := provider.SumBytes("nope", []byte("x")); !got.IsZero() {
		t.Errorf("unknown algorithm gave %v", got)
	}
}

// Dropbox's content_hash of an empty file is SHA-256 of nothing hashed
// again; of more than one block it is SHA-256 over the blocks' digests.
func TestDropboxHashBlocks(t *testing.T) {
	data := make([]byte, 9<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var blocks []byte
	for off := 0; off < len(data); off += 4 << 20 {
		end := min(off+4<<20, len(data))
		blocks = append(blocks, hexBytes(t, provider.SumBytes(provider.HashSHA256, data[off:end]).Value)...)
	}
	want := provider.SumBytes(provider.HashSHA256, blocks)
	if got := provider.SumBytes(provider.HashDropbox, data); got.Value != want.Value {
		t.Errorf("content_hash %s, want %s", got.Value, want.Value)
	}
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Folding the digests of ranges gives the digest of the whole, for every
// combinable algorithm and any cut, empty ranges included.
func TestCombineChecksums(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300_001)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for _, h := range []provider.Hash{provider.HashCRC32, provider.HashCRC32C, provider.HashCRC64} {
		if !provider.Combinable(h) {
			t.Fatalf("%s is not Combinable", h)
		}
		for _, cuts := range [][]int{{0}, {1, 2, 3}, {100_000, 0, 200_000}, {65_536, 65_536, 65_536, 65_536}} {
			var ranges []provider.Range
			off := 0
			for _, n := range cuts {
				n = min(n, len(data)-off)
				ranges = append(ranges, provider.Range{Size: int64(n), Sum: provider.SumBytes(h, data[off:off+n])})
				off += n
			}
			ranges = append(ranges, provider.Range{Size: int64(len(data) - off), Sum: provider.SumBytes(h, data[off:])})
			got, ok := provider.CombineChecksums(h, ranges)
			if want := provider.SumBytes(h, data); !ok || !got.Equal(want) {
				t.Errorf("%s cut %v: combined %v (%v), whole %v", h, cuts, got, ok, want)
			}
		}
	}
	if _, ok := provider.CombineChecksums(provider.HashMD5, nil); ok {
		t.Error("MD5 combined")
	}
	mixed := []provider.Range{{Size: 1, Sum: provider.SumBytes(provider.HashCRC32C, []byte("a"))}, {Size: 1, Sum: provider.SumBytes(provider.HashCRC32, []byte("b"))}}
	if _, ok := provider.CombineChecksums(provider.HashCRC32C, mixed); ok {
		t.Error("ranges of two algorithms combined")
	}
}

func TestChecksumText(t *testing.T) {
	c := provider.Checksum{Hash: provider.HashCRC32C, Value: "e3069283"}
	b, err := json.Marshal(struct{ C provider.Checksum }{c})
	if err != nil || string(b) != `{"C":"crc32c:e3069283"}` {
		t.Fatalf("JSON %s, %v", b, err)
	}
	var back struct{ C provider.Checksum }
	if err := json.Unmarshal(b, &back); err != nil || back.C != c {
		t.Errorf("round trip %v, %v", back.C, err)
	}
	for _, bad := range []string{"crc32c", "crc32c:", "md5:zz"} {
		if _, err := provider.ParseChecksum(bad); err == nil {
			t.Errorf("ParseChecksum(%q) accepted", bad)
		}
	}
	if c, err := provider.ParseChecksum(""); err != nil || !c.IsZero() {
		t.Errorf("empty: %v, %v", c, err)
	}
	var cs provider.Checksums
	cs.Set(provider.Checksum{Hash: provider.HashQuickXor, Value: "AB"})
	cs.Set(provider.Checksum{Hash: provider.HashMD5, Value: "cd"})
	if best := cs.Best(nil); best.Hash != provider.HashQuickXor || best.Value != "ab" {
		t.Errorf("Best = %v", best)
	}
	if best := cs.Best(func(h provider.Hash) bool { return h == provider.HashMD5 }); best.Hash != provider.HashMD5 {
		t.Errorf("Best(md5 only) = %v", best)
	}
}

// NewHash(HashQuickXor) and NewQuickXor are the leaf package's hash.
func TestQuickXorIsTheLeafPackage(t *testing.T) {
	data := []byte(strings.Repeat("quickxor ", 100))
	want := quickxor.New()
	want.Write(data)
	for name, h := range map[string]hash.Hash{"NewQuickXor": provider.NewQuickXor(), "NewHash": mustHash(t, provider.HashQuickXor)} {
		h.Write(data)
		if got := h.Sum(nil); !bytes.Equal(got, want.Sum(nil)) {
			t.Errorf("%s = %x, want %x", name, got, want.Sum(nil))
		}
	}
}

func mustHash(t *testing.T, h provider.Hash) hash.Hash {
	t.Helper()
	nh, ok := provider.NewHash(h)
	if !ok {
		t.Fatalf("NewHash(%s) = false", h)
	}
	return nh
}

// TestCombineMD5Parts: an S3 multipart ETag's digest is the MD5 of the
// parts' binary MD5s, in order (the transfer tests check it against
// MinIO's); it folds only from MD5 range digests, and no stream computes it.
func TestCombineMD5Parts(t *testing.T) {
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("tail")}
	var ranges []provider.Range
	all := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		all.Write(s[:])
		ranges = append(ranges, provider.Range{Size: int64(len(p)), Sum: provider.SumBytes(provider.HashMD5, p)})
	}
	want := provider.Checksum{Hash: provider.HashMD5Parts, Value: hex.EncodeToString(all.Sum(nil))}
	if got, ok := provider.CombineChecksums(provider.HashMD5Parts, ranges); !ok || !got.Equal(want) {
		t.Errorf("combined %v (%v), want %v", got, ok, want)
	}
	if h := provider.RangeHash(provider.HashMD5Parts); h != provider.HashMD5 {
		t.Errorf("RangeHash = %q, want md5", h)
	}
	if _, ok := provider.NewHash(provider.HashMD5Parts); ok {
		t.Error("NewHash knows md5parts: no stream can compute it without the part boundaries")
	}
	crc := []provider.Range{{Size: 1, Sum: provider.SumBytes(provider.HashCRC32C, []byte("a"))}}
	if _, ok := provider.CombineChecksums(provider.HashMD5Parts, crc); ok {
		t.Error("md5parts folded from CRC32C ranges")
	}
	if _, ok := provider.CombineChecksums(provider.HashMD5Parts, nil); ok {
		t.Error("md5parts folded from no parts")
	}
	c := provider.Checksums{MD5Parts: want.Value}
	if !c.Get(provider.HashMD5Parts).Equal(want) || !c.Best(nil).IsZero() {
		t.Errorf("Get = %v, Best = %v: want the digest from Get and nothing from Best", c.Get(provider.HashMD5Parts), c.Best(nil))
	}
}
