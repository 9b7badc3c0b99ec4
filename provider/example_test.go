package provider_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// ExampleWalk writes three objects with a driver (the memory driver here;
// any provider.Storage works the same) and walks them back page by page.
func ExampleWalk() {
	ctx := context.Background()
	var st provider.Storage = memory.New(memory.Options{})
	defer st.Close()
	if bm, ok := st.(provider.BucketManager); ok { // an optional capability
		if err := bm.CreateBucket(ctx, "media", ""); err != nil {
			log.Fatal(err)
		}
	}
	for _, key := range []string{"dailies/a.mov", "dailies/b.mov", "stills/c.jpg"} {
		// size -1 would stream a body of unknown length just as well.
		body := "bytes of " + key
		if _, err := st.Write(ctx, "media", key, strings.NewReader(body), int64(len(body)), provider.WriteOptions{}); err != nil {
			log.Fatal(err)
		}
	}
	// MaxKeys 2 makes Walk fetch two pages; the caller sees one sequence.
	for o, err := range provider.Walk(ctx, st, "media", provider.ListOptions{MaxKeys: 2}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(o.Key, o.Size)
	}
	// Output:
	// dailies/a.mov 22
	// dailies/b.mov 22
	// stills/c.jpg 21
}
