// Command apiload measures the agent's HTTP API under concurrent clients:
// each client alternates list_objects and client_transfer/{id}/status for
// the whole run, and the figures are latency percentiles, requests per
// second and errors (any non-200 or transport error).
//
//	go run ./bench/apiload                      # memory driver
//	AMOVE_TEST_S3_ENDPOINT=... go run ./bench/apiload   # MinIO (also ACCESS_KEY/SECRET_KEY)
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/httpapi"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/provider/s3"

	// The store "sqlite:" DSNs name.
	_ "github.com/amove/amove-go/store/sqlite"
)

type sharedMemory struct{ *memory.Storage }

func (sharedMemory) Close() error { return nil }

func main() {
	clients := flag.Int("clients", 200, "concurrent clients")
	duration := flag.Duration("duration", 30*time.Second, "run time")
	objects := flag.Int("objects", 100, "objects in the listed bucket")
	flag.Parse()
	if err := run(*clients, *duration, *objects); err != nil {
		log.Fatal(err)
	}
}

func run(clients int, duration time.Duration, objects int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apiload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The storage: MinIO when configured, else one shared memory driver.
	endpoint := os.Getenv("AMOVE_TEST_S3_ENDPOINT")
	cfg := provider.Config{CloudType: provider.S3Generic, Endpoint: endpoint,
		AccessKey: os.Getenv("AMOVE_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("AMOVE_TEST_S3_SECRET_KEY")}
	var open func(context.Context, provider.Config) (provider.Storage, error)
	var st provider.Storage
	backend := "MinIO"
	if endpoint == "" {
		mem := sharedMemory{memory.New(memory.Options{})}
		open = func(context.Context, provider.Config) (provider.Storage, error) { return mem, nil }
		st, backend = mem, "memory"
		cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = "http://memory.invalid", "memory-access", "memory-secret"
	} else if st, err = s3.Open(ctx, cfg); err != nil {
		return err
	}
	bucket := fmt.Sprintf("apiload-%d", time.Now().UnixNano())
	if err := st.(provider.BucketManager).CreateBucket(ctx, bucket, ""); err != nil {
		return err
	}
	for i := range objects {
		data := []byte(strings.Repeat("x", 1024))
		if _, err := st.Write(ctx, bucket, fmt.Sprintf("obj-%04d", i), bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
			return err
		}
	}

	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"),
		Logger: discard, OpenStorage: open})
	if err != nil {
		return err
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, "bench", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		return err
	}
	tok, err := c.IssueToken(ctx, admin.ID)
	if err != nil {
		return err
	}
	api := httpapi.New(c, httpapi.Options{Roots: []string{dir}, Logger: discard})
	defer api.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}

	call := func(method, path string, body any, out any) (int, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path+"?token="+tok.Token, rd)
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		if out != nil && res.StatusCode == 200 {
			return res.StatusCode, json.NewDecoder(res.Body).Decode(out)
		}
		_, err = io.Copy(io.Discard, res.Body)
		return res.StatusCode, err
	}

	var acct struct{ ID string }
	if code, err := call("POST", "/cloud/insert_account", map[string]any{"cloudType": 8, "name": "bench",
		"endpoint": cfg.Endpoint, "accessKey": cfg.AccessKey, "secretKey": cfg.SecretKey}, &acct); err != nil || code != 200 {
		return fmt.Errorf("insert_account: %d %v", code, err)
	}
	local := filepath.Join(dir, "f.bin")
	if err := os.WriteFile(local, bytes.Repeat([]byte("y"), 1<<20), 0o600); err != nil {
		return err
	}
	var tr struct{ TransferID string }
	if code, err := call("POST", "/cloud/upload_object", map[string]any{"cloudAccount": map[string]any{"id": acct.ID},
		"storageName": bucket, "uploadPath": "up/", "localFilePath": local}, &tr); err != nil || code != 200 {
		return fmt.Errorf("upload_object: %d %v", code, err)
	}
	list := map[string]any{"account": map[string]any{"id": acct.ID}, "request": map[string]any{"bucketName": bucket, "path": "/"}}

	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   int
		wg     sync.WaitGroup
		end    = time.Now().Add(duration)
		start  = time.Now()
		firstE error
	)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int
			var firstErr error
			for n := i; time.Now().Before(end); n++ {
				t0 := time.Now()
				var code int
				var err error
				if n%2 == 0 {
					code, err = call("POST", "/cloud/list_objects", list, nil)
				} else {
					code, err = call("GET", "/cloud/client_transfer/"+tr.TransferID+"/status", nil, nil)
				}
				mine = append(mine, time.Since(t0))
				if err != nil || code != 200 {
					bad++
					if firstErr == nil {
						firstErr = fmt.Errorf("%d %v", code, err)
					}
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			if firstE == nil {
				firstE = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)].Round(10 * time.Microsecond) }
	fmt.Printf("| %s | %d | %s | %d | %.0f | %s | %s | %s | %d |\n", backend, clients, duration, len(lat),
		float64(len(lat))/elapsed.Seconds(), pct(0.50), pct(0.99), lat[len(lat)-1].Round(time.Millisecond), errs)
	if firstE != nil {
		fmt.Fprintln(os.Stderr, "first error:", firstE)
	}
	return nil
}
