package idrive_test

import (
	"context"
	"fmt"
	"log"

	fakeidrive "github.com/amove/amove-go/internal/fakes/idrive"
	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/managed/idrive"
)

// ExampleNew provisions a tenant's storage through the Reseller API and
// shows what becomes the tenant's S3Generic account. A fake of the API
// (internal/fakes/idrive) stands in for https://api.idrivee2.com so the
// example runs offline; an operator passes "" for the base URL and the
// reseller's API key.
func ExampleNew() {
	ctx := context.Background()
	api := fakeidrive.New(fakeidrive.Options{APIKey: "reseller-key", Regions: []fakeidrive.Region{{Key: "us-or", Name: "Oregon"}}})
	defer api.Close()

	p, err := idrive.New(api.BaseURL(), "reseller-key", nil)
	if err != nil {
		log.Fatal(err)
	}
	s, err := p.Provision(ctx, managed.Request{Tenant: "acct-42", Region: "us-or", Tier: 1, Bucket: "project-alpha", Password: "Welcome-1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.CloudType, s.Region, s.Bucket, s.AccessKey != "", s.SecretKey != "")
	_, err = p.Provision(ctx, managed.Request{Tenant: "acct-42", Region: "us-or", Tier: 1})
	fmt.Println(err)
	// Output:
	// S3Generic us-or project-alpha true true
	// managed storage already exists: idrive: region us-or tier 1
}
