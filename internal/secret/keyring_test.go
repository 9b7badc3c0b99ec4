package secret

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKeyringSealOpen(t *testing.T) {
	legacy := bytes.Repeat([]byte{7}, KeySize)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	k, err := NewKeyring(legacy, now)
	if err != nil {
		t.Fatal(err)
	}
	const ad, legacyAD = "cloud_accounts/t1/u1/a1/secret_key", "cloud_accounts/a1/secret_key"
	sealed, err := k.Seal("wJalrXUtnFEMI", ad)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v2:" + k.SealID() + ":"; !strings.HasPrefix(sealed, want) || strings.Contains(sealed, "wJalr") {
		t.Fatalf("sealed = %q, want prefix %q", sealed, want)
	}
	if SealedWith(sealed) != k.SealID() {
		t.Errorf("SealedWith = %q", SealedWith(sealed))
	}
	if got, err := k.Open(sealed, ad, legacyAD); err != nil || got != "wJalrXUtnFEMI" {
		t.Errorf("Open v2 = %q, %v", got, err)
	}
	// Bound to tenant, owner, row and column.
	for _, other := range []string{"cloud_accounts/t2/u1/a1/secret_key", "cloud_accounts/t1/u2/a1/secret_key",
		"cloud_accounts/t1/u1/a2/secret_key", "cloud_accounts/t1/u1/a1/access_key", legacyAD} {
		if _, err := k.Open(sealed, other, legacyAD); !errors.Is(err, ErrOpen) {
			t.Errorf("Open with ad %q = %v, want ErrOpen", other, err)
		}
	}

	// v1 values of the legacy key open, bound to their legacy ad.
	old, _ := New(legacy)
	v1, err := old.Seal("AKIAOLD", legacyAD)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := k.Open(v1, ad, legacyAD); err != nil || got != "AKIAOLD" {
		t.Errorf("Open v1 = %q, %v", got, err)
	}
	if _, err := k.Open(v1, ad, "cloud_accounts/a2/secret_key"); !errors.Is(err, ErrOpen) {
		t.Errorf("Open v1 moved = %v, want ErrOpen", err)
	}
	fresh, _ := NewKeyring(nil, now)
	if _, err := fresh.Open(v1, ad, legacyAD); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open v1 without a legacy key = %v, want ErrUnknownKey", err)
	}

	// A kid the keyring does not hold, and a kid swapped for another key's.
	_, rest, _ := strings.Cut(strings.TrimPrefix(sealed, "v2:"), ":")
	if _, err := k.Open("v2:0123456789abcdef:"+rest, ad, legacyAD); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrOpen) {
		t.Errorf("Open with an unknown kid = %v, want ErrUnknownKey", err)
	}
	if _, err := fresh.Open(sealed, ad, legacyAD); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open by another keyring = %v, want ErrUnknownKey", err)
	}
	if _, err := k.Open("v2:"+LegacySealID+":"+rest, ad, legacyAD); !errors.Is(err, ErrOpen) || errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open with the kid of another key = %v, want ErrOpen", err)
	}
	for _, bad := range []string{"plain", "v2:", "v2:" + k.SealID(), "v2:UPPER:" + rest, "v2:" + k.SealID() + ":!!", "v3:x:y"} {
		if _, err := k.Open(bad, ad, legacyAD); !errors.Is(err, ErrOpen) {
			t.Errorf("Open(%q) = %v, want ErrOpen", bad, err)
		}
	}

	// Separate keys: the sign key is neither the seal key nor the legacy
	// key nor the legacy token key.
	signID, sign := k.SignKey()
	legacySign, ok := k.VerifyKey("", now, time.Hour)
	if !ok {
		t.Fatal("no legacy token key")
	}
	sealKey := k.keys[0].Secret
	if signID == k.SealID() || bytes.Equal(sign, sealKey) || bytes.Equal(sign, legacy) || bytes.Equal(sign, legacySign) {
		t.Error("the sign key is not separate")
	}
	if _, ok := k.VerifyKey(k.SealID(), now, time.Hour); ok {
		t.Error("the seal key id verifies tokens")
	}
	if strings.Contains(k.String(), "0707") {
		t.Error("String shows a key")
	}
}

