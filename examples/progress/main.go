// Command progress uploads a local file or folder with the transfer engine
// and draws its progress from the engine's events. It runs on the in-memory
// driver, so it needs no server:
//
//	go run ./examples/progress FILE_OR_DIR
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/transfer"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: progress FILE_OR_DIR")
	}
	ctx := context.Background()
	mem := memory.New(memory.Options{})
	if err := mem.CreateBucket(ctx, "demo", ""); err != nil {
		log.Fatal(err)
	}
	// Open resolves the accounts named in transfer.Locations; the amove
	// client resolves them from its store, here there is just one.
	e := transfer.New(transfer.Options{
		Open:        func(context.Context, string) (provider.Storage, error) { return mem, nil },
		Concurrency: 8,
		PartSize:    8 << 20,
	})
	defer e.Close()

	events, stop := e.Subscribe(64)
	defer stop()
	id, err := e.Start(ctx, transfer.Request{
		Kind:      transfer.Upload,
		LocalPath: os.Args[1],
		Dest:      transfer.Location{Account: "mem", Bucket: "demo", Key: "uploads/"},
	})
	if err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		st := ev.Status
		if st.ID != id {
			continue
		}
		if st.BytesTotal > 0 {
			fmt.Printf("\r%-9s %6.1f%%  %d/%d files  %.1f MB/s   ", st.State,
				float64(st.BytesDone)*100/float64(st.BytesTotal), st.FilesDone, st.FilesTotal, st.BytesPerSecond/1e6)
		}
		if st.State.Final() {
			fmt.Printf("\n%s, checksums verified: %v\n", st.State, st.ChecksumVerified)
			if st.Error != "" {
				log.Fatal(st.Error)
			}
			return
		}
	}
}
