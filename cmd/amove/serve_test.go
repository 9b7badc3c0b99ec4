package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go/httpapi"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// TestServeStopResumesTransfers: `amove serve` stopped (its context
// cancelled, as SIGINT and SIGTERM do) in the middle of an upload to its
// embedded local storage leaves the transfer "running" in the journal,
// not failed: the engine stops before the local storage does. The next
// start on the same configuration resumes it, and the object has the
// file's bytes. On the way, the server's header cap is checked.
func TestServeStopResumesTransfers(t *testing.T) {
	dir := t.TempDir()
	cfg, files := filepath.Join(dir, "cfg"), filepath.Join(dir, "files")
	for _, d := range []string{cfg, files} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AMOVE_CONFIG", filepath.Join(dir, "none.json"))
	dsn, keyFile := "sqlite:"+filepath.Join(cfg, "a.db"), filepath.Join(cfg, "secret.key")
	addr := freeAddr(t)
	base := "http://" + addr
	args := []string{"-dsn", dsn, "-key-file", keyFile, "-addr", addr, "-root", files}

	serve := func() (stop func()) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- cmdServe(ctx, args) }()
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := http.Get(base + "/openapi.json")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-done:
				cancel()
				t.Fatalf("serve ended at start: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatal("the agent did not answer within 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		return func() {
			t.Helper()
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
		}
	}

	stop := serve()
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	// Headers are capped at 64 KiB (MaxHeaderBytes): 431 before any handler.
	req, _ := http.NewRequest("GET", base+"/openapi.json", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 100 KiB header: %d, want 431", res.StatusCode)
	}

	// A token from a CLI client on the same store, as `amove token create`.
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := settings{DSN: dsn, KeyFile: keyFile}
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	cli, err := s.open(ctx, log, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	admin, err := cli.LookupUser(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cli.IssueToken(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path string, body, out any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %s: %v", method, path, b, err)
			}
		}
	}

	var accounts []struct {
		ID        string `json:"id"`
		CloudType int    `json:"cloudType"`
	}
	call("GET", "/cloud/accounts", nil, &accounts)
	var local string
	for _, a := range accounts {
		if a.CloudType == int(provider.LocalHttp) {
			local = a.ID
		}
	}
	if local == "" {
		t.Fatalf("no local storage account in %+v", accounts)
	}

	const size = 256 << 20
	src := filepath.Join(files, "big.bin")
	want := writeRandomFile(t, src, size)
	var up struct {
		TransferID string `json:"transferId"`
	}
	call("POST", "/cloud/upload_object", map[string]any{
		"cloudAccount": map[string]any{"id": local}, "storageName": localBucket, "localFilePath": src,
	}, &up)
	type status struct {
		Status           string `json:"status"`
		TransferredBytes int64  `json:"transferredBytes"`
		ChecksumVerified bool   `json:"checksumVerified"`
	}
	statusPath := "/cloud/client_transfer/" + url.PathEscape(up.TransferID) + "/status"
	for deadline := time.Now().Add(60 * time.Second); ; {
		var st status
		call("GET", statusPath, nil, &st)
		if st.Status != "running" && st.Status != "pending" {
			t.Fatalf("before the stop the upload is %+v; want it under way (a faster machine needs a bigger file)", st)
		}
		if st.TransferredBytes > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no byte moved within 60 s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	stop() // as SIGINT does
	stopped = true
	st, err := cli.TransferStatus(ctx, admin.Principal(), up.TransferID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != transfer.Running || st.BytesDone >= size {
		t.Fatalf("after the stop the journal holds %s with %d of %d bytes; want running, unfinished", st.State, st.BytesDone, int64(size))
	}

	stop = serve()
	stopped = false
	var final status
	for deadline := time.Now().Add(2 * time.Minute); ; {
		call("GET", statusPath, nil, &final)
		if final.Status != "running" && final.Status != "pending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart the upload is still %+v", final)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if final.Status != "completed" || final.TransferredBytes != size {
		t.Fatalf("after the restart: %+v", final)
	}
	// The bytes the local storage holds, read from its folder.
	if got := fileSum(t, filepath.Join(cfg, "local-storage", localBucket, "big.bin")); got != want {
		t.Fatalf("stored object sha256 %x, want %x", got, want)
	}
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeRandomFile(t *testing.T, path string, n int64) [32]byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func fileSum(t *testing.T, path string) [32]byte {
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
	return [32]byte(h.Sum(nil))
}

// TestServeRefusesOpenStagingFolder: `amove serve -temp-dir` naming a
// folder other users may write to does not start (rather than staging
// form uploads where others can read or replace them).
func TestServeRefusesOpenStagingFolder(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "staging")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AMOVE_CONFIG", filepath.Join(dir, "none.json"))
	args := []string{"-dsn", "sqlite:" + filepath.Join(dir, "a.db"), "-key-file", filepath.Join(dir, "secret.key"),
		"-addr", freeAddr(t), "-temp-dir", open, "-no-local-storage"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmdServe(ctx, args)
	if !errors.Is(err, httpapi.ErrStagingDir) {
		t.Fatalf("serve with an open staging folder: %v", err)
	}
}
