package storj_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	fakestorj "github.com/amove/amove-go/internal/fakes/storj"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/storj"
)

// ExampleNew writes an object to a Storj bucket and reads it back. A real
// account opens with provider.Open and its access grant,
//
//	st, err := provider.Open(ctx, provider.Config{Driver: storj.DriverName, CredentialsData: grant})
//
// which reaches the grant's satellite; here an in-memory fake project
// (internal/fakes/storj) stands in for it so the example runs offline.
func ExampleNew() {
	ctx := context.Background()
	project := fakestorj.New()
	if _, err := project.CreateBucket(ctx, "photos"); err != nil {
		log.Fatal(err)
	}
	st := storj.New(project)
	defer st.Close()

	body := "hello, Storj\n"
	if _, err := st.Write(ctx, "photos", "2026/hello.txt", strings.NewReader(body), int64(len(body)),
		provider.WriteOptions{ContentType: "text/plain"}); err != nil {
		log.Fatal(err)
	}
	page, err := st.ListObjects(ctx, "photos", provider.ListOptions{Delimiter: "/"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(page.Objects[0].Key, page.Objects[0].IsFolder)
	rc, err := st.NewRangeReader(ctx, "photos", "2026/hello.txt", 7, -1)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Printf("%q\n", b)
	// Output:
	// 2026/ true
	// "Storj\n"
}
