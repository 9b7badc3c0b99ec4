package storj_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	fakestorj "github.com/amove/amove-go/internal/fakes/storj"
	"github.com/amove/amove-go/managed"
	managedstorj "github.com/amove/amove-go/managed/storj"
	"github.com/amove/amove-go/provider"
	storjdriver "github.com/amove/amove-go/provider/storj"
	"storj.io/common/grant"
	"storj.io/common/macaroon"
	"storj.io/uplink"
)

// setup returns a Provisioner over the fake project with a real operator
// grant made offline, and that grant's root secret, which stands in for
// the satellite when a test checks what a derived grant allows.
func setup(t *testing.T) (*managedstorj.Provisioner, *fakestorj.Project, fakestorj.Grant) {
	t.Helper()
	g, err := fakestorj.NewGrant(fakestorj.SatelliteAddress())
	if err != nil {
		t.Fatal(err)
	}
	access, err := uplink.ParseAccess(g.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	fake := fakestorj.New()
	return managedstorj.NewWithProject(access, fake), fake, g
}

// allows checks, as a satellite does with the project's secret, whether
// the serialized grant may do op in bucket.
func allows(t *testing.T, serialized string, secret []byte, op macaroon.ActionType, bucket string) bool {
	t.Helper()
	g, err := grant.ParseAccess(serialized)
	if err != nil {
		t.Fatalf("parse grant: %v", err)
	}
	err = g.APIKey.Check(context.Background(), secret, macaroon.APIKeyVersionMin,
		macaroon.Action{Op: op, Bucket: []byte(bucket), EncryptedPath: []byte("x"), Time: time.Now()}, nil)
	return err == nil
}

func TestProvisionRestrictsGrant(t *testing.T) {
	ctx := context.Background()
	prov, fake, root := setup(t)
	s, err := prov.Provision(ctx, managed.Request{Tenant: "acct-1", Bucket: "storj-alpha", Tier: 2})
	if err != nil {
		t.Fatal(err)
	}
	if s.Driver != storjdriver.DriverName || s.CloudType != 0 || s.Bucket != "storj-alpha" || s.Region != "global" || s.Tier != 2 {
		t.Errorf("Storage = %+v", s)
	}
	if s.CredentialsData == "" || s.CredentialsData == root.Serialized || s.SecretKey != "" {
		t.Fatal("Storage does not carry a derived grant in CredentialsData")
	}
	if _, err := fake.StatBucket(ctx, "storj-alpha"); err != nil {
		t.Fatalf("bucket not created: %v", err)
	}
	// The operator's grant reaches any bucket; the tenant's only its own.
	if !allows(t, root.Serialized, root.Secret, macaroon.ActionWrite, "storj-other") {
		t.Fatal("the root grant is refused: the check itself is broken")
	}
	for _, op := range []macaroon.ActionType{macaroon.ActionRead, macaroon.ActionWrite, macaroon.ActionList, macaroon.ActionDelete} {
		if !allows(t, s.CredentialsData, root.Secret, op, "storj-alpha") {
			t.Errorf("tenant grant refuses op %d on its bucket", op)
		}
		if allows(t, s.CredentialsData, root.Secret, op, "storj-other") {
			t.Errorf("tenant grant allows op %d on another bucket", op)
		}
	}
	// A grant signed under another project's secret is refused.
	if allows(t, s.CredentialsData, []byte("another secret"), macaroon.ActionRead, "storj-alpha") {
		t.Error("tenant grant passes under a foreign secret")
	}
	// uplink reads the derived grant and keeps the satellite.
	a, err := uplink.ParseAccess(s.CredentialsData)
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := uplink.ParseAccess(root.Serialized)
	if a.SatelliteAddress() != ra.SatelliteAddress() {
		t.Errorf("satellite %q, want %q", a.SatelliteAddress(), ra.SatelliteAddress())
	}
	got, err := prov.Buckets(ctx, s)
	if err != nil || len(got) != 1 || got[0] != "storj-alpha" {
		t.Errorf("Buckets = %v, %v", got, err)
	}
}

func TestProvisionErrors(t *testing.T) {
	ctx := context.Background()
	prov, _, root := setup(t)
	if _, err := prov.Provision(ctx, managed.Request{Tenant: "t1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := prov.Provision(ctx, managed.Request{Tenant: "t1"}); !errors.Is(err, managed.ErrExists) {
		t.Errorf("second Provision = %v, want ErrExists", err)
	}
	if _, err := prov.Provision(ctx, managed.Request{Tenant: "t2", Region: "us-east"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Provision in an unknown region = %v, want ErrInvalid", err)
	}
	if _, err := prov.Provision(ctx, managed.Request{}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Provision without tenant = %v, want ErrInvalid", err)
	}
	if _, err := prov.Provision(ctx, managed.Request{Tenant: "t3", Bucket: "Not_Valid"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Provision with a bad bucket name = %v, want ErrInvalid", err)
	}
	// A storage holding the operator's own grant is never acted on.
	whole := managed.Storage{ID: "x", Driver: "storj", CredentialsData: root.Serialized}
	if err := prov.Decommission(ctx, whole); !errors.Is(err, provider.ErrPermission) {
		t.Errorf("Decommission with a whole-project grant = %v, want ErrPermission", err)
	}
	if _, err := prov.Usage(ctx, managed.Storage{CredentialsData: "garbage"}); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("Usage with a bad grant = %v, want ErrInvalid", err)
	}
	regions, err := prov.Regions(ctx)
	if err != nil || len(regions) != 1 || regions[0].Code != "global" {
		t.Errorf("Regions = %v, %v", regions, err)
	}
}

// TestLifecycle provisions, writes through the driver on the same fake
// project, adds and deletes buckets, reads usage, and decommissions.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	prov, fake, root := setup(t)
	s, err := prov.Provision(ctx, managed.Request{Tenant: "acct-9", Bucket: "storj-life"})
	if err != nil {
		t.Fatal(err)
	}
	drv := storjdriver.New(fake)
	data := bytes.Repeat([]byte("amove storj "), 1000)
	if _, err := drv.Write(ctx, "storj-life", "dir/a.bin", bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Write(ctx, "storj-life", "b.txt", bytes.NewReader([]byte("hi")), 2, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := drv.NewRangeReader(ctx, "storj-life", "dir/a.bin", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("bytes read back differ")
	}

	if err := prov.CreateBucket(ctx, s, "storj-second"); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("CreateBucket = %v, want ErrUnsupported", err)
	}
	s2, err := prov.AddBucket(ctx, s, "storj-second")
	if err != nil {
		t.Fatal(err)
	}
	if s2.CredentialsData == s.CredentialsData {
		t.Fatal("AddBucket kept the old grant")
	}
	for _, b := range []string{"storj-life", "storj-second"} {
		if !allows(t, s2.CredentialsData, root.Secret, macaroon.ActionWrite, b) {
			t.Errorf("new grant refuses %s", b)
		}
	}
	if allows(t, s.CredentialsData, root.Secret, macaroon.ActionWrite, "storj-second") {
		t.Error("the old grant reaches the added bucket")
	}
	if _, err := prov.AddBucket(ctx, s2, "storj-second"); !errors.Is(err, provider.ErrExists) {
		t.Errorf("AddBucket of an existing bucket = %v, want ErrExists", err)
	}

	u, err := prov.Usage(ctx, s2)
	if err != nil {
		t.Fatal(err)
	}
	if u.Bytes != int64(len(data))+2 || u.Objects != 2 || len(u.Buckets) != 2 {
		t.Errorf("Usage = %+v, want %d bytes in 2 objects in 2 buckets", u, len(data)+2)
	}

	// Another tenant's bucket is out of reach.
	if _, err := prov.Provision(ctx, managed.Request{Tenant: "acct-10", Bucket: "storj-foreign"}); err != nil {
		t.Fatal(err)
	}
	if err := prov.DeleteBucket(ctx, s2, "storj-foreign"); !errors.Is(err, provider.ErrPermission) {
		t.Errorf("DeleteBucket of another tenant's bucket = %v, want ErrPermission", err)
	}
	if err := prov.DeleteBucket(ctx, s2, "storj-second"); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.StatBucket(ctx, "storj-second"); !errors.Is(err, uplink.ErrBucketNotFound) {
		t.Errorf("deleted bucket: %v", err)
	}

	if err := prov.Decommission(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if _, err := fake.StatBucket(ctx, "storj-life"); !errors.Is(err, uplink.ErrBucketNotFound) {
		t.Errorf("bucket with objects survived Decommission: %v", err)
	}
	if _, err := fake.StatBucket(ctx, "storj-foreign"); err != nil {
		t.Errorf("Decommission touched another tenant's bucket: %v", err)
	}
	if !fake.Revoked(s2.CredentialsData) {
		t.Error("Decommission did not revoke the grant")
	}
}

// TestNew opens the operator's project from a real grant made offline;
// nothing dials until a request, and a bad grant is refused up front.
func TestNew(t *testing.T) {
	ctx := context.Background()
	g, err := fakestorj.NewGrant(fakestorj.SatelliteAddress())
	if err != nil {
		t.Fatal(err)
	}
	p, err := managedstorj.New(ctx, g.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if regions, err := p.Regions(ctx); err != nil || len(regions) != 1 {
		t.Errorf("Regions = %v, %v", regions, err)
	}
	if _, err := managedstorj.New(ctx, "not a grant"); !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("New with a bad grant = %v, want ErrInvalid", err)
	}
}
