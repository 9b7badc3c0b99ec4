package provider_test

import (
	"context"
	"fmt"
	"log"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// A driver registers itself in init under a name of its own, like a
// database/sql driver; importing its package is then enough. (This one is
// the memory driver with one bucket named by Config.Endpoint;
// examples/thirdparty has a complete driver.)
func init() {
	provider.Register("example-mem", func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
		st := memory.New(memory.Options{})
		if err := st.CreateBucket(ctx, cfg.Endpoint, ""); err != nil {
			return nil, err
		}
		return st, nil
	})
}

// ExampleRegister opens an account of a registered driver by its name.
func ExampleRegister() {
	fmt.Println(provider.Registered("example-mem"))

	// Config.Driver names the driver; CloudType stays zero for a driver that
	// is none of the 14 products. The drivers of this module are opened by
	// CloudType alone, which names its driver (CloudType.DriverName).
	st, err := provider.Open(context.Background(), provider.Config{Driver: "example-mem", Endpoint: "media"})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	buckets, err := st.ListBuckets(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(buckets[0].Name, provider.Wasabi.DriverName())
	// Output:
	// true
	// media wasabi
}
