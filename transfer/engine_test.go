package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/store/sqlite"
	"github.com/amove/amove-go/transfer"
)

// accounts resolves account names to storages, as the amove client does.
type accounts map[string]provider.Storage

func (a accounts) open(ctx context.Context, id string) (provider.Storage, error) {
	s, ok := a[id]
	if !ok {
		return nil, fmt.Errorf("%w: account %s", provider.ErrNotFound, id)
	}
	return s, nil
}

func newMemory(t testing.TB, buckets ...string) *memory.Storage {
	t.Helper()
	s := memory.New(memory.Options{})
	for _, b := range buckets {
		if err := s.CreateBucket(context.Background(), b, ""); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func randBytes(seed, n int) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(n), byte(n >> 8)})
	_, _ = r.Read(b)
	return b
}

// writeTree makes files of the given sizes under dir and returns their
// contents by relative path.
func writeTree(t *testing.T, dir string, sizes map[string]int) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	i := 0
	for rel, n := range sizes {
		i++
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := randBytes(i, n)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out[rel] = data
	}
	return out
}

func readObject(t *testing.T, s provider.Storage, bucket, key string) []byte {
	t.Helper()
	rc, err := s.NewRangeReader(context.Background(), bucket, key, 0, -1)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wait(t *testing.T, e *transfer.Engine, id string) transfer.Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := e.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

var treeSizes = map[string]int{
	"a.txt":           10,
	"empty":           0,
	"dir/b.bin":       300_000,
	"dir/sub/c.bin":   5<<20 + 7,  // just over one 5 MiB part
	"dir/sub/big.bin": 17<<20 + 3, // four parts
	"ü n i/d.bin":     1 << 20,
}

func TestUploadDownloadTree(t *testing.T) {
	mem := newMemory(t, "b")
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open, PartSize: 5 << 20, Concurrency: 8})
	defer e.Close()
	ctx := context.Background()
	src := t.TempDir()
	files := writeTree(t, src, treeSizes)

	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: src, Dest: transfer.Location{Account: "m", Bucket: "b", Key: "up/"}})
	if err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Completed || st.FilesDone != len(files) || st.BytesDone != st.BytesTotal {
		t.Fatalf("upload status %+v", st)
	}
	if !st.ChecksumVerified {
		t.Error("upload to memory not checksum-verified")
	}
	for rel, data := range files {
		if got := readObject(t, mem, "b", "up/"+rel); !bytes.Equal(got, data) {
			t.Errorf("object %s differs", rel)
		}
	}
	if ups, _ := mem.ListUploads(ctx, "b", "up/dir/sub/big.bin"); len(ups) != 0 {
		t.Errorf("multipart uploads left: %v", ups)
	}

	dst := t.TempDir()
	id, err = e.Start(ctx, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "m", Bucket: "b", Key: "up/"}, LocalPath: dst})
	if err != nil {
		t.Fatal(err)
	}
	st = wait(t, e, id)
	if st.State != transfer.Completed || st.FilesDone != len(files) {
		t.Fatalf("download status %+v", st)
	}
	if !st.ChecksumVerified {
		t.Error("download from memory not checksum-verified")
	}
	for rel, data := range files {
		got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(rel)))
		if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
			t.Errorf("downloaded %s differs (%v)", rel, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dst, "*", "*.partial"))
	if len(left) != 0 {
		t.Errorf("partial files left: %v", left)
	}
}

func TestCopyAcrossAndWithin(t *testing.T) {
	a, b := newMemory(t, "src", "dst2"), newMemory(t, "dst")
	ctx := context.Background()
	objs := map[string][]byte{}
	for i, n := range []int{0, 1, 4096, 6 << 20, 11<<20 + 1} {
		key := fmt.Sprintf("p/o%d", i)
		objs[key] = randBytes(i, n)
		if _, err := a.Write(ctx, "src", key, bytes.NewReader(objs[key]), int64(n), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := transfer.New(transfer.Options{Open: accounts{"a": a, "b": b}.open, PartSize: 5 << 20})
	defer e.Close()
	for _, dest := range []transfer.Location{{Account: "b", Bucket: "dst", Key: "copied/"}, {Account: "a", Bucket: "dst2", Key: "copied/"}} {
		id, err := e.Start(ctx, transfer.Request{Kind: transfer.Copy, Source: transfer.Location{Account: "a", Bucket: "src", Key: "p/"}, Dest: dest})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, id)
		if st.State != transfer.Completed || st.FilesDone != len(objs) {
			t.Fatalf("copy to %v: %+v", dest, st)
		}
		store := map[string]provider.Storage{"a": a, "b": b}[dest.Account]
		for key, data := range objs {
			if got := readObject(t, store, dest.Bucket, "copied/"+key[2:]); !bytes.Equal(got, data) {
				t.Errorf("copy %s to %v differs", key, dest)
			}
		}
	}
}

// slowStorage delays every part so a test can act while a job runs.
type slowStorage struct {
	*memory.Storage
	delay time.Duration
	parts chan int
}

func (s *slowStorage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return provider.Part{}, ctx.Err()
	}
	p, err := s.Storage.UploadPart(ctx, u, n, r, size)
	if err == nil && s.parts != nil {
		s.parts <- n
	}
	return p, err
}

