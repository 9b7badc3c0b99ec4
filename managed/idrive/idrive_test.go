package idrive_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	fakeidrive "github.com/amove/amove-go/internal/fakes/idrive"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/managed/idrive"
	"github.com/amove/amove-go/provider"
)

const apiKey = "reseller-key-for-tests"

func newFake(t *testing.T, regions ...fakeidrive.Region) (*fakeidrive.Server, *idrive.Provisioner) {
	t.Helper()
	if len(regions) == 0 {
		regions = []fakeidrive.Region{{Key: "us-or", Name: "Oregon"}, {Key: "eu-fr", Name: "Frankfurt"}}
	}
	fake := fakeidrive.New(fakeidrive.Options{APIKey: apiKey, Regions: regions})
	t.Cleanup(fake.Close)
	p, err := idrive.New(fake.BaseURL(), apiKey, fake.Client())
	if err != nil {
		t.Fatal(err)
	}
	return fake, p
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	fake, _ := newFake(t)
	bad, err := idrive.NewClient(fake.BaseURL(), "wrong key", fake.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Regions(ctx)
	var apiErr *idrive.APIError
	if !errors.Is(err, provider.ErrUnauthenticated) || !errors.As(err, &apiErr) || apiErr.Code != "unauthorized" {
		t.Errorf("Regions with a wrong key = %v, want ErrUnauthenticated with code unauthorized", err)
	}
	if strings.Contains(err.Error(), "wrong key") {
		t.Errorf("error shows the API key: %v", err)
	}
	if _, err := idrive.NewClient("ftp://x", apiKey, nil); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("NewClient with a bad URL = %v, want ErrInvalid", err)
	}
	if _, err := idrive.NewClient("", " ", nil); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("NewClient without key = %v, want ErrInvalid", err)
	}

	c, err := idrive.NewClient(fake.BaseURL(), apiKey, fake.Client())
	if err != nil {
		t.Fatal(err)
	}
	// A 429 is waited out (Retry-After 1 s) and the call succeeds.
	fake.Throttle.Set(1, 1)
	start := time.Now()
	regions, err := c.Regions(ctx)
	if err != nil || len(regions) != 2 || regions[0].Key != "us-or" || regions[0].Name != "Oregon" {
		t.Fatalf("Regions after a 429 = %+v, %v", regions, err)
	}
	if fake.Throttle.Hits.Load() != 1 || time.Since(start) < time.Second {
		t.Errorf("throttled %d times, waited %v; want 1 and at least Retry-After", fake.Throttle.Hits.Load(), time.Since(start))
	}
	// Documented error body: invalid parameters.
	err = c.CreateUser(ctx, idrive.NewUser{Email: "no-at-sign", Password: "secret123", FirstName: "A"})
	if !errors.Is(err, provider.ErrInvalid) || !errors.As(err, &apiErr) || apiErr.Type != "invalid_request_error" {
		t.Errorf("CreateUser with a bad email = %v, want ErrInvalid invalid_request_error", err)
	}
	if err := c.RemoveUser(ctx, "nobody@example.com"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("RemoveUser of a missing user = %v, want ErrNotFound", err)
	}
}

