package amove_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// ExampleNew opens a Client whose store and keys live in a folder of its
// own, creates a tenant with its first user, and adds a cloud account as
// that user. Options.OpenStorage stands in for the provider drivers: every
// account is the same in-memory store (provider/memory), so the example
// needs no network.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "amove-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(ctx, "media", ""); err != nil {
		log.Fatal(err)
	}
	c, err := amove.New(ctx, amove.Options{
		DSN:     "sqlite:" + filepath.Join(dir, "amove.db"),
		KeyFile: filepath.Join(dir, "secret.key"),
		Logger:  slog.New(slog.DiscardHandler),
		OpenStorage: func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
			return mem, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, owner, err := c.CreateTenant(ctx, "Example Studio", amove.NewUser{
		Username: "ana", Password: "correct horse battery staple", Role: amove.RoleAccountAdmin})
	if err != nil {
		log.Fatal(err)
	}
	// InsertAccount checks the credentials with the provider (it lists the
	// buckets) and stores them sealed; what comes back is masked.
	acct, err := c.InsertAccount(ctx, owner.Principal(), amove.NewAccount{
		CloudType: provider.Wasabi, Name: "archive", Region: "us-east-1",
		AccessKey: "AKIAIOSFODNN7EXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(acct.Name, acct.CloudType, acct.SecretKey)

	buckets, err := c.ListBuckets(ctx, owner.Principal(), acct.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, b := range buckets {
		fmt.Println(b.Name)
	}
	// Output:
	// archive Wasabi ****EKEY
	// media
}

// ExampleClient_Upload uploads a local file to a cloud account in the
// background and waits for the transfer. The account is an in-memory store
// supplied through Options.OpenStorage, as in ExampleNew (exampleClient).
func ExampleClient_Upload() {
	ctx := context.Background()
	c, p, accountID, dir, done := exampleClient()
	defer done()

	file := filepath.Join(dir, "cut-01.mov")
	if err := os.WriteFile(file, []byte("not really a movie\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	// A Key ending in "/" is a prefix the file's name is appended to.
	id, err := c.Upload(ctx, p, amove.UploadRequest{
		AccountID: accountID, Bucket: "media", Key: "uploads/", LocalPath: file})
	if err != nil {
		log.Fatal(err)
	}
	// The upload runs in the background; poll its status until it ends.
	for {
		st, err := c.TransferStatus(ctx, p, id)
		if err != nil {
			log.Fatal(err)
		}
		if st.State.Final() {
			fmt.Println(st.State, st.BytesDone, "bytes, checksum verified:", st.ChecksumVerified)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	page, err := c.ListObjects(ctx, p, accountID, "media", provider.ListOptions{Prefix: "uploads/"})
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range page.Objects {
		fmt.Println(o.Key, o.Size)
	}
	// Output:
	// completed 19 bytes, checksum verified: true
	// uploads/cut-01.mov 19
}
