//go:build unix

package transfer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/store/sqlite"
	"github.com/amove/amove-go/transfer"
)

// BenchmarkS3SmallFiles uploads a directory of many small files to MinIO
// and downloads it back, on the product path: the real s3 driver, the
// agent's defaults (concurrency 16, 16 MiB parts) and the SQLite journal
// the agent and `amove cp` use. It measures the per-file overhead (journal
// writes, requests, file creation): 2,000 x 4 KiB by default
// (AMOVE_BENCH_FILES sets the count). Besides files/s it reports the CPU
// seconds of this process (user + system, MinIO excluded) per op:
//
//	source the test-server env; go test -run '^$' -bench S3SmallFiles -benchtime 3x ./transfer/
func BenchmarkS3SmallFiles(b *testing.B) {
	env := testenv.RequireS3(b)
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("AMOVE_BENCH_FILES")); err == nil && v > 0 {
		n = v
	}
	st := openS3(b, env, env.Endpoint)
	bucket := newBucket(b, st)
	src := b.TempDir()
	for i := range n {
		makeFile(b, filepath.Join(src, fmt.Sprintf("f%05d", i)), 4<<10, uint64(i))
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "amove.db"))
	if err != nil {
		b.Fatal(err)
	}
	e := transfer.New(transfer.Options{Open: accounts{"s3": st}.open, Journal: db.Journal(), Concurrency: 16, PartSize: 16 << 20})
	b.Cleanup(func() { e.Close(); db.Close() })

	run := func(b *testing.B, req func(i int) transfer.Request) {
		cpu0 := cpuTime(b)
		b.ResetTimer()
		for i := range b.N {
			id := startJob(b, e, req(i))
			st, err := e.Wait(b.Context(), id)
			if err != nil || st.State != transfer.Completed || st.FilesDone != n {
				b.Fatalf("%s %q, %d files of %d: %v", st.State, st.Error, st.FilesDone, n, err)
			}
		}
		b.StopTimer()
		secs := b.Elapsed().Seconds()
		b.ReportMetric(float64(n*b.N)/secs, "files/s")
		b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	}
	b.Run("up", func(b *testing.B) {
		run(b, func(i int) transfer.Request {
			return transfer.Request{Kind: transfer.Upload, LocalPath: src + "/",
				Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "up" + strconv.Itoa(i) + "/"}}
		})
	})
	b.Run("down", func(b *testing.B) {
		run(b, func(i int) transfer.Request {
			return transfer.Request{Kind: transfer.Download, LocalPath: filepath.Join(b.TempDir(), "d") + "/",
				Source: transfer.Location{Account: "s3", Bucket: bucket, Key: "up0/"}}
		})
	})
}

// unbatched hides a journal's JournalBatcher: the engine then writes
// every item update and part on its own, as before group commit.
type unbatched struct{ transfer.Journal }

// BenchmarkSmallFilesJournal isolates the engine's per-file cost from the
// network: 2,000 x 4 KiB uploaded to and downloaded from the memory driver,
// concurrency 16, on the SQLite journal with group commit ("batched") and
// without ("unbatched"), in one binary so the two compare on one machine:
//
//	go test -run '^$' -bench SmallFilesJournal -benchtime 3x ./transfer/
func BenchmarkSmallFilesJournal(b *testing.B) {
	const n = 2000
	src := b.TempDir()
	for i := range n {
		makeFile(b, filepath.Join(src, fmt.Sprintf("f%05d", i)), 4<<10, uint64(i))
	}
	for _, mode := range []string{"batched", "unbatched"} {
		b.Run(mode, func(b *testing.B) {
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "amove.db"))
			if err != nil {
				b.Fatal(err)
			}
			j := db.Journal()
			if mode == "unbatched" {
				j = unbatched{j}
			}
			mem := newMemory(b, "b")
			e := transfer.New(transfer.Options{Open: accounts{"m": mem}.open, Journal: j, Concurrency: 16, PartSize: 16 << 20})
			defer func() { e.Close(); db.Close() }()
			for _, dir := range []string{"up", "down"} {
				b.Run(dir, func(b *testing.B) {
					cpu0 := cpuTime(b)
					b.ResetTimer()
					for i := range b.N {
						req := transfer.Request{Kind: transfer.Upload, LocalPath: src + "/",
							Dest: transfer.Location{Account: "m", Bucket: "b", Key: "up" + strconv.Itoa(i) + "/"}}
						if dir == "down" {
							req = transfer.Request{Kind: transfer.Download, LocalPath: filepath.Join(b.TempDir(), "d") + "/",
								Source: transfer.Location{Account: "m", Bucket: "b", Key: "up0/"}}
						}
						id := startJob(b, e, req)
						st, err := e.Wait(b.Context(), id)
						if err != nil || st.State != transfer.Completed || st.FilesDone != n {
							b.Fatalf("%s %q, %d files of %d: %v", st.State, st.Error, st.FilesDone, n, err)
						}
					}
					b.StopTimer()
					b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
					b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
				})
			}
		})
	}
}

// cpuTime is the user plus system CPU time this process used so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
