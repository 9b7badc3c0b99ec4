package transfer_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store/sqlite"
	"github.com/amove/amove-go/transfer"
)

// TestS3ManySmallDownloads downloads many small objects from MinIO through
// the engine on the product path (SQLite journal, concurrency 16): more
// folders than a run keeps open, empty and odd-sized objects. Every file
// comes back byte for byte, mode 0644, no partial file is left, and the
// journal calls every item done; a download paused half-way and resumed
// ends the same; a second download does not replace the files unless
// asked, and with overwrite gives the same bytes again.
func TestS3ManySmallDownloads(t *testing.T) {
	env := testenv.RequireS3(t)
	ctx := context.Background()
	direct := openS3(t, env, env.Endpoint)
	bucket := newBucket(t, direct)
	const folders, perFolder = 300, 2
	want := map[string][]byte{}
	var g errgroup.Group
	g.SetLimit(16)
	for i := range folders * perFolder {
		key := fmt.Sprintf("small/d%03d/f%d", i/perFolder, i%perFolder)
		sizes := []int{0, 1, 4 << 10, 64<<10 + 7, 3000}
		b := randBytes(i, sizes[i%len(sizes)])
		want[key] = b
		g.Go(func() error {
			_, err := direct.Write(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), provider.WriteOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the shared MinIO's disk is small
		for key := range want {
			_ = direct.Delete(ctx, bucket, key)
		}
		_ = direct.DeleteBucket(ctx, bucket)
	})
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "amove.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	jr := db.Journal()
	proxy := newS3Proxy(t, env.Endpoint)
	e := transfer.New(transfer.Options{Open: accounts{"s3": openS3(t, env, proxy.URL)}.open, Journal: jr, Concurrency: 16, PartSize: 16 << 20})
	defer e.Close()
	download := func(dir string, overwrite bool) string {
		return startJob(t, e, transfer.Request{Kind: transfer.Download, LocalPath: dir + "/", Overwrite: overwrite,
			Source: transfer.Location{Account: "s3", Bucket: bucket, Key: "small/"}})
	}
	check := func(dir, id string) {
		t.Helper()
		for key, b := range want {
			p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(key, "small/")))
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("%s: %d bytes (%v), want %d identical", p, len(got), err, len(b))
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
				t.Fatalf("%s: mode %v (%v)", p, fi.Mode(), err)
			}
		}
		var n int
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return err
		})
		if err != nil || n != len(want) {
			t.Fatalf("%d files under %s (%v), want %d: a partial file left?", n, dir, err, len(want))
		}
		rec, err := jr.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range rec.Items {
			if !it.Done || !it.Verified {
				t.Fatalf("journal: item %s done %v verified %v", it.Src, it.Done, it.Verified)
			}
		}
	}

	dir := filepath.Join(t.TempDir(), "d")
	id := download(dir, false)
	if st := mustComplete(t, e, id); st.FilesDone != len(want) || !st.ChecksumVerified {
		t.Fatalf("download: %+v", st)
	}
	check(dir, id)

	// Paused half-way (each request slowed down) and resumed.
	paused := filepath.Join(t.TempDir(), "p")
	proxy.SetDelay(20 * time.Millisecond)
	id = download(paused, false)
	waitFor(t, func() bool { st, _ := e.Status(id); return st.FilesDone >= len(want)/4 })
	if err := e.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, _ := e.Status(id)
	rec, err := jr.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var done int
	for _, it := range rec.Items {
		if it.Done {
			done++
			p := filepath.Join(paused, filepath.FromSlash(strings.TrimPrefix(it.Src, "small/")))
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want[it.Src]) {
				t.Fatalf("paused: the journal calls %s done, its file has %d bytes (%v)", it.Src, len(got), err)
			}
		}
	}
	t.Logf("paused with %d of %d files done (%d journaled)", st.FilesDone, len(want), done)
	proxy.SetDelay(0)
	if err := e.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	mustComplete(t, e, id)
	check(paused, id)

	// Again into the first folder: every item finds its name taken.
	id = download(dir, false)
	if st := wait(t, e, id); st.State != transfer.Failed || st.FilesFailed != len(want) {
		t.Fatalf("download over existing files: %s, %d failed", st.State, st.FilesFailed)
	}
	rec, err = jr.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Items[0].Failed, "exists") {
		t.Fatalf("item error %q, want the file exists", rec.Items[0].Failed)
	}
	if err := os.WriteFile(filepath.Join(dir, "d000", "f1"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	id = download(dir, true)
	mustComplete(t, e, id)
	check(dir, id)
}
