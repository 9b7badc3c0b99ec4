package transfer

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/amove/amove-go/provider"
)

// filePart hashes the last pass that read every byte of its window, which
// is the one a driver sends after its own passes; a pass it did not finish,
// or reads out of order, never count.
func TestFilePartHashesTheLastWholePass(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off, size := int64(1<<20+5), int64(1<<20+3)
	window := data[off : off+size]
	want := provider.SumBytes(provider.HashCRC32C, window)
	wantMD5 := provider.SumBytes(provider.HashMD5, window)

	p := newFilePart(f, off, size, provider.HashCRC32C, "", provider.HashCRC32C)
	if len(p.algs) != 1 {
		t.Fatalf("algorithms %v, want one crc32c", p.algs)
	}
	// A driver's own pass, cut short, then the send, in small reads.
	if _, err := io.CopyN(io.Discard, p, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.LimitReader(p, size+10))
	if err != nil || int64(len(got)) != size {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, size)
	}
	if s, _ := p.sum(provider.HashCRC32C); !s.Equal(want) {
		t.Errorf("crc32c of the whole pass %v, want %v", s, want)
	}
	// An algorithm not hashed while sending is read again from the file.
	if s, err := p.sum(provider.HashMD5); err != nil || !s.Equal(wantMD5) {
		t.Errorf("md5 read again: %v %v, want %v", s, err, wantMD5)
	}
	// A later partial pass leaves the last whole one in place.
	if _, err := p.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, p, 10); err != nil {
		t.Fatal(err)
	}
	if s, _ := p.sum(provider.HashCRC32C); !s.Equal(want) {
		t.Errorf("after a partial pass: %v, want %v", s, want)
	}

	// Reads out of order are never taken for a pass: the digest is read
	// from the file instead.
	q := newFilePart(f, off, size, provider.HashCRC32C)
	if _, err := q.Seek(size/2, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, q); err != nil {
		t.Fatal(err)
	}
	if s, err := q.sum(provider.HashCRC32C); err != nil || !s.Equal(want) {
		t.Errorf("out-of-order reads: %v %v, want %v", s, err, want)
	}

	// The file changed between the driver's pass and the send: the digest
	// is of the bytes sent.
	r := newFilePart(f, off, size, provider.HashCRC32C)
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	changed := append([]byte(nil), window...)
	changed[0] ^= 0xff
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(changed[:1], off); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.sum(provider.HashCRC32C); !s.Equal(provider.SumBytes(provider.HashCRC32C, changed)) {
		t.Errorf("after the file changed: %v, want the digest of the bytes sent", s)
	}

	// An empty window has its digests at once.
	z := newFilePart(f, 0, 0, provider.HashMD5)
	if s, _ := z.sum(provider.HashMD5); !s.Equal(provider.SumBytes(provider.HashMD5, nil)) {
		t.Errorf("empty window: %v", s)
	}
}
