// Command amovecp uploads or downloads a file or a directory with the amove
// transfer engine and the S3 driver, so bench/run.sh can time amove like
// s5cmd and rclone.
//
//	amovecp -endpoint http://127.0.0.1:9000 [-concurrency 16] [-part-size 16MiB] up LOCAL s3://bucket/key-or-prefix/
//	amovecp -endpoint http://127.0.0.1:9000 down s3://bucket/key-or-prefix/ LOCAL
//
// Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
// -cpuprofile writes a pprof CPU profile.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/s3"
	"github.com/amove/amove-go/transfer"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:9000", "S3 endpoint")
	conc := flag.Int("concurrency", 16, "parts or files in flight")
	partSize := flag.String("part-size", "16MiB", "part size (bytes, or with KiB/MiB/GiB)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	verify := flag.Bool("verify", true, "check downloads end to end (MD5 of every byte where the source allows it)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: amovecp [flags] up LOCAL s3://bucket/key | down s3://bucket/key LOCAL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 3 {
		flag.Usage()
		os.Exit(2)
	}
	ps, err := parseSize(*partSize)
	if err != nil {
		fatal(err)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*endpoint, *conc, ps, *verify, flag.Arg(0), flag.Arg(1), flag.Arg(2)); err != nil {
		pprof.StopCPUProfile()
		fatal(err)
	}
}

func run(endpoint string, conc int, partSize int64, verify bool, verb, a, b string) error {
	ctx := context.Background()
	st, err := s3.Open(ctx, provider.Config{
		CloudType: provider.S3Generic,
		Endpoint:  endpoint,
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
	})
	if err != nil {
		return err
	}
	e := transfer.New(transfer.Options{
		Open:                func(context.Context, string) (provider.Storage, error) { return st, nil },
		Concurrency:         conc,
		PartSize:            partSize,
		NoDownloadChecksums: !verify,
	})
	defer e.Close()
	var req transfer.Request
	switch verb {
	case "up":
		loc, err := parseS3(b)
		if err != nil {
			return err
		}
		req = transfer.Request{Kind: transfer.Upload, LocalPath: a, Dest: loc}
	case "down":
		loc, err := parseS3(a)
		if err != nil {
			return err
		}
		req = transfer.Request{Kind: transfer.Download, Source: loc, LocalPath: b}
	default:
		return fmt.Errorf("unknown verb %q", verb)
	}
	t0 := time.Now()
	id, err := e.Start(ctx, req)
	if err != nil {
		return err
	}
	s, err := e.Wait(ctx, id)
	if err != nil {
		return err
	}
	if s.State != transfer.Completed {
		return fmt.Errorf("%s: %s", s.State, s.Error)
	}
	// "checksum verified:" as `amove cp` prints it; bench/run.sh reads it.
	fmt.Fprintf(os.Stderr, "amovecp: %d files, %d bytes in %v, checksum verified: %v\n", s.FilesDone, s.BytesDone,
		time.Since(t0).Round(time.Millisecond), s.ChecksumVerified)
	return nil
}

// parseS3 splits s3://bucket/key.
func parseS3(u string) (transfer.Location, error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return transfer.Location{}, fmt.Errorf("%q is not an s3:// URL", u)
	}
	bucket, key, _ := strings.Cut(rest, "/")
	return transfer.Location{Account: "s3", Bucket: bucket, Key: key}, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "amovecp:", err)
	os.Exit(1)
}
