// Package secret seals credentials at rest with AES-256-GCM and manages the
// key files.
//
// A Keyring (keyring.go) holds separate keys for sealing and for signing
// tokens, each with an id. Its sealed values are "v2:<kid>:" followed by
// base64url(nonce || ciphertext || tag); a Box alone (one key, the legacy
// single key file) seals "v1:" values, which carry no key id. The prefix
// names the format so the key or algorithm can change without guessing
// what a stored value is. Each value is bound to where it is stored
// (associated data such as "cloud_accounts/<tenant>/<owner>/<id>/secret_key"),
// so a ciphertext copied into another row, column, owner or tenant fails to
// open.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

const prefixV1 = "v1:"

// ErrOpen is returned when a sealed value cannot be opened: wrong key,
// tampered value, or a value moved to another place.
var ErrOpen = errors.New("secret: cannot open sealed value")

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
	key  []byte // kept only to derive sub-keys
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, key: append([]byte(nil), key...)}, nil
}

// String never shows the key.
func (b *Box) String() string { return "secret.Box{key:****}" }

// Seal encrypts plaintext bound to ad. The empty string stays empty, so
// "no secret" is distinguishable without a key.
func (b *Box) Seal(plaintext, ad string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	raw, err := b.seal(plaintext, ad)
	if err != nil {
		return "", err
	}
	return prefixV1 + raw, nil
}

// Open decrypts a value sealed with the same key and ad.
func (b *Box) Open(sealed, ad string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, prefixV1)
	if !ok {
		return "", fmt.Errorf("%w: unknown format", ErrOpen)
	}
	return b.open(rest, ad)
}

// DeriveKey returns a 32-byte key for purpose, derived from the Box key with
// HKDF-SHA256, so one key file can serve several uses (JWT signing) without
// reusing the encryption key itself.
func (b *Box) DeriveKey(purpose string) ([]byte, error) {
	return hkdf.Key(sha256.New, b.key, nil, "amove-go "+purpose, KeySize)
}

// LoadOrCreateKey reads the hex-encoded key at path, creating it with a fresh
// random key (mode 0600, directory 0700) when it does not exist. On Unix a
// key file readable by group or others is refused, as ssh does.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	// Write a temporary file and hard-link it into place: the link fails
	// when another process won the race, and then we read its key, so two
	// processes starting at once end up with the same complete key.
	f, err := os.CreateTemp(filepath.Dir(path), ".secret-key-*")
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	cherr := f.Chmod(0o600)
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(cherr, werr, serr, cerr); err != nil {
		return nil, fmt.Errorf("secret: writing key file: %w", err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path)
		}
		return nil, fmt.Errorf("secret: %w", err)
	}
	return key, nil
}

// readPrivate reads a file that holds keys (what names it in errors); on
// Unix a file readable by group or others is refused.
func readPrivate(path, what string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret: %s %s has mode %v; want 0600", what, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return b, nil
}

func readKey(path string) ([]byte, error) {
	b, err := readPrivate(path, "key file")
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("secret: key file %s is not a %d-byte hex key", path, KeySize)
	}
	return key, nil
}
