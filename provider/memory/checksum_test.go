package memory_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

func TestChecksums(t *testing.T) {
	s := memory.New(memory.Options{})
	ctx := context.Background()
	if err := s.CreateBucket(ctx, "b", ""); err != nil {
		t.Fatal(err)
	}
	data := []byte("some bytes")
	sum := md5.Sum(data)
	want := hex.EncodeToString(sum[:])
	o, err := s.Write(ctx, "b", "k", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != provider.HashMD5 || o.Checksums.MD5 != want {
		t.Errorf("Write: Verified %q, MD5 %q", o.Verified, o.Checksums.MD5)
	}
	u, err := s.CreateMultipart(ctx, "b", "mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.UploadPart(ctx, u, 1, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Checksum.Equal(provider.Checksum{Hash: provider.HashMD5, Value: want}) {
		t.Errorf("part checksum %v", p.Checksum)
	}
	if ps, err := s.ListParts(ctx, u); err != nil || len(ps) != 1 || !ps[0].Checksum.Equal(p.Checksum) {
		t.Errorf("ListParts = %+v, %v", ps, err)
	}
}
