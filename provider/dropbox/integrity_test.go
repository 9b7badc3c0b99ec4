package dropbox_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/dropbox"
)

func payload(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// TestMultipartVerified uploads three parts the way the engine does, the
// later ones first: held parts claim no checksum, a part appended during
// its own UploadPart returns the content_hash Dropbox checked, and
// CompleteMultipart verifies the whole file.
func TestMultipartVerified(t *testing.T) {
	// Not StrictChunks: the last part is appended (not sent with finish),
	// which sequential sessions allow whatever its size.
	srv := newFake(t, fake.Options{})
	st := open(t, srv, dropbox.Options{})
	ctx := context.Background()
	data := payload(1, 8<<20+4<<20+777)
	chunks := [][]byte{data[:4<<20], data[4<<20 : 8<<20], data[8<<20:]}
	u, err := st.CreateMultipart(ctx, dropbox.RootBucket, "mp/three.bin", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts := make([]provider.Part, 3)
	for _, i := range []int{2, 1, 0} {
		p, err := st.UploadPart(ctx, u, i+1, bytes.NewReader(chunks[i]), int64(len(chunks[i])))
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		parts[i] = p
	}
	for i := 1; i < 3; i++ {
		if !parts[i].Checksum.IsZero() {
			t.Errorf("held part %d claims checksum %v", i+1, parts[i].Checksum)
		}
	}
	if c := parts[0].Checksum; c.Hash != provider.HashDropbox || c.Value != fake.ContentHash(chunks[0]) {
		t.Errorf("part 1 (appended at once) checksum %v, want dropbox:%s", c, fake.ContentHash(chunks[0]))
	}
	// Once appended, ListParts reports every part's checksum.
	listed, err := st.ListParts(ctx, u)
	if err != nil || len(listed) != 3 {
		t.Fatalf("ListParts = %+v, %v", listed, err)
	}
	for i, p := range listed {
		if c := p.Checksum; c.Hash != provider.HashDropbox || c.Value != fake.ContentHash(chunks[i]) {
			t.Errorf("listed part %d checksum %v", i+1, c)
		}
	}
	o, err := st.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != provider.HashDropbox || o.Checksums.Dropbox != fake.ContentHash(data) || o.Size != int64(len(data)) {
		t.Errorf("CompleteMultipart = verified %q, checksums %+v, size %d; want dropbox verified %s, %d bytes",
			o.Verified, o.Checksums, o.Size, fake.ContentHash(data), len(data))
	}
	if st2, err := st.Stat(ctx, dropbox.RootBucket, "mp/three.bin"); err != nil || st2.Checksums.Dropbox != fake.ContentHash(data) {
		t.Errorf("Stat = %+v, %v", st2, err)
	}

	// In order, every part is appended at once and returns its checksum.
	u, err = st.CreateMultipart(ctx, dropbox.RootBucket, "mp/inorder.bin", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range chunks {
		p, err := st.UploadPart(ctx, u, i+1, bytes.NewReader(c), int64(len(c)))
		if err != nil {
			t.Fatal(err)
		}
		if p.Checksum.Hash != provider.HashDropbox || p.Checksum.Value != fake.ContentHash(c) {
			t.Errorf("in-order part %d checksum %v", i+1, p.Checksum)
		}
		parts[i] = p
	}
	if o, err := st.CompleteMultipart(ctx, u, parts); err != nil || o.Verified != provider.HashDropbox {
		t.Errorf("in-order CompleteMultipart = %+v, %v", o, err)
	}
}

// TestBadContentHash: bytes damaged on the way fail Dropbox's content_hash
// check, and the driver reports provider.ErrChecksum; a retry succeeds.
func TestBadContentHash(t *testing.T) {
	srv := newFake(t, fake.Options{})
	st := open(t, srv, dropbox.Options{ChunkSize: 4 << 20})
	ctx := context.Background()

	small := payload(2, 1000)
	srv.CorruptUploads(1)
	_, err := st.Write(ctx, dropbox.RootBucket, "bad/small", bytes.NewReader(small), int64(len(small)), provider.WriteOptions{})
	if !errors.Is(err, provider.ErrChecksum) {
		t.Fatalf("upload damaged in transit: %v, want ErrChecksum", err)
	}
	if _, err := st.Stat(ctx, dropbox.RootBucket, "bad/small"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("a refused upload left a file: %v", err)
	}

	// A session append.
	big := payload(3, 9<<20)
	srv.CorruptUploads(1)
	_, err = st.Write(ctx, dropbox.RootBucket, "bad/big", bytes.NewReader(big), int64(len(big)), provider.WriteOptions{})
	if !errors.Is(err, provider.ErrChecksum) {
		t.Fatalf("append damaged in transit: %v, want ErrChecksum", err)
	}
	o, err := st.Write(ctx, dropbox.RootBucket, "bad/big", bytes.NewReader(big), int64(len(big)), provider.WriteOptions{})
	if err != nil || o.Verified != provider.HashDropbox {
		t.Fatalf("Write again = %+v, %v", o, err)
	}

	// A multipart part.
	u, err := st.CreateMultipart(ctx, dropbox.RootBucket, "bad/mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.CorruptUploads(1)
	_, err = st.UploadPart(ctx, u, 1, bytes.NewReader(big[:4<<20]), 4<<20)
	if !errors.Is(err, provider.ErrChecksum) {
		t.Fatalf("part damaged in transit: %v, want ErrChecksum", err)
	}
	p1, err := st.UploadPart(ctx, u, 1, bytes.NewReader(big[:4<<20]), 4<<20)
	if err != nil || p1.Checksum.Hash != provider.HashDropbox {
		t.Fatalf("part 1 again: %+v, %v", p1, err)
	}
	p2, err := st.UploadPart(ctx, u, 2, bytes.NewReader(big[4<<20:]), int64(len(big)-4<<20))
	if err != nil {
		t.Fatal(err)
	}
	o, err = st.CompleteMultipart(ctx, u, []provider.Part{p1, p2})
	if err != nil || o.Verified != provider.HashDropbox || o.Checksums.Dropbox != fake.ContentHash(big) {
		t.Fatalf("CompleteMultipart after a refused part = %+v, %v", o, err)
	}
}

// TestStoredContentHashDiffers: when the file Dropbox stored is not the
// bytes given (its content_hash differs), Write and CompleteMultipart fail
// with provider.ErrChecksum instead of claiming Verified.
func TestStoredContentHashDiffers(t *testing.T) {
	srv := newFake(t, fake.Options{})
	st := open(t, srv, dropbox.Options{ChunkSize: 4 << 20})
	ctx := context.Background()
	for _, n := range []int{1000, 9 << 20} {
		data := payload(4, n)
		srv.CorruptCommits(1)
		o, err := st.Write(ctx, dropbox.RootBucket, "rot/w", bytes.NewReader(data), int64(n), provider.WriteOptions{})
		if !errors.Is(err, provider.ErrChecksum) {
			t.Errorf("Write of %d bytes stored damaged: %+v, %v; want ErrChecksum", n, o, err)
		}
	}
	data := payload(5, 5<<20)
	u, err := st.CreateMultipart(ctx, dropbox.RootBucket, "rot/mp", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := st.UploadPart(ctx, u, 1, bytes.NewReader(data[:4<<20]), 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := st.UploadPart(ctx, u, 2, bytes.NewReader(data[4<<20:]), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	srv.CorruptCommits(1)
	if o, err := st.CompleteMultipart(ctx, u, []provider.Part{p1, p2}); !errors.Is(err, provider.ErrChecksum) {
		t.Errorf("CompleteMultipart stored damaged: %+v, %v; want ErrChecksum", o, err)
	}
}

// TestCompleteAfterRestart: a driver that did not start the session (a new
// process) can commit it when Dropbox holds every part, but cannot verify
// the file; parts the old process only held are lost, which is
// ErrNotFound.
func TestCompleteAfterRestart(t *testing.T) {
	srv := newFake(t, fake.Options{})
	ctx := context.Background()
	data := payload(6, 9<<20)
	chunks := [][]byte{data[:4<<20], data[4<<20 : 8<<20], data[8<<20:]}
	old := open(t, srv, dropbox.Options{})
	u, err := old.CreateMultipart(ctx, dropbox.RootBucket, "rs/file", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []provider.Part
	for i, c := range chunks {
		p, err := old.UploadPart(ctx, u, i+1, bytes.NewReader(c), int64(len(c)))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	again := open(t, srv, dropbox.Options{})
	if _, err := again.ListParts(ctx, u); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("ListParts in a new process: %v, want ErrNotFound", err)
	}
	o, err := again.CompleteMultipart(ctx, u, parts)
	if err != nil {
		t.Fatal(err)
	}
	if o.Verified != "" || o.Checksums.Dropbox != fake.ContentHash(data) || o.Size != int64(len(data)) {
		t.Errorf("CompleteMultipart in a new process = %+v; want unverified, with content_hash", o)
	}

	// Part 2 only held in the old process's memory: gone.
	u, err = old.CreateMultipart(ctx, dropbox.RootBucket, "rs/lost", provider.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts = parts[:0]
	for _, i := range []int{0, 2} {
		p, err := old.UploadPart(ctx, u, i+1, bytes.NewReader(chunks[i]), int64(len(chunks[i])))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	parts = []provider.Part{parts[0], {Number: 2, Size: 4 << 20}, parts[1]}
	if _, err := again.CompleteMultipart(ctx, u, parts); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("CompleteMultipart with a part lost: %v, want ErrNotFound", err)
	}
}

// TestWithoutRetries: under provider.WithoutRetries a 429 reaches the
// caller at once as a *provider.RateLimitError, while an expired token is
// still refreshed inside the one try.
func TestWithoutRetries(t *testing.T) {
	srv := newFake(t, fake.Options{})
	st := open(t, srv, dropbox.Options{MaxRetries: 3})
	ctx := provider.WithoutRetries(context.Background())
	srv.RateLimit(time.Second)
	start := time.Now()
	_, err := st.ListBuckets(ctx)
	var rl *provider.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("429 without retries: %v after %v; want RateLimitError at once", err, time.Since(start))
	}
	if _, err := st.ListBuckets(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCopyReplaces: copy_v2 refuses an occupied destination; Copy replaces
// a file there, reports the copy's content_hash, and refuses folders.
func TestCopyReplaces(t *testing.T) {
	srv := newFake(t, fake.Options{})
	st := open(t, srv, dropbox.Options{})
	ctx := context.Background()
	a, b := []byte("source bytes"), []byte("old destination")
	for k, v := range map[string][]byte{"cp/a": a, "cp/b": b} {
		if _, err := st.Write(ctx, dropbox.RootBucket, k, bytes.NewReader(v), int64(len(v)), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := st.Copy(ctx, dropbox.RootBucket, "cp/b", dropbox.RootBucket, "cp/a")
	if err != nil {
		t.Fatal(err)
	}
	if o.Checksums.Dropbox != fake.ContentHash(a) || o.Size != int64(len(a)) || o.Verified != "" {
		t.Errorf("Copy = %+v", o)
	}
	if got, err := st.Stat(ctx, dropbox.RootBucket, "cp/b"); err != nil || got.Checksums.Dropbox != fake.ContentHash(a) {
		t.Errorf("after Copy: %+v, %v", got, err)
	}
	if err := st.CreateFolder(ctx, dropbox.RootBucket, "cp/dir/"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Copy(ctx, dropbox.RootBucket, "cp/c", dropbox.RootBucket, "cp/dir"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Copy of a folder: %v, want ErrNotFound", err)
	}
	if _, err := st.Copy(ctx, dropbox.RootBucket, "cp/dir", dropbox.RootBucket, "cp/a"); !errors.Is(err, provider.ErrExists) {
		t.Errorf("Copy onto a folder: %v, want ErrExists", err)
	}
}
