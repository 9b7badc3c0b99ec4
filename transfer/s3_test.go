package transfer_test

// Tests of the engine against a real MinIO (scripts/testservers.sh), through
// the real provider/s3 driver. Faults, delays and corruption are injected by
// a loopback proxy (proxy_test.go) between the driver and MinIO, so every
// assertion about traffic is made on what the server side saw.

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/s3"
	"github.com/amove/amove-go/transfer"
)

// openS3 opens the driver against endpoint (MinIO itself or a proxy).
func openS3(t testing.TB, env testenv.S3, endpoint string) *s3.Storage {
	t.Helper()
	st, err := s3.Open(context.Background(), provider.Config{
		CloudType: provider.S3Generic,
		Endpoint:  endpoint,
		AccessKey: env.AccessKey,
		SecretKey: env.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newBucket creates a bucket with a unique name for one test.
func newBucket(t testing.TB, st *s3.Storage) string {
	t.Helper()
	name := fmt.Sprintf("t-%s-%08x", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), mrand.Uint32())
	if len(name) > 63 {
		name = name[len(name)-63:]
		name = "t" + strings.TrimLeft(name[1:], "-")
	}
	if err := st.CreateBucket(context.Background(), name, ""); err != nil {
		t.Fatal(err)
	}
	return name
}

// makeFile writes size pseudo-random bytes to path and returns their
// SHA-256. Every MiB differs (its index is stamped in), so parts sent in
// the wrong place would show.
func makeFile(t testing.TB, path string, size int64, seed uint64) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 1<<20)
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 7})
	_, _ = r.Read(block)
	h := sha256.New()
	w := io.MultiWriter(f, h)
	for i := int64(0); size > 0; i++ {
		n := min(size, int64(len(block)))
		copy(block, fmt.Sprintf("%016x:%016x", seed, i))
		if _, err := w.Write(block[:n]); err != nil {
			t.Fatal(err)
		}
		size -= n
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// objectSHA256 reads an object (directly from MinIO, not through a proxy)
// and returns its SHA-256.
func objectSHA256(t testing.TB, st provider.Storage, bucket, key string) string {
	t.Helper()
	rc, err := st.NewRangeReader(context.Background(), bucket, key, 0, -1)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fastRetries keep injected faults from stretching the tests.
func fastRetries(o transfer.Options) transfer.Options {
	o.MaxAttempts = 8
	o.RetryBase = 10 * time.Millisecond
	o.RetryMax = 200 * time.Millisecond
	return o
}

func startJob(t testing.TB, e *transfer.Engine, req transfer.Request) string {
	t.Helper()
	id, err := e.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("Start %s: %v", req.Kind, err)
	}
	return id
}

func mustComplete(t testing.TB, e *transfer.Engine, id string) transfer.Status {
	t.Helper()
	st := wait(t.(*testing.T), e, id)
	if st.State != transfer.Completed {
		t.Fatalf("job %s: %s %q (%d/%d files, %d failed)", id, st.State, st.Error, st.FilesDone, st.FilesTotal, st.FilesFailed)
	}
	return st
}

// journaledParts returns the part numbers the journal holds as finished for
// item 0 of the only job in dir, and the job's id.
func journaledParts(dir string) (string, []int, error) {
	j, err := transfer.NewFileJournal(dir)
	if err != nil {
		return "", nil, err
	}
	defer j.Close()
	ctx := context.Background()
	jobs, err := j.List(ctx, transfer.ListFilter{})
	if err != nil || len(jobs) == 0 {
		return "", nil, err
	}
	rec, err := j.Get(ctx, jobs[0].ID)
	if err != nil || len(rec.Items) == 0 {
		return jobs[0].ID, nil, err
	}
	var nums []int
	for _, p := range rec.Items[0].Parts {
		nums = append(nums, p.Number)
	}
	slices.Sort(nums)
	return rec.ID, nums, nil
}

// Environment of the crash child (TestCrashChild).
const (
	envCrashChild    = "AMOVE_CRASH_CHILD"
	envCrashJournal  = "AMOVE_CRASH_JOURNAL"
	envCrashFile     = "AMOVE_CRASH_FILE"
	envCrashEndpoint = "AMOVE_CRASH_ENDPOINT"
	envCrashBucket   = "AMOVE_CRASH_BUCKET"
)

const crashPartSize = 16 << 20

// TestCrashChild is the process TestS3CrashResume kills: it starts the
// upload and waits to be killed. Run on its own it skips.
func TestCrashChild(t *testing.T) {
	if os.Getenv(envCrashChild) != "1" {
		t.Skip("only runs as the child of TestS3CrashResume")
	}
	env := testenv.RequireS3(t)
	st := openS3(t, env, os.Getenv(envCrashEndpoint))
	jr, err := transfer.NewFileJournal(os.Getenv(envCrashJournal))
	if err != nil {
		t.Fatal(err)
	}
	e := transfer.New(transfer.Options{Open: accounts{"s3": st}.open, Journal: jr, Concurrency: 2, PartSize: crashPartSize})
	startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: os.Getenv(envCrashFile),
		Dest: transfer.Location{Account: "s3", Bucket: os.Getenv(envCrashBucket), Key: "big"}})
	time.Sleep(10 * time.Minute) // the parent kills us long before
	t.Fatal("not killed")
}

