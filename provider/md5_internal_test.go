package provider

import (
	"bytes"
	"crypto/md5"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	md5simd "github.com/minio/md5-simd"
)

// TestMD5DigestsReleased: closing gives back every MD5 digest's place
// (md5Open, which picks crypto/md5 or the SIMD server), and a digest
// dropped without Close is given back by the garbage collector.
func TestMD5DigestsReleased(t *testing.T) {
	before := md5Open.Load()
	var ds []Digest
	for range md5SIMDFrom + 5 {
		d, _ := NewHash(HashMD5)
		d.Write([]byte("x"))
		ds = append(ds, d)
	}
	if got := md5Open.Load() - before; got != int64(len(ds)) {
		t.Fatalf("%d digests open, md5Open grew by %d", len(ds), got)
	}
	for _, d := range ds {
		d.Close()
	}
	if got := md5Open.Load(); got != before {
		t.Errorf("md5Open = %d after Close, want %d", got, before)
	}

	func() {
		d, _ := NewHash(HashMD5)
		d.Write([]byte("dropped"))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for md5Open.Load() != before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := md5Open.Load(); got != before {
		t.Errorf("md5Open = %d after a dropped digest was collected, want %d", got, before)
	}
}

// recordingHasher records the length of every Write that reaches it.
type recordingHasher struct {
	md5simd.Hasher
	writes []int
}

func (r *recordingHasher) Write(p []byte) (int, error) {
	r.writes = append(r.writes, len(p))
	return r.Hasher.Write(p)
}

// TestMD5StagesWholeChunks: a SIMD server digest hands md5-simd only
// whole 32 KiB chunks, whatever the sizes of the writes it gets (socket
// reads end anywhere), and the rest only when summed; the digest is
// still crypto/md5's. Unstaged, md5-simd splits an unaligned write into
// a 64-byte hand-off and a short one, which leaves its lanes half empty.
func TestMD5StagesWholeChunks(t *testing.T) {
	rec := &recordingHasher{Hasher: md5simd.StdlibHasher()}
	d := &md5Digest{h: rec, stage: md5Stages.Get().(*[]byte)}
	defer d.Close()
	r := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, 3<<20+12345)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 1+r.IntN(200<<10))
		if k, err := d.Write(rest[:n]); k != n || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", k, err, n)
		}
		rest = rest[n:]
	}
	for i, n := range rec.writes {
		if n == 0 || n%md5Chunk != 0 {
			t.Fatalf("write %d to md5-simd was %d bytes, want a multiple of %d", i, n, md5Chunk)
		}
	}
	want := md5.Sum(b)
	if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
		t.Fatalf("MD5 %x, want %x", got, want)
	}
	if last := rec.writes[len(rec.writes)-1]; last != len(b)%md5Chunk {
		t.Errorf("Sum handed over %d staged bytes, want %d", last, len(b)%md5Chunk)
	}
}

// TestMD5StageNotInherited: a digest closed with bytes still staged gives
// its buffer back empty, so the next digest's MD5 does not start with them.
func TestMD5StageNotInherited(t *testing.T) {
	var open []Digest
	for range md5SIMDFrom {
		d, _ := NewHash(HashMD5)
		open = append(open, d)
	}
	defer func() {
		for _, d := range open {
			d.Close()
		}
	}()
	for range 20 {
		d, _ := NewHash(HashMD5)
		d.Write([]byte("staged, never summed"))
		d.Close()
		d, _ = NewHash(HashMD5)
		d.Write([]byte("abc"))
		want := md5.Sum([]byte("abc"))
		got := d.Sum(nil)
		d.Close()
		if !bytes.Equal(got, want[:]) {
			t.Fatalf("MD5 after a closed staged digest = %x, want %x", got, want)
		}
	}
}
