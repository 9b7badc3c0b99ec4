package minio_test

import (
	"context"
	"fmt"
	"log"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/managed/minio"
	_ "github.com/amove/amove-go/store/sqlite"
)

// A Client whose managed storage (both families) is provisioned on a MinIO
// server: a user then gets storage of their own as an ordinary account.
func Example() {
	ctx := context.Background()
	prov, err := minio.New(ctx, minio.Config{Endpoint: "http://127.0.0.1:9000", AccessKey: "minioadmin", SecretKey: "minioadmin"})
	if err != nil {
		log.Fatal(err)
	}
	defer prov.Close()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:/tmp/amove-example.db", KeyFile: "/tmp/amove-example.key",
		Managed: amove.ManagedOptions{Storj: prov, IDrive: prov}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_, user, err := c.CreateTenant(ctx, "acme", amove.NewUser{Username: "ada", Role: amove.RoleDesktopAdmin})
	if err != nil {
		log.Fatal(err)
	}
	acct, err := c.AddStorage(ctx, user.Principal(), amove.FamilyIDrive,
		amove.NewStorage{Name: "Amove", Bucket: "project-alpha", Tier: amove.TierGlobal})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(acct.InternalStorage, acct.StorageTier) // an ordinary account from here on
}
