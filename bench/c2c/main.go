// Command c2c copies a bucket prefix to another bucket with amove.Client, on
// the store and accounts `amove accounts add` wrote, so bench/run.sh can
// time the product's cloud-to-cloud copy against `rclone copy` until the
// CLI's cp copies between two remotes.
//
//	c2c -dsn sqlite:PATH -key-file K -from ACCOUNT:BUCKET/PREFIX -to ACCOUNT:BUCKET/PREFIX
//
// Both sides on the same account make a server-side copy (the engine uses
// the driver's Copier); two accounts on the same endpoint stream the bytes
// through the process. The copy runs in this process (no agent) and the
// journal is the store's, as with `amove cp`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/transfer"

	// The drivers and the store `amove` itself links.
	_ "github.com/amove/amove-go/provider/all"
	_ "github.com/amove/amove-go/store/sqlite"
)

func main() {
	dsn := flag.String("dsn", os.Getenv("AMOVE_DSN"), "store DSN (the one `amove accounts add` used)")
	keyFile := flag.String("key-file", os.Getenv("AMOVE_KEY_FILE"), "key file of that store")
	user := flag.String("user", "admin", "user the copy runs as")
	from := flag.String("from", "", "source ACCOUNT:BUCKET/PREFIX")
	to := flag.String("to", "", "destination ACCOUNT:BUCKET/PREFIX")
	flag.Parse()
	if err := run(context.Background(), *dsn, *keyFile, *user, *from, *to); err != nil {
		fmt.Fprintln(os.Stderr, "c2c:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dsn, keyFile, user, from, to string) error {
	srcAcct, srcBucket, srcKey, err := splitRemote(from)
	if err != nil {
		return err
	}
	dstAcct, dstBucket, dstKey, err := splitRemote(to)
	if err != nil {
		return err
	}
	c, err := amove.OpenDefault(ctx, amove.Options{DSN: dsn, KeyFile: keyFile,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer c.Close()
	u, err := c.LookupUser(ctx, user)
	if err != nil {
		return err
	}
	p := u.Principal()
	accounts, err := c.ListAccounts(ctx, p)
	if err != nil {
		return err
	}
	ids := map[string]string{}
	for _, a := range accounts {
		ids[a.Name] = a.ID
	}
	if ids[srcAcct] == "" || ids[dstAcct] == "" {
		return fmt.Errorf("no account named %q or %q", srcAcct, dstAcct)
	}
	t0 := time.Now()
	id, err := c.Copy(ctx, p, amove.CopyRequest{SourceAccountID: ids[srcAcct], SourceBucket: srcBucket, SourceKey: srcKey,
		DestAccountID: ids[dstAcct], DestBucket: dstBucket, DestKey: dstKey})
	if err != nil {
		return err
	}
	st, err := c.WaitTransfer(ctx, p, id)
	if err != nil {
		return err
	}
	if st.State != transfer.Completed {
		return fmt.Errorf("copy %s: %s", st.State, st.Error)
	}
	// The same final line as `amove cp`, which bench/run.sh reads.
	fmt.Fprintf(os.Stderr, "copy: %s, %d files, %d bytes, checksum verified: %v (%v)\n",
		st.State, st.FilesDone, st.BytesDone, st.ChecksumVerified, time.Since(t0).Round(time.Millisecond))
	return nil
}

// splitRemote parses ACCOUNT:BUCKET/KEY, as `amove cp` does.
func splitRemote(s string) (account, bucket, key string, err error) {
	account, rest, ok := strings.Cut(s, ":")
	if !ok || account == "" {
		return "", "", "", errors.New(s + ": want ACCOUNT:BUCKET/PREFIX")
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", "", errors.New(s + ": no bucket")
	}
	return account, bucket, key, nil
}