func TestPauseResumeCancel(t *testing.T) {
	mem := newMemory(t, "b")
	slow := &slowStorage{Storage: mem, delay: 50 * time.Millisecond, parts: make(chan int, 100)}
	e := transfer.New(transfer.Options{Open: accounts{"m": slow}.open, PartSize: 5 << 20, Concurrency: 2})
	defer e.Close()
	ctx := context.Background()
	dir := t.TempDir()
	files := writeTree(t, dir, map[string]int{"big": 60 << 20})
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "big"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "big"}})
	if err != nil {
		t.Fatal(err)
	}
	<-slow.parts
	<-slow.parts
	if err := e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, _ := e.Status(id)
	if st.State != transfer.Paused {
		t.Fatalf("after Pause: %s", st.State)
	}
	before := len(slow.parts)
	time.Sleep(200 * time.Millisecond)
	if len(slow.parts) != before {
		t.Error("parts kept arriving while paused")
	}
	ups, _ := mem.ListUploads(ctx, "b", "big")
	if len(ups) != 1 {
		t.Fatalf("paused upload: %d multipart uploads, want 1", len(ups))
	}
	parts, _ := mem.ListParts(ctx, ups[0])
	if len(parts) < 2 {
		t.Fatalf("paused with %d parts stored", len(parts))
	}
	if err := e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range slow.parts {
		}
	}()
	st = wait(t, e, id)
	if st.State != transfer.Completed {
		t.Fatalf("after resume: %+v", st)
	}
	if got := readObject(t, mem, "b", "big"); !bytes.Equal(got, files["big"]) {
		t.Error("resumed upload differs")
	}
	if err := e.Pause(ctx, id); !errors.Is(err, transfer.ErrBadState) {
		t.Errorf("Pause of a completed job: %v", err)
	}

	// Cancel aborts the multipart upload.
	id, err = e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "big"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "big2"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := e.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, _ = e.Status(id)
	if st.State != transfer.Cancelled {
		t.Errorf("after Cancel: %s", st.State)
	}
	if ups, _ := mem.ListUploads(ctx, "b", "big2"); len(ups) != 0 {
		t.Errorf("cancel left %d multipart uploads", len(ups))
	}
	if _, err := mem.Stat(ctx, "b", "big2"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("cancelled object exists: %v", err)
	}
	if _, err := e.Status("nope"); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("unknown job: %v", err)
	}
}

func TestRestoreFromFileJournal(t *testing.T) {
	jdir := t.TempDir()
	testRestore(t, func(t *testing.T) transfer.Journal {
		j, err := transfer.NewFileJournal(jdir)
		if err != nil {
			t.Fatal(err)
		}
		return j
	})
}

// TestRestoreFromSQLiteJournal: the same with the store's journal, as the
// agent runs it.
func TestRestoreFromSQLiteJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amove.db")
	testRestore(t, func(t *testing.T) transfer.Journal {
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s.Journal()
	})
}

