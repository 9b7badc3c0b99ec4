package onedrive_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"strings"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/onedrive"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/onedrive"
)

// ExampleOpen opens the driver on a OneDrive account, writes a file and reads
// it back. A fake of the OneDrive API on loopback (internal/fakes/onedrive)
// stands in for https://graph.microsoft.com so the example runs offline: a real account leaves
// Endpoint empty and gets its TokenSource from the oauth package, as
// amove.Client does.
func ExampleOpen() {
	ctx := context.Background()
	srv := fake.New(fake.Options{})
	defer srv.Close()
	access, _, _ := srv.Auth.Issue() // as if the user had connected the app

	st, err := onedrive.Open(ctx, provider.Config{
		CloudType:   provider.OneDrive,
		Endpoint:    srv.URL,
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access}),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	body := "hello, OneDrive\n"
	o, err := st.Write(ctx, "OneDrive", "notes/hello.txt", strings.NewReader(body), int64(len(body)), provider.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size, "verified:", o.Verified)

	rc, err := st.NewRangeReader(ctx, "OneDrive", "notes/hello.txt", 0, -1)
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
	// notes/hello.txt 16 verified: quickxor
	// "hello, OneDrive\n"
}
