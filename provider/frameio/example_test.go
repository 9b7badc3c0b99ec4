package frameio_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/frameio"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/frameio"
)

// ExampleOpen opens the driver on a Frame.io account, lists its projects
// as buckets, writes a file and reads it back. A fake of the Frame.io V4
// API on loopback (internal/fakes/frameio) stands in for
// https://api.frame.io so the example runs offline: a real account leaves
// Endpoint empty and gets its TokenSource from the oauth package
// (oauth.FrameIO), as amove.Client does.
func ExampleOpen() {
	ctx := context.Background()
	srv := fake.New(fake.Options{})
	defer srv.Close()
	access, _, _ := srv.Auth.Issue() // as if the user had signed in with Adobe IMS

	st, err := frameio.Open(ctx, provider.Config{
		CloudType:   provider.Frame,
		Endpoint:    srv.URL,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	buckets, err := st.ListBuckets(ctx)
	if err != nil {
		log.Fatal(err)
	}
	bucket := buckets[0].Name // "<workspace>:<project>"
	fmt.Println(bucket)

	body := "hello, Frame.io\n"
	o, err := st.Write(ctx, bucket, "notes/hello.txt", strings.NewReader(body), int64(len(body)), provider.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, o.ContentType)

	rc, err := st.NewRangeReader(ctx, bucket, "notes/hello.txt", 0, -1)
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
	// Fake Workspace:Fake Project
	// notes/hello.txt 16 text/plain
	// "hello, Frame.io\n"
}
