package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestLocalFileRules performs, through the engine, the local-file attacks
// of the "Security" issue: the agent's own files (here a key file and a
// config folder) are never read for an upload or written by a download,
// whatever name, symlink or hard link reaches them; a download never
// follows a symlink at its target nor replaces a file unless asked.
func TestLocalFileRules(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	cfg := filepath.Join(home, ".config", "amove")
	key := filepath.Join(cfg, "secret.key")
	keyBytes := []byte("the master key, 32 bytes long!!!")
	other := filepath.Join(home, "elsewhere.key") // a protected file outside cfg
	for _, p := range []string{key, other} {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, keyBytes, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	work := filepath.Join(home, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	mem := newMemory(t, "b")
	for _, k := range []string{"obj", "tree/a.txt", "tree/.config/amove/secret.key", "tree/.config/amove/new"} {
		if _, err := mem.Write(ctx, "b", k, bytes.NewReader([]byte("object "+k)), int64(len("object "+k)), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open, Protected: []string{cfg, other}})
	defer e.Close()
	link := func(name, target string) string {
		p := filepath.Join(work, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hard := filepath.Join(work, "hard.key")
	if err := os.Link(other, hard); err != nil {
		t.Fatal(err)
	}
	treeWithHardLink := filepath.Join(work, "tree-hard")
	if err := os.Mkdir(treeWithHardLink, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(key, filepath.Join(treeWithHardLink, "innocent.txt")); err != nil {
		t.Fatal(err)
	}
	upload := func(p string) transfer.Request {
		return transfer.Request{Kind: transfer.Upload, LocalPath: p, Dest: transfer.Location{Account: "m", Bucket: "b", Key: "up/"}}
	}
	refused := []struct {
		name string
		req  transfer.Request
		want error
	}{
		{"upload of the key file", upload(key), transfer.ErrProtected},
		{"upload of the config folder", upload(cfg), transfer.ErrProtected},
		{"upload of a folder holding the config folder", upload(home), transfer.ErrProtected},
		{"upload through a symlink to the key", upload(link("key-link", key)), transfer.ErrProtected},
		{"upload through a symlinked folder", upload(filepath.Join(link("cfg-link", cfg), "secret.key")), transfer.ErrProtected},
		{"upload through '..'", upload(filepath.Join(work, "..", ".config", "amove", "secret.key")), transfer.ErrProtected},
		{"upload of a hard link to a protected file", upload(hard), transfer.ErrProtected},
		{"upload of a tree holding a hard link to the key", upload(treeWithHardLink), transfer.ErrProtected},
		{"download over the key file", transfer.Request{Kind: transfer.Download, LocalPath: key, Overwrite: true,
			Source: transfer.Location{Account: "m", Bucket: "b", Key: "obj"}}, transfer.ErrProtected},
		{"download into the config folder", transfer.Request{Kind: transfer.Download, LocalPath: cfg,
			Source: transfer.Location{Account: "m", Bucket: "b", Key: "obj"}}, transfer.ErrProtected},
		{"download through a symlink to the config folder", transfer.Request{Kind: transfer.Download, LocalPath: filepath.Join(work, "cfg-link", "x"),
			Source: transfer.Location{Account: "m", Bucket: "b", Key: "obj"}}, transfer.ErrProtected},
		{"download over an existing file", transfer.Request{Kind: transfer.Download, LocalPath: filepath.Join(work, "hard.key"),
			Source: transfer.Location{Account: "m", Bucket: "b", Key: "obj"}}, transfer.ErrExists},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			id, err := e.Start(ctx, tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start = %q, %v; want %v", id, err, tc.want)
			}
		})
	}
	if objs := listKeys(t, mem, "b", "up/"); len(objs) != 0 {
		t.Fatalf("refused uploads wrote %v", objs)
	}

	// A download of a prefix into the home folder: the items that would
	// land in the config folder fail, the others arrive.
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Download, LocalPath: home, Source: transfer.Location{Account: "m", Bucket: "b", Key: "tree/"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, e, id); st.State != transfer.Failed || st.FilesDone != 1 || st.FilesFailed != 2 {
		t.Fatalf("prefix download into home: %+v", st)
	}
	if got, _ := os.ReadFile(key); !bytes.Equal(got, keyBytes) {
		t.Fatal("the key file was overwritten")
	}
	if _, err := os.Stat(filepath.Join(cfg, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a file was written into the config folder: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(home, "a.txt")); string(got) != "object tree/a.txt" {
		t.Fatalf("the allowed item: %q", got)
	}

	// A symlink at the target is replaced (with overwrite), never followed;
	// the result is a 0644 file and no partial is left.
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := link("target", victim)
	if _, err := e.Start(ctx, transfer.Request{Kind: transfer.Download, LocalPath: target, Source: transfer.Location{Account: "m", Bucket: "b", Key: "obj"}}); !errors.Is(err, transfer.ErrExists) {
		t.Fatalf("download onto a symlink without overwrite: %v", err)
	}
	id, err = e.Start(ctx, transfer.Request{Kind: transfer.Download, LocalPath: target, Overwrite: true, Source: transfer.Location{Account: "m", Bucket: "b", Key: "obj"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := wait(t, e, id); st.State != transfer.Completed {
		t.Fatalf("overwrite download: %+v", st)
	}
	if got, _ := os.ReadFile(victim); string(got) != "keep me" {
		t.Fatalf("the download followed the symlink: victim now %q", got)
	}
	fi, err := os.Lstat(target)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o644 {
		t.Fatalf("target after the download: %v %v", fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(work, "*.partial")); len(left) != 0 {
		t.Fatalf("partial files left: %v", left)
	}
}

func listKeys(t *testing.T, s provider.Storage, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for o, err := range provider.Walk(context.Background(), s, bucket, provider.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// TestUploadSourceChanged: a file written to while its parts upload fails
// the transfer before the multipart upload completes, so no object mixes
// two versions of it.
func TestUploadSourceChanged(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open, PartSize: 5 << 20, Concurrency: 2})
	defer e.Close()
	p := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(p, randBytes(1, 12<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	// 12 MiB at 4 MiB/s: the file is changed long before the last part.
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: p, BytesPerSecond: 4 << 20,
		Dest: transfer.Location{Account: "m", Bucket: "b", Key: "f.bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, randBytes(2, 13<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Failed {
		t.Fatalf("status %+v, want failed", st)
	}
	if _, err := mem.Stat(ctx, "b", "f.bin"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("an object was made of a changing file: %v", err)
	}
}

// TestUploadSmallSourceChanged: a small file changed after the job was
// planned and before it is read is refused (checked on the open file once
// read), never stored as if it were the planned version.
func TestUploadSmallSourceChanged(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open, PartSize: 5 << 20, Concurrency: 1})
	defer e.Close()
	dir := t.TempDir()
	// "a" holds the one slot for about 2 s (2 MiB at 1 MiB/s) while "b"
	// changes.
	writeTree(t, dir, map[string]int{"a": 2 << 20, "b": 1000})
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: dir + "/", BytesPerSecond: 1 << 20,
		Dest: transfer.Location{Account: "m", Bucket: "b", Key: "p/"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b"), randBytes(3, 1001), 0o644); err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.FilesFailed != 1 || st.FilesDone != 1 || !strings.Contains(st.Error, "changed") {
		t.Fatalf("status %+v, want b failed as changed and a done", st)
	}
	if _, err := mem.Stat(ctx, "b", "p/b"); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("the changed file was stored: %v", err)
	}
}

// TestResumeAfterCrashBeforeRecord: a crash after a small download got its
// name and before the journal recorded it done leaves the whole file
// under its name and the item not done. The resume takes a file with the
// same bytes as the download (the item is done, the file untouched) and
// never replaces one with other bytes (the item fails: it exists).
func TestResumeAfterCrashBeforeRecord(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, "b")
	want := map[string][]byte{"p/a": randBytes(1, 5000), "p/b": randBytes(2, 70_000), "p/c": nil}
	for k, b := range want {
		if _, err := mem.Write(ctx, "b", k, bytes.NewReader(b), int64(len(b)), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	jr := transfer.NewMemJournal()
	e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open, Journal: jr})
	dir := filepath.Join(t.TempDir(), "d")
	id := startJob(t, e, transfer.Request{Kind: transfer.Download, LocalPath: dir + "/", Source: transfer.Location{Account: "m", Bucket: "b", Key: "p/"}})
	mustComplete(t, e, id)
	e.Close()

	// The journal as the crash left it: running, no item done; one file
	// changed by someone else meanwhile.
	rec, err := jr.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rec.State = transfer.Running
	if err := jr.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	for i := range rec.Items {
		if err := jr.UpdateItem(ctx, id, i, transfer.ItemUpdate{}); err != nil {
			t.Fatal(err)
		}
	}
	changed := filepath.Join(dir, "b")
	if err := os.WriteFile(changed, []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}

	e = transfer.New(transfer.Options{Open: accounts{"m": mem}.open, Journal: jr})
	defer e.Close()
	if err := e.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Failed || st.FilesDone != 2 || st.FilesFailed != 1 || !strings.Contains(st.Error, "exists") {
		t.Fatalf("resume: %s %q, %d done, %d failed", st.State, st.Error, st.FilesDone, st.FilesFailed)
	}
	if got, _ := os.ReadFile(changed); string(got) != "someone else's" {
		t.Fatalf("the changed file was replaced: %q", got)
	}
	after, err := os.Stat(filepath.Join(dir, "a"))
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the file with the same bytes was replaced (%v)", err)
	}
	for _, k := range []string{"a", "c"} {
		if got, err := os.ReadFile(filepath.Join(dir, k)); err != nil || !bytes.Equal(got, want["p/"+k]) {
			t.Fatalf("%s: %d bytes (%v)", k, len(got), err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(left) != 0 {
		t.Fatalf("partial files left: %v", left)
	}
}
