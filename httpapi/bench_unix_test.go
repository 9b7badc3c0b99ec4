//go:build unix

package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/amove/amove-go/provider"
	s3driver "github.com/amove/amove-go/provider/s3"
)

// BenchmarkListObjectsMinIO drives list_objects through the real handler
// (token check, account lookup, driver, ListObjectsV2 on MinIO, JSON
// answer) on a bucket of 100 objects and a folder, the listing bench/apiload
// measures. Besides ns/op, which includes waiting for MinIO, it reports
// cpu-ns/op: the CPU this process spent per request (MinIO runs in its own
// process), the figure issue 16's API target is about.
//
//	go test -run '^$' -bench ListObjectsMinIO -benchtime 2000x ./httpapi/
func BenchmarkListObjectsMinIO(b *testing.B) {
	s3env, bucket := minio(b)
	ctx := context.Background()
	st, err := s3driver.Open(ctx, provider.Config{CloudType: provider.S3Generic,
		AccessKey: s3env.AccessKey, SecretKey: s3env.SecretKey, Endpoint: s3env.Endpoint})
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 1024)
	for i := range 100 {
		if _, err := st.Write(ctx, bucket, fmt.Sprintf("obj-%04d", i), bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.CreateFolder(ctx, bucket, "dir/"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for i := range 100 {
			_ = st.Delete(ctx, bucket, fmt.Sprintf("obj-%04d", i))
		}
		_ = st.Delete(ctx, bucket, "dir/")
		_ = st.DeleteBucket(ctx, bucket)
	})

	e := newEnv(b, envConfig{opts: Options{Logger: discard}})
	acct := e.minioAccount(b, e.aliceTok, s3env)
	body, err := json.Marshal(map[string]any{"account": map[string]any{"id": acct.ID},
		"request": map[string]any{"bucketName": bucket, "path": "/"}})
	if err != nil {
		b.Fatal(err)
	}
	target := withToken("/cloud/list_objects", e.aliceTok)
	list := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", target, bytes.NewReader(body))
		req.Host = "127.0.0.1"
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, req)
		return w
	}
	// The first answer is checked in full, in the loop only the status:
	// decoding every answer would count as the agent's CPU.
	w := list()
	var out objectList
	if w.Code != http.StatusOK {
		b.Fatalf("list_objects: %d %s", w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || len(out.Data) != 101 {
		b.Fatalf("list_objects: %d objects (want 101), %v", len(out.Data), err)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if w := list(); w.Code != http.StatusOK {
				b.Errorf("list_objects: %d %s", w.Code, w.Body)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user+system CPU time of this process, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
