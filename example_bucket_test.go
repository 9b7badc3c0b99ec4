package amove_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/amove/amove-go"
)

// ExampleClient_CreateBucket makes a bucket in a cloud account, lists the
// account's buckets, and removes the bucket again (it must be empty).
// Making a bucket that exists is a DUPLICATE error.
func ExampleClient_CreateBucket() {
	ctx := context.Background()
	c, p, accountID, _, done := exampleClient()
	defer done()

	if err := c.CreateBucket(ctx, p, accountID, "renders", ""); err != nil {
		log.Fatal(err)
	}
	buckets, err := c.ListBuckets(ctx, p, accountID)
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range buckets {
		fmt.Println(b.Name)
	}
	err = c.CreateBucket(ctx, p, accountID, "renders", "")
	fmt.Println(amove.ErrorCode(err))
	if err := c.DeleteBucket(ctx, p, accountID, "renders"); err != nil {
		log.Fatal(err)
	}
	err = c.DeleteBucket(ctx, p, accountID, "renders")
	fmt.Println(errors.Is(err, amove.ErrNotFound))
	// Output:
	// media
	// renders
	// DUPLICATE
	// true
}
