package transfer_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// Benchmarks of the engine alone, on the memory driver: MB/s (b.SetBytes)
// and allocations, reported per operation and per MiB moved. Run with
//
//	go test -run '^$' -bench . -benchtime 10x ./transfer/
//
// The sizes are one 64 MiB object in 8 MiB parts (the multipart path) and
// 256 x 64 KiB objects (the one-request path).

const benchMiB = 1 << 20

var benchCases = []struct {
	name  string
	files int
	size  int
}{
	{"1x64MiB", 1, 64 << 20},
	{"256x64KiB", 256, 64 << 10},
}

func benchEngine(b *testing.B, accts accounts) *transfer.Engine {
	e := transfer.New(transfer.Options{Open: accts.open, Concurrency: 8, PartSize: 8 << 20})
	b.Cleanup(func() { e.Close() })
	return e
}

func benchTree(b *testing.B, files, size int) string {
	dir := b.TempDir()
	data := randBytes(1, size)
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, "f"+itoa(i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

func itoa(i int) string {
	return string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
}

func runJob(b *testing.B, e *transfer.Engine, req transfer.Request) {
	ctx := context.Background()
	id, err := e.Start(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	st, err := e.Wait(ctx, id)
	if err != nil || st.State != transfer.Completed {
		b.Fatalf("job %s %q %v", st.State, st.Error, err)
	}
}

// reportPerMiB adds allocs/MiB and B/MiB next to the per-op figures.
func reportPerMiB(b *testing.B, before runtime.MemStats, bytesPerOp int64) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	mib := float64(bytesPerOp) * float64(b.N) / benchMiB
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/mib, "allocs/MiB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/mib, "B/MiB")
}

func BenchmarkUpload(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			mem := newMemory(b, "b")
			e := benchEngine(b, accounts{"m": mem})
			src := benchTree(b, c.files, c.size)
			total := int64(c.files * c.size)
			b.SetBytes(total)
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ResetTimer()
			for range b.N {
				runJob(b, e, transfer.Request{Kind: transfer.Upload, LocalPath: src, Dest: transfer.Location{Account: "m", Bucket: "b", Key: "up/"}})
			}
			b.StopTimer()
			reportPerMiB(b, ms, total)
		})
	}
}

func BenchmarkDownload(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			mem := newMemory(b, "b")
			seed(b, mem, "b", c.files, c.size)
			e := benchEngine(b, accounts{"m": mem})
			total := int64(c.files * c.size)
			b.SetBytes(total)
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ResetTimer()
			for range b.N {
				dst := b.TempDir()
				runJob(b, e, transfer.Request{Kind: transfer.Download, Source: transfer.Location{Account: "m", Bucket: "b", Key: "d/"}, LocalPath: dst})
			}
			b.StopTimer()
			reportPerMiB(b, ms, total)
		})
	}
}

// BenchmarkCopy copies between two memory accounts, so the bytes go through
// the engine (a copy inside one account would be server-side).
func BenchmarkCopy(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			src, dst := newMemory(b, "b"), newMemory(b, "b")
			seed(b, src, "b", c.files, c.size)
			e := benchEngine(b, accounts{"src": src, "dst": dst})
			total := int64(c.files * c.size)
			b.SetBytes(total)
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ResetTimer()
			for range b.N {
				runJob(b, e, transfer.Request{Kind: transfer.Copy, Source: transfer.Location{Account: "src", Bucket: "b", Key: "d/"}, Dest: transfer.Location{Account: "dst", Bucket: "b", Key: "c/"}})
			}
			b.StopTimer()
			reportPerMiB(b, ms, total)
		})
	}
}

func seed(b *testing.B, st provider.Storage, bucket string, files, size int) {
	data := randBytes(2, size)
	for i := range files {
		if _, err := st.Write(context.Background(), bucket, "d/f"+itoa(i), bytes.NewReader(data), int64(size), provider.WriteOptions{PartSize: 8 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}
