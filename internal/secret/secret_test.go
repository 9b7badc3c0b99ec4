package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal("wJalrXUtnFEMI/K7MDENG", "acct/1/secret_key")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1:") || strings.Contains(sealed, "wJalr") {
		t.Fatalf("sealed = %q", sealed)
	}
	if again, _ := b.Seal("wJalrXUtnFEMI/K7MDENG", "acct/1/secret_key"); again == sealed {
		t.Error("two seals of the same value are equal: nonce reused")
	}
	if got, err := b.Open(sealed, "acct/1/secret_key"); err != nil || got != "wJalrXUtnFEMI/K7MDENG" {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := b.Open(sealed, "acct/2/secret_key"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with other ad = %v, want ErrOpen", err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed, "acct/1/secret_key"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with other key = %v, want ErrOpen", err)
	}
	for _, bad := range []string{"plain", "v1:!!", "v1:AAAA", "v2:" + sealed[3:]} {
		if _, err := b.Open(bad, "acct/1/secret_key"); !errors.Is(err, ErrOpen) {
			t.Errorf("Open(%q) = %v, want ErrOpen", bad, err)
		}
	}
	if s, _ := b.Seal("", "x"); s != "" {
		t.Errorf("Seal(\"\") = %q", s)
	}
	if _, err := New(key[:16]); err == nil {
		t.Error("New accepted a 16-byte key")
	}
	if strings.Contains(b.String(), "\x07") {
		t.Error("String shows the key")
	}
	k1, _ := b.DeriveKey("jwt")
	k2, _ := b.DeriveKey("other")
	if len(k1) != KeySize || bytes.Equal(k1, k2) || bytes.Equal(k1, key) {
		t.Error("DeriveKey does not separate purposes")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amove", "secret.key")
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	errs := make([]error, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateKey(path)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) || len(keys[i]) != KeySize {
			t.Fatalf("concurrent callers got different keys")
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Errorf("reload = %x, %v", again, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Error("a world-readable key file was accepted")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
}
