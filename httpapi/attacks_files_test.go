package httpapi

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/amove/amove-go/provider"
)

// The agent's own files, whatever -root says: these rows run an agent whose
// only root is "/", so the roots rule lets everything through and the
// refusal must come from the engine's protected paths.
var everything = Options{Roots: []string{"/"}}

// agentDir is the folder of the env's key file and database.
func agentDir(e *env) string { return filepath.Dir(e.root) }

// agentFile is the first of the agent's files that exists (the keyring, or
// a key file left by an earlier version).
func agentFile(t *testing.T, e *env, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p := filepath.Join(agentDir(e), n); fileExists(p) {
			return p
		}
	}
	t.Fatalf("none of the agent's files %v exists in %s", names, agentDir(e))
	return ""
}

func fileExists(p string) bool { _, err := os.Lstat(p); return err == nil }

// refusedUpload posts upload_object of local and checks the refusal and
// that nothing was started or stored.
func refusedUpload(t *testing.T, e *env, local string) {
	t.Helper()
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	wantError(t, e.cloud(t, "POST", "/cloud/upload_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": local,
	}), StatusValidation, "FILESYSTEM_ACCESS")
	nothingStarted(t, e)
	for o, err := range provider.Walk(context.Background(), e.mem, "b", provider.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		t.Fatalf("a refused upload stored %s", o.Key)
	}
}

func nothingStarted(t *testing.T, e *env) {
	t.Helper()
	for _, tok := range []string{e.aliceTok, e.adminTok} {
		var all []transferStatus
		must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", tok, nil), 200, &all)
		if len(all) != 0 {
			t.Fatalf("a refused request started %d transfers: %+v", len(all), all)
		}
	}
}

// refusedDownload posts download_object of object "obj" into dir/name and
// checks the refusal, that nothing started and that want is still at
// dir/name.
func refusedDownload(t *testing.T, e *env, dir, name string, overwrite bool) {
	t.Helper()
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	if _, err := e.mem.Write(context.Background(), "b", "obj", bytes.NewReader([]byte("attacker")), 8, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, name)
	before, _ := os.ReadFile(target)
	wantError(t, e.cloud(t, "POST", "/cloud/download_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "downloadPath": dir,
		"objectKey": "obj", "name": name, "overwrite": overwrite,
	}), StatusValidation, "FILESYSTEM_ACCESS")
	nothingStarted(t, e)
	if after, _ := os.ReadFile(target); !bytes.Equal(before, after) {
		t.Fatalf("%s changed", target)
	}
}

