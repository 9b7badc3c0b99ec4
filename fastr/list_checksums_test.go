package fastr

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestListChecksums: listing entries carry the checksums the server
// computed when it stored each object, not those of a file replaced by hand
// since.
func TestListChecksums(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := []byte("listed bytes")
	sha := sha256.Sum256(data)
	if _, err := f.c.Put(ctx, "bkt", "d/a", bytes.NewReader(data), int64(len(data)), "", hex.EncodeToString(sha[:])); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Put(ctx, "bkt", "d/b", bytes.NewReader(data), int64(len(data)), "", ""); err != nil {
		t.Fatal(err)
	}
	// Replaced behind the server's back: its sidecar no longer applies.
	if err := os.WriteFile(filepath.Join(f.root, "bkt", "d", "b"), []byte("other bytes!"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.c.CreateFolder(ctx, "bkt", "d/e/"); err != nil {
		t.Fatal(err)
	}
	m := md5.Sum(data)
	for _, delim := range []string{"/", ""} {
		l, err := f.c.List(ctx, "bkt", "d/", delim, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]ObjectInfo{}
		for _, o := range l.Objects {
			got[o.Key] = o
		}
		if a := got["d/a"]; a.SHA256 != hex.EncodeToString(sha[:]) || a.MD5 != hex.EncodeToString(m[:]) || a.ETag != a.SHA256 {
			t.Errorf("delimiter %q: d/a listed as %+v", delim, a)
		}
		if b := got["d/b"]; b.SHA256 != "" || b.MD5 != "" {
			t.Errorf("delimiter %q: a replaced file lists the old checksums: %+v", delim, b)
		}
	}
}
