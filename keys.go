package amove

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/internal/secret"
	"github.com/amove/amove-go/store"
)

// Keys. The Client holds two keys with separate jobs, each with an id
// stored next to what it protects:
//
//   - the seal key encrypts stored credentials (cloud accounts' keys and
//     OAuth tokens, pending OAuth verifiers); a sealed value reads
//     "v2:<kid>:...", bound to its tenant, owner, row and column;
//   - the sign key signs the HS256 tokens of the default Authenticator,
//     whose header carries its "kid".
//
// Both live in the keyring file next to the key file (KeyringFile). The
// key file of earlier versions (secret.key) stays the legacy key: "v1:"
// values keep opening with it, and tokens without a kid verify with its
// derived token key for one token lifetime after the keyring was made.
// RotateKeys replaces both keys.

// ErrDecrypt is matched (errors.Is) by the error of an operation that
// needed a stored credential it could not decrypt: the value was sealed
// for another row, owner or tenant (copied there), tampered with, or
// sealed with a key this Client does not hold. It is an internal error
// (HTTP 500), never an application error, and the credential is never
// used in any form.
var ErrDecrypt = secret.ErrOpen

// keyringPath is the keyring file that goes with a key file:
// <dir>/secret.key -> <dir>/secret.keyring.
func keyringPath(keyFile string) string {
	return strings.TrimSuffix(keyFile, ".key") + ".keyring"
}