// TestS3CrashResume: a child process uploading 256 MiB is killed with
// SIGKILL; a new engine resumes from the file journal, sends no part the
// journal held as finished, and the object's SHA-256 matches.
func TestS3CrashResume(t *testing.T) {
	env := testenv.RequireS3(t)
	direct := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, direct)
	proxy := newS3Proxy(t, env.Endpoint)
	// Slow parts down so the kill lands mid-way whatever the machine.
	proxy.SetDelay(300 * time.Millisecond)

	dir := t.TempDir()
	file := filepath.Join(dir, "big")
	const size = 256 << 20
	want := makeFile(t, file, size, 1)
	jdir := filepath.Join(dir, "journal")

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envCrashChild+"=1", envCrashJournal+"="+jdir, envCrashFile+"="+file,
		envCrashEndpoint+"="+proxy.URL, envCrashBucket+"="+bucket)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, parts, _ := journaledParts(jdir)
		if len(parts) >= 3 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("child exited before the kill: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("child finished no 3 parts in 2 minutes\n%s", out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatal("child exited cleanly after SIGKILL")
	}
	// The child is gone: the journal is final, and so are its requests.
	id, finished, err := journaledParts(jdir)
	if err != nil {
		t.Fatal(err)
	}
	const nparts = size / crashPartSize
	if len(finished) >= nparts {
		t.Fatalf("the child finished all %d parts before the kill; nothing to resume", nparts)
	}
	sentBefore := proxy.partPuts(0)
	mark := proxy.Len()
	proxy.SetDelay(0)

	st := openS3(t, env, proxy.URL)
	jr, err := transfer.NewFileJournal(jdir)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	e := transfer.New(transfer.Options{Open: accounts{"s3": st}.open, Journal: jr, Concurrency: 4, PartSize: crashPartSize})
	defer e.Close()
	if err := e.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustComplete(t, e, id)

	resent := proxy.partPuts(mark)
	t.Logf("parts: %d finished in the journal at the kill %v, %d PUT before the kill, %d PUT after resume %v",
		len(finished), finished, len(sentBefore), len(resent), resent)
	for _, n := range resent {
		if slices.Contains(finished, n) {
			t.Errorf("part %d was journaled as finished before the kill but sent again", n)
		}
	}
	if len(resent) > nparts-len(finished) {
		t.Errorf("resume sent %d parts; at most %d were missing", len(resent), nparts-len(finished))
	}
	if got := objectSHA256(t, direct, bucket, "big"); got != want {
		t.Errorf("object SHA-256 %s, file %s", got, want)
	}
}