var fileAttacks = []attack{
	{name: "upload_object of the agent's key with a token", opts: everything, run: func(t *testing.T, e *env) {
		refusedUpload(t, e, agentFile(t, e, "k.keyring", "k"))
	}},
	{name: "upload_object of the agent's database", opts: everything, run: func(t *testing.T, e *env) {
		refusedUpload(t, e, agentFile(t, e, "a.db"))
	}},
	{name: "upload_object of the database's WAL", opts: everything, run: func(t *testing.T, e *env) {
		refusedUpload(t, e, agentFile(t, e, "a.db-wal", "a.db-journal", "a.db"))
	}},
	{name: "upload_object through a symlink to the key", opts: everything, run: func(t *testing.T, e *env) {
		link := filepath.Join(e.root, "innocent.txt")
		if err := os.Symlink(agentFile(t, e, "k.keyring", "k"), link); err != nil {
			t.Fatal(err)
		}
		refusedUpload(t, e, link)
	}},
	{name: "upload_object through '..' to the key", opts: everything, run: func(t *testing.T, e *env) {
		key := agentFile(t, e, "k.keyring", "k")
		refusedUpload(t, e, filepath.Join(e.root, "..", filepath.Base(key)))
	}},
	{name: "upload_object of a hard link to the key", opts: everything, run: func(t *testing.T, e *env) {
		link := filepath.Join(e.root, "photo.jpg")
		if err := os.Link(agentFile(t, e, "k.keyring", "k"), link); err != nil {
			t.Fatal(err)
		}
		refusedUpload(t, e, link)
	}},
	{name: "upload_object of a folder holding the key", opts: everything, run: func(t *testing.T, e *env) {
		refusedUpload(t, e, agentDir(e))
	}},
	{name: "upload_object from the form staging folder", opts: everything, run: func(t *testing.T, e *env) {
		staged := filepath.Join(e.api.tempDir, "someone-elses-upload")
		if err := os.MkdirAll(e.api.tempDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(staged, []byte("private"), 0o600); err != nil {
			t.Fatal(err)
		}
		refusedUpload(t, e, staged)
	}},
	{name: "upload_object outside the roots", run: func(t *testing.T, e *env) {
		outside := writeRandom(t, t.TempDir(), "secret.bin", 10)
		refusedUpload(t, e, outside)
	}},
	{name: "download_object over the agent's key", opts: everything, run: func(t *testing.T, e *env) {
		key := agentFile(t, e, "k.keyring", "k")
		refusedDownload(t, e, filepath.Dir(key), filepath.Base(key), true)
	}},
	{name: "download_object over the agent's database", opts: everything, run: func(t *testing.T, e *env) {
		refusedDownload(t, e, agentDir(e), "a.db", true)
	}},
	{name: "download_object as the database's WAL", opts: everything, run: func(t *testing.T, e *env) {
		// A file SQLite would read back as recent writes: refused whether
		// it exists or not.
		refusedDownload(t, e, agentDir(e), "a.db-journal", true)
	}},
	{name: "download_object over an existing file without overwrite", run: func(t *testing.T, e *env) {
		if err := os.WriteFile(filepath.Join(e.root, ".bashrc"), []byte("export PATH=/usr/bin"), 0o644); err != nil {
			t.Fatal(err)
		}
		refusedDownload(t, e, e.root, ".bashrc", false)
	}},
	{name: "download_object through a symlink at the target", run: func(t *testing.T, e *env) {
		// With overwrite the link itself is replaced; the file it points
		// to (outside the roots) is never written.
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(e.root, "report.pdf")); err != nil {
			t.Fatal(err)
		}
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		if _, err := e.mem.Write(context.Background(), "b", "obj", bytes.NewReader([]byte("attacker")), 8, provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		body := map[string]any{"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "downloadPath": e.root, "objectKey": "obj", "name": "report.pdf"}
		wantError(t, e.cloud(t, "POST", "/cloud/download_object", e.aliceTok, body), StatusValidation, "FILESYSTEM_ACCESS")
		body["overwrite"] = true
		var id transferID
		must(t, e.cloud(t, "POST", "/cloud/download_object", e.aliceTok, body), 200, &id)
		if st := e.waitTransfer(t, e.aliceTok, id.TransferID); st.Status != "completed" {
			t.Fatalf("download with overwrite: %+v", st)
		}
		if b, _ := os.ReadFile(victim); string(b) != "keep me" {
			t.Fatalf("the download wrote through the symlink: %q", b)
		}
		if fi, err := os.Lstat(filepath.Join(e.root, "report.pdf")); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("the target is not a plain file now: %v", err)
		}
	}},
	{name: "download_object into the form staging folder", opts: everything, run: func(t *testing.T, e *env) {
		refusedDownload(t, e, e.api.tempDir, "planted", false)
	}},
	{name: "download_object of keys that climb out of the folder", run: func(t *testing.T, e *env) {
		acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
		for _, k := range []string{"p/ok.txt", "p/../../escape.txt"} {
			if _, err := e.mem.Write(context.Background(), "b", k, bytes.NewReader([]byte(k)), int64(len(k)), provider.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		dir := filepath.Join(e.root, "a", "b")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var id transferID
		must(t, e.cloud(t, "POST", "/cloud/download_object", e.aliceTok, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "downloadPath": dir, "objectKey": "p/", "objectType": objectDirectory,
		}), 200, &id)
		if st := e.waitTransfer(t, e.aliceTok, id.TransferID); st.Status != "failed" {
			t.Fatalf("status %+v, want failed (one item refused)", st)
		}
		if fileExists(filepath.Join(e.root, "a", "escape.txt")) || fileExists(filepath.Join(e.root, "escape.txt")) {
			t.Fatal("a key escaped the download folder")
		}
	}},
}
