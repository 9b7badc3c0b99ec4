package quickxor_test

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/amove/amove-go/provider/hash/quickxor"
)

// refQuickXor is QuickXorHash byte by byte, as Microsoft describes it.
func refQuickXor(p []byte) []byte {
	var reg [20]byte
	for i, b := range p {
		pos := i * 11 % 160
		v := uint16(b) << (pos % 8)
		reg[pos/8] ^= byte(v)
		reg[(pos/8+1)%20] ^= byte(v >> 8)
	}
	n := uint64(len(p))
	for i := range 8 {
		reg[12+i] ^= byte(n >> (8 * i))
	}
	return reg[:]
}

// New's block-wise Write agrees with the byte-by-byte definition for any
// length and any split of the input into writes.
func TestMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for _, n := range []int{0, 1, 159, 160, 161, 319, 320, 1000, 5000} {
		for _, chunk := range []int{1, 7, 160, 163, 4096} {
			h := quickxor.New()
			for off := 0; off < n; off += chunk {
				h.Write(data[off:min(off+chunk, n)])
			}
			if got, want := hex.EncodeToString(h.Sum(nil)), hex.EncodeToString(refQuickXor(data[:n])); got != want {
				t.Errorf("%d bytes in writes of %d: %s, want %s", n, chunk, got, want)
			}
		}
	}
}

// The empty input hashes to zeros, the sizes are QuickXorHash's, and Reset
// forgets what was written.
func TestKnownValues(t *testing.T) {
	h := quickxor.New()
	if got := base64.StdEncoding.EncodeToString(h.Sum(nil)); got != "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" {
		t.Errorf("empty = %s", got)
	}
	h.Write([]byte("hello"))
	sum := h.Sum(nil)
	if len(sum) != quickxor.Size || h.Size() != quickxor.Size || h.BlockSize() != quickxor.BlockSize {
		t.Fatalf("sizes: %d %d %d", len(sum), h.Size(), h.BlockSize())
	}
	if got, want := hex.EncodeToString(sum), hex.EncodeToString(refQuickXor([]byte("hello"))); got != want {
		t.Errorf("hello = %s, want %s", got, want)
	}
	h.Reset()
	if got := h.Sum(nil); hex.EncodeToString(got) != hex.EncodeToString(make([]byte, 20)) {
		t.Errorf("after Reset = %x", got)
	}
}
