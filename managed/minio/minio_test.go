package minio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/managed/minio"
	"github.com/amove/amove-go/provider"
)

func newProvisioner(t *testing.T) (*minio.Provisioner, testenv.S3) {
	t.Helper()
	srv := testenv.RequireS3(t)
	p, err := minio.New(context.Background(), minio.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, srv
}

// bucketName is unique per test run: bucket names are global on a server
// other helpers share.
func bucketName(what string) string { return "prov-" + what + "-" + uuid.NewString()[:8] }

func open(t *testing.T, s managed.Storage) provider.Storage {
	t.Helper()
	st, err := provider.Open(context.Background(), provider.Config{CloudType: s.CloudType, Endpoint: s.ServiceURL,
		Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func provision(t *testing.T, p *minio.Provisioner, req managed.Request) managed.Storage {
	t.Helper()
	s, err := p.Provision(context.Background(), req)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { _ = p.Decommission(context.Background(), s) })
	return s
}

func TestProvisionIsolation(t *testing.T) {
	ctx := context.Background()
	p, _ := newProvisioner(t)
	ba, bb := bucketName("a"), bucketName("b")
	a := provision(t, p, managed.Request{Tenant: uuid.NewString(), Tier: 2, Bucket: ba})
	b := provision(t, p, managed.Request{Tenant: uuid.NewString(), Tier: 2, Bucket: bb})
	if a.ID == b.ID || a.AccessKey == b.AccessKey || a.SecretKey == "" || a.CloudType != provider.S3Generic {
		t.Fatalf("storages: %+v %+v", a.ID, b.ID)
	}

	sa := open(t, a)
	want := []byte("bytes of tenant a")
	if _, err := sa.Write(ctx, ba, "dir/x.txt", bytes.NewReader(want), int64(len(want)), provider.WriteOptions{}); err != nil {
		t.Fatalf("write own bucket: %v", err)
	}
	rc, err := sa.NewRangeReader(ctx, ba, "dir/x.txt", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %q, want %q", got, want)
	}
	// Only its own bucket is listed, and the other's is out of reach.
	list, err := sa.ListBuckets(ctx)
	if err != nil {
		t.Fatalf("list buckets: %v", err)
	}
	if len(list) != 1 || list[0].Name != ba {
		t.Errorf("tenant a lists %v, want only %s", list, ba)
	}
	if _, err := sa.Write(ctx, bb, "intruder", strings.NewReader("x"), 1, provider.WriteOptions{}); !errors.Is(err, provider.ErrPermission) {
		t.Errorf("write to another tenant's bucket: %v, want ErrPermission", err)
	}
	if _, err := sa.Stat(ctx, bb, "anything"); err == nil || errors.Is(err, provider.ErrNotFound) {
		t.Errorf("stat in another tenant's bucket: %v, want a refusal", err)
	}

	// The same tenant, region and tier again: ErrExists; another tier is
	// another storage.
	tenant := uuid.NewString()
	provision(t, p, managed.Request{Tenant: tenant, Tier: 2})
	if _, err := p.Provision(ctx, managed.Request{Tenant: tenant, Tier: 2}); !errors.Is(err, managed.ErrExists) {
		t.Errorf("second Provision: %v, want ErrExists", err)
	}
	provision(t, p, managed.Request{Tenant: tenant, Tier: 4})
	// A bucket name another storage holds is refused, not shared.
	if err := p.CreateBucket(ctx, b, ba); !errors.Is(err, provider.ErrExists) {
		t.Errorf("create a bucket another storage holds: %v, want ErrExists", err)
	}
	if err := p.DeleteBucket(ctx, b, ba); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("delete a bucket another storage holds: %v, want ErrNotFound", err)
	}
}

func TestBucketsUsageDecommission(t *testing.T) {
	ctx := context.Background()
	p, srv := newProvisioner(t)
	first, second := bucketName("one"), bucketName("two")
	s := provision(t, p, managed.Request{Tenant: uuid.NewString(), Tier: 1, Bucket: first})
	st := open(t, s)
	if err := p.CreateBucket(ctx, s, second); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	// The new bucket is reachable at once.
	for i, size := range []int{1000, 2345} {
		b := []string{first, second}[i]
		if _, err := st.Write(ctx, b, "k", bytes.NewReader(make([]byte, size)), int64(size), provider.WriteOptions{}); err != nil {
			t.Fatalf("write %s: %v", b, err)
		}
	}
	u, err := p.Usage(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes != 3345 || u.Objects != 2 || len(u.Buckets) != 2 {
		t.Fatalf("usage %+v, want 3345 bytes in 2 objects and 2 buckets", u)
	}
	if u.Buckets[0].Created.IsZero() || time.Since(u.Buckets[0].Created) > time.Hour {
		t.Errorf("bucket created %v", u.Buckets[0].Created)
	}
	// Delete removes a bucket with its objects.
	if err := p.DeleteBucket(ctx, s, second); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	root, err := provider.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if names := bucketNames(t, root); slices.Contains(names, second) || !slices.Contains(names, first) {
		t.Errorf("after DeleteBucket the server has %v", names)
	}

	if err := p.Decommission(ctx, s); err != nil {
		t.Fatalf("Decommission: %v", err)
	}
	if names := bucketNames(t, root); slices.Contains(names, first) {
		t.Errorf("bucket %s survives Decommission", first)
	}
	if _, err := st.ListBuckets(ctx); err == nil {
		t.Error("the decommissioned credentials still list buckets")
	}
	// Decommissioning twice is harmless.
	if err := p.Decommission(ctx, s); err != nil {
		t.Errorf("second Decommission: %v", err)
	}
}

func bucketNames(t *testing.T, st provider.Storage) []string {
	t.Helper()
	list, err := st.ListBuckets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range list {
		names = append(names, b.Name)
	}
	return names
}

func TestRegions(t *testing.T) {
	p, _ := newProvisioner(t)
	regions, err := p.Regions(context.Background())
	if err != nil || len(regions) != 1 || regions[0].Code != "us-east-1" {
		t.Fatalf("regions %v, %v", regions, err)
	}
	if _, err := p.Provision(context.Background(), managed.Request{Tenant: "t", Region: "mars"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("unknown region: %v, want ErrInvalid", err)
	}
}
