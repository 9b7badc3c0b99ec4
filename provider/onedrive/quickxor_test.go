package onedrive

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// Vectors from rclone's backend/onedrive/quickxorhash tests (input and
// output base64).
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
		if got := QuickXorHash(in); got != v.out {
			t.Errorf("QuickXorHash(%q) = %s, want %s", v.in, got, v.out)
		}
	}
	// Writing in pieces gives the same sum as at once.
	data := bytes.Repeat([]byte("0123456789abcdefghij"), 1000)
	q := newQuickXor()
	for i := 0; i < len(data); i += 7 {
		q.Write(data[i:min(i+7, len(data))])
	}
	if q.base64Sum() != QuickXorHash(data) {
		t.Error("chunked writes differ")
	}
}
