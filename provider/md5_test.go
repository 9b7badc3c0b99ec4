package provider_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/amove/amove-go/provider"
)

// md5Lengths are the stream lengths the MD5 tests hash: around the 64-byte
// block, md5-simd's 32 KiB internal block, and a part-sized stream.
var md5Lengths = []int{0, 1, 55, 56, 63, 64, 65, 127, 128, 4095, 32<<10 - 1, 32 << 10, 32<<10 + 1, 1<<20 + 7}

// writeInPieces writes b to h in pieces of random sizes (1 byte to 100
// KiB), so a stream's bytes cross block boundaries at odd places.
func writeInPieces(t *testing.T, h provider.Digest, b []byte, r *rand.Rand) {
	t.Helper()
	for len(b) > 0 {
		n := min(len(b), 1+r.IntN(100<<10))
		if k, err := h.Write(b[:n]); k != n || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", k, err, n)
		}
		b = b[n:]
	}
}

// TestMD5DigestsMatchCryptoMD5: the project's MD5 digests (crypto/md5 for
// the first streams, the SIMD server for the others) give crypto/md5's
// digest for every length, whatever the pieces the bytes are written in,
// with many streams hashed at once so the SIMD lanes are shared.
func TestMD5DigestsMatchCryptoMD5(t *testing.T) {
	const streams = 40 // more than the 16 lanes of one server
	lengths := append([]int(nil), md5Lengths...)
	r := rand.New(rand.NewPCG(1, 2))
	for len(lengths) < streams {
		lengths = append(lengths, r.IntN(3<<20))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k, n := range lengths {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(k), 7))
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			h, ok := provider.NewHash(provider.HashMD5)
			if !ok {
				t.Error("NewHash(md5) = false")
				return
			}
			defer h.Close()
			<-start // every stream open before any writes: most go to the SIMD server
			writeInPieces(t, h, b, r)
			want := md5.Sum(b)
			if got := h.Sum(nil); hex.EncodeToString(got) != hex.EncodeToString(want[:]) {
				t.Errorf("stream %d, %d bytes: MD5 %x, want %x", k, n, got, want)
			}
			// Sum leaves the state as it was: more bytes go on from there.
			writeInPieces(t, h, []byte("tail"), r)
			want = md5.Sum(append(b, "tail"...))
			if got := h.Sum(nil); hex.EncodeToString(got) != hex.EncodeToString(want[:]) {
				t.Errorf("stream %d, %d bytes and a tail: MD5 %x, want %x", k, n, got, want)
			}
			// Reset starts over.
			h.Reset()
			writeInPieces(t, h, b[:n/2], r)
			want = md5.Sum(b[:n/2])
			if got := h.Sum(nil); hex.EncodeToString(got) != hex.EncodeToString(want[:]) {
				t.Errorf("stream %d after Reset, %d bytes: MD5 %x, want %x", k, n/2, got, want)
			}
		})
	}
	close(start)
	wg.Wait()
}

// TestSumBytesMD5Lengths: SumBytes (one Write) agrees with crypto/md5 on
// every length, alone and while other streams hold SIMD lanes.
func TestSumBytesMD5Lengths(t *testing.T) {
	check := func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, n := range md5Lengths {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			want := md5.Sum(b)
			if got := provider.SumBytes(provider.HashMD5, b); got.Value != hex.EncodeToString(want[:]) {
				t.Errorf("%d bytes: %s, want %x", n, got.Value, want)
			}
		}
	}
	t.Run("alone", check)
	t.Run("with open streams", func(t *testing.T) {
		for range 4 {
			h, _ := provider.NewHash(provider.HashMD5)
			h.Write([]byte("open"))
			defer h.Close()
		}
		check(t)
	})
}

// TestDigestClose: a Write after Close is an error (a transport may still
// read a request body hashed through an io.TeeReader), a second Close does
// nothing, and every algorithm's Digest closes.
func TestDigestClose(t *testing.T) {
	for _, alg := range provider.Preference {
		h, ok := provider.NewHash(alg)
		if !ok {
			t.Fatalf("NewHash(%s) = false", alg)
		}
		h.Write([]byte("abc"))
		h.Close()
		h.Close()
	}
	h, _ := provider.NewHash(provider.HashMD5)
	h.Close()
	if n, err := h.Write([]byte("late")); err == nil || n != 0 {
		t.Errorf("Write after Close = %d, %v; want 0 and an error", n, err)
	}
}

// TestHashable: Hashable says exactly which algorithms NewHash computes.
func TestHashable(t *testing.T) {
	for _, alg := range append(provider.Preference, provider.HashMD5Parts, "", "blake3") {
		h, ok := provider.NewHash(alg)
		if ok {
			h.Close()
		}
		if provider.Hashable(alg) != ok {
			t.Errorf("Hashable(%q) = %v, NewHash ok = %v", alg, provider.Hashable(alg), ok)
		}
	}
}

// ExampleNewHash hashes two files' worth of bytes at once, as a download of
// several objects does: each stream has its own Digest, closed once its
// Sum is taken (MD5 digests share the process's SIMD lanes until then).
func ExampleNewHash() {
	var wg sync.WaitGroup
	sums := make([]provider.Checksum, 2)
	for k, body := range []string{"abc", "hello, world"} {
		wg.Go(func() {
			h, ok := provider.NewHash(provider.HashMD5)
			if !ok {
				return
			}
			defer h.Close()
			h.Write([]byte(body))
			sums[k] = provider.Checksum{Hash: provider.HashMD5, Value: hex.EncodeToString(h.Sum(nil))}
		})
	}
	wg.Wait()
	for _, s := range sums {
		fmt.Println(s)
	}
	// Output:
	// md5:900150983cd24fb0d6963f7d28e17f72
	// md5:e4d7f1b4ed2e42d15898f4b27b019da4
}