// TestS3Faults moves 1 GiB (512 MiB up, the same back down) of mixed sizes
// through a proxy that answers 5% of requests with 500, 503 SlowDown or a
// reset connection, and checks every byte.
func TestS3Faults(t *testing.T) {
	env := testenv.RequireS3(t)
	direct := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, direct)
	proxy := newS3Proxy(t, env.Endpoint)
	st := openS3(t, env, proxy.URL)
	e := transfer.New(fastRetries(transfer.Options{Open: accounts{"s3": st}.open, Concurrency: 16, PartSize: 32 << 20}))
	defer e.Close()

	src := t.TempDir()
	sums := map[string]string{}
	var total int64
	add := func(rel string, size int64) {
		sums[rel] = makeFile(t, filepath.Join(src, filepath.FromSlash(rel)), size, uint64(len(sums)+10))
		total += size
	}
	add("big/a.bin", 200<<20)
	add("big/b.bin", 100<<20+12345)
	for i := range 150 {
		add(fmt.Sprintf("mid/%03d.bin", i), 1<<20+int64(i)*1000)
	}
	for i := range 2000 {
		add(fmt.Sprintf("small/%04d.bin", i), int64(i%64)*1024+17)
	}
	add("empty", 0)
	add("big/c.bin", 512<<20-total) // tops the tree up to exactly 512 MiB
	if total != 512<<20 {
		t.Fatalf("dataset is %d bytes", total)
	}
	proxy.SetFaultRate(0.05)

	t0 := time.Now()
	id := startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: src, Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "tree/"}})
	mustComplete(t, e, id)
	up := time.Since(t0)
	for rel, sum := range sums {
		if rel == "big/a.bin" || rel == "big/b.bin" || rel == "big/c.bin" || rel == "mid/000.bin" {
			if got := objectSHA256(t, direct, bucket, "tree/"+rel); got != sum {
				t.Errorf("uploaded %s: SHA-256 %s, want %s", rel, got, sum)
			}
		}
	}
	// Every small object is single-part: its ETag is the MD5 of the bytes.
	checkETags(t, direct, bucket, "tree/", src)

	t1 := time.Now()
	dst := t.TempDir()
	id = startJob(t, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "s3", Bucket: bucket, Key: "tree/"}, LocalPath: dst})
	mustComplete(t, e, id)
	down := time.Since(t1)
	for rel, sum := range sums {
		if got := fileSHA256(t, filepath.Join(dst, filepath.FromSlash(rel))); got != sum {
			t.Errorf("downloaded %s: SHA-256 %s, want %s", rel, got, sum)
		}
	}
	var faults = map[string]int{}
	entries := proxy.Entries(0)
	for _, en := range entries {
		if en.Fault != "" {
			faults[en.Fault]++
		}
	}
	t.Logf("1 GiB through the faulty proxy: upload %v, download %v, %d requests, faults %v", up.Round(time.Millisecond), down.Round(time.Millisecond), len(entries), faults)
	if faults["500"] == 0 || faults["503"] == 0 || faults["reset"] == 0 {
		t.Errorf("not every fault kind was injected: %v", faults)
	}
}

// checkETags compares the ETag of every single-part object under prefix with
// the MD5 of the local file it came from.
func checkETags(t *testing.T, st provider.Storage, bucket, prefix, dir string) {
	t.Helper()
	n := 0
	for o, err := range provider.Walk(context.Background(), st, bucket, provider.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		if o.Checksums.MD5 == "" {
			continue // multipart: checked by content elsewhere
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(o.Key, prefix))))
		if err != nil {
			t.Fatal(err)
		}
		if sum := md5.Sum(b); hex.EncodeToString(sum[:]) != o.Checksums.MD5 {
			t.Errorf("%s: MD5 %s, local %x", o.Key, o.Checksums.MD5, sum)
		}
		n++
	}
	if n == 0 {
		t.Error("no single-part objects checked")
	}
}