// testRestore stands for an agent restart: open returns a journal on the
// same storage at every call.
func testRestore(t *testing.T, open func(t *testing.T) transfer.Journal) {
	mem := newMemory(t, "b")
	slow := &slowStorage{Storage: mem, delay: 30 * time.Millisecond, parts: make(chan int, 100)}
	j1 := open(t)
	e1 := transfer.New(transfer.Options{Open: accounts{"m": slow}.open, PartSize: 5 << 20, Concurrency: 1, Journal: j1})
	ctx := context.Background()
	dir := t.TempDir()
	files := writeTree(t, dir, map[string]int{"f": 40 << 20})
	id, err := e1.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "f"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "f"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		<-slow.parts
	}
	e1.Close() // like a restart: the job stays "running" in the journal
	sent := 3 + len(slow.parts)
	go func() {
		for range slow.parts {
		}
	}()
	j2 := open(t)
	counting := &countingStorage{slowStorage: slow}
	e2 := transfer.New(transfer.Options{Open: accounts{"m": counting}.open, PartSize: 5 << 20, Journal: j2})
	defer e2.Close()
	if err := e2.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	st := wait(t, e2, id)
	if st.State != transfer.Completed {
		t.Fatalf("restored job: %+v", st)
	}
	if got := readObject(t, mem, "b", "f"); !bytes.Equal(got, files["f"]) {
		t.Error("restored upload differs")
	}
	if n := counting.n.Load(); int(n) > 8-sent+1 || n == 0 {
		t.Errorf("restored job sent %d parts; %d of 8 were done before the restart", n, sent)
	}
}

type countingStorage struct {
	*slowStorage
	n atomicInt
}

func (c *countingStorage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	c.n.Add(1)
	return c.slowStorage.UploadPart(ctx, u, n, r, size)
}

func TestBadRequests(t *testing.T) {
	mem := newMemory(t, "b")
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open})
	defer e.Close()
	ctx := context.Background()
	cases := []transfer.Request{
		{Kind: "move"},
		{Kind: transfer.Upload, LocalPath: "/does/not/exist", Dest: transfer.Location{Account: "m", Bucket: "b"}},
		{Kind: transfer.Upload, LocalPath: t.TempDir(), Dest: transfer.Location{Account: "", Bucket: "b"}},
		{Kind: transfer.Download, Source: transfer.Location{Account: "m", Bucket: "b", Key: "missing"}, LocalPath: t.TempDir()},
		{Kind: transfer.Copy, Source: transfer.Location{Account: "m", Bucket: "nobucket", Key: "x/"}, Dest: transfer.Location{Account: "m", Bucket: "b"}},
		{Kind: transfer.Upload, LocalPath: t.TempDir(), PartSize: -1, Dest: transfer.Location{Account: "m", Bucket: "b"}},
	}
	for _, req := range cases {
		if _, err := e.Start(ctx, req); err == nil {
			t.Errorf("Start(%+v) succeeded", req)
		}
	}
}

func TestDownloadRejectsTraversal(t *testing.T) {
	mem := newMemory(t, "b")
	ctx := context.Background()
	for _, k := range []string{"p/ok.txt", "p/../../escape.txt"} {
		if _, err := mem.Write(ctx, "b", k, bytes.NewReader([]byte(k)), int64(len(k)), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open})
	defer e.Close()
	root := filepath.Join(t.TempDir(), "a", "b")
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "m", Bucket: "b", Key: "p/"}, LocalPath: root})
	if err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Failed || st.FilesDone != 1 || st.FilesFailed != 1 {
		t.Errorf("status %+v: want the safe file done and the escaping one failed", st)
	}
	if _, err := os.Stat(filepath.Join(root, "..", "..", "escape.txt")); err == nil {
		t.Error("a key escaped the download directory")
	}
}

func TestProgressEvents(t *testing.T) {
	mem := newMemory(t, "b")
	slow := &slowStorage{Storage: mem, delay: 20 * time.Millisecond}
	e := transfer.New(transfer.Options{Open: accounts{"m": slow}.open, PartSize: 5 << 20, Concurrency: 2})
	defer e.Close()
	events, stop := e.Subscribe(1000)
	dir := t.TempDir()
	writeTree(t, dir, map[string]int{"f": 50 << 20})
	id, err := e.Start(context.Background(), transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, "f"), Dest: transfer.Location{Account: "m", Bucket: "b", Key: "f"}})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, e, id)
	stop()
	var states []transfer.State
	var progress []transfer.Status
	for ev := range events {
		switch ev.Type {
		case transfer.EventState:
			states = append(states, ev.Status.State)
		case transfer.EventProgress:
			progress = append(progress, ev.Status)
		}
	}
	if len(states) < 2 || states[0] != transfer.Running || states[len(states)-1] != transfer.Completed {
		t.Errorf("state events %v", states)
	}
	if len(progress) == 0 {
		t.Fatal("no progress events")
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].BytesDone < progress[i-1].BytesDone {
			t.Errorf("progress went backwards: %d after %d", progress[i].BytesDone, progress[i-1].BytesDone)
		}
	}
	if progress[0].BytesTotal != 50<<20 {
		t.Errorf("BytesTotal %d", progress[0].BytesTotal)
	}
}
