package fastr

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
)

// randomData is n random bytes, so a chunk out of place changes every hash.
func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkObject asserts that bucket/key holds exactly want: the bytes on
// disk, and the SHA-256 and MD5 the server reports for it.
func checkObject(t *testing.T, f *fixture, key string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(f.root, "bkt", key))
	if err != nil {
		t.Fatal(err)
	}
	if hexSHA(got) != hexSHA(want) {
		t.Fatalf("%s: %d bytes with SHA-256 %s, want %d bytes with %s", key, len(got), hexSHA(got), len(want), hexSHA(want))
	}
	o, err := f.c.Stat(context.Background(), "bkt", key)
	if err != nil {
		t.Fatal(err)
	}
	sum5 := md5.Sum(want)
	if o.Size != int64(len(want)) || o.SHA256 != hexSHA(want) || o.MD5 != hex.EncodeToString(sum5[:]) {
		t.Fatalf("%s: server reports %+v, want SHA-256 %s MD5 %x", key, o, hexSHA(want), sum5)
	}
}

// sessionFiles lists the names in a session's directory, once the
// chunks it answered are recorded.
func sessionFiles(t *testing.T, f *fixture, id string) []string {
	t.Helper()
	unlock := f.s.locks.lock(id)
	err := f.s.settleTail(id)
	unlock()
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(f.root, uploadsDir, id))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// An offset-mode session keeps one data file that grows by each chunk (no
// part files), and complete turns that file into the object with the
// checksums of the whole content.
func TestOffsetChunksWrittenOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, 3*MinPartSize+12345)
	up, err := f.c.StartUpload(ctx, CreateUploadRequest{Bucket: "bkt", Key: "dir/once.bin", ContentType: "application/x-once",
		Metadata: map[string]string{"origin": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < int64(len(data)); {
		end := min(off+MinPartSize, int64(len(data)))
		if off, err = f.c.AppendChunk(ctx, up.ID, off, data[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	names := sessionFiles(t, f, up.ID)
	var records int
	for _, n := range names {
		if _, ok := parseChunkName(n); ok {
			records++
		} else if n != dataFile && n != "session.json" {
			t.Errorf("unexpected file %q in the session", n)
		}
	}
	if records != 4 {
		t.Errorf("%d chunk records, want 4: %v", records, names)
	}
	fi, err := os.Stat(filepath.Join(f.root, uploadsDir, up.ID, dataFile))
	if err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("data file: %v, %v; want %d bytes", fi, err, len(data))
	}
	o, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)})
	if err != nil {
		t.Fatal(err)
	}
	if o.ContentType != "application/x-once" || o.Metadata["origin"] != "test" {
		t.Errorf("completed object %+v", o)
	}
	checkObject(t, f, "dir/once.bin", data)
	if _, err := os.Stat(filepath.Join(f.root, uploadsDir, up.ID)); !os.IsNotExist(err) {
		t.Errorf("session directory left after complete: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.root, tmpDir)); len(ents) != 0 {
		t.Errorf("temp files left behind: %d", len(ents))
	}
}

// Part mode: parts arrive concurrently and out of order, and a part sent
// again (first with other bytes) replaces the earlier one.
func TestPartsOutOfOrderAndResent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, 4*MinPartSize+777)
	up, err := f.c.CreateUpload(ctx, "bkt", "parts.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	part := func(n int) []byte {
		return data[(n-1)*MinPartSize : min(n*MinPartSize, len(data))]
	}
	// Part 2 first holds wrong bytes (a stale retry), then the right ones.
	wrong := randomData(t, MinPartSize)
	if _, err := f.c.UploadPart(ctx, up.ID, 2, bytes.NewReader(wrong), MinPartSize, hexSHA(wrong)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, n := range []int{5, 3, 1, 4, 2} {
		wg.Go(func() {
			if _, err := f.c.UploadPart(ctx, up.ID, n, bytes.NewReader(part(n)), int64(len(part(n))), hexSHA(part(n))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	info, err := f.c.GetUpload(ctx, up.ID)
	if err != nil || len(info.Parts) != 5 || info.Parts[1].ETag != hexSHA(part(2)) || info.Offset != int64(len(data)) {
		t.Fatalf("GetUpload = %+v, %v", info, err)
	}
	if _, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)}); err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, "parts.bin", data)
}

// A chunk that arrives twice, one after the other or both at once, is
// stored once: the second is told the offset to go on from.
func TestOffsetDuplicateChunk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, 3*MinPartSize)
	up, err := f.c.CreateUpload(ctx, "bkt", "dup.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AppendChunk(ctx, up.ID, 0, data[:MinPartSize]); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.AppendChunk(ctx, up.ID, 0, data[:MinPartSize])
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeOffsetMismatch || *e.ExpectedOffset != MinPartSize {
		t.Fatalf("chunk sent again: %v, want OffsetMismatch at %d", err, MinPartSize)
	}
	// Two writers send the second chunk at the same moment.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.c.AppendChunk(ctx, up.ID, MinPartSize, data[MinPartSize:2*MinPartSize])
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.As(err, &e) || e.Code != CodeOffsetMismatch || *e.ExpectedOffset != 2*MinPartSize:
			t.Errorf("concurrent duplicate: %v, want OffsetMismatch at %d", err, 2*MinPartSize)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of the concurrent duplicates were stored, want 1", ok)
	}
	if _, err := f.c.AppendChunk(ctx, up.ID, 2*MinPartSize, data[2*MinPartSize:]); err != nil {
		t.Fatal(err)
	}
	info, _ := f.c.GetUpload(ctx, up.ID)
	if len(info.Parts) != 3 || info.Offset != int64(len(data)) {
		t.Fatalf("session after duplicates: %+v", info)
	}
	if _, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)}); err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, "dup.bin", data)
}

