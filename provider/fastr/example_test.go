package fastr_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"

	fastrapi "github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/fastr"
)

// ExampleOpen runs a Fastr server (package fastr of this module) on
// loopback, opens the driver on it as a FastrServer account, writes an
// object and reads part of it back.
func ExampleOpen() {
	root, err := os.MkdirTemp("", "fastr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	srv, err := fastrapi.NewServer(fastrapi.Options{
		Root:        root,
		Credentials: fastrapi.StaticCredentials(map[string]string{"demo-access": "demo-secret"}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()

	ctx := context.Background()
	st, err := fastr.Open(ctx, provider.Config{
		CloudType:  provider.FastrServer,
		ServiceURL: hs.URL,
		AccessKey:  "demo-access",
		SecretKey:  "demo-secret",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	if err := st.CreateBucket(ctx, "notes", ""); err != nil {
		log.Fatal(err)
	}
	body := "hello, fastr\n"
	o, err := st.Write(ctx, "notes", "today/hello.txt", strings.NewReader(body), int64(len(body)), provider.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, "verified:", o.Verified)

	rc, err := st.NewRangeReader(ctx, "notes", "today/hello.txt", 7, 5) // a ranged read
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
	// today/hello.txt 13 verified: sha256
	// "fastr"
}
