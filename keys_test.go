package amove_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/secret"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

// keyringJSON is the part of the keyring file the tests read.
type keyringJSON struct {
	Seal string `json:"seal"`
	Sign string `json:"sign"`
	Keys []struct {
		ID  string `json:"id"`
		Use string `json:"use"`
		Key string `json:"key"`
	} `json:"keys"`
}

func readKeyring(t *testing.T, path string) keyringJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var k keyringJSON
	if err := json.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k keyringJSON) key(t *testing.T, use, id string) []byte {
	t.Helper()
	for _, key := range k.Keys {
		if key.Use == use && key.ID == id {
			b, err := hex.DecodeString(key.Key)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s key %s in the keyring", use, id)
	return nil
}

// hs256 signs a token for u with key, with kid in the header unless empty.
func hs256(t *testing.T, u amove.User, key []byte, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": u.ID, "tid": u.TenantID, "role": int(u.Role),
		"iss": "amove-go", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantTokenRefused(t *testing.T, c *amove.Client, name, token string) {
	t.Helper()
	_, err := keep(c.Authenticate(context.Background(), token))
	if !errors.Is(err, amove.ErrUnauthorized) || amove.ErrorCode(err) != amove.CodeToken {
		t.Errorf("%s: Authenticate = %v, want TOKEN", name, err)
	}
}

// TestRotateKeys: a store that an earlier version sealed with its single
// key file ("v1:" values, tokens without kid) keeps working with the
// keyring; RotateKeys seals every value again with a new key bound to
// tenant, owner and row, on SQLite and PostgreSQL; old tokens stay valid,
// forged ones are refused, and a second agent sharing the key files
// follows the rotation.
func TestRotateKeys(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "secret.key")
		legacy := make([]byte, 32)
		_, _ = rand.Read(legacy)
		if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(legacy)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cloud := newFakeCloud(t)
		open := func() *amove.Client {
			c, err := amove.New(ctx, amove.Options{DSN: b.dsn, KeyFile: keyFile, OpenStorage: cloud.open,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
		c := open()
		ringPath := filepath.Join(dir, "secret.keyring")
		if got, want := c.KeyFiles(), []string{keyFile, ringPath}; !slices.Equal(got, want) {
			t.Errorf("KeyFiles = %v, want %v", got, want)
		}
		if fi, err := os.Stat(ringPath); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("keyring file: %v, %v", fi, err)
		}
		before := readKeyring(t, ringPath)

		_, admin, err := c.CreateTenant(ctx, "acme", amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
		if err != nil {
			t.Fatal(err)
		}
		_, otherAdmin, err := c.CreateTenant(ctx, "other", amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
		if err != nil {
			t.Fatal(err)
		}
		// A row as the earlier version wrote it: "v1:" values bound to
		// row and column only.
		st, err := store.Open(ctx, b.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		box, _ := secret.New(legacy)
		oldID := uuid.NewString()
		v1 := func(field, v string) string {
			s, err := box.Seal(v, "cloud_accounts/"+oldID+"/"+field)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := st.InsertAccount(ctx, store.Account{ID: oldID, TenantID: admin.TenantID, UserID: admin.ID,
			CloudType: provider.Wasabi, Name: "old", Region: "us-east-1", AccessKey: v1("access_key", goodAccessKey),
			SecretKey: v1("secret_key", goodSecretKey), CredentialsData: v1("credentials_data", credsData),
			Active: true, Created: now, Updated: now}); err != nil {
			t.Fatal(err)
		}
		if _, err := keep(c.ListBuckets(ctx, admin.Principal(), oldID)); err != nil {
			t.Fatalf("a v1 account does not open: %v", err)
		}
		// A token of the earlier version: no kid, the derived key.
		legacyJWT, _ := box.DeriveKey("jwt-hs256")
		if _, err := keep(c.Authenticate(ctx, hs256(t, admin, legacyJWT, ""))); err != nil {
			t.Errorf("a token without kid from the legacy key: %v", err)
		}

		fresh := keepAccount(t, c, admin, "fresh")
		theirs := keepAccount(t, c, otherAdmin, "theirs")
		raw := b.raw(t)
		if !strings.Contains(raw, "v2:"+before.Seal+":") || !strings.Contains(raw, "v1:") {
			t.Fatalf("before rotation the rows do not hold v1 and v2:%s values:\n%s", before.Seal, raw)
		}
		oldTok, err := keep(c.IssueToken(ctx, admin.ID))
		if err != nil {
			t.Fatal(err)
		}
		second := open() // another agent on the same key files

		// Only the agent's operators rotate.
		std := mustUser(t, c, admin, amove.RoleStandardUser)
		if _, err := keep(c.RotateKeys(ctx, std.Principal())); !errors.Is(err, amove.ErrForbidden) {
			t.Errorf("RotateKeys by a standard user = %v, want ACCESS", err)
		}

		r, err := keep(c.RotateKeys(ctx, admin.Principal()))
		if err != nil {
			t.Fatal(err)
		}
		// 3 values of each of the three accounts.
		if r.Resealed != 9 || r.SealKeyID == before.Seal || r.SignKeyID == before.Sign || r.SealKeyID == r.SignKeyID {
			t.Errorf("RotateKeys = %+v, keyring before: seal %s sign %s", r, before.Seal, before.Sign)
		}
		after := readKeyring(t, ringPath)
		if after.Seal != r.SealKeyID || after.Sign != r.SignKeyID {
			t.Errorf("keyring file: active seal %s sign %s, want %s %s", after.Seal, after.Sign, r.SealKeyID, r.SignKeyID)
		}
		if fi, _ := os.Stat(ringPath); fi.Mode().Perm() != 0o600 {
			t.Errorf("keyring mode after rotation %v", fi.Mode().Perm())
		}
		active := c.Keys()
		if len(active) < 2 || !active[0].Active || !active[1].Active {
			t.Errorf("Keys = %+v", active)
		}
		raw = b.raw(t)
		if strings.Contains(raw, "v1:") || strings.Contains(raw, "v2:"+before.Seal+":") || strings.Count(raw, "v2:"+r.SealKeyID+":") != 9 {
			t.Errorf("after rotation the rows hold old values:\n%s", raw)
		}
		if found := leaks(raw + b.files(t)); len(found) > 0 {
			t.Errorf("plaintext in the store after rotation: %q", found)
		}

		// Every credential still opens, on both agents.
		for _, cl := range []*amove.Client{c, second} {
			for _, a := range []struct {
				u  amove.User
				id string
			}{{admin, oldID}, {admin, fresh.ID}, {otherAdmin, theirs.ID}} {
				if _, err := keep(cl.ListBuckets(ctx, a.u.Principal(), a.id)); err != nil {
					t.Errorf("after rotation account %s: %v", a.id, err)
				}
			}
		}

		// The old token stays valid; new tokens carry the new kid and the
		// other agent verifies them.
		if p, err := keep(second.Authenticate(ctx, oldTok.Token)); err != nil || p.UserID != admin.ID {
			t.Errorf("a token signed before the rotation: %+v, %v", p, err)
		}
		newTok, err := keep(second.IssueToken(ctx, admin.ID))
		if err != nil {
			t.Fatal(err)
		}
		if kid := headerKID(t, newTok.Token); kid != r.SignKeyID {
			t.Errorf("the other agent signs with kid %q, want %q", kid, r.SignKeyID)
		}
		if _, err := keep(c.Authenticate(ctx, newTok.Token)); err != nil {
			t.Errorf("a new token: %v", err)
		}

		// Forged tokens: a random key under a known kid, the seal key under
		// its own kid or the sign key's, an unknown kid.
		random := make([]byte, 32)
		_, _ = rand.Read(random)
		sealKey := after.key(t, "seal", r.SealKeyID)
		wantTokenRefused(t, c, "random key, known kid", hs256(t, admin, random, r.SignKeyID))
		wantTokenRefused(t, c, "random key, old kid", hs256(t, admin, random, before.Sign))
		wantTokenRefused(t, c, "seal key, seal kid", hs256(t, admin, sealKey, r.SealKeyID))
		wantTokenRefused(t, c, "seal key, sign kid", hs256(t, admin, sealKey, r.SignKeyID))
		wantTokenRefused(t, c, "legacy key as HS256 key", hs256(t, admin, legacy, ""))
		wantTokenRefused(t, c, "unknown kid", hs256(t, admin, after.key(t, "sign", r.SignKeyID), "0123456789abcdef"))

		// A ciphertext moved to another row or tenant does not open.
		got, err := st.GetAccount(ctx, admin.TenantID, fresh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateCredentials(ctx, admin.TenantID, oldID, got.CredentialsData, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateCredentials(ctx, otherAdmin.TenantID, theirs.ID, got.CredentialsData, time.Now()); err != nil {
			t.Fatal(err)
		}
		for name, a := range map[string]struct {
			u  amove.User
			id string
		}{"another row": {admin, oldID}, "another tenant": {otherAdmin, theirs.ID}} {
			_, err := keep(c.ListBuckets(ctx, a.u.Principal(), a.id))
			if !errors.Is(err, amove.ErrDecrypt) || errors.Is(err, amove.ErrValidation) || !strings.Contains(err.Error(), "cannot decrypt") {
				t.Errorf("%s: ListBuckets with a moved ciphertext = %v, want ErrDecrypt", name, err)
			}
		}
		// ...and such a row stops the next rotation, which changes nothing.
		_, err = keep(c.RotateKeys(ctx, admin.Principal()))
		if !errors.Is(err, amove.ErrDecrypt) || !strings.Contains(err.Error(), oldID) && !strings.Contains(err.Error(), theirs.ID) {
			t.Errorf("RotateKeys over a moved ciphertext = %v, want ErrDecrypt naming the row", err)
		}
		if _, err := keep(c.ListBuckets(ctx, admin.Principal(), fresh.ID)); err != nil {
			t.Errorf("after a failed rotation: %v", err)
		}
		if raw := b.raw(t); strings.Count(raw, "v2:"+r.SealKeyID+":") != 9 {
			t.Errorf("a failed rotation changed the rows:\n%s", raw)
		}
		if _, err := os.Stat(ringPath + ".lock"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the rotation lock stayed: %v", err)
		}
	})
}

func keepAccount(t *testing.T, c *amove.Client, u amove.User, name string) amove.CloudAccount {
	t.Helper()
	a, err := keep(c.InsertAccount(context.Background(), u.Principal(), goodAccount(name, false)))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustUser(t *testing.T, c *amove.Client, admin amove.User, role amove.Role) amove.User {
	t.Helper()
	u, err := keep(c.CreateUser(context.Background(), admin.Principal(), amove.NewUser{Username: uniqueName("user"), Role: role}))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func headerKID(t *testing.T, token string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// TestRotateKeysNeedsAKeyring: a key given in memory cannot rotate, and
// still seals with a key id and signs with a kid.
func TestRotateKeysNeedsAKeyring(t *testing.T) {
	ctx := context.Background()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(t.TempDir(), "a.db"), SecretKey: make([]byte, 32),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, "t", amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keep(c.RotateKeys(ctx, admin.Principal())); !errors.Is(err, amove.ErrCannotRotate) {
		t.Errorf("RotateKeys with Options.SecretKey = %v, want ErrCannotRotate", err)
	}
	if files := c.KeyFiles(); len(files) != 0 {
		t.Errorf("KeyFiles = %v, want none", files)
	}
	tok, err := keep(c.IssueToken(ctx, admin.ID))
	if err != nil {
		t.Fatal(err)
	}
	if kid := headerKID(t, tok.Token); kid != secret.LegacySignID {
		t.Errorf("kid = %q", kid)
	}
}
