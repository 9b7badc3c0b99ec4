package amove_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// exampleClient opens a Client in a temporary folder, as ExampleNew does,
// with one tenant whose owner has one cloud account; every account is the
// same in-memory store holding the bucket "media" with the object
// "dailies/readme.txt". It returns the Client, the owner's Principal, the
// account id, the temporary folder and a function that closes it all.
func exampleClient() (c *amove.Client, p amove.Principal, accountID, dir string, done func()) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "amove-example")
	if err != nil {
		log.Fatal(err)
	}
	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(ctx, "media", ""); err != nil {
		log.Fatal(err)
	}
	readme := "shot list for day one\n"
	if _, err := mem.Write(ctx, "media", "dailies/readme.txt", strings.NewReader(readme), int64(len(readme)), provider.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
	c, err = amove.New(ctx, amove.Options{
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
	_, owner, err := c.CreateTenant(ctx, "Example Studio", amove.NewUser{
		Username: "ana", Password: "correct horse battery staple", Role: amove.RoleAccountAdmin})
	if err != nil {
		log.Fatal(err)
	}
	acct, err := c.InsertAccount(ctx, owner.Principal(), amove.NewAccount{
		CloudType: provider.Wasabi, Name: "archive", Region: "us-east-1",
		AccessKey: "AKIAIOSFODNN7EXAMPLE", SecretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
	if err != nil {
		log.Fatal(err)
	}
	return c, owner.Principal(), acct.ID, dir, func() {
		c.Close()
		os.RemoveAll(dir)
	}
}

// ExampleOpenDefault opens the Client the amove command uses: the SQLite
// store and key file in the user's configuration directory, created on
// first use. It writes to that directory, so go test compiles it without
// running it. Programs that keep their data elsewhere call New.
func ExampleOpenDefault() {
	ctx := context.Background()
	c, err := amove.OpenDefault(ctx, amove.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	// Pick up transfers an earlier run left unfinished.
	if err := c.RestoreTransfers(ctx); err != nil {
		log.Fatal(err)
	}
}

// ExampleClient_NewWriter streams an object into a cloud account; Close
// completes it and Object reports what the provider stored. (The account is
// an in-memory store: see exampleClient.)
func ExampleClient_NewWriter() {
	ctx := context.Background()
	c, p, accountID, _, done := exampleClient()
	defer done()

	w, err := c.NewWriter(ctx, p, accountID, "media", "dailies/notes.txt", provider.WriteOptions{ContentType: "text/plain"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.WriteString(w, "take 3 is the one\n"); err != nil {
		w.Abort()
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	o := w.Object()
	fmt.Println(o.Key, o.Size, o.ContentType)
	// Output:
	// dailies/notes.txt 18 text/plain
}

// ExampleClient_NewReader reads an object of a cloud account.
func ExampleClient_NewReader() {
	ctx := context.Background()
	c, p, accountID, _, done := exampleClient()
	defer done()

	r, err := c.NewReader(ctx, p, accountID, "media", "dailies/readme.txt")
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", b)
	// Output:
	// "shot list for day one\n"
}

// ExampleClient_Stat reads an object's attributes, and shows the error of a
// missing one: every driver maps its provider's "not found" onto
// provider.ErrNotFound, which errors.Is finds through the Client's wrapping.
func ExampleClient_Stat() {
	ctx := context.Background()
	c, p, accountID, _, done := exampleClient()
	defer done()

	o, err := c.Stat(ctx, p, accountID, "media", "dailies/readme.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size)

	_, err = c.Stat(ctx, p, accountID, "media", "dailies/missing.txt")
	fmt.Println(errors.Is(err, provider.ErrNotFound), amove.ErrorCode(err))
	// Output:
	// dailies/readme.txt 22
	// true NOT_FOUND
}

// ExampleClient_Walk lists every object under a prefix; Walk fetches the
// pages as the loop needs them.
func ExampleClient_Walk() {
	ctx := context.Background()
	c, p, accountID, _, done := exampleClient()
	defer done()

	for o, err := range c.Walk(ctx, p, accountID, "media", provider.ListOptions{Prefix: "dailies/"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(o.Key, o.Size)
	}
	// Output:
	// dailies/readme.txt 22
}

// ExampleClient_CopyObject copies an object within an account; the copy
// stays on the provider's side when the driver is a provider.Copier.
func ExampleClient_CopyObject() {
	ctx := context.Background()
	c, p, accountID, _, done := exampleClient()
	defer done()

	src := amove.ObjectRef{CloudAccountID: accountID, Bucket: "media", Key: "dailies/readme.txt"}
	dst := amove.ObjectRef{CloudAccountID: accountID, Bucket: "media", Key: "archive/readme.txt"}
	o, err := c.CopyObject(ctx, p, dst, src)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(o.Key, o.Size)
	// Output:
	// archive/readme.txt 22
}

// ExampleClient_Features asks what an account's driver supports, as data.
func ExampleClient_Features() {
	ctx := context.Background()
	c, p, accountID, _, done := exampleClient()
	defer done()

	f, err := c.Features(ctx, p, accountID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("multipart:", f.Multipart, "server-side copy:", f.ServerSideCopy, "checksums:", f.Checksums)
	// Output:
	// multipart: true server-side copy: true checksums: [md5 sha256]
}

// ExampleClient_WaitTransfer downloads an object in the background and
// waits for the transfer to end.
func ExampleClient_WaitTransfer() {
	ctx := context.Background()
	c, p, accountID, dir, done := exampleClient()
	defer done()

	id, err := c.Download(ctx, p, amove.DownloadRequest{
		AccountID: accountID, Bucket: "media", Key: "dailies/readme.txt",
		LocalPath: filepath.Join(dir, "readme.txt")})
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.WaitTransfer(ctx, p, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.State, st.BytesDone, "bytes")
	b, err := os.ReadFile(filepath.Join(dir, "readme.txt"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", b)
	// Output:
	// completed 22 bytes
	// "shot list for day one\n"
}

// ExampleClient_Subscribe follows a transfer through the event stream the
// agent forwards to /notification, until the transfer ends.
func ExampleClient_Subscribe() {
	ctx := context.Background()
	c, p, accountID, dir, done := exampleClient()
	defer done()

	events, stop := c.Subscribe(ctx, p) // subscribe first, so no event is missed
	defer stop()
	id, err := c.Download(ctx, p, amove.DownloadRequest{
		AccountID: accountID, Bucket: "media", Key: "dailies/readme.txt",
		LocalPath: filepath.Join(dir, "readme.txt")})
	if err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		if ev.Status.ID != id || !ev.Status.State.Final() {
			continue // progress of this or other transfers
		}
		fmt.Println(ev.Status.State, ev.Status.BytesDone, "bytes")
		break
	}
	// Output:
	// completed 22 bytes
}