// failingReader gives n bytes, then fails: a connection lost mid-chunk.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection lost")
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// A session goes on after the server restarts: a chunk torn half way
// before the restart leaves bytes past the committed offset, which the
// next chunk overwrites; the object is the sent bytes exactly, and no
// object appears under the final name before complete.
func TestOffsetResumeAfterRestart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, 3*MinPartSize+99)
	up, err := f.c.CreateUpload(ctx, "bkt", "resume.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AppendChunk(ctx, up.ID, 0, data[:MinPartSize]); err != nil {
		t.Fatal(err)
	}
	// The second chunk's connection breaks after half of it, with other
	// bytes than the real chunk: they must not end up in the object.
	junk := randomData(t, MinPartSize)
	req, err := http.NewRequest(http.MethodPatch, f.srv.URL+"/v1/uploads/"+up.ID, &failingReader{r: bytes.NewReader(junk), n: MinPartSize / 2})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = MinPartSize
	req.Header.Set(HeaderOffset, itoa(MinPartSize))
	SignRequest(req, req.URL.Path, ak, secret, UnsignedPayload, time.Now())
	if resp, err := f.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("torn chunk: %d, want a failed request", resp.StatusCode)
	}
	// Restart on the same root (Close waits for the torn request).
	f.restart()
	if _, err := f.c.Stat(ctx, "bkt", "resume.bin"); !isStatus(err, 404) {
		t.Fatalf("object visible before complete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "bkt", "resume.bin")); !os.IsNotExist(err) {
		t.Fatalf("a file under the final name before complete: %v", err)
	}
	info, err := f.c.GetUpload(ctx, up.ID)
	if err != nil || info.Offset != MinPartSize || len(info.Parts) != 1 {
		t.Fatalf("GetUpload after restart = %+v, %v", info, err)
	}
	if want := fmt.Sprintf("%08x", crc32.Checksum(data[:MinPartSize], provider.CRC32C)); info.Parts[0].ETag != want {
		t.Errorf("chunk 1 ETag %s, want its CRC32C %s", info.Parts[0].ETag, want)
	}
	for off := info.Offset; off < int64(len(data)); {
		end := min(off+MinPartSize, int64(len(data)))
		if off, err = f.c.AppendChunk(ctx, up.ID, off, data[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)}); err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, "resume.bin", data)
}

