package transfer_test

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/transfer"
)

// BenchmarkS3UploadFile uploads one large local file to MinIO with the
// agent's defaults (concurrency 16, 16 MiB parts), the real s3 driver and
// a file journal: the engine's memory on the product path. Besides MB/s
// and -benchmem's B/op it reports the peak of the live heap (sampled from
// runtime/metrics every 2 ms) and the peak Go heap in use, both in MiB.
// The file is 256 MiB (AMOVE_BENCH_UPLOAD_MIB sets it):
//
//	source scripts' test-server env; go test -run '^$' -bench S3UploadFile -benchtime 3x -benchmem ./transfer/
func BenchmarkS3UploadFile(b *testing.B) {
	env := testenv.RequireS3(b)
	mib := int64(256)
	if v, err := strconv.ParseInt(os.Getenv("AMOVE_BENCH_UPLOAD_MIB"), 10, 64); err == nil && v > 0 {
		mib = v
	}
	st := openS3(b, env, env.Endpoint)
	bucket := newBucket(b, st)
	file := filepath.Join(b.TempDir(), "big.bin")
	makeFile(b, file, mib<<20, 9)
	j, err := transfer.NewFileJournal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	e := transfer.New(transfer.Options{Open: accounts{"s3": st}.open, Journal: j, Concurrency: 16, PartSize: 16 << 20})
	b.Cleanup(func() { e.Close(); j.Close() })

	runtime.GC()
	peak := sampleHeap(2 * time.Millisecond)
	b.SetBytes(mib << 20)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := startJob(b, e, transfer.Request{Kind: transfer.Upload, LocalPath: file,
			Dest: transfer.Location{Account: "s3", Bucket: bucket, Key: "big-" + strconv.Itoa(i)}})
		st, err := e.Wait(b.Context(), id)
		if err != nil || st.State != transfer.Completed || !st.ChecksumVerified {
			b.Fatalf("upload %s %q verified %v: %v", st.State, st.Error, st.ChecksumVerified, err)
		}
	}
	b.StopTimer()
	live, inuse := peak()
	b.ReportMetric(float64(live)/(1<<20), "peak-live-heap-MiB")
	b.ReportMetric(float64(inuse)/(1<<20), "peak-heap-inuse-MiB")
}

// sampleHeap samples the live heap objects and the heap in use (spans
// holding objects) every interval until the returned function is called,
// which gives both peaks.
func sampleHeap(every time.Duration) func() (live, inuse uint64) {
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	var mu sync.Mutex
	var maxLive, maxInuse uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			metrics.Read(samples)
			mu.Lock()
			maxLive = max(maxLive, samples[0].Value.Uint64())
			maxInuse = max(maxInuse, samples[1].Value.Uint64())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return maxLive, maxInuse
	}
}
