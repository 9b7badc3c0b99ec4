package httpapi

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/secret"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// Key separation, rotation and AAD binding (issue 13 item 5). The sealed
// rows are tampered with as an attacker with write access to the database
// file would; the tokens are forged as one who got hold of a key or a kid.
var keyAttacks = []attack{
	{
		name: "sealed secret copied to another account's row does not open",
		env:  newKeyEnv,
		run: func(t *testing.T, e *env) {
			alice := e.keyAccount(t, e.aliceTok, "alice-s3", "alice-secret-key-0001")
			bob := e.keyAccount(t, e.bobTok, "bob-s3", "bob-secret-key-00002")
			db := e.database(t)
			mustExec(t, db, `UPDATE cloud_accounts SET secret_key = (SELECT secret_key FROM cloud_accounts WHERE id = ?) WHERE id = ?`, alice, bob)
			e.wantSealedRefused(t, e.bobTok, e.bob, bob)
		},
	},
	{
		name: "sealed secret moved to another tenant does not open",
		env:  newKeyEnv,
		run: func(t *testing.T, e *env) {
			ctx := context.Background()
			alice := e.keyAccount(t, e.aliceTok, "alice-s3", "alice-secret-key-0001")
			_, mallory, err := e.c.CreateTenant(ctx, "evil", amove.NewUser{Username: "mallory", Role: amove.RoleDesktopAdmin})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := e.c.IssueToken(ctx, mallory.ID)
			if err != nil {
				t.Fatal(err)
			}
			theirs := e.keyAccount(t, tok.Token, "mallory-s3", "mallory-secret-key-1")
			db := e.database(t)
			// Every sealed column of alice's row into mallory's.
			mustExec(t, db, `UPDATE cloud_accounts SET (access_key, secret_key, credentials_data) =
				(SELECT access_key, secret_key, credentials_data FROM cloud_accounts WHERE id = ?) WHERE id = ?`, alice, theirs)
			e.wantSealedRefused(t, tok.Token, mallory, theirs)
		},
	},
	{
		name: "account row handed to another owner does not open",
		env:  newKeyEnv,
		run: func(t *testing.T, e *env) {
			alice := e.keyAccount(t, e.aliceTok, "alice-s3", "alice-secret-key-0001")
			mustExec(t, e.database(t), `UPDATE cloud_accounts SET user_id = ? WHERE id = ?`, e.bob.ID, alice)
			e.wantSealedRefused(t, e.bobTok, e.bob, alice)
		},
	},
	{
		name: "token signed with the seal key is refused",
		run: func(t *testing.T, e *env) {
			ring := e.keyring(t)
			sealKey := ring.key(t, "seal", ring.Seal)
			for _, kid := range []string{ring.Seal, ring.Sign, ""} {
				e.wantForgedRefused(t, forge(t, e.alice, sealKey, kid))
			}
		},
	},
	{
		name: "token with an unknown kid is refused",
		run: func(t *testing.T, e *env) {
			ring := e.keyring(t)
			// The real sign key, under a kid the keyring does not hold.
			e.wantForgedRefused(t, forge(t, e.alice, ring.key(t, "sign", ring.Sign), "0123456789abcdef"))
			// A non-string kid.
			e.wantForgedRefused(t, forge(t, e.alice, ring.key(t, "sign", ring.Sign), 7))
		},
	},
	{
		name: "token signed by a random key under the active kid is refused",
		run: func(t *testing.T, e *env) {
			ring := e.keyring(t)
			random, _ := hex.DecodeString(strings.Repeat("5a", 32))
			e.wantForgedRefused(t, forge(t, e.alice, random, ring.Sign))
		},
	},
	{
		name: "after rotation credential rows hold only values the old seal key cannot open",
		run: func(t *testing.T, e *env) {
			ctx := context.Background()
			alice := e.keyAccount(t, e.aliceTok, "alice-s3", "alice-secret-key-0001")
			oldFile := e.keyringBytes(t)
			old := e.keyring(t)
			r, err := e.c.RotateKeys(ctx, e.admin.Principal())
			if err != nil {
				t.Fatal(err)
			}
			if r.SealKeyID == old.Seal || e.keyring(t).Seal != r.SealKeyID {
				t.Fatalf("rotation kept the seal key %s", old.Seal)
			}
			var ak, sk, all string
			db := e.database(t)
			if err := db.QueryRow(`SELECT access_key, secret_key FROM cloud_accounts WHERE id = ?`, alice).Scan(&ak, &sk); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow(`SELECT group_concat(access_key || secret_key || credentials_data, ' ') FROM cloud_accounts`).Scan(&all); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(all, "alice-secret-key") || strings.Contains(all, "memory-access-key") || strings.Contains(all, "v1:") {
				t.Fatalf("credential rows hold plaintext or v1 values: %s", all)
			}
			for _, v := range []string{ak, sk} {
				if !strings.HasPrefix(v, "v2:"+r.SealKeyID+":") {
					t.Fatalf("sealed value %q is not under the new key %s", v, r.SealKeyID)
				}
			}
			// The keyring as it was before the rotation holds no key for
			// the new values, and the old key under the new value's kid
			// does not open it either.
			before, err := secret.ParseKeyring(oldFile, nil)
			if err != nil {
				t.Fatal(err)
			}
			ad := "cloud_accounts/" + e.alice.TenantID + "/" + e.alice.ID + "/" + alice + "/secret_key"
			if _, err := before.Open(sk, ad, ""); !errors.Is(err, secret.ErrUnknownKey) {
				t.Errorf("the old keyring opens a new value: %v", err)
			}
			relabeled := "v2:" + old.Seal + ":" + strings.SplitN(sk, ":", 3)[2]
			if _, err := before.Open(relabeled, ad, ""); !errors.Is(err, secret.ErrOpen) {
				t.Errorf("the old seal key opens a new ciphertext: %v", err)
			}
			// The account and alice's token from before the rotation work.
			must(t, e.cloud(t, "POST", "/cloud/list_buckets", e.aliceTok, map[string]any{"id": alice}), http.StatusOK, nil)
		},
	},
}