// A chunk that does not match its declared checksum is refused and leaves
// the committed offset; a chunk that was corrupted before its checksum was
// taken passes, and complete catches it with the whole object's SHA-256:
// nothing is committed and the session stays.
func TestOffsetCorruptedChunk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, 2*MinPartSize+5)
	up, err := f.c.CreateUpload(ctx, "bkt", "bad.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AppendChunk(ctx, up.ID, 0, data[:MinPartSize]); err != nil {
		t.Fatal(err)
	}
	chunk := data[MinPartSize : 2*MinPartSize]
	flipped := bytes.Clone(chunk)
	flipped[12345] ^= 0x40
	for _, tc := range []struct {
		name   string
		header string
		value  string
	}{
		{"CRC32C", HeaderChunkCRC32C, fmt.Sprintf("%08x", crc32.Checksum(chunk, provider.CRC32C))},
		{"SHA-256", HeaderChunkSHA256, hexSHA(chunk)},
	} {
		req, _ := http.NewRequest(http.MethodPatch, f.srv.URL+"/v1/uploads/"+up.ID, bytes.NewReader(flipped))
		req.Header.Set(HeaderOffset, itoa(MinPartSize))
		req.Header.Set(tc.header, tc.value)
		SignRequest(req, req.URL.Path, ak, secret, UnsignedPayload, time.Now())
		if code, body := f.send(req); code != 400 || !bytes.Contains([]byte(body), []byte(CodeBadDigest)) {
			t.Errorf("%s of the chunk, one bit flipped in transit: %d %s, want 400 %s", tc.name, code, body, CodeBadDigest)
		}
	}
	req, _ := http.NewRequest(http.MethodPatch, f.srv.URL+"/v1/uploads/"+up.ID, bytes.NewReader(chunk))
	req.Header.Set(HeaderOffset, itoa(MinPartSize))
	req.Header.Set(HeaderChunkCRC32C, "xyz")
	SignRequest(req, req.URL.Path, ak, secret, UnsignedPayload, time.Now())
	if code, body := f.send(req); code != 400 {
		t.Errorf("malformed CRC32C: %d %s, want 400", code, body)
	}
	if info, _ := f.c.GetUpload(ctx, up.ID); info.Offset != MinPartSize {
		t.Fatalf("offset after refused chunks: %d, want %d", info.Offset, MinPartSize)
	}
	// Corrupted at the sender, before the CRC: only the end-to-end check
	// can tell.
	off, err := f.c.AppendChunk(ctx, up.ID, MinPartSize, flipped)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AppendChunk(ctx, up.ID, off, data[off:]); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadDigest {
		t.Fatalf("complete over a corrupted chunk: %v, want %s", err, CodeBadDigest)
	}
	if _, err := os.Stat(filepath.Join(f.root, "bkt", "bad.bin")); !os.IsNotExist(err) {
		t.Fatalf("a refused complete left a file under the final name: %v", err)
	}
	if info, err := f.c.GetUpload(ctx, up.ID); err != nil || info.Offset != int64(len(data)) {
		t.Fatalf("session after a refused complete: %+v, %v", info, err)
	}
}

