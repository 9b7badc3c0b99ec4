package provider

import (
	"runtime"
	"testing"
	"time"
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
