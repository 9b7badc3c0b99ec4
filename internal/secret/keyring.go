package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A Keyring holds the key that seals credentials and the key that signs
// tokens, each with an id, plus retired keys that still open old values or
// verify old tokens. The two uses never share a key.
//
// Sealed values name their key: "v2:<kid>:" + base64url(nonce || ct || tag).
// "v1:" values (the single-key format) carry no id and open with the legacy
// key, the one of the old key file, if the Keyring was given one.
//
// A Keyring is immutable: Rotated and Pruned return new ones. It is safe
// for concurrent use.
type Keyring struct {
	seal, sign string // ids of the active keys
	keys       []Key
	boxes      map[string]*Box // seal keys by id
	legacy     *Box            // opens "v1:" values; nil without a legacy key
}

// Use is what a key is for.
type Use string

// The two uses of a key.
const (
	UseSeal Use = "seal"
	UseSign Use = "sign"
)

// LegacySealID is the id of the legacy key itself when a Keyring is made
// from a bare key (KeyringFromKey); LegacySignID is the id of the token key
// derived from it (HKDF, "jwt-hs256"), the key tokens without a kid header
// were signed with.
const (
	LegacySealID = "v1"
	LegacySignID = "v1-jwt"
)

// ErrUnknownKey is returned (matching ErrOpen too) by Open for a value
// sealed with a key id the Keyring does not hold.
var ErrUnknownKey = fmt.Errorf("%w: unknown key id", ErrOpen)

const prefixV2 = "v2:"

// Key is one key of a Keyring.
type Key struct {
	ID      string
	Use     Use
	Secret  []byte
	Created time.Time
	// Retired is when the key stopped being the active key of its use;
	// zero while it is active.
	Retired time.Time
}

// KeyInfo describes a key without its secret.
type KeyInfo struct {
	ID      string
	Use     Use
	Active  bool
	Created time.Time
	Retired time.Time
}

// newPair makes a fresh seal key and sign key created at now.
func newPair(now time.Time) (seal, sign Key, err error) {
	if seal, err = newKey(UseSeal, now); err != nil {
		return Key{}, Key{}, err
	}
	if sign, err = newKey(UseSign, now); err != nil {
		return Key{}, Key{}, err
	}
	return seal, sign, nil
}

// NewKeyring returns a Keyring with a fresh random seal key and sign key.
// A legacy key (the old single key file; nil when there is none) keeps
// opening "v1:" values, and tokens without a kid verify with its derived
// token key until that key is pruned: it is entered as retired at now.
func NewKeyring(legacy []byte, now time.Time) (*Keyring, error) {
	now = now.UTC()
	seal, sign, err := newPair(now)
	if err != nil {
		return nil, err
	}
	keys := []Key{seal, sign}
	if legacy != nil {
		jwtKey, err := legacySignKey(legacy)
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{ID: LegacySignID, Use: UseSign, Secret: jwtKey, Created: now, Retired: now})
	}
	return build(seal.ID, sign.ID, keys, legacy)
}

// KeyringFromKey returns the Keyring of a bare key (a key given in memory,
// with no keyring file): the key itself seals, under id LegacySealID, and
// its derived token key signs, under LegacySignID. Such a Keyring cannot
// rotate without a file to keep the new keys in.
func KeyringFromKey(key []byte) (*Keyring, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key is %d bytes, want %d", len(key), KeySize)
	}
	jwtKey, err := legacySignKey(key)
	if err != nil {
		return nil, err
	}
	return build(LegacySealID, LegacySignID, []Key{
		{ID: LegacySealID, Use: UseSeal, Secret: append([]byte(nil), key...)},
		{ID: LegacySignID, Use: UseSign, Secret: jwtKey},
	}, key)
}

func legacySignKey(legacy []byte) ([]byte, error) {
	b, err := New(legacy)
	if err != nil {
		return nil, err
	}
	return b.DeriveKey("jwt-hs256")
}

func newKey(use Use, now time.Time) (Key, error) {
	id := make([]byte, 8)
	secret := make([]byte, KeySize)
	if _, err := rand.Read(id); err != nil {
		return Key{}, err
	}
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	return Key{ID: hex.EncodeToString(id), Use: use, Secret: secret, Created: now}, nil
}

// validID keeps ids printable and free of the ':' that ends one in a
// sealed value.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

func build(seal, sign string, keys []Key, legacy []byte) (*Keyring, error) {
	k := &Keyring{seal: seal, sign: sign, keys: keys, boxes: map[string]*Box{}}
	seen := map[string]bool{}
	for _, key := range keys {
		switch {
		case !validID(key.ID):
			return nil, fmt.Errorf("secret: keyring: bad key id %q", key.ID)
		case seen[string(key.Use)+"/"+key.ID]:
			return nil, fmt.Errorf("secret: keyring: two %s keys named %s", key.Use, key.ID)
		case len(key.Secret) != KeySize:
			return nil, fmt.Errorf("secret: keyring: key %s is %d bytes, want %d", key.ID, len(key.Secret), KeySize)
		case key.Use != UseSeal && key.Use != UseSign:
			return nil, fmt.Errorf("secret: keyring: key %s has unknown use %q", key.ID, key.Use)
		}
		seen[string(key.Use)+"/"+key.ID] = true
		if key.Use == UseSeal {
			b, err := New(key.Secret)
			if err != nil {
				return nil, err
			}
			k.boxes[key.ID] = b
		}
	}
	if !seen["seal/"+seal] || !seen["sign/"+sign] {
		return nil, errors.New("secret: keyring: the active seal or sign key is missing")
	}
	if legacy != nil {
		b, err := New(legacy)
		if err != nil {
			return nil, err
		}
		k.legacy = b
		if k.boxes[LegacySealID] == nil {
			k.boxes[LegacySealID] = b
		}
	}
	return k, nil
}

