package transfer_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/transfer"
)

// ExampleNew uploads a local file to an in-memory account and waits for the
// job. The engine knows accounts only by name: Options.Open resolves each
// name to a driver, here the memory driver.
func ExampleNew() {
	ctx := context.Background()
	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(ctx, "photos", ""); err != nil {
		log.Fatal(err)
	}
	engine := transfer.New(transfer.Options{
		Open: func(ctx context.Context, account string) (provider.Storage, error) {
			if account != "mem" {
				return nil, fmt.Errorf("%w: account %q", provider.ErrNotFound, account)
			}
			return mem, nil
		},
	})
	defer engine.Close()

	dir, err := os.MkdirTemp("", "transfer-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(file, []byte("hello, amove\n"), 0o600); err != nil {
		log.Fatal(err)
	}

	// A Dest key ending in "/" is a prefix the file's name is appended to.
	id, err := engine.Start(ctx, transfer.Request{
		Kind:      transfer.Upload,
		LocalPath: file,
		Dest:      transfer.Location{Account: "mem", Bucket: "photos", Key: "greetings/"},
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := engine.Wait(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.State, st.BytesDone, "bytes, checksum verified:", st.ChecksumVerified)

	obj, err := mem.Stat(ctx, "photos", "greetings/hello.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(obj.Key, obj.Size)
	// Output:
	// completed 13 bytes, checksum verified: true
	// greetings/hello.txt 13
}
