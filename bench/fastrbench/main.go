// Command fastrbench measures Fastr server-to-server and P2P transfers
// through the agent against a plain curl copy of the same object (a
// presigned GET from the source piped into a presigned PUT to the target).
// Everything runs on loopback: two reference servers and the agent in this
// process, curl as child processes.
//
//	go run ./bench/fastrbench                  # 1 GiB object, 3 repetitions
//	BENCH_MIB=256 REPS=1 go run ./bench/fastrbench
//	go run ./bench/fastrbench -cpuprofile cpu.out
//
// Each cell reports the best and the median wall time, and the median CPU
// seconds (user+system of this process and its curl children) of the
// repetitions: on a shared machine CPU seconds move less than wall time.
// After every run the copy is hashed on disk and must equal the source.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/httpapi"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/fastr"

	// The store "sqlite:" DSNs name.
	_ "github.com/amove/amove-go/store/sqlite"
)

func env(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type server struct {
	url  string
	root string
	c    *fastr.Client
}

func serve(dir, key, secret string) server {
	root := filepath.Join(dir, key)
	must(os.MkdirAll(root, 0o755))
	s, err := fastr.NewServer(fastr.Options{Root: root, Credentials: fastr.StaticCredentials(map[string]string{key: secret}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go http.Serve(ln, s)
	u := "http://" + ln.Addr().String()
	c, err := fastr.NewClient(u, key, secret, nil)
	must(err)
	must(c.CreateBucket(context.Background(), "bkt"))
	return server{url: u, root: root, c: c}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// cpuTime is the user+system time of this process and its waited-for
// children so far.
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	must(syscall.Getrusage(syscall.RUSAGE_SELF, &self))
	must(syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids))
	var d time.Duration
	for _, tv := range []syscall.Timeval{self.Utime, self.Stime, kids.Utime, kids.Stime} {
		d += time.Duration(tv.Nano())
	}
	return d
}

// fileSHA256 is the hex SHA-256 of the file at name.
func fileSHA256(name string) string {
	f, err := os.Open(name)
	must(err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	must(err)
	return hex.EncodeToString(h.Sum(nil))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func main() {
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		pf, err := os.Create(*cpuprofile)
		must(err)
		must(pprof.StartCPUProfile(pf))
		defer pprof.StopCPUProfile()
	}
	size := int64(env("BENCH_MIB", 1024)) << 20
	reps := env("REPS", 3)
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fastrbench")
	must(err)
	defer os.RemoveAll(dir)
	src := serve(dir, "AKSRC", "source-secret-0123456789")
	dst := serve(dir, "AKDST", "target-secret-0123456789")

	// The object: written into the source root, then put again through
	// the API so it has a sidecar with its SHA-256, as an uploaded object
	// would (the push need not hash it first).
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	f, err := os.Create(filepath.Join(src.root, "bkt", "obj.bin"))
	must(err)
	for n := int64(0); n < size; n += int64(len(block)) {
		block[0]++
		_, err := f.Write(block)
		must(err)
	}
	must(f.Close())
	_, err = src.c.Put(ctx, "bkt", "obj.bin", must2(os.Open(filepath.Join(src.root, "bkt", "obj.bin"))), size, "", "")
	must(err)
	srcSum := fileSHA256(filepath.Join(src.root, "bkt", "obj.bin"))

	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + dir + "/a.db", KeyFile: dir + "/k",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(err)
	defer c.Close()
	_, u, err := c.CreateTenant(ctx, "bench", amove.NewUser{Username: "bench", Password: "bench-password-123", Role: amove.RoleDesktopAdmin})
	must(err)
	tok, err := c.IssueToken(ctx, u.ID)
	must(err)
	sa, err := c.InsertAccount(ctx, u.Principal(), amove.NewAccount{CloudType: provider.LocalHttp, Name: "src",
		ServiceURL: src.url, AccessKey: "AKSRC", SecretKey: "source-secret-0123456789"})
	must(err)
	da, err := c.InsertAccount(ctx, u.Principal(), amove.NewAccount{CloudType: provider.FastrServer, Name: "dst",
		ServiceURL: dst.url, AccessKey: "AKDST", SecretKey: "target-secret-0123456789"})
	must(err)
	api := httpapi.New(c, httpapi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer api.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go http.Serve(ln, api)
	agent := "http://" + ln.Addr().String()

	call := func(method, path string, body any) map[string]any {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, agent+path+"?token="+tok.Token, rd)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		must(err)
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode >= 300 {
			log.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	wait := func(path string) {
		for {
			st := call("GET", path, nil)
			switch st["status"] {
			case "completed":
				return
			case "failed", "cancelled":
				log.Fatalf("%s: %v", path, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	clean := func() { _ = dst.c.Delete(ctx, "bkt", "copy.bin") }

	runs := map[string]func(){
		"curl": func() {
			get := src.c.PresignURL("bkt", "obj.bin", fastr.PresignOptions{Method: "GET"})
			put := dst.c.PresignURL("bkt", "copy.bin", fastr.PresignOptions{Method: "PUT"})
			cmd := exec.Command("sh", "-c", `curl -sSf "$1" | curl -sSf -o /dev/null -T - "$2"`, "sh", get, put)
			cmd.Stderr = os.Stderr
			must(cmd.Run())
		},
		"server_transfer": func() {
			out := call("POST", "/cloud/server_transfer/initiate", map[string]any{
				"sourceServerUrl": src.url, "targetServerUrl": dst.url, "sourceBucket": "bkt", "sourcePath": "obj.bin",
				"targetBucket": "bkt", "targetPath": "copy.bin", "sourceAccountId": sa.ID, "targetAccountId": da.ID})
			wait("/cloud/server_transfer/" + out["transferId"].(string) + "/status")
		},
		"p2p": func() {
			out := call("POST", "/cloud/p2p_transfer/initiate", map[string]any{
				"sourceAccount": map[string]any{"id": sa.ID}, "targetAccount": map[string]any{"id": da.ID},
				"sourceBucket": "bkt", "sourcePath": "obj.bin", "targetServerUrl": dst.url,
				"targetBucket": "bkt", "targetPath": "copy.bin", "overwrite": true, "chunkSizeMB": 64})
			wait("/cloud/p2p_transfer/" + out["transferId"].(string) + "/status")
		},
	}
	order := []string{"curl", "server_transfer", "p2p"}
	walls, cpus := map[string][]time.Duration{}, map[string][]time.Duration{}
	for r := range reps {
		for i := range order {
			name := order[(i+r)%len(order)] // rotate, so no tool always goes first
			clean()
			t0, c0 := time.Now(), cpuTime()
			runs[name]()
			walls[name] = append(walls[name], time.Since(t0))
			cpus[name] = append(cpus[name], cpuTime()-c0)
			if got, err := dst.c.Stat(ctx, "bkt", "copy.bin"); err != nil || got.Size != size {
				log.Fatalf("%s: copy is wrong: %v %v", name, got.Size, err)
			}
			if sum := fileSHA256(filepath.Join(dst.root, "bkt", "copy.bin")); sum != srcSum {
				log.Fatalf("%s: copy has SHA-256 %s, source %s", name, sum, srcSum)
			}
		}
	}
	mb := float64(size) / 1e6
	fmt.Printf("object %d MiB, %d repetitions, every copy checked byte for byte (SHA-256)\n\n", size>>20, reps)
	fmt.Printf("| method | best s | median s | MB/s (best) | speed vs curl (best) | speed vs curl (median) | CPU s (median) |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, name := range order {
		b, m := slices.Min(walls[name]), median(walls[name])
		fmt.Printf("| %s | %.2f | %.2f | %.0f | %.2fx | %.2fx | %.2f |\n", name, b.Seconds(), m.Seconds(), mb/b.Seconds(),
			slices.Min(walls["curl"]).Seconds()/b.Seconds(), median(walls["curl"]).Seconds()/m.Seconds(), median(cpus[name]).Seconds())
	}
}

func must2[T any](v T, err error) T {
	must(err)
	return v
}