// String never shows a key.
func (k *Keyring) String() string {
	return "secret.Keyring{seal:" + k.seal + " sign:" + k.sign + " keys:****}"
}

// SealID is the id of the active seal key.
func (k *Keyring) SealID() string { return k.seal }

// SignKey returns the active token key and its id.
func (k *Keyring) SignKey() (id string, key []byte) {
	for _, key := range k.keys {
		if key.Use == UseSign && key.ID == k.sign {
			return key.ID, key.Secret
		}
	}
	panic("secret: keyring without its sign key") // build checked it
}

// VerifyKey returns the token key named id ("" means LegacySignID, the key
// of tokens without a kid). A retired key verifies tokens for maxTTL after
// its retirement, the longest a token it signed can live, and no longer.
func (k *Keyring) VerifyKey(id string, now time.Time, maxTTL time.Duration) ([]byte, bool) {
	if id == "" {
		id = LegacySignID
	}
	for _, key := range k.keys {
		if key.Use != UseSign || key.ID != id {
			continue
		}
		if !key.Retired.IsZero() && now.After(key.Retired.Add(maxTTL)) {
			return nil, false
		}
		return key.Secret, true
	}
	return nil, false
}

// Keys describes the keys, active ones first.
func (k *Keyring) Keys() []KeyInfo {
	out := make([]KeyInfo, 0, len(k.keys))
	for _, key := range k.keys {
		active := key.ID == k.seal && key.Use == UseSeal || key.ID == k.sign && key.Use == UseSign
		out = append(out, KeyInfo{ID: key.ID, Use: key.Use, Active: active, Created: key.Created, Retired: key.Retired})
	}
	slices.SortStableFunc(out, func(a, b KeyInfo) int {
		switch {
		case a.Active == b.Active:
			return 0
		case a.Active:
			return -1
		}
		return 1
	})
	return out
}

// Seal encrypts plaintext with the active seal key, bound to ad. The empty
// string stays empty.
func (k *Keyring) Seal(plaintext, ad string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	raw, err := k.boxes[k.seal].seal(plaintext, ad)
	if err != nil {
		return "", err
	}
	return prefixV2 + k.seal + ":" + raw, nil
}

// Open decrypts a sealed value: a "v2:" value with the key it names, bound
// to ad, a "v1:" value with the legacy key, bound to legacyAD (the
// single-key format bound less). A value moved to another place, sealed
// with another key or tampered with is ErrOpen; one naming a key this
// Keyring does not hold is ErrUnknownKey.
func (k *Keyring) Open(sealed, ad, legacyAD string) (string, error) {
	switch {
	case sealed == "":
		return "", nil
	case strings.HasPrefix(sealed, prefixV1):
		if k.legacy == nil {
			return "", fmt.Errorf("%w: a v1 value and no legacy key", ErrUnknownKey)
		}
		return k.legacy.Open(sealed, legacyAD)
	}
	id, rest, ok := splitV2(sealed)
	if !ok {
		return "", fmt.Errorf("%w: unknown format", ErrOpen)
	}
	b := k.boxes[id]
	if b == nil {
		return "", ErrUnknownKey
	}
	return b.open(rest, ad)
}

// SealedWith returns the id of the key a value was sealed with: "" for the
// empty value, LegacySealID for a "v1:" value.
func SealedWith(sealed string) string {
	if strings.HasPrefix(sealed, prefixV1) {
		return LegacySealID
	}
	id, _, _ := splitV2(sealed)
	return id
}

func splitV2(sealed string) (id, rest string, ok bool) {
	body, ok := strings.CutPrefix(sealed, prefixV2)
	if !ok {
		return "", "", false
	}
	id, rest, ok = strings.Cut(body, ":")
	if !ok || !validID(id) {
		return "", "", false
	}
	return id, rest, true
}

// Rotated returns a copy of k with a fresh active seal key and sign key;
// the previous ones are retired at now and kept.
func (k *Keyring) Rotated(now time.Time) (*Keyring, error) {
	now = now.UTC()
	seal, sign, err := newPair(now)
	if err != nil {
		return nil, err
	}
	keys := make([]Key, 0, len(k.keys)+2)
	for _, key := range k.keys {
		if key.Retired.IsZero() && (key.Use == UseSeal && key.ID == k.seal || key.Use == UseSign && key.ID == k.sign) {
			key.Retired = now
		}
		keys = append(keys, key)
	}
	keys = append(keys, seal, sign)
	return build(seal.ID, sign.ID, keys, k.legacyKey())
}

