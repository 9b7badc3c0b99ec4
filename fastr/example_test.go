package fastr_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/amove/amove-go/fastr"
)

// ExampleNewServer serves a temporary folder over the Fastr protocol and
// writes and reads an object with a Client that holds the same key pair.
func ExampleNewServer() {
	root, err := os.MkdirTemp("", "fastr-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	srv, err := fastr.NewServer(fastr.Options{
		Root:        root,
		Credentials: fastr.StaticCredentials(map[string]string{"demo-access": "demo-secret"}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	// The server is an http.Handler: mount it on any listener or mux.
	hs := httptest.NewServer(srv)
	defer hs.Close()

	ctx := context.Background()
	c, err := fastr.NewClient(hs.URL, "demo-access", "demo-secret", nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.CreateBucket(ctx, "notes"); err != nil {
		log.Fatal(err)
	}
	body := "hello, fastr\n"
	sum := sha256.Sum256([]byte(body))
	// The SHA-256 signs the body: the server refuses other bytes.
	o, err := c.Put(ctx, "notes", "today/hello.txt", strings.NewReader(body), int64(len(body)), "text/plain", hex.EncodeToString(sum[:]))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, o.SHA256 == hex.EncodeToString(sum[:]))

	rc, err := c.Get(ctx, "notes", "today/hello.txt", 7, 5) // a ranged read
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	part, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", part)
	// Output:
	// today/hello.txt 13 true
	// "fastr"
}
