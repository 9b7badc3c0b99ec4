package amove_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"storj.io/uplink"

	"github.com/amove/amove-go"
	fakestorj "github.com/amove/amove-go/internal/fakes/storj"
	managedstorj "github.com/amove/amove-go/managed/storj"
	storjdriver "github.com/amove/amove-go/provider/storj" // registers the "storj" driver the accounts name
)

// TestStorjBackendThroughClient: the Storj family on the Storj backend
// (over the fake project): accounts hold an access grant, and a bucket
// added later renews the stored grant (AddBucket).
func TestStorjBackendThroughClient(t *testing.T) {
	ctx := context.Background()
	g, err := fakestorj.NewGrant(fakestorj.SatelliteAddress())
	if err != nil {
		t.Fatal(err)
	}
	access, err := uplink.ParseAccess(g.Serialized)
	if err != nil {
		t.Fatal(err)
	}
	fake := fakestorj.New()
	prov := managedstorj.NewWithProject(access, fake)
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(t.TempDir(), "a.db"),
		KeyFile: filepath.Join(t.TempDir(), "k"), Logger: slog.New(slog.DiscardHandler),
		Managed: amove.ManagedOptions{Storj: prov, SampleInterval: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, u, err := c.CreateTenant(ctx, "acme", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	p := u.Principal()

	a, err := c.AddStorage(ctx, p, amove.FamilyStorj, amove.NewStorage{Bucket: "storj-one"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Driver != storjdriver.DriverName || !a.InternalStorage || a.CredentialsData != "****" || a.AccessKey != "" {
		t.Fatalf("account %+v: want a storj account with its grant masked", a)
	}
	if err := c.CreateManagedBucket(ctx, p, amove.FamilyStorj, "", "storj-two"); err != nil {
		t.Fatalf("CreateManagedBucket: %v", err)
	}
	// Usage goes through the stored grant: it reaches the new bucket only
	// if the grant was renewed.
	info, err := c.ManagedCloudInfo(ctx, p, amove.FamilyStorj, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range info.Buckets {
		names = append(names, b.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"storj-one", "storj-two"}) {
		t.Fatalf("buckets through the stored grant: %v", names)
	}
	// A second add_storage is a storage of its own on Storj.
	b, err := c.AddStorage(ctx, p, amove.FamilyStorj, amove.NewStorage{Bucket: "storj-three"})
	if err != nil {
		t.Fatal(err)
	}
	// Grants are not S3 keys: get_amove_storage has none to give.
	if creds, err := c.StorageCredentials(ctx, p); err != nil || len(creds) != 0 {
		t.Errorf("StorageCredentials: %v, %v; want none", creds, err)
	}
	for _, id := range []string{a.ID, b.ID} {
		if err := c.DeleteStorage(ctx, p, amove.FamilyStorj, id); err != nil {
			t.Fatalf("DeleteStorage: %v", err)
		}
	}
	// Decommissioned: no bucket is left in the project.
	for b, err := range fake.Buckets(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("bucket %s left after deleting every storage", b.Name)
	}
}
