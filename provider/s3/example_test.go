package s3_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/s3"
)

// ExampleOpen opens the driver on an S3-compatible server (a local MinIO
// here; AWS, Wasabi and Cloudflare accounts set their own CloudType and
// usually no Endpoint), writes an object and lists the bucket. It needs
// that server, so go test compiles it without running it.
func ExampleOpen() {
	ctx := context.Background()
	st, err := s3.Open(ctx, provider.Config{
		CloudType: provider.S3Generic,
		Endpoint:  "http://127.0.0.1:9000",
		Region:    "us-east-1",
		AccessKey: "minioadmin",
		SecretKey: "minioadmin",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	body := "hello, s3\n"
	if _, err := st.Write(ctx, "media", "notes/hello.txt", strings.NewReader(body), int64(len(body)), provider.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
	for o, err := range provider.Walk(ctx, st, "media", provider.ListOptions{Prefix: "notes/"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(o.Key, o.Size)
	}
}