// TestS3ByteFlip: a proxy flips one byte in the body of one part upload, and
// in one download. The job must never complete with wrong bytes.
func TestS3ByteFlip(t *testing.T) {
	env := testenv.RequireS3(t)
	direct := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, direct)
	proxy := newS3Proxy(t, env.Endpoint)
	st := openS3(t, env, proxy.URL)
	e := transfer.New(fastRetries(transfer.Options{Open: accounts{"s3": st}.open, Concurrency: 4, PartSize: 8 << 20}))
	defer e.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	want := makeFile(t, file, 40<<20, 3)

	proxy.FlipNextPartUpload()
	id := startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: file, Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "f"}})
	st1 := wait(t, e, id)
	if up, _ := proxy.Flips(); up != 1 {
		t.Fatalf("the proxy flipped %d bytes, want 1", up)
	}
	var rejected []int
	for _, en := range proxy.Entries(0) {
		if en.Flipped {
			rejected = append(rejected, en.Status)
		}
	}
	t.Logf("upload with a flipped byte: %s %q; server answered the flipped request with %v", st1.State, st1.Error, rejected)
	switch st1.State {
	case transfer.Completed:
		if got := objectSHA256(t, direct, bucket, "f"); got != want {
			t.Fatalf("upload completed with wrong bytes: %s, want %s", got, want)
		}
	case transfer.Failed:
	default:
		t.Fatalf("upload ended %s", st1.State)
	}
	if len(rejected) != 1 || rejected[0] == http.StatusOK {
		t.Errorf("the server accepted the flipped part: %v", rejected)
	}

	// A flipped byte in a download of a single-part object (whose ETag is
	// its MD5).
	small := filepath.Join(dir, "small")
	wantSmall := makeFile(t, small, 3<<20, 4)
	if _, err := direct.Write(context.Background(), bucket, "small", mustOpen(t, small), 3<<20, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	proxy.FlipNextDownload()
	out := filepath.Join(dir, "small.out")
	id = startJob(t, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "s3", Bucket: bucket, Key: "small"}, LocalPath: out})
	st2 := wait(t, e, id)
	if _, down := proxy.Flips(); down != 1 {
		t.Fatalf("the proxy flipped %d download bytes, want 1", down)
	}
	t.Logf("download with a flipped byte: %s %q", st2.State, st2.Error)
	switch st2.State {
	case transfer.Completed:
		if got := fileSHA256(t, out); got != wantSmall {
			t.Fatalf("download completed with wrong bytes")
		}
	case transfer.Failed:
		if _, err := os.Stat(out); err == nil {
			t.Error("a failed download left a file in place")
		}
	default:
		t.Fatalf("download ended %s", st2.State)
	}

	// A flipped byte in a ranged download of the multipart object: the
	// ranges are cut along its parts, so their MD5s must give its ETag.
	if _, down := proxy.Flips(); down != 1 {
		t.Fatal("unexpected flips before the multipart download")
	}
	if st1.State != transfer.Completed {
		return
	}
	proxy.FlipNextDownload()
	big := filepath.Join(dir, "f.out")
	id = startJob(t, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "s3", Bucket: bucket, Key: "f"}, LocalPath: big})
	st3 := wait(t, e, id)
	if _, down := proxy.Flips(); down != 2 {
		t.Fatalf("the proxy flipped %d download bytes, want 2", down)
	}
	if st3.State != transfer.Failed || !strings.Contains(st3.Error, "checksum") {
		t.Fatalf("multipart download with a flipped byte ended %s %q, want failed on the checksum", st3.State, st3.Error)
	}
	if _, err := os.Stat(big); err == nil {
		t.Error("a failed download left a file in place")
	}
	// Resuming starts the damaged item over and now gets it right.
	if err := e.Resume(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if st := wait(t, e, id); st.State != transfer.Completed || !st.ChecksumVerified {
		t.Fatalf("resumed download: %+v", st)
	}
	if got := fileSHA256(t, big); got != want {
		t.Fatal("resumed download differs")
	}
}

