package onedrive

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// Vectors from rclone's backend/onedrive/quickxorhash tests (input and
// output base64): provider.NewQuickXor is what Graph computes.
var quickXorVectors = []struct{ in, out string }{
	{"", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},
	{"Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="},
	{"tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="},
	{"0pZP", "0rDEEwAAAAAAAAAAAwAAAAAAAAA="},
	{"jRRDVA==", "jaDAEKgAAAAAAAAABAAAAAAAAAA="},
	{"eAV52qE=", "eChAHrQRCgAAAAAABQAAAAAAAAA="},
	{"luBZlaT6", "lgBHFipBCn0AAAAABgAAAAAAAAA="},
	{"qaApEj66lw==", "qQBFCiTgA11cAgAABwAAAAAAAAA="},
	{"/aNzzCFPS/A=", "/RjFHJgRgicsAR4ACAAAAAAAAAA="},
}

func TestQuickXorVectors(t *testing.T) {
	for _, v := range quickXorVectors {
		in, err := base64.StdEncoding.DecodeString(v.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.StdEncoding.EncodeToString(quickXor(in)); got != v.out {
			t.Errorf("quickXor(%q) = %s, want %s", v.in, got, v.out)
		}
		if got, want := graphHex(v.out), hex.EncodeToString(quickXor(in)); got != want {
			t.Errorf("graphHex(%s) = %s, want %s", v.out, got, want)
		}
	}
}

// TestShares: the shares of a file's parts, combined in any order, give the
// file's quickXorHash, whatever the part sizes.
func TestShares(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 100_003)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	want := quickXor(data)
	for _, ps := range []int{1, 7, 160, 161, 4096, 33_333, len(data)} {
		var shares [][20]byte
		for off := 0; off < len(data); off += ps {
			shares = append(shares, share(data[off:min(off+ps, len(data))], int64(off)))
		}
		r.Shuffle(len(shares), func(i, j int) { shares[i], shares[j] = shares[j], shares[i] })
		if got := combine(shares, int64(len(data))); !bytes.Equal(got, want) {
			t.Errorf("part size %d: combined %x, want %x", ps, got, want)
		}
	}
}
