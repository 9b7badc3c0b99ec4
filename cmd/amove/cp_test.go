package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go"
	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/dropbox"
)

// TestCpDropboxVerified: `amove cp` of a 40 MiB file (three engine parts)
// to a Dropbox account on the fake of the Dropbox API completes with
// "checksum verified: true", and `amove cp` back gives the same bytes,
// verified too. The engine once read Dropbox's part tags as MD5s and failed
// every upload bigger than one part.
func TestCpDropboxVerified(t *testing.T) {
	srv := fake.New(fake.Options{})
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	conf, err := json.Marshal(map[string]any{
		"dsn": "sqlite:" + filepath.Join(dir, "a.db"), "keyFile": filepath.Join(dir, "secret.key"),
		"noLocalStorage": true,
		"oauth":          map[string]any{"dropbox": map[string]string{"clientId": "app", "clientSecret": "secret"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), conf, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AMOVE_CONFIG", filepath.Join(dir, "config.json"))
	ctx := context.Background()

	// Connect the account as the OAuth callback would: the fake's token.
	var s settings
	if err := s.load(); err != nil {
		t.Fatal(err)
	}
	c, err := s.open(ctx, slog.New(slog.DiscardHandler), "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.localAdmin(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	access, refresh, exp := srv.IssueToken()
	tok, _ := json.Marshal(&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: exp, TokenType: "Bearer"})
	if _, err := c.InsertAccount(ctx, u.Principal(), amove.NewAccount{CloudType: provider.Dropbox, Name: "dbx",
		Endpoint: srv.URL, CredentialsData: string(tok)}); err != nil {
		t.Fatal(err)
	}
	c.Close()

	data := make([]byte, 40<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	// The files live outside the agent's folder, which no transfer may use.
	files := t.TempDir()
	src := filepath.Join(files, "big.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	remote := "dbx:" + dropbox.RootBucket + "/in/big.bin"
	if out := runCp(t, ctx, src, remote); !strings.Contains(out, "upload: completed, 1 files, 41943040 bytes, checksum verified: true") {
		t.Errorf("amove cp up printed %q", out)
	}
	back := filepath.Join(files, "back.bin")
	if out := runCp(t, ctx, remote, back); !strings.Contains(out, "download: completed, 1 files, 41943040 bytes, checksum verified: true") {
		t.Errorf("amove cp down printed %q", out)
	}
	got, err := os.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Error("the downloaded file differs from the uploaded one")
	}

	// An existing file is replaced only with -overwrite.
	if err := os.WriteFile(back, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runCLI(ctx, io.Discard, io.Discard, "cp", remote, back); amove.ErrorCode(err) != amove.CodeFilesystem {
		t.Fatalf("cp onto an existing file: %v, want FILESYSTEM_ACCESS", err)
	}
	if got, _ := os.ReadFile(back); string(got) != "mine" {
		t.Fatal("cp without -overwrite changed the file")
	}
	if out := runCp(t, ctx, "-overwrite", remote, back); !strings.Contains(out, "checksum verified: true") {
		t.Errorf("amove cp -overwrite printed %q", out)
	}
	if got, _ := os.ReadFile(back); sha256.Sum256(got) != sha256.Sum256(data) {
		t.Error("cp -overwrite did not replace the file")
	}
}

// runCp runs `amove cp args...` and returns what it printed on stderr.
func runCp(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := runCLI(ctx, io.Discard, &out, append([]string{"cp"}, args...)...); err != nil {
		t.Fatalf("amove cp %v: %v", args, err)
	}
	return out.String()
}