func mustOpen(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestS3PauseResumeCancel checks pause, resume and cancel on the server
// side: pause stops traffic within a second, resume sends only the parts
// the journal lacks, cancel aborts the multipart upload (none left listed)
// and removes partial local files.
func TestS3PauseResumeCancel(t *testing.T) {
	env := testenv.RequireS3(t)
	direct := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, direct)
	proxy := newS3Proxy(t, env.Endpoint)
	proxy.SetDelay(150 * time.Millisecond)
	st := openS3(t, env, proxy.URL)
	jr := transfer.NewMemJournal()
	e := transfer.New(transfer.Options{Open: accounts{"s3": st}.open, Journal: jr, Concurrency: 2, PartSize: 8 << 20})
	defer e.Close()
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	const size, nparts = 96 << 20, 12
	want := makeFile(t, file, size, 5)

	id := startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: file, Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "f"}})
	waitFor(t, func() bool { return len(proxy.partPuts(0)) >= 3 })
	pauseAt := time.Now()
	if err := e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	for _, en := range proxy.Entries(0) {
		if en.Start.After(pauseAt.Add(time.Second)) || en.End.After(pauseAt.Add(time.Second)) {
			t.Errorf("traffic more than a second after Pause: %s %s part %d at +%v..+%v",
				en.Method, en.Path, en.Part, en.Start.Sub(pauseAt), en.End.Sub(pauseAt))
		}
	}
	rec, err := jr.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var finished []int
	for _, p := range rec.Items[0].Parts {
		finished = append(finished, p.Number)
	}
	ups, err := direct.ListUploads(ctx, bucket, "f")
	if err != nil || len(ups) != 1 {
		t.Fatalf("paused: %d multipart uploads listed (%v), want 1", len(ups), err)
	}
	stored, err := direct.ListParts(ctx, ups[0])
	if err != nil || len(stored) < len(finished) {
		t.Fatalf("paused: server holds %d parts (%v), journal %d", len(stored), err, len(finished))
	}
	mark := proxy.Len()
	proxy.SetDelay(0)
	if err := e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	mustComplete(t, e, id)
	resent := proxy.partPuts(mark)
	t.Logf("pause after %d journaled parts %v; resume sent %v", len(finished), finished, resent)
	for _, n := range resent {
		if slices.Contains(finished, n) {
			t.Errorf("resume sent part %d again", n)
		}
	}
	if len(resent) != nparts-len(finished) {
		t.Errorf("resume sent %d parts, want %d", len(resent), nparts-len(finished))
	}
	if got := objectSHA256(t, direct, bucket, "f"); got != want {
		t.Errorf("resumed object differs")
	}

	// Cancel of an upload: the multipart upload is aborted on the server.
	proxy.SetDelay(150 * time.Millisecond)
	mark = proxy.Len()
	id = startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: file, Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "g"}})
	waitFor(t, func() bool { return len(proxy.partPuts(mark)) >= 2 })
	if err := e.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.Status(id); s.State != transfer.Cancelled {
		t.Errorf("after Cancel: %s", s.State)
	}
	if ups, err := direct.ListUploads(ctx, bucket, "g"); err != nil || len(ups) != 0 {
		t.Errorf("cancel left %d multipart uploads listed (%v)", len(ups), err)
	}
	if _, err := direct.Stat(ctx, bucket, "g"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("cancelled object exists: %v", err)
	}

	// Cancel of a download: the partial local file is removed.
	out := t.TempDir()
	mark = proxy.Len()
	id = startJob(t, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "s3", Bucket: bucket, Key: "f"}, LocalPath: filepath.Join(out, "f")})
	waitFor(t, func() bool {
		n := 0
		for _, en := range proxy.Entries(mark) {
			if en.Method == http.MethodGet && en.Status == http.StatusPartialContent {
				n++
			}
		}
		return n >= 2
	})
	if err := e.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Errorf("cancelled download left %d files: %v", len(left), left[0].Name())
	}
}

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in a minute")
		}
	}
}

