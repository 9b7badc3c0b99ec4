package box_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/box"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/box"
)

// ExampleOpen opens the driver on a Box account, writes a file and reads
// it back. A fake of the Box API on loopback (internal/fakes/box)
// stands in for https://api.box.com so the example runs offline: a real account leaves
// Endpoint empty and gets its TokenSource from the oauth package, as
// amove.Client does.
func ExampleOpen() {
	ctx := context.Background()
	srv := fake.New(fake.Options{})
	defer srv.Close()
	access, _, _ := srv.Auth.Issue() // as if the user had connected the app

	st, err := box.Open(ctx, provider.Config{
		CloudType:   provider.Box,
		Endpoint:    srv.URL,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	body := "hello, Box\n"
	o, err := st.Write(ctx, "All Files", "notes/hello.txt", strings.NewReader(body), int64(len(body)), provider.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, "verified:", o.Verified)

	rc, err := st.NewRangeReader(ctx, "All Files", "notes/hello.txt", 0, -1)
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
	// notes/hello.txt 11 verified: sha1
	// "hello, Box\n"
}
