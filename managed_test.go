package amove_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/managed/minio"
	"github.com/amove/amove-go/provider"
)

// mailbox records the mails a Client sends.
type mailbox struct {
	mu   sync.Mutex
	to   []string
	body []string
	fail error
}

func (m *mailbox) Send(_ context.Context, to, _, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.to, m.body = append(m.to, to), append(m.body, body)
	return m.fail
}

// managedClient is a Client on SQLite whose two families are served by
// the test MinIO server, and a user with an e-mail address.
func managedClient(t *testing.T, mail amove.Mailer) (*amove.Client, amove.User, testenv.S3) {
	t.Helper()
	return managedClientEvery(t, mail, -1)
}

func managedClientEvery(t *testing.T, mail amove.Mailer, every time.Duration) (*amove.Client, amove.User, testenv.S3) {
	t.Helper()
	srv := testenv.RequireS3(t)
	ctx := context.Background()
	prov, err := minio.New(ctx, minio.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prov.Close() })
	c, err := amove.New(ctx, amove.Options{
		DSN: "sqlite:" + filepath.Join(t.TempDir(), "amove.db"), KeyFile: filepath.Join(t.TempDir(), "secret.key"),
		Logger:  slog.New(slog.DiscardHandler),
		Managed: amove.ManagedOptions{Storj: prov, IDrive: prov, Mailer: mail, SampleInterval: every},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, u, err := c.CreateTenant(ctx, "acme", amove.NewUser{Username: "prov-" + uuid.NewString()[:8],
		Email: "owner@example.com", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return c, u, srv
}

func bucket(what string) string { return "prov-" + what + "-" + uuid.NewString()[:8] }

// TestManagedRefusals: the 499 Global refusals of the spec, and the
// not-configured error.
func TestManagedRefusals(t *testing.T) {
	ctx := context.Background()
	mail := &mailbox{fail: errors.New("mail server down")}
	c, u, srv := managedClient(t, mail)
	p := u.Principal()

	// A user-connected account is not internal storage.
	ordinary, err := c.InsertAccount(ctx, p, amove.NewAccount{CloudType: provider.S3Generic, Name: "mine",
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.AddStorage(ctx, p, amove.FamilyIDrive, amove.NewStorage{Tier: amove.TierGlobal, Bucket: bucket("r")})
	if err != nil {
		t.Fatalf("AddStorage (its welcome mail failing): %v", err)
	}
	t.Cleanup(func() { _ = c.DeleteStorage(context.Background(), p, amove.FamilyIDrive, s.ID) })
	if len(mail.to) != 1 || mail.to[0] != "owner@example.com" {
		t.Fatalf("welcome mail to %v", mail.to)
	}
	creds, err := c.StorageCredentials(ctx, p)
	if err != nil || len(creds) != 1 {
		t.Fatalf("StorageCredentials: %v, %v", creds, err)
	}
	if !strings.Contains(mail.body[0], creds[0].AccessKey) || strings.Contains(mail.body[0], creds[0].SecretKey) {
		t.Errorf("welcome mail: want the access key and not the secret key:\n%s", mail.body[0])
	}

	tests := []struct {
		name     string
		call     func() error
		code     amove.Code
		contains string
	}{
		{"delete an ordinary account", func() error { return c.DeleteStorage(ctx, p, amove.FamilyIDrive, ordinary.ID) },
			amove.CodeGlobal, "Only internal storage can be deleted"},
		{"delete an ordinary account (storj)", func() error { return c.DeleteStorage(ctx, p, amove.FamilyStorj, ordinary.ID) },
			amove.CodeGlobal, "Only internal storage can be deleted"},
		{"second storage in one region and tier", func() error {
			_, err := c.AddStorage(ctx, p, amove.FamilyIDrive, amove.NewStorage{Tier: amove.TierGlobal})
			return err
		}, amove.CodeGlobal, "already exists"},
		{"a bucket in an ordinary account", func() error {
			return c.CreateManagedBucket(ctx, p, amove.FamilyIDrive, ordinary.ID, bucket("x"))
		}, amove.CodeGlobal, "Only internal storage"},
		{"unknown tier", func() error {
			_, err := c.AddStorage(ctx, p, amove.FamilyIDrive, amove.NewStorage{Tier: 3})
			return err
		}, amove.CodeDefault, "storageTier"},
		{"storj without a bucket", func() error {
			_, err := c.AddStorage(ctx, p, amove.FamilyStorj, amove.NewStorage{})
			return err
		}, amove.CodeDefault, "bucketName"},
		{"bucket name with a slash", func() error { return c.CreateManagedBucket(ctx, p, amove.FamilyIDrive, s.ID, "a/b") },
			amove.CodeDefault, "bucketName"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if amove.ErrorCode(err) != tc.code || err == nil || !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("got %v (code %q), want code %q with %q", err, amove.ErrorCode(err), tc.code, tc.contains)
			}
		})
	}
	// Another tier is another storage.
	s2, err := c.AddStorage(ctx, p, amove.FamilyIDrive, amove.NewStorage{Tier: amove.TierArchive})
	if err != nil {
		t.Fatalf("AddStorage in another tier: %v", err)
	}
	var keys amove.ManagedCredentials
	all, err := c.StorageCredentials(ctx, p)
	for _, k := range all {
		if k.AccountID == s2.ID {
			keys = k
		}
	}
	if err != nil || keys.SecretKey == "" {
		t.Fatalf("credentials of the second storage: %+v, %v", all, err)
	}
	// The plain account delete decommissions managed storage too: nothing
	// is left behind on the backend.
	if err := c.DeleteAccount(ctx, p, s2.ID); err != nil {
		t.Fatalf("DeleteAccount of managed storage: %v", err)
	}
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: keys.ServiceURL,
		AccessKey: keys.AccessKey, SecretKey: keys.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.ListBuckets(ctx); !errors.Is(err, provider.ErrUnauthenticated) && !errors.Is(err, provider.ErrPermission) {
		t.Errorf("the deleted storage's keys list buckets: %v, want refused", err)
	}
	// And the tier is free again.
	s3, err := c.AddStorage(ctx, p, amove.FamilyIDrive, amove.NewStorage{Tier: amove.TierArchive})
	if err != nil {
		t.Fatalf("AddStorage after deleting the tier's storage: %v", err)
	}
	if err := c.DeleteStorage(ctx, p, amove.FamilyIDrive, s3.ID); err != nil {
		t.Errorf("DeleteStorage: %v", err)
	}
}

func TestManagedNotConfigured(t *testing.T) {
	ctx := context.Background()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(t.TempDir(), "amove.db"),
		KeyFile: filepath.Join(t.TempDir(), "secret.key"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, u, err := c.CreateTenant(ctx, "acme", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []amove.Family{amove.FamilyStorj, amove.FamilyIDrive} {
		if _, err := c.ManagedRegions(ctx, u.Principal(), f); !errors.Is(err, managed.ErrNotConfigured) {
			t.Errorf("%s regions: %v, want ErrNotConfigured", f, err)
		}
	}
	// Usage needs no backend: none sampled is 0.
	if n, err := c.DailyUsage(ctx, u.Principal(), amove.TierAll); err != nil || n != 0 {
		t.Errorf("daily usage without storage: %d, %v", n, err)
	}
}

// TestStorjFamilyOneStorage: the Storj family keeps one storage per tenant
// and tier; a second add_storage adds a bucket and an account on it, and
// the storage goes only with its last account.
func TestStorjFamilyOneStorage(t *testing.T) {
	ctx := context.Background()
	c, u, _ := managedClient(t, nil)
	p := u.Principal()
	b1, b2 := bucket("s1"), bucket("s2")
	a1, err := c.AddStorage(ctx, p, amove.FamilyStorj, amove.NewStorage{Name: "one", Bucket: b1})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := c.AddStorage(ctx, p, amove.FamilyStorj, amove.NewStorage{Name: "two", Bucket: b2})
	if err != nil {
		t.Fatal(err)
	}
	if !a1.InternalStorage || a1.AccessKey != a2.AccessKey || !strings.Contains(a1.SecretKey, "****") {
		t.Errorf("accounts %+v / %+v: want internal, one (masked) key pair", a1, a2)
	}
	info, err := c.ManagedCloudInfo(ctx, p, amove.FamilyStorj, "")
	if err != nil || len(info.Buckets) != 2 {
		t.Fatalf("cloud info %+v, %v: want 2 buckets", info, err)
	}
	if err := c.DeleteStorage(ctx, p, amove.FamilyStorj, a1.ID); err != nil {
		t.Fatal(err)
	}
	// The storage stays for a2.
	if _, err := c.ManagedBucketInfo(ctx, p, amove.FamilyStorj, "", b2); err != nil {
		t.Errorf("bucket info after deleting the first account: %v", err)
	}
	if err := c.DeleteStorage(ctx, p, amove.FamilyStorj, a2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ManagedCloudInfo(ctx, p, amove.FamilyStorj, ""); !errors.Is(err, amove.ErrNotFound) {
		t.Errorf("cloud info with no storage left: %v, want NOT_FOUND", err)
	}
}

// TestSampler: the Client samples on its interval without being asked,
// and Close stops the sampler.
func TestSampler(t *testing.T) {
	ctx := context.Background()
	c, u, srv := managedClientEvery(t, nil, 100*time.Millisecond)
	p := u.Principal()
	b := bucket("sampled")
	a, err := c.AddStorage(ctx, p, amove.FamilyIDrive, amove.NewStorage{Tier: amove.TierScale, Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	root, err := provider.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if _, err := root.Write(ctx, b, "k", strings.NewReader(strings.Repeat("x", 4321)), 4321, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := c.Usage(ctx, p, amove.TierScale)
		if err != nil {
			t.Fatal(err)
		}
		if n == 4321 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %d after 20 s of sampling every 100 ms, want 4321", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, err := c.DailyUsage(ctx, p, amove.TierAll); err != nil || n != 4321 {
		t.Errorf("daily usage %d, %v; want 4321", n, err)
	}
	if err := c.DeleteStorage(ctx, p, amove.FamilyIDrive, a.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the sampler")
	}
}
