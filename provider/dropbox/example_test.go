package dropbox_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/dropbox"
)

// ExampleOpen opens the driver on a Dropbox account, writes a file and
// reads it back. A fake of the Dropbox API on loopback
// (internal/fakes/dropbox) stands in for api.dropboxapi.com so the example
// runs offline: a real account leaves Endpoint empty and gets its
// TokenSource from the oauth package, as amove.Client does.
func ExampleOpen() {
	ctx := context.Background()
	srv := fake.New(fake.Options{})
	defer srv.Close()
	access, _, _ := srv.IssueToken() // as if the user had connected the app

	st, err := dropbox.Open(ctx, provider.Config{
		CloudType:   provider.Dropbox,
		Endpoint:    srv.URL,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// Dropbox has one tree per user: the driver's one bucket is RootBucket.
	body := "hello, Dropbox\n"
	o, err := st.Write(ctx, dropbox.RootBucket, "notes/hello.txt", strings.NewReader(body), int64(len(body)), provider.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, "verified:", o.Verified)

	rc, err := st.NewRangeReader(ctx, dropbox.RootBucket, "notes/hello.txt", 0, -1)
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
	// notes/hello.txt 15 verified: dropbox
	// "hello, Dropbox\n"
}