func TestKeyringRotatePrune(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ttl := 12 * time.Hour
	k, err := NewKeyring(bytes.Repeat([]byte{7}, KeySize), t0)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := k.Seal("secret", "ad")
	oldSign, _ := k.SignKey()

	t1 := t0.Add(time.Hour)
	r, err := k.Rotated(t1)
	if err != nil {
		t.Fatal(err)
	}
	newSign, _ := r.SignKey()
	if r.SealID() == k.SealID() || newSign == oldSign {
		t.Fatal("Rotated kept the active keys")
	}
	if got, err := r.Open(sealed, "ad", ""); err != nil || got != "secret" {
		t.Errorf("retired seal key: Open = %q, %v", got, err)
	}
	resealed, _ := r.Seal("secret", "ad")
	if SealedWith(resealed) != r.SealID() {
		t.Errorf("Rotated seals with %q", SealedWith(resealed))
	}
	if _, err := k.Open(resealed, "ad", ""); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("the old keyring opens a new value: %v", err)
	}
	// The retired sign key verifies for ttl after its retirement.
	if _, ok := r.VerifyKey(oldSign, t1.Add(ttl), ttl); !ok {
		t.Error("retired sign key refused within the ttl")
	}
	if _, ok := r.VerifyKey(oldSign, t1.Add(ttl+time.Second), ttl); ok {
		t.Error("retired sign key accepted after the ttl")
	}
	// The legacy token key was retired when the keyring was made.
	if _, ok := r.VerifyKey("", t0.Add(ttl+time.Second), ttl); ok {
		t.Error("tokens without kid accepted after the ttl")
	}

	// Pruning right after the rotation keeps the just-retired keys...
	p, err := r.Pruned(t1, t1, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.Open(sealed, "ad", ""); err != nil || got != "secret" {
		t.Errorf("Pruned dropped the just-retired seal key: %q, %v", got, err)
	}
	// ...and a later rotation drops them.
	t2 := t1.Add(ttl + time.Minute)
	r2, _ := p.Rotated(t2)
	p2, err := r2.Pruned(t2, t2, ttl)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Open(sealed, "ad", ""); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a seal key retired two rotations ago still opens: %v", err)
	}
	ids := map[string]bool{}
	for _, ki := range p2.Keys() {
		ids[ki.ID] = true
	}
	if ids[oldSign] || ids[LegacySignID] || ids[k.SealID()] || !ids[p2.SealID()] || !ids[r.SealID()] || !ids[newSign] {
		t.Errorf("keys after two rotations: %v", p2.Keys())
	}
	if infos := p2.Keys(); !infos[0].Active || !infos[1].Active || infos[2].Active {
		t.Errorf("Keys does not list the active keys first: %v", infos)
	}
}

func TestKeyringFromKey(t *testing.T) {
	key := bytes.Repeat([]byte{9}, KeySize)
	k, err := KeyringFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	box, _ := New(key)
	v1, _ := box.Seal("x", "old-ad")
	if got, err := k.Open(v1, "new-ad", "old-ad"); err != nil || got != "x" {
		t.Errorf("Open v1 = %q, %v", got, err)
	}
	v2, _ := k.Seal("y", "new-ad")
	if !strings.HasPrefix(v2, "v2:"+LegacySealID+":") {
		t.Errorf("sealed = %q", v2)
	}
	again, _ := KeyringFromKey(key)
	if got, err := again.Open(v2, "new-ad", ""); err != nil || got != "y" {
		t.Errorf("the same key does not open its own value: %q, %v", got, err)
	}
	derived, _ := box.DeriveKey("jwt-hs256")
	if id, sign := k.SignKey(); id != LegacySignID || !bytes.Equal(sign, derived) {
		t.Error("the sign key is not the derived token key")
	}
	if _, err := KeyringFromKey(key[:16]); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

func TestKeyringFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "amove", "secret.keyring")
	now := time.Now()
	var wg sync.WaitGroup
	rings := make([]*Keyring, 8)
	errs := make([]error, 8)
	for i := range rings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rings[i], errs[i] = LoadOrCreateKeyring(path, nil, now)
		}()
	}
	wg.Wait()
	for i := range rings {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if rings[i].SealID() != rings[0].SealID() {
			t.Fatal("concurrent callers got different keyrings")
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keyring mode %v, want 0600", fi.Mode().Perm())
	}
	sealed, _ := rings[0].Seal("secret", "ad")

	r, err := rings[0].Rotated(now)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadKeyring(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.SealID() != r.SealID() || len(back.Keys()) != 4 {
		t.Errorf("read back %v, want %v", back.Keys(), r.Keys())
	}
	if got, err := back.Open(sealed, "ad", ""); err != nil || got != "secret" {
		t.Errorf("read-back keyring: Open = %q, %v", got, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("rewritten keyring mode %v", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("leftover files: %v", entries)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyring(path, nil); err == nil {
		t.Error("a world-readable keyring was accepted")
	}
	for name, body := range map[string]string{
		"garbage":       "not json",
		"format":        `{"format":"other"}`,
		"no active key": `{"format":"amove-keyring/1","seal":"a","sign":"b","keys":[]}`,
	} {
		if _, err := ParseKeyring([]byte(body), nil); err == nil {
			t.Errorf("%s: ParseKeyring accepted %s", name, body)
		}
	}
}