// TestS3Copy copies S3 -> memory -> S3, and S3 -> S3 between two buckets,
// both server-side (same account, large and 10,000 small objects) and
// through the client (two accounts, large objects).
func TestS3Copy(t *testing.T) {
	env := testenv.RequireS3(t)
	direct := openS3(t, env, env.Endpoint)
	other := openS3(t, env, env.Endpoint) // a second account on the same server
	src, back, b2, b3 := newBucket(t, direct), newBucket(t, direct), newBucket(t, direct), newBucket(t, direct)
	mem := newMemory(t, "m")
	e := transfer.New(transfer.Options{Open: accounts{"s3": direct, "s3b": other, "mem": mem}.open, Concurrency: 32, PartSize: 8 << 20})
	defer e.Close()
	ctx := context.Background()

	// Seed: two multipart objects and 10,000 small ones, uploaded by the
	// engine from local files.
	dir := t.TempDir()
	sums := map[string]string{}
	sums["large/a"] = makeFile(t, filepath.Join(dir, "large", "a"), 50<<20+3, 21)
	sums["large/b"] = makeFile(t, filepath.Join(dir, "large", "b"), 9<<20, 22)
	small := make([]byte, 64<<10)
	rnd := mrand.NewChaCha8([32]byte{9})
	_, _ = rnd.Read(small)
	for i := range 10000 {
		rel := fmt.Sprintf("small/%02d/%04d", i/100, i)
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b := slices.Clone(small[i%1000 : i%1000+1+i%3000])
		copy(b, fmt.Sprint(i)) // every object differs
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		sums[rel] = hex.EncodeToString(h[:])
	}
	t0 := time.Now()
	mustComplete(t, e, startJob(t, e, transfer.Request{Kind: transfer.Upload, LocalPath: dir, Dest: transfer.Location{Account: "s3", Bucket: src, Key: "d/"}}))
	t.Logf("seeded 10,002 objects in %v", time.Since(t0).Round(time.Millisecond))

	steps := []struct {
		name     string
		from, to transfer.Location
	}{
		{"S3 -> memory", transfer.Location{Account: "s3", Bucket: src, Key: "d/"}, transfer.Location{Account: "mem", Bucket: "m", Key: "d/"}},
		{"memory -> S3", transfer.Location{Account: "mem", Bucket: "m", Key: "d/"}, transfer.Location{Account: "s3", Bucket: back, Key: "d/"}},
		{"S3 -> S3 server-side", transfer.Location{Account: "s3", Bucket: src, Key: "d/"}, transfer.Location{Account: "s3", Bucket: b2, Key: "d/"}},
		// Two accounts: through the client, part by part. Only the large
		// objects: the small ones take the same path as S3 -> memory ->
		// S3, and 10,000 more requests would only add minutes under -race.
		{"S3 -> S3 two accounts", transfer.Location{Account: "s3", Bucket: src, Key: "d/large/"}, transfer.Location{Account: "s3b", Bucket: b3, Key: "d/large/"}},
	}
	for _, s := range steps {
		t0 := time.Now()
		mustComplete(t, e, startJob(t, e, transfer.Request{Kind: transfer.Copy, Source: s.from, Dest: s.to}))
		t.Logf("%s: %v", s.name, time.Since(t0).Round(time.Millisecond))
	}
	// Memory: compare every object's bytes.
	for rel, sum := range sums {
		if got := objectSHA256(t, mem, "m", "d/"+rel); got != sum {
			t.Fatalf("memory d/%s differs", rel)
		}
	}
	// S3 buckets: the multipart objects by content, the small ones by the
	// MD5 ETag against the local files (reading 30,000 objects back would
	// only repeat what the ETag proves).
	for _, b := range []string{back, b2, b3} {
		for _, rel := range []string{"large/a", "large/b"} {
			if got := objectSHA256(t, direct, b, "d/"+rel); got != sums[rel] {
				t.Errorf("%s/d/%s differs", b, rel)
			}
		}
		if b == b3 {
			continue
		}
		checkETags(t, direct, b, "d/", dir)
		n := 0
		for _, err := range provider.Walk(ctx, direct, b, provider.ListOptions{Prefix: "d/"}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != len(sums) {
			t.Errorf("bucket %s holds %d objects, want %d", b, n, len(sums))
		}
	}
}
