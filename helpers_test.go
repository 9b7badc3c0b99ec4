package amove_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/pgtest"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"

	// The stores the tests open by DSN.
	_ "github.com/amove/amove-go/store/postgres"
	_ "github.com/amove/amove-go/store/sqlite"
)

// The one key pair the fake provider accepts, and other secrets the tests
// store. None of them may ever come back in clear.
const (
	goodAccessKey = "AKIAIOSFODNN7EXAMPLE"
	goodSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	credsData     = `{"refresh_token":"1//0gSECRETrefreshTOKENvalue"}`
	password      = "correct horse battery staple"
)

var plaintextSecrets = []string{goodAccessKey, goodSecretKey, credsData, "1//0gSECRETrefresh", password,
	goodAccessKey[:12], goodSecretKey[:20]}

// backend is a store the root tests run on, with raw access to its rows.
type backend struct {
	name string
	dsn  string
	// raw returns every row of every table as text, one line a row
	// starting with the table name.
	raw func(t *testing.T) string
	// files returns the bytes of the database files (SQLite only).
	files func(t *testing.T) string
}

func backends(t *testing.T) []backend {
	dir := t.TempDir()
	path := filepath.Join(dir, "amove.db")
	bs := []backend{{
		name: "sqlite",
		dsn:  "sqlite:" + path,
		raw: func(t *testing.T) string {
			db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var out strings.Builder
			for _, table := range []string{"tenants", "users", "cloud_accounts"} {
				rows, err := db.Query("SELECT * FROM " + table)
				if err != nil {
					t.Fatal(err)
				}
				cols, _ := rows.Columns()
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					fmt.Fprintln(&out, table, vals)
				}
				rows.Close()
			}
			return out.String()
		},
		files: func(t *testing.T) string {
			var out bytes.Buffer
			for _, f := range []string{path, path + "-wal"} {
				b, err := os.ReadFile(f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				out.Write(b)
			}
			return out.String()
		},
	}}
	if os.Getenv("AMOVE_TEST_POSTGRES_DSN") != "" || os.Getenv("CI") == "true" {
		bs = append(bs, backend{name: "postgres"})
	}
	return bs
}

// run runs fn once per backend, each with a fresh store.
func run(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			if b.name == "postgres" {
				dsn := pgtest.Schema(t)
				b.dsn = dsn
				b.files = func(*testing.T) string { return "" }
				b.raw = func(t *testing.T) string {
					ctx := context.Background()
					conn, err := pgx.Connect(ctx, dsn)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close(ctx)
					var out strings.Builder
					for _, table := range []string{"tenants", "users", "cloud_accounts"} {
						// The row as PostgreSQL's own text, uuids included.
						rows, err := conn.Query(ctx, "SELECT r::text FROM "+table+" r")
						if err != nil {
							t.Fatal(err)
						}
						for rows.Next() {
							var row string
							if err := rows.Scan(&row); err != nil {
								t.Fatal(err)
							}
							fmt.Fprintln(&out, table, row)
						}
						rows.Close()
					}
					return out.String()
				}
			}
			fn(t, b)
		})
	}
}

// fakeCloud is the memory driver behind a credential check, served over
// HTTP so presigned URLs work.
type fakeCloud struct {
	mem *memory.Storage
	srv *httptest.Server
}

// nopClose keeps the shared memory storage open when the Client closes the
// driver after each operation.
type nopClose struct{ *memory.Storage }

func (nopClose) Close() error { return nil }

func newFakeCloud(t *testing.T) *fakeCloud {
	mem := memory.New(memory.Options{})
	srv := httptest.NewServer(mem)
	t.Cleanup(srv.Close)
	mem.SetBaseURL(srv.URL)
	ctx := context.Background()
	if err := mem.CreateBucket(ctx, "media", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Write(ctx, "media", "clip.mov", strings.NewReader("frames"), 6, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return &fakeCloud{mem: mem, srv: srv}
}

func (f *fakeCloud) open(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
	if cfg.AccessKey != goodAccessKey || cfg.SecretKey != goodSecretKey {
		// Echo the keys, as careless providers do: the Client must mask them.
		return nil, fmt.Errorf("%w: SignatureDoesNotMatch for %s/%s", provider.ErrUnauthenticated, cfg.AccessKey, cfg.SecretKey)
	}
	return nopClose{f.mem}, nil
}

// sweep records every value and error the Client returns so one check can
// look for secrets in all of them.
type sweep struct {
	mu   sync.Mutex
	vals []any
}

var returned sweep

func keep[T any](v T, err error) (T, error) {
	returned.mu.Lock()
	returned.vals = append(returned.vals, v)
	if err != nil {
		returned.vals = append(returned.vals, err.Error())
	}
	returned.mu.Unlock()
	return v, err
}

func keepErr(err error) error {
	_, err = keep(struct{}{}, err)
	return err
}

// leaks reports the plaintext secrets found in s.
func leaks(s string) []string {
	var found []string
	for _, sec := range plaintextSecrets {
		if strings.Contains(s, sec) {
			found = append(found, sec)
		}
	}
	return found
}

func renderAll(v any) string {
	j, _ := json.Marshal(v)
	return string(j) + fmt.Sprintf(" %v %+v %#v", v, v, v)
}

// env is a Client on one backend with a tenant and its users.
type env struct {
	t      *testing.T
	c      *amove.Client
	cloud  *fakeCloud
	tenant amove.Tenant
	admin  amove.User
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	cloud := newFakeCloud(t)
	c, err := amove.New(context.Background(), amove.Options{
		DSN:         b.dsn,
		KeyFile:     filepath.Join(t.TempDir(), "secret.key"),
		OpenStorage: cloud.open,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &env{t: t, c: c, cloud: cloud}
	e.tenant, e.admin = e.newTenant("acme")
	return e
}

var userSeq struct {
	sync.Mutex
	n int
}

func uniqueName(prefix string) string {
	userSeq.Lock()
	defer userSeq.Unlock()
	userSeq.n++
	return fmt.Sprintf("%s%d", prefix, userSeq.n)
}

func (e *env) newTenant(name string) (amove.Tenant, amove.User) {
	e.t.Helper()
	tn, u, err := e.c.CreateTenant(context.Background(), name, amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
	if err != nil {
		e.t.Fatal(err)
	}
	keep(tn, nil)
	keep(u, nil)
	return tn, u
}

func (e *env) newUser(admin amove.User, role amove.Role) amove.User {
	e.t.Helper()
	u, err := keep(e.c.CreateUser(context.Background(), admin.Principal(), amove.NewUser{Username: uniqueName("user"), Role: role}))
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func goodAccount(name string, shared bool) amove.NewAccount {
	return amove.NewAccount{CloudType: provider.Wasabi, Name: name, Region: "us-east-1", AccessKey: goodAccessKey,
		SecretKey: goodSecretKey, CredentialsData: credsData, Shared: shared, StorageTier: amove.TierGlobal}
}

func (e *env) insert(owner amove.User, name string, shared bool) amove.CloudAccount {
	e.t.Helper()
	a, err := keep(e.c.InsertAccount(context.Background(), owner.Principal(), goodAccount(name, shared)))
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}