// keyring is the Client's current keyring. Another process sharing the key
// files (`amove keys rotate` while the agent runs, a second agent) may
// rotate them: the file is read again when it changed, before sealing or
// signing and when a value or token names a key not held yet.
type keyring struct {
	path       string // the keyring file; "" for Options.SecretKey
	legacyPath string // the legacy key file when one was read
	legacy     []byte
	ttl        time.Duration // the longest token lifetime

	mu    sync.Mutex
	ring  *secret.Keyring
	stamp fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(fi fs.FileInfo) fileStamp { return fileStamp{mod: fi.ModTime(), size: fi.Size()} }

// openKeyring reads (or creates) the keyring of opts.
func openKeyring(opts Options, ttl time.Duration, now time.Time) (*keyring, error) {
	k := &keyring{ttl: ttl}
	if opts.SecretKey != nil {
		ring, err := secret.KeyringFromKey(opts.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("amove: %w", err)
		}
		k.ring = ring
		return k, nil
	}
	keyFile := opts.KeyFile
	if keyFile == "" {
		return nil, errors.New("amove: no key: set Options.KeyFile or Options.SecretKey")
	}
	legacy, err := secret.ReadKey(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		legacy = nil
	case err != nil:
		return nil, fmt.Errorf("amove: %w", err)
	default:
		k.legacyPath, k.legacy = keyFile, legacy
	}
	k.path = keyringPath(keyFile)
	if k.ring, err = secret.LoadOrCreateKeyring(k.path, legacy, now); err != nil {
		return nil, fmt.Errorf("amove: %w", err)
	}
	if fi, err := os.Stat(k.path); err == nil {
		k.stamp = stampOf(fi)
	}
	return k, nil
}

func (k *keyring) current() *secret.Keyring {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ring
}

// reload returns the keyring, read again when its file changed. A file
// that cannot be read now keeps the keys in memory.
func (k *keyring) reload() *secret.Keyring {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.path == "" {
		return k.ring
	}
	fi, err := os.Stat(k.path)
	if err != nil || stampOf(fi) == k.stamp {
		return k.ring
	}
	if ring, err := secret.ReadKeyring(k.path, k.legacy); err == nil {
		k.ring, k.stamp = ring, stampOf(fi)
	}
	return k.ring
}

// write stores ring in the file and makes it current.
func (k *keyring) write(ring *secret.Keyring) error {
	if err := ring.WriteFile(k.path); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ring = ring
	if fi, err := os.Stat(k.path); err == nil {
		k.stamp = stampOf(fi)
	}
	return nil
}

func (k *keyring) files() []string {
	var out []string
	if k.legacyPath != "" {
		out = append(out, k.legacyPath)
	}
	if k.path != "" {
		out = append(out, k.path)
	}
	return out
}

// KeyFiles returns the absolute paths of the files holding the Client's
// keys (the legacy key file, when there is one, and the keyring file);
// none when the key was given as Options.SecretKey. They must never be a
// source or a destination of a transfer.
func (c *Client) KeyFiles() []string {
	out := c.keys.files()
	for i, p := range out {
		if abs, err := filepath.Abs(p); err == nil {
			out[i] = abs
		}
	}
	return out
}

// Associated data: where a sealed value may be opened. Values sealed with
// the keyring ("v2:") are bound to tenant, owner, row and column; "v1:"
// values (the single key of earlier versions) to row and column only, and
// RotateKeys seals them again the new way.

func accountAD(a store.Account, column string) string {
	return "cloud_accounts/" + a.TenantID + "/" + a.UserID + "/" + a.ID + "/" + column
}

func oauthStateAD(tenantID, userID, key string) string {
	return "oauth_states/" + tenantID + "/" + userID + "/" + key + "/verifier"
}

func legacyOAuthStateAD(key string) string { return "oauth_states/" + key + "/verifier" }

// sealedAD returns the associated data of a value the store holds.
func sealedAD(v store.Sealed) (ad, legacyAD string, err error) {
	switch {
	case v.Table == "cloud_accounts":
		a := store.Account{ID: v.ID, TenantID: v.TenantID, UserID: v.UserID}
		return accountAD(a, v.Column), sealAD(v.ID, v.Column), nil
	case v.Table == "oauth_states" && v.Column == "verifier":
		return oauthStateAD(v.TenantID, v.UserID, v.ID), legacyOAuthStateAD(v.ID), nil
	}
	// A sealed column this Client does not know: refuse rather than
	// leave it under a key that is about to be dropped.
	return "", "", fmt.Errorf("amove: no associated data for sealed %s.%s", v.Table, v.Column)
}

// sealValue seals plaintext with the current seal key.
func (c *Client) sealValue(plaintext, ad string) (string, error) {
	return c.keys.reload().Seal(plaintext, ad)
}

// openValue opens a sealed value, reading the keyring file again if the
// value names a key not held yet (rotated by another process).
func (c *Client) openValue(sealed, ad, legacyAD string) (string, error) {
	v, err := c.keys.current().Open(sealed, ad, legacyAD)
	if errors.Is(err, secret.ErrUnknownKey) {
		v, err = c.keys.reload().Open(sealed, ad, legacyAD)
	}
	return v, err
}

// keyringAuthenticator issues HS256 tokens with the keyring's sign key and
// its id in the "kid" header, and verifies a token with the key its kid
// names: the active key, or a retired one for one token lifetime after it
// was retired. Unknown kids, and keys of other uses (the seal key), are
// refused.
type keyringAuthenticator struct {
	keys *keyring
	ttl  time.Duration
	now  func() time.Time
}

func (a *keyringAuthenticator) Issue(ctx context.Context, u User) (string, time.Time, error) {
	kid, key := a.keys.reload().SignKey()
	j := &JWTAuthenticator{key: key, ttl: a.ttl, now: a.now, kid: kid}
	return j.Issue(ctx, u)
}

func (a *keyringAuthenticator) Verify(ctx context.Context, token string) (Principal, error) {
	kid, err := tokenKID(token)
	if err != nil {
		return Principal{}, &Error{Code: CodeToken, Message: "invalid token", Err: err}
	}
	now := a.now()
	key, ok := a.keys.current().VerifyKey(kid, now, a.ttl)
	if !ok {
		key, ok = a.keys.reload().VerifyKey(kid, now, a.ttl)
	}
	if !ok {
		return Principal{}, &Error{Code: CodeToken, Message: "invalid token", Err: errUnknownKID}
	}
	j := &JWTAuthenticator{key: key, ttl: a.ttl, now: a.now, kid: kid}
	return j.Verify(ctx, token)
}

var errUnknownKID = errors.New("token signed with an unknown or expired key")

// tokenKID reads the kid header without trusting it: it only chooses the
// key the signature is then checked with. "" means no kid. Only the header
// is decoded: the claims are decoded once, by the verification that
// follows (decoding them here as well cost more than verifying).
func tokenKID(token string) (string, error) {
	if strings.Count(token, ".") != 2 {
		return "", errors.New("token is not a JWS of three parts")
	}
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("token header: %w", err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("token header: %w", err)
	}
	raw, present := h["kid"]
	switch {
	case !present:
		return "", nil
	case string(raw) == "null":
		return "", errors.New("kid is null")
	}
	var kid string
	if err := json.Unmarshal(raw, &kid); err != nil {
		return "", errors.New("kid is not a string")
	}
	if kid == "" {
		return "", errors.New("kid is empty")
	}
	return kid, nil
}

// KeyRotation is the outcome of RotateKeys.
type KeyRotation struct {
	// SealKeyID and SignKeyID are the new active keys.
	SealKeyID, SignKeyID string
	// Resealed counts the stored values sealed again with the new key.
	Resealed int
	// Dropped are the ids of the keys removed from the keyring: seal keys
	// no stored value uses any more, sign keys whose tokens have expired.
	Dropped []string
}

// ErrCannotRotate is matched by RotateKeys' error when the Client's keys
// cannot be rotated: they were given as Options.SecretKey (no keyring file
// to keep new keys in), or the store does not implement store.Resealer.
var ErrCannotRotate = errors.New("amove: keys cannot be rotated")

// RotateKeys makes a new seal key and a new sign key the active ones. Every
// stored sealed value (cloud accounts' credentials, OAuth tokens, pending
// OAuth verifiers, soft-deleted accounts too) is opened and sealed again
// with the new seal key, bound to its tenant, owner and row, in one store
// transaction: if any value cannot be opened nothing is changed, and the
// error names the rows. New tokens are signed with the new sign key;
// tokens signed with the previous one stay valid until they expire
// (Options.TokenTTL). Keys no longer needed are then dropped: seal keys
// retired by an earlier rotation, and sign keys retired more than one
// token lifetime ago.
//
// Only a DesktopAdmin or ProviderAdmin may rotate: the keys are the
// agent's, shared by every tenant of the store. Another process sharing
// the keyring file (a running agent) picks the new keys up when it next
// meets them; only one rotation runs at a time (a lock file next to the
// keyring).
func (c *Client) RotateKeys(ctx context.Context, p Principal) (KeyRotation, error) {
	if err := p.check(); err != nil {
		return KeyRotation{}, err
	}
	if p.Role != RoleDesktopAdmin && p.Role != RoleProviderAdmin {
		return KeyRotation{}, &Error{Code: CodeAccess, Message: "only a DesktopAdmin or ProviderAdmin may rotate the keys"}
	}
	if c.keys.path == "" {
		return KeyRotation{}, fmt.Errorf("%w: the key was given as Options.SecretKey, with no keyring file", ErrCannotRotate)
	}
	resealer, ok := c.store.(store.Resealer)
	if !ok {
		return KeyRotation{}, fmt.Errorf("%w: the store cannot reseal its values", ErrCannotRotate)
	}
	unlock, err := lockFile(c.keys.path + ".lock")
	if err != nil {
		return KeyRotation{}, err
	}
	defer unlock()

	// Under the lock, start from the file: another process may have
	// rotated since this Client read it.
	cur, err := secret.ReadKeyring(c.keys.path, c.keys.legacy)
	if err != nil {
		return KeyRotation{}, fmt.Errorf("amove: %w", err)
	}
	now := c.now().UTC()
	next, err := cur.Rotated(now)
	if err != nil {
		return KeyRotation{}, err
	}
	// The new keys are on disk before any value is sealed with them; if
	// the reseal fails, the old keys are still there (retired) and every
	// value still opens.
	if err := c.keys.write(next); err != nil {
		return KeyRotation{}, fmt.Errorf("amove: %w", err)
	}
	n := 0
	err = resealer.Reseal(ctx, func(v store.Sealed) (string, error) {
		ad, legacyAD, err := sealedAD(v)
		if err != nil {
			return "", err
		}
		plain, err := next.Open(v.Value, ad, legacyAD)
		if err != nil {
			// Rolls the whole transaction back: the operator fixes or
			// deletes the row and rotates again.
			return "", fmt.Errorf("%s %s column %s cannot be decrypted, nothing was sealed again: %w", v.Table, v.ID, v.Column, err)
		}
		n++
		return next.Seal(plain, ad)
	})
	if err != nil {
		return KeyRotation{}, fmt.Errorf("amove: rotating keys: %w", err)
	}
	pruned, err := next.Pruned(now, now, c.keys.ttl)
	if err != nil {
		return KeyRotation{}, err
	}
	if err := c.keys.write(pruned); err != nil {
		return KeyRotation{}, fmt.Errorf("amove: %w", err)
	}
	kept := map[string]bool{}
	for _, ki := range pruned.Keys() {
		kept[string(ki.Use)+"/"+ki.ID] = true
	}
	out := KeyRotation{SealKeyID: next.SealID(), Resealed: n}
	out.SignKeyID, _ = next.SignKey()
	for _, ki := range next.Keys() {
		if !kept[string(ki.Use)+"/"+ki.ID] {
			out.Dropped = append(out.Dropped, ki.ID)
		}
	}
	c.log.InfoContext(ctx, "keys rotated", "sealKey", out.SealKeyID, "signKey", out.SignKeyID,
		"resealed", n, "dropped", out.Dropped, "user", p.UserID)
	return out, nil
}

// lockFile creates path exclusively and returns its removal; an existing
// lock means another rotation is running, or one crashed and left it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("amove: another key rotation is running (remove %s if none is)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("amove: %w", err)
	}
	f.Close()
	return func() { os.Remove(path) }, nil
}

// KeyInfo describes one key of the keyring, without the key.
type KeyInfo struct {
	ID string
	// Use is what the key is for: "seal" (it encrypts stored credentials)
	// or "sign" (it signs tokens).
	Use string
	// Active is set on the key of its use that seals or signs new values;
	// the others only open or verify what they sealed or signed.
	Active  bool
	Created time.Time
	// Retired is when the key stopped being active; zero while it is.
	Retired time.Time
}

// Keys describes the Client's keys, active ones first (`amove keys list`).
func (c *Client) Keys() []KeyInfo {
	keys := c.keys.reload().Keys()
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{ID: k.ID, Use: string(k.Use), Active: k.Active, Created: k.Created, Retired: k.Retired}
	}
	return out
}
