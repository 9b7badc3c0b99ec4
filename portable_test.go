package amove_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// portableCloud is a provider the portable storage test runs on: how the
// Client opens it, the account to insert, a bucket to use, and the part
// size the Writers use (the provider's minimum, so tests stay small).
type portableCloud struct {
	name  string
	start func(t *testing.T) (open func(context.Context, provider.Config) (provider.Storage, error), a amove.NewAccount, bucket string, partSize int)
}

var portableClouds = []portableCloud{
	{name: "memory", start: func(t *testing.T) (func(context.Context, provider.Config) (provider.Storage, error), amove.NewAccount, string, int) {
		// 1 MiB parts, so a few MiB already take several.
		mem := memory.New(memory.Options{Limits: provider.PartLimits{MinPartSize: 1 << 20, MaxPartSize: 1 << 30, MaxParts: 10000}})
		srv := httptest.NewServer(mem)
		t.Cleanup(srv.Close)
		mem.SetBaseURL(srv.URL)
		if err := mem.CreateBucket(context.Background(), "media", ""); err != nil {
			t.Fatal(err)
		}
		open := func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			if cfg.AccessKey != goodAccessKey || cfg.SecretKey != goodSecretKey {
				return nil, provider.ErrUnauthenticated
			}
			return nopClose{mem}, nil
		}
		return open, goodAccount("memory", false), "media", 1 << 20
	}},
	{name: "s3 (MinIO)", start: func(t *testing.T) (func(context.Context, provider.Config) (provider.Storage, error), amove.NewAccount, string, int) {
		env := testenv.RequireS3(t)
		a := amove.NewAccount{CloudType: provider.S3Generic, Name: "minio", Endpoint: env.Endpoint, Region: "us-east-1",
			AccessKey: env.AccessKey, SecretKey: env.SecretKey}
		b := randomName("amove-portable-")
		createBucket(t, a, b, true)
		return provider.Open, a, b, 5 << 20
	}},
}