// Pruned returns a copy of k without the seal keys retired before
// sealRetiredBefore (once every stored value is sealed again, nothing needs
// them) and without the sign keys retired more than maxTTL before now
// (every token they signed has expired).
func (k *Keyring) Pruned(now, sealRetiredBefore time.Time, maxTTL time.Duration) (*Keyring, error) {
	keys := make([]Key, 0, len(k.keys))
	for _, key := range k.keys {
		switch {
		case key.Retired.IsZero():
		case key.Use == UseSeal && key.Retired.Before(sealRetiredBefore):
			continue
		case key.Use == UseSign && now.After(key.Retired.Add(maxTTL)):
			continue
		}
		keys = append(keys, key)
	}
	return build(k.seal, k.sign, keys, k.legacyKey())
}

func (k *Keyring) legacyKey() []byte {
	if k.legacy == nil {
		return nil
	}
	return k.legacy.key
}

// keyringFile is the JSON of a keyring file. Secrets are hex.
type keyringFile struct {
	Format string    `json:"format"`
	Seal   string    `json:"seal"`
	Sign   string    `json:"sign"`
	Keys   []keyJSON `json:"keys"`
}

type keyJSON struct {
	ID      string    `json:"id"`
	Use     Use       `json:"use"`
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
}

const keyringFormat = "amove-keyring/1"

// Marshal returns the keyring file's bytes. They hold every secret.
func (k *Keyring) Marshal() ([]byte, error) {
	f := keyringFile{Format: keyringFormat, Seal: k.seal, Sign: k.sign}
	for _, key := range k.keys {
		f.Keys = append(f.Keys, keyJSON{ID: key.ID, Use: key.Use, Key: hex.EncodeToString(key.Secret),
			Created: key.Created, Retired: key.Retired})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	return append(b, '\n'), err
}

// ParseKeyring reads a keyring file's bytes; legacy is the legacy key or
// nil.
func ParseKeyring(b, legacy []byte) (*Keyring, error) {
	var f keyringFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, errors.New("secret: keyring: not a keyring file")
	}
	if f.Format != keyringFormat {
		return nil, fmt.Errorf("secret: keyring: format %q, want %q", f.Format, keyringFormat)
	}
	keys := make([]Key, 0, len(f.Keys))
	for _, kj := range f.Keys {
		secret, err := hex.DecodeString(kj.Key)
		if err != nil {
			return nil, fmt.Errorf("secret: keyring: key %s is not hex", kj.ID)
		}
		keys = append(keys, Key{ID: kj.ID, Use: kj.Use, Secret: secret, Created: kj.Created, Retired: kj.Retired})
	}
	return build(f.Seal, f.Sign, keys, legacy)
}

// ReadKeyring reads the keyring file at path. As for the key file, a file
// readable by group or others is refused on Unix.
func ReadKeyring(path string, legacy []byte) (*Keyring, error) {
	b, err := readPrivate(path, "keyring file")
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyring(b, legacy)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// LoadOrCreateKeyring reads the keyring file at path, creating it (mode
// 0600, directory 0700) with NewKeyring(legacy, now) when it does not
// exist. Two processes creating it at once end up with the same keyring.
func LoadOrCreateKeyring(path string, legacy []byte, now time.Time) (*Keyring, error) {
	k, err := ReadKeyring(path, legacy)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if k, err = NewKeyring(legacy, now); err != nil {
		return nil, err
	}
	tmp, err := k.writeTemp(path)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	// A hard link fails when another process won the race; then its
	// keyring is the one.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ReadKeyring(path, legacy)
		}
		return nil, fmt.Errorf("secret: %w", err)
	}
	syncDir(filepath.Dir(path))
	return k, nil
}

// WriteFile replaces the keyring file at path atomically: a complete
// temporary file (0600, synced) renamed over it, so a reader sees the old
// keyring or the new one, never a part.
func (k *Keyring) WriteFile(path string) error {
	tmp, err := k.writeTemp(path)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("secret: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

func (k *Keyring) writeTemp(path string) (string, error) {
	b, err := k.Marshal()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".keyring-*")
	if err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	cherr := f.Chmod(0o600)
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(cherr, werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("secret: writing keyring file: %w", err)
	}
	return f.Name(), nil
}

// syncDir makes a rename or link in dir durable; where directories cannot
// be synced (Windows) there is nothing more to do.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// ReadKey reads a hex key file such as the legacy secret.key, with the
// same mode check as LoadOrCreateKey. A missing file is fs.ErrNotExist.
func ReadKey(path string) ([]byte, error) { return readKey(path) }

// seal returns base64url(nonce || ct || tag) without a prefix.
func (b *Box) seal(plaintext, ad string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(ad))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open reverses seal.
func (b *Box) open(rest, ad string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize()+b.aead.Overhead() {
		return "", fmt.Errorf("%w: malformed", ErrOpen)
	}
	n := b.aead.NonceSize()
	pt, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(ad))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}