// Complete refuses a part list with a gap: an offset-mode chunk left out,
// a part that was never uploaded.
func TestCompleteMissingChunk(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, 3*MinPartSize)
	up, err := f.c.CreateUpload(ctx, "bkt", "gap.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < int64(len(data)); {
		if off, err = f.c.AppendChunk(ctx, up.ID, off, data[off:off+MinPartSize]); err != nil {
			t.Fatal(err)
		}
	}
	var e *Error
	for _, parts := range [][]PartInfo{{{Number: 1}, {Number: 3}}, {{Number: 1}, {Number: 2}, {Number: 3}, {Number: 4}}, {{Number: 2}, {Number: 3}}} {
		_, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{Parts: parts})
		if !errors.As(err, &e) || e.Code != CodeInvalidPart {
			t.Errorf("complete with parts %v: %v, want %s", parts, err, CodeInvalidPart)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "bkt", "gap.bin")); !os.IsNotExist(err) {
		t.Fatalf("a refused complete left a file under the final name: %v", err)
	}

	// Part mode: part 2 never arrived.
	pu, err := f.c.CreateUpload(ctx, "bkt", "gap2.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3} {
		p := data[(n-1)*MinPartSize : n*MinPartSize]
		if _, err := f.c.UploadPart(ctx, pu.ID, n, bytes.NewReader(p), MinPartSize, hexSHA(p)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.c.CompleteUpload(ctx, pu.ID, CompleteRequest{Parts: []PartInfo{{Number: 1}, {Number: 2}, {Number: 3}}})
	if !errors.As(err, &e) || e.Code != CodeInvalidPart {
		t.Errorf("complete without part 2: %v, want %s", err, CodeInvalidPart)
	}
	// With no list, complete takes the parts without a gap: part 1 only.
	o, err := f.c.CompleteUpload(ctx, pu.ID, CompleteRequest{})
	if err != nil || o.Size != MinPartSize {
		t.Fatalf("complete of the parts without a gap: %+v, %v", o, err)
	}
	checkObject(t, f, "gap2.bin", data[:MinPartSize])
}

// A complete repeated after a crash between publishing the object and
// removing the session answers with the object instead of failing.
func TestOffsetCompleteAgainAfterCrash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, MinPartSize+10)
	up, err := f.c.CreateUpload(ctx, "bkt", "again.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AppendChunk(ctx, up.ID, 0, data); err != nil {
		t.Fatal(err)
	}
	// Keep a copy of the session as it was before complete, then put it
	// back afterwards without its data file: what a crash right after the
	// rename leaves.
	dir := filepath.Join(f.root, uploadsDir, up.ID)
	saved := map[string][]byte{}
	for _, n := range sessionFiles(t, f, up.ID) {
		if n != dataFile {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			saved[n] = b
		}
	}
	if _, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, b := range saved {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)})
	if err != nil || o.SHA256 != hexSHA(data) {
		t.Fatalf("complete again: %+v, %v", o, err)
	}
	checkObject(t, f, "again.bin", data)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("session left after the second complete: %v", err)
	}
}

// A chunk answered but not recorded when the server stopped is not part of
// the session after the restart: the writer, told OffsetMismatch, resends
// from the recorded offset. A record after the gap (the chain a crash
// broke) does not count and is replaced.
func TestOffsetLostRecord(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := randomData(t, 4*MinPartSize)
	up, err := f.c.CreateUpload(ctx, "bkt", "lost.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < 3*MinPartSize; {
		if off, err = f.c.AppendChunk(ctx, up.ID, off, data[off:off+MinPartSize]); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range sessionFiles(t, f, up.ID) {
		if p, ok := parseChunkName(n); ok && p.Number == 2 {
			if err := os.Remove(filepath.Join(f.root, uploadsDir, up.ID, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.restart()
	_, err = f.c.AppendChunk(ctx, up.ID, 3*MinPartSize, data[3*MinPartSize:])
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeOffsetMismatch || *e.ExpectedOffset != MinPartSize {
		t.Fatalf("chunk after the lost record: %v, want OffsetMismatch at %d", err, MinPartSize)
	}
	for off := *e.ExpectedOffset; off < int64(len(data)); {
		if off, err = f.c.AppendChunk(ctx, up.ID, off, data[off:off+MinPartSize]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.c.CompleteUpload(ctx, up.ID, CompleteRequest{SHA256: hexSHA(data)}); err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, "lost.bin", data)
}
