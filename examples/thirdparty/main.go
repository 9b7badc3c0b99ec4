// Command thirdparty shows a storage driver written outside amove-go
// working through amove.Client. The driver (driver.go, a folder on disk
// per bucket) registers itself under its own name with provider.Register;
// an account of it is an ordinary cloud account whose NewAccount.Driver
// names it, and uploads and downloads run through the transfer engine like
// those of any built-in provider:
//
//	go run ./examples/thirdparty
//
// Everything lives in a temporary folder that is removed at the end.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/transfer"

	// The store "sqlite:" DSNs name.
	_ "github.com/amove/amove-go/store/sqlite"
)

func main() {
	dir, err := os.MkdirTemp("", "amove-thirdparty-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, dir); err != nil {
		log.Fatal(err)
	}
}

// run inserts an account of the example driver, lists its buckets,
// uploads a file and downloads it again, all through the Client, and
// checks the bytes that come back are the bytes that went up.
func run(ctx context.Context, out io.Writer, dir string) error {
	// The driver's "cloud": a folder with one bucket in it.
	cloud := filepath.Join(dir, "cloud")
	if err := os.MkdirAll(filepath.Join(cloud, "photos"), 0o755); err != nil {
		return err
	}

	key := make([]byte, 32)
	rand.Read(key)
	c, err := amove.New(ctx, amove.Options{
		DSN:       "sqlite:" + filepath.Join(dir, "amove.db"),
		SecretKey: key,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_, owner, err := c.CreateTenant(ctx, "example", amove.NewUser{Username: "owner", Role: amove.RoleDesktopAdmin})
	if err != nil {
		return err
	}
	p := owner.Principal()

	// InsertAccount opens the driver by name and lists its buckets before
	// it stores anything, as it does for S3 or Azure credentials.
	acct, err := c.InsertAccount(ctx, p, amove.NewAccount{Driver: DriverName, Name: "folder on disk", Endpoint: cloud})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "account %q uses driver %s\n", acct.Name, acct.Driver)
	buckets, err := c.ListBuckets(ctx, p, acct.ID)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		fmt.Fprintf(out, "bucket %s\n", b.Name)
	}

	data := make([]byte, 3<<20+123)
	rand.Read(data)
	src := filepath.Join(dir, "holiday.jpg")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		return err
	}
	id, err := c.Upload(ctx, p, amove.UploadRequest{AccountID: acct.ID, Bucket: "photos", Key: "2025/holiday.jpg", LocalPath: src})
	if err != nil {
		return err
	}
	st, err := wait(ctx, c, p, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "upload %s, %d bytes, checksum verified: %v\n", st.State, st.BytesDone, st.ChecksumVerified)
	if !st.ChecksumVerified {
		return errors.New("the upload was not verified")
	}

	back := filepath.Join(dir, "back.jpg")
	id, err = c.Download(ctx, p, amove.DownloadRequest{AccountID: acct.ID, Bucket: "photos", Key: "2025/holiday.jpg", LocalPath: back})
	if err != nil {
		return err
	}
	if _, err := wait(ctx, c, p, id); err != nil {
		return err
	}
	got, err := os.ReadFile(back)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("downloaded %d bytes that differ from the %d uploaded", len(got), len(data))
	}
	fmt.Fprintf(out, "download completed, sha256 %x matches\n", sha256.Sum256(got))
	return nil
}

// wait polls a transfer until it ends; anything but completed is an error.
func wait(ctx context.Context, c *amove.Client, p amove.Principal, id string) (transfer.Status, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.TransferStatus(ctx, p, id)
		if err != nil {
			return st, err
		}
		if st.State.Final() {
			if st.State != transfer.Completed {
				return st, fmt.Errorf("transfer %s: %s: %s", id, st.State, st.Error)
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
}
