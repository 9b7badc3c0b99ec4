// Command embed shows amove-go embedded in a program: it opens a Client,
// stores a cloud account once (its credentials are sealed in the Client's
// store from then on), streams an object of unknown size into the account
// and reads it back into memory, all through the Client and its
// authorization checks; the program never holds the credentials again
// after InsertAccount.
//
// Against an S3-compatible server:
//
//	go run ./examples/embed -endpoint http://127.0.0.1:9000 -bucket demo \
//	    -access minioadmin -secret minioadmin
//
// Without -endpoint it runs on the in-memory driver, so it needs nothing.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/all"
	"github.com/amove/amove-go/provider/memory"

	// The store "sqlite:" DSNs name.
	_ "github.com/amove/amove-go/store/sqlite"
)

// config is what the example needs to reach one account.
type config struct {
	Endpoint, Bucket, AccessKey, SecretKey string
	Size                                   int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.Endpoint, "endpoint", "", "S3-compatible endpoint (empty: the in-memory driver)")
	flag.StringVar(&cfg.Bucket, "bucket", "demo", "an existing bucket")
	flag.StringVar(&cfg.AccessKey, "access", os.Getenv("AWS_ACCESS_KEY_ID"), "access key")
	flag.StringVar(&cfg.SecretKey, "secret", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret key")
	flag.IntVar(&cfg.Size, "size", 12<<20, "bytes to write")
	flag.Parse()
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	dir, err := os.MkdirTemp("", "amove-embed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	opts := amove.Options{
		DSN:     "sqlite:" + filepath.Join(dir, "amove.db"),
		KeyFile: filepath.Join(dir, "secret.key"),
		Logger:  slog.New(slog.DiscardHandler),
	}
	acct := amove.NewAccount{CloudType: provider.S3Generic, Name: "example", Endpoint: cfg.Endpoint,
		Region: "us-east-1", AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey}
	if cfg.Endpoint == "" {
		// The in-memory driver stands in for the cloud; the account's
		// credentials are placeholders it does not check.
		mem := memory.New(memory.Options{})
		if err := mem.CreateBucket(ctx, cfg.Bucket, ""); err != nil {
			return err
		}
		opts.OpenStorage = func(context.Context, provider.Config) (provider.Storage, error) { return keepOpen{mem}, nil }
		acct.Endpoint, acct.AccessKey, acct.SecretKey = "memory://", "example", "example-secret"
	}

	c, err := amove.New(ctx, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	_, user, err := c.CreateTenant(ctx, "example", amove.NewUser{Username: "owner", Role: amove.RoleDesktopAdmin})
	if err != nil {
		return err
	}
	p := user.Principal()
	account, err := c.InsertAccount(ctx, p, acct)
	if err != nil {
		return err
	}
	// From here on only the account's id is used: the Client unseals the
	// credentials for each call and never returns them.
	acct = amove.NewAccount{}

	data := make([]byte, cfg.Size)
	for i := range data {
		data[i] = byte(i*31 + i>>12)
	}
	const key = "embed/example.bin"
	// Size unknown: the Writer holds at most one part in memory.
	w, err := c.NewWriter(ctx, p, account.ID, cfg.Bucket, key, provider.WriteOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		w.Abort()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	obj := w.Object()

	rc, err := c.NewReader(ctx, p, account.ID, cfg.Bucket, key)
	if err != nil {
		return err
	}
	back, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if sha256.Sum256(back) != sha256.Sum256(data) {
		return fmt.Errorf("read back %d bytes that differ from the %d written", len(back), len(data))
	}
	if err := c.Delete(ctx, p, account.ID, cfg.Bucket, key); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote and read back %s (%d bytes, provider checksum verified: %q), sha256 match\n",
		key, obj.Size, obj.Verified)
	return nil
}

// keepOpen keeps the shared in-memory driver open when the Client closes
// it after each call.
type keepOpen struct{ *memory.Storage }

func (keepOpen) Close() error { return nil }
