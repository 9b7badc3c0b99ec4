package memory_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// ExampleNew makes an in-memory store, creates a bucket, writes an object
// and reads it back. Memory storage is not registered under a driver name:
// tests and examples hand it to amove.Options.OpenStorage, or use it as a
// provider.Storage directly as here.
func ExampleNew() {
	ctx := context.Background()
	st := memory.New(memory.Options{})
	defer st.Close()

	if err := st.CreateBucket(ctx, "media", ""); err != nil {
		log.Fatal(err)
	}
	body := "hello, memory\n"
	o, err := st.Write(ctx, "media", "notes/hello.txt", strings.NewReader(body), int64(len(body)),
		provider.WriteOptions{ContentType: "text/plain"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, "verified:", o.Verified)

	info, err := st.Stat(ctx, "media", "notes/hello.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.ContentType, info.Checksums.MD5)

	rc, err := st.NewRangeReader(ctx, "media", "notes/hello.txt", 0, -1)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", got)
	// Output:
	// notes/hello.txt 14 verified: md5
	// text/plain 445e9825a239364f2d2ff7ec1dbf7ea9
	// "hello, memory\n"
}