// newKeyEnv is a memory env whose driver opens are recorded, so a row can
// check that no credential reached a driver.
func newKeyEnv(t *testing.T) *env {
	mem := memory.New(memory.Options{})
	log := &openLog{}
	e := newEnv(t, envConfig{open: func(_ context.Context, cfg provider.Config) (provider.Storage, error) {
		log.add(cfg.AccessKey + "/" + cfg.SecretKey)
		return sharedMemory{mem}, nil
	}})
	e.mem = mem
	openLogs.Store(t, log)
	t.Cleanup(func() { openLogs.Delete(t) })
	return e
}

// openLogs holds the open log of each newKeyEnv, by test.
var openLogs sync.Map // *testing.T -> *openLog

type openLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *openLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, s)
}

func (l *openLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// keyAccount inserts an S3 account with the given secret for the token's
// user and returns its id.
func (e *env) keyAccount(t *testing.T, token, name, secretKey string) string {
	t.Helper()
	var a cloudAccount
	must(t, e.cloud(t, "POST", "/cloud/insert_account", token, map[string]any{
		"cloudType": int(provider.S3Generic), "name": name, "endpoint": "http://memory.invalid",
		"accessKey": "memory-access-key", "secretKey": secretKey,
	}), http.StatusOK, &a)
	return a.ID
}

// database opens the env's SQLite file for raw writes.
func (e *env) database(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(filepath.Dir(e.root), "a.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s changed %d rows", query, n)
	}
}

// wantSealedRefused: the user's account, whose sealed values were tampered
// with, answers 500 over HTTP (an internal error: nothing of the value is
// shown), ErrDecrypt from the Client, and no driver was opened with
// whatever the values decrypted to.
func (e *env) wantSealedRefused(t *testing.T, token string, u amove.User, id string) {
	t.Helper()
	log, _ := openLogs.Load(t)
	before := log.(*openLog).len()
	r := e.cloud(t, "POST", "/cloud/list_buckets", token, map[string]any{"id": id})
	wantError(t, r, http.StatusInternalServerError, "")
	if len(r.body) != 0 {
		t.Errorf("the refusal has a body: %s", r.body)
	}
	_, err := e.c.ListBuckets(context.Background(), u.Principal(), id)
	if !errors.Is(err, amove.ErrDecrypt) || !strings.Contains(err.Error(), "cannot decrypt") {
		t.Errorf("ListBuckets = %v, want ErrDecrypt", err)
	}
	if strings.Contains(err.Error(), "secret-key") {
		t.Errorf("the error shows a secret: %v", err)
	}
	if n := log.(*openLog).len(); n != before {
		t.Errorf("a driver was opened %d times with the tampered credentials", n-before)
	}
}

// wantForgedRefused: a forged token for alice answers 401 TOKEN on a route
// that writes, and nothing is written.
func (e *env) wantForgedRefused(t *testing.T, token string) {
	t.Helper()
	r := e.request(t, "POST", "/cloud/insert_account", http.Header{"Authorization": {"Bearer " + token}}, map[string]any{
		"cloudType": int(provider.S3Generic), "name": "forged", "endpoint": "http://memory.invalid",
		"accessKey": "memory-access-key", "secretKey": "memory-secret-key",
	})
	wantError(t, r, http.StatusUnauthorized, "TOKEN")
	as, err := e.c.ListAccounts(context.Background(), e.alice.Principal())
	if err != nil || len(as) != 0 {
		t.Errorf("after a forged request alice has accounts %v, %v", as, err)
	}
	if _, err := e.c.Authenticate(context.Background(), token); !errors.Is(err, amove.ErrUnauthorized) {
		t.Errorf("Authenticate(forged) = %v, want TOKEN", err)
	}
}

// forge signs an HS256 token for u with key and the kid header (none for
// "").
func forge(t *testing.T, u amove.User, key []byte, kid any) string {
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

// keyringView is the keyring file as an attacker who read it sees it.
type keyringView struct {
	Seal string `json:"seal"`
	Sign string `json:"sign"`
	Keys []struct {
		ID  string `json:"id"`
		Use string `json:"use"`
		Key string `json:"key"`
	} `json:"keys"`
}

func (e *env) keyringBytes(t *testing.T) []byte {
	t.Helper()
	files := e.c.KeyFiles()
	if len(files) == 0 || !strings.HasSuffix(files[len(files)-1], ".keyring") {
		t.Fatalf("KeyFiles = %v, want the keyring last", files)
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) keyring(t *testing.T) keyringView {
	t.Helper()
	var k keyringView
	if err := json.Unmarshal(e.keyringBytes(t), &k); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k keyringView) key(t *testing.T, use, id string) []byte {
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
	t.Fatalf("no %s key %s", use, id)
	return nil
}