// TestPortableStorage drives every portable storage call of the Client on
// each provider: the owner's calls work end to end with the bytes that go
// up coming back identical, and a user without rights on the account gets
// ErrNotFound from every one of them, whether from another tenant or from
// the owner's tenant on an account that is not shared.
func TestPortableStorage(t *testing.T) {
	for _, cloud := range portableClouds {
		t.Run(cloud.name, func(t *testing.T) {
			open, acct, bucket, partSize := cloud.start(t)
			ctx := context.Background()
			c, err := amove.New(ctx, amove.Options{
				DSN: "sqlite:" + filepath.Join(t.TempDir(), "amove.db"), KeyFile: filepath.Join(t.TempDir(), "secret.key"),
				OpenStorage: open, Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			e := &env{t: t, c: c}
			e.tenant, e.admin = e.newTenant("acme")
			owner := e.newUser(e.admin, amove.RoleStandardUser)
			insert := func(u amove.User, name string) amove.CloudAccount {
				t.Helper()
				in := acct
				in.Name = name
				a, err := c.InsertAccount(ctx, u.Principal(), in)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			mine, mine2 := insert(owner, "mine"), insert(owner, "mine too")

			t.Run("owner", func(t *testing.T) {
				testPortableOwner(t, c, owner.Principal(), mine.ID, mine2.ID, bucket, partSize)
			})

			_, stranger := e.newTenant("globex")
			creative := e.newUser(e.admin, amove.RoleCreativeUser)
			for _, intruder := range []struct {
				name string
				u    amove.User
			}{
				{"another tenant's admin", stranger},
				{"same tenant, account not shared (creative user)", creative},
				{"same tenant, account not shared (admin)", e.admin},
			} {
				t.Run(intruder.name, func(t *testing.T) {
					theirs := insert(intruder.u, "theirs")
					testPortableIntruder(t, c, intruder.u.Principal(), mine.ID, theirs.ID, bucket)
				})
			}
			// The intruders changed nothing.
			if _, err := c.Stat(ctx, owner.Principal(), mine.ID, bucket, "victim.bin"); err != nil {
				t.Errorf("the owner's object after the intruders: %v", err)
			}
		})
	}
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

// patterned returns n bytes that differ at every offset a part boundary
// could fall on, so a part sent twice or out of order shows.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>10)
	}
	return b
}

// readAll reads and closes what a reader-returning call returns:
// readAll(t)(c.NewReader(...)).
func readAll(t *testing.T) func(io.ReadCloser, error) []byte {
	return func(rc io.ReadCloser, err error) []byte {
		t.Helper()
		return readClose(t, rc, err)
	}
}

func readClose(t *testing.T, rc io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// upload streams data through a Writer of unknown size, in odd-sized
// writes that cross part boundaries.
func upload(t *testing.T, c *amove.Client, p amove.Principal, accountID, bucket, key string, data []byte, partSize int) provider.Object {
	t.Helper()
	w, err := c.NewWriter(context.Background(), p, accountID, bucket, key,
		provider.WriteOptions{ContentType: "application/octet-stream", PartSize: int64(partSize)})
	if err != nil {
		t.Fatal(err)
	}
	for b := data; len(b) > 0; {
		k := min(len(b), 333_333)
		if _, err := w.Write(b[:k]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		b = b[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return w.Object()
}

func testPortableOwner(t *testing.T, c *amove.Client, p amove.Principal, acct, acct2, bucket string, partSize int) {
	ctx := context.Background()
	large := 2*partSize + 12345 // three parts
	f, err := c.Features(ctx, p, acct)
	if err != nil || !f.Multipart {
		t.Fatalf("Features = %+v, %v; want multipart", f, err)
	}
	for _, n := range []int{0, 1000, large} {
		data := patterned(n)
		key := "dir/obj-" + strings.Repeat("x", n%7) + ".bin"
		o := upload(t, c, p, acct, bucket, key, data, partSize)
		if o.Size != int64(n) {
			t.Errorf("%d bytes: the Writer reports %d stored", n, o.Size)
		}
		st, err := c.Stat(ctx, p, acct, bucket, key)
		if err != nil || st.Size != int64(n) {
			t.Fatalf("Stat = %+v, %v", st, err)
		}
		if n == large && !strings.HasSuffix(strings.Trim(st.ETag, `"`), "-3") {
			t.Errorf("%d bytes: ETag %s, want a three-part upload's", n, st.ETag)
		}
		// Whatever digest the provider reports must be that of the bytes.
		for _, h := range provider.Preference {
			if got := st.Checksums.Get(h); !got.IsZero() && !got.Equal(provider.SumBytes(h, data)) {
				t.Errorf("%d bytes: provider %s %s differs from the bytes sent", n, h, got.Value)
			}
		}
		if back := readAll(t)(c.NewReader(ctx, p, acct, bucket, key)); sha(back) != sha(data) {
			t.Errorf("%d bytes: NewReader returned %d different bytes", n, len(back))
		}
	}

	data := patterned(large)
	key := "dir/big.bin"
	upload(t, c, p, acct, bucket, key, data, partSize)
	// Across the first part boundary, and to the end.
	off := int64(large/2 - 100)
	if got := readAll(t)(c.NewRangeReader(ctx, p, acct, bucket, key, off, 1000)); !bytes.Equal(got, data[off:off+1000]) {
		t.Error("NewRangeReader returned other bytes")
	}
	if got := readAll(t)(c.NewRangeReader(ctx, p, acct, bucket, key, int64(large-10), -1)); !bytes.Equal(got, data[large-10:]) {
		t.Error("NewRangeReader to the end returned other bytes")
	}

	// Within one account (server-side), and to another account (streamed).
	for _, dst := range []amove.ObjectRef{
		{CloudAccountID: acct, Bucket: bucket, Key: "copies/same account.bin"},
		{CloudAccountID: acct2, Bucket: bucket, Key: "copies/other account.bin"},
	} {
		o, err := c.CopyObject(ctx, p, dst, amove.ObjectRef{CloudAccountID: acct, Bucket: bucket, Key: key})
		if err != nil || o.Size != int64(large) {
			t.Fatalf("CopyObject to %s = %+v, %v", dst.Key, o, err)
		}
		if back := readAll(t)(c.NewReader(ctx, p, dst.CloudAccountID, dst.Bucket, dst.Key)); sha(back) != sha(data) {
			t.Errorf("copy %s differs from the source", dst.Key)
		}
	}

	var keys []string
	for o, err := range c.Walk(ctx, p, acct, bucket, provider.ListOptions{Prefix: "copies/", MaxKeys: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "copies/other account.bin,copies/same account.bin" {
		t.Errorf("Walk = %q", keys)
	}

	u, err := c.SignedURL(ctx, p, acct, bucket, key, provider.PresignOptions{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sha(body) != sha(data) {
		t.Errorf("GET of the signed URL: %d, %d bytes, equal %v", resp.StatusCode, len(body), sha(body) == sha(data))
	}

	// An aborted Writer, after more than a part, leaves nothing.
	w, err := c.NewWriter(ctx, p, acct, bucket, "aborted.bin", provider.WriteOptions{PartSize: int64(partSize)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Close(); !errors.Is(err, provider.ErrAborted) {
		t.Errorf("Close after Abort = %v", err)
	}
	if _, err := c.Stat(ctx, p, acct, bucket, "aborted.bin"); !errors.Is(err, amove.ErrNotFound) {
		t.Errorf("Stat of an aborted write = %v, want ErrNotFound", err)
	}

	if err := c.Delete(ctx, p, acct, bucket, key); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, p, acct, bucket, key); !errors.Is(err, amove.ErrNotFound) || !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Stat after Delete = %v, want ErrNotFound", err)
	}
	// Invalid input is refused before any request, as a validation error.
	if _, err := c.Stat(ctx, p, acct, bucket, ""); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Stat of an empty key = %v, want ErrInvalid", err)
	}

	// What the intruders will try to reach.
	upload(t, c, p, acct, bucket, "victim.bin", []byte("the owner's bytes"), partSize)
}

func testPortableIntruder(t *testing.T, c *amove.Client, p amove.Principal, victim, theirs, bucket string) {
	ctx := context.Background()
	obj := amove.ObjectRef{CloudAccountID: victim, Bucket: bucket, Key: "victim.bin"}
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"Features", func() error { _, err := c.Features(ctx, p, victim); return err }},
		{"Stat", func() error { _, err := c.Stat(ctx, p, victim, bucket, obj.Key); return err }},
		{"NewReader", func() error { _, err := c.NewReader(ctx, p, victim, bucket, obj.Key); return err }},
		{"NewRangeReader", func() error { _, err := c.NewRangeReader(ctx, p, victim, bucket, obj.Key, 1, 2); return err }},
		{"NewWriter", func() error {
			_, err := c.NewWriter(ctx, p, victim, bucket, obj.Key, provider.WriteOptions{})
			return err
		}},
		{"CopyObject within it", func() error {
			_, err := c.CopyObject(ctx, p, amove.ObjectRef{CloudAccountID: victim, Bucket: bucket, Key: "stolen"}, obj)
			return err
		}},
		{"CopyObject out of it", func() error {
			_, err := c.CopyObject(ctx, p, amove.ObjectRef{CloudAccountID: theirs, Bucket: bucket, Key: "stolen"}, obj)
			return err
		}},
		{"CopyObject into it", func() error {
			_, err := c.CopyObject(ctx, p, obj, amove.ObjectRef{CloudAccountID: theirs, Bucket: bucket, Key: "x"})
			return err
		}},
		{"Delete", func() error { return c.Delete(ctx, p, victim, bucket, obj.Key) }},
		{"Walk", func() error {
			for _, err := range c.Walk(ctx, p, victim, bucket, provider.ListOptions{}) {
				return err
			}
			return errors.New("Walk yielded nothing")
		}},
		{"SignedURL", func() error {
			_, err := c.SignedURL(ctx, p, victim, bucket, obj.Key, provider.PresignOptions{Method: http.MethodGet})
			return err
		}},
		{"ListBuckets", func() error { _, err := c.ListBuckets(ctx, p, victim); return err }},
	} {
		if err := call.do(); !errors.Is(err, amove.ErrNotFound) {
			t.Errorf("%s = %v, want ErrNotFound", call.name, err)
		}
	}
}
