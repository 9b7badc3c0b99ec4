// Command upload writes a file to any S3-compatible bucket through the
// portable layer over a driver (provider.Portable, which checks the bucket
// and key before the driver sees them) and reads it back, checking the
// SHA-256.
//
//	go run ./examples/upload -endpoint http://127.0.0.1:9000 -bucket demo \
//	    -access minioadmin -secret minioadmin FILE
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/all"
)

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint (empty for AWS)")
	bucket := flag.String("bucket", "", "bucket name")
	access := flag.String("access", os.Getenv("AWS_ACCESS_KEY_ID"), "access key")
	secret := flag.String("secret", os.Getenv("AWS_SECRET_ACCESS_KEY"), "secret key")
	flag.Parse()
	if flag.NArg() != 1 || *bucket == "" {
		log.Fatal("usage: upload -bucket B [-endpoint URL] FILE")
	}
	ctx := context.Background()
	ct := provider.AWS
	if *endpoint != "" {
		ct = provider.S3Generic
	}
	st, err := provider.Open(ctx, provider.Config{CloudType: ct, AccessKey: *access, SecretKey: *secret, Endpoint: *endpoint})
	if err != nil {
		log.Fatal(err)
	}
	pt := provider.NewPortable(st)
	defer pt.Close()

	f, err := os.Open(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	key := filepath.Base(f.Name())
	// size -1: the driver streams in parts without knowing the length.
	obj, err := pt.Write(ctx, *bucket, key, io.TeeReader(f, h), -1, provider.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	rc, err := pt.NewReader(ctx, *bucket, key)
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	back := sha256.New()
	if _, err := io.Copy(back, rc); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("uploaded %s (%d bytes), sha256 match: %v\n", obj.Key, obj.Size, string(h.Sum(nil)) == string(back.Sum(nil)))
}
