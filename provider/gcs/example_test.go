package gcs_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/gcs"
)

// ExampleOpen opens the driver with a service-account JSON key and lists
// the buckets of its project. It needs Cloud Storage (or fake-gcs-server,
// with Endpoint set to its http:// URL and no credentials), so go test
// compiles it without running it. HMAC keys go through the S3 driver
// instead: see UsesHMAC.
func ExampleOpen() {
	ctx := context.Background()
	key, err := os.ReadFile("service-account.json")
	if err != nil {
		log.Fatal(err)
	}
	st, err := gcs.Open(ctx, provider.Config{
		CloudType:       provider.Google,
		CredentialsData: string(key),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	buckets, err := st.ListBuckets(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range buckets {
		fmt.Println(b.Name)
	}
}
