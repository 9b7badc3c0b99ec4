package oauth_test

import (
	"context"
	"log"
	"os"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/dropbox" // registers the Dropbox driver
)

// A program that keeps a Dropbox token itself, in a file here, opens the
// driver with a token source that refreshes the token when it expires and
// writes each new one back to the file.
func ExampleNewTokenSource() {
	ctx := context.Background()
	const file = "dropbox-token.json"
	b, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := oauth.ParseToken(string(b))
	if err != nil {
		log.Fatal(err)
	}
	app := oauth.Dropbox(os.Getenv("DROPBOX_CLIENT_ID"), os.Getenv("DROPBOX_CLIENT_SECRET"))
	save := func(ctx context.Context, tok *oauth2.Token) error {
		s, err := oauth.MarshalToken(tok)
		if err != nil {
			return err
		}
		return os.WriteFile(file, []byte(s), 0o600)
	}
	ts := oauth.NewTokenSource(ctx, app.Config, tok, save, oauth.TokenSourceOptions{Name: "my Dropbox"})
	st, err := provider.Open(ctx, provider.Config{CloudType: provider.Dropbox, TokenSource: ts})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	buckets, err := st.ListBuckets(ctx)
	if err != nil {
		log.Fatal(err)
	}
	log.Println(buckets)
}