func TestProvisionLifecycleFake(t *testing.T) {
	ctx := context.Background()
	fake, p := newFake(t)
	regions, err := p.Regions(ctx)
	if err != nil || len(regions) != 2 || regions[1] != (managed.Region{Name: "Frankfurt", Code: "eu-fr"}) {
		t.Fatalf("Regions = %v, %v", regions, err)
	}
	s, err := p.Provision(ctx, managed.Request{Tenant: "acct-1", Region: "eu-fr", Tier: 2, Bucket: "storj-first"})
	if err != nil {
		t.Fatal(err)
	}
	if s.CloudType != provider.S3Generic || s.Region != "eu-fr" || s.Tier != 2 || s.Bucket != "storj-first" ||
		!strings.HasPrefix(s.ServiceURL, "https://") || !strings.HasSuffix(s.ServiceURL, ".eu-fr.idrivee2-fake.invalid") ||
		s.AccessKey == "" || s.SecretKey == "" || s.Password == "" {
		t.Errorf("Storage = %+v", s)
	}
	email := idrive.UserEmail("acct-1", "eu-fr", 2, idrive.DefaultEmailDomain)
	if pw, ok := fake.Password(email); !ok || pw != s.Password {
		t.Errorf("the user's password on IDrive is not the one returned (user found: %v)", ok)
	}
	if _, err := p.Provision(ctx, managed.Request{Tenant: "acct-1", Region: "eu-fr", Tier: 2}); !errors.Is(err, managed.ErrExists) {
		t.Errorf("second Provision = %v, want ErrExists", err)
	}
	// Another tier, a default region, a password of the caller's.
	s2, err := p.Provision(ctx, managed.Request{Tenant: "acct-1", Tier: 4, Password: "Welcome-42"})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Region != "us-or" || s2.Password != "Welcome-42" {
		t.Errorf("second storage = %+v", s2)
	}
	if _, err := p.Provision(ctx, managed.Request{Tenant: "acct-2", Region: "mars"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Provision in an unknown region = %v, want ErrInvalid", err)
	}
	if err := p.CreateBucket(ctx, s, "storj-second"); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateBucket(ctx, s, "storj-second"); !errors.Is(err, provider.ErrExists) {
		t.Errorf("CreateBucket twice = %v, want ErrExists", err)
	}
	u, err := p.Usage(ctx, s)
	if err != nil || len(u.Buckets) != 2 || u.Buckets[0].Name != "storj-first" || u.Buckets[1].Name != "storj-second" || u.Buckets[0].Created.IsZero() {
		t.Errorf("Usage = %+v, %v", u, err)
	}
	if err := p.DeleteBucket(ctx, s, "storj-other"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("DeleteBucket of a bucket not in the storage = %v, want ErrNotFound", err)
	}
	if err := p.Decommission(ctx, s); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(fake.Users(), email) {
		t.Error("Decommission left the user")
	}
	if err := p.Decommission(ctx, s); err != nil {
		t.Errorf("second Decommission = %v, want nil", err)
	}
	if users := fake.Users(); len(users) != 1 {
		t.Errorf("users after decommissioning one of two storages: %v", users)
	}
}

// TestEndToEndMinIO provisions through the fake with a region backed by
// the test MinIO and moves bytes through the S3 driver with the storage
// it returns. The fake hands out MinIO's own credentials as the new key.
func TestEndToEndMinIO(t *testing.T) {
	srv := testenv.RequireS3(t)
	ctx := context.Background()
	fake, p := newFake(t, fakeidrive.Region{Key: "us-va", Name: "Virginia",
		S3: &fakeidrive.S3{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}})
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	bucket := "storj-idrive-" + hex.EncodeToString(suffix)
	s, err := p.Provision(ctx, managed.Request{Tenant: "acct-e2e-" + hex.EncodeToString(suffix), Bucket: bucket, Tier: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Decommission(context.Background(), s) })
	if s.ServiceURL != srv.Endpoint {
		t.Fatalf("ServiceURL %q, want the MinIO endpoint", s.ServiceURL)
	}

	// Open the storage as the Client opens a managed account.
	st, err := provider.Open(ctx, provider.Config{CloudType: s.CloudType, Driver: s.Driver, Region: s.Region,
		ServiceURL: s.ServiceURL, AccessKey: s.AccessKey, SecretKey: s.SecretKey, HTTPClient: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	data := make([]byte, 3<<20+7)
	_, _ = rand.Read(data)
	if _, err := st.Write(ctx, bucket, "dir/blob.bin", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := st.NewRangeReader(ctx, bucket, "dir/blob.bin", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), they differ from the %d written", len(got), err, len(data))
	}

	u, err := p.Usage(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes != int64(len(data)) || u.Objects != 1 || len(u.Buckets) != 1 || u.Buckets[0].Name != bucket {
		t.Errorf("Usage = %+v, want %d bytes in 1 object in %s", u, len(data), bucket)
	}

	second := bucket + "-b"
	if err := p.CreateBucket(ctx, s, second); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, second, "x", strings.NewReader("x"), 1, provider.WriteOptions{}); err != nil {
		t.Fatalf("the storage's key does not reach the new bucket: %v", err)
	}
	if err := p.DeleteBucket(ctx, s, second); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ListObjects(ctx, second, provider.ListOptions{}); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("deleted bucket still lists: %v", err)
	}

	if err := p.Decommission(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ListObjects(ctx, bucket, provider.ListOptions{}); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("bucket with objects survived Decommission: %v", err)
	}
	if len(fake.Users()) != 0 {
		t.Errorf("users left after Decommission: %v", fake.Users())
	}
}
