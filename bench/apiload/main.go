// Command apiload measures the agent's HTTP API under concurrent clients,
// and the same listing sent to MinIO directly, so a table shows what the
// agent adds. Each client sends requests back to back for the whole run;
// the figures are latency percentiles, requests per second, errors (any
// non-200 or transport error) and CPU seconds per request of the agent and
// of MinIO.
//
//	go run ./bench/apiload                      # memory driver, agent only
//	AMOVE_TEST_S3_ENDPOINT=... go run ./bench/apiload -modes agent,direct -ops list -minio-pid PID
//
// Modes: "agent" sends the requests to an agent (httpapi over a Client with
// a SQLite store) in a child process, so its CPU is its own; "direct" sends
// ListObjectsV2 to MinIO with aws-sdk-go-v2, the request the agent's
// list_objects makes. Ops: "list" lists the bucket's root (100 objects and
// a folder by default); "mixed" alternates list_objects and
// client_transfer/{id}/status (agent only). -minio-pid lets apiload read
// MinIO's CPU time from /proc (Linux), so use a MinIO no one else is
// loading. -json prints one JSON object per mode instead of table rows.
// S3 credentials come from AMOVE_TEST_S3_ACCESS_KEY and
// AMOVE_TEST_S3_SECRET_KEY.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/bench/internal/apiresult"
	"github.com/amove/amove-go/httpapi"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/provider/s3"

	// The store "sqlite:" DSNs name.
	_ "github.com/amove/amove-go/store/sqlite"
)

type sharedMemory struct{ *memory.Storage }

func (sharedMemory) Close() error { return nil }

// config is what the load generator and the agent child share.
type config struct {
	clients  int
	duration time.Duration
	objects  int
	ops      string
	minioPID int
	bucket   string
	cfg      provider.Config // empty Endpoint: the memory driver
	// cpuProfile is where the agent child writes a pprof CPU profile of
	// each agent-mode run; empty means none.
	cpuProfile string
}

// result is one mode's figures, printed as a table row or as JSON (the
// line bench/report reads).
type result = apiresult.Result

func main() {
	var c config
	flag.IntVar(&c.clients, "clients", 200, "concurrent clients")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "run time of each mode")
	flag.IntVar(&c.objects, "objects", 100, "objects in the listed bucket")
	flag.StringVar(&c.ops, "ops", "mixed", "list: list_objects only; mixed: list_objects and client_transfer/{id}/status alternately")
	flag.IntVar(&c.minioPID, "minio-pid", 0, "MinIO's process id, to report its CPU per request")
	modes := flag.String("modes", "agent", "comma-separated: agent, direct (direct needs MinIO)")
	asJSON := flag.Bool("json", false, "print one JSON object per mode")
	serve := flag.Bool("serve", false, "internal: run the agent and print its address (the child of agent mode)")
	flag.StringVar(&c.bucket, "bucket", "", "internal: the bucket the child lists")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the agent child (agent mode) to this file")
	flag.Parse()
	c.cfg = provider.Config{CloudType: provider.S3Generic, Endpoint: os.Getenv("AMOVE_TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("AMOVE_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("AMOVE_TEST_S3_SECRET_KEY")}
	var err error
	if *serve {
		err = serveAgent(c)
	} else {
		err = run(c, strings.Split(*modes, ","), *asJSON)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func run(c config, modes []string, asJSON bool) error {
	if c.ops != "list" && c.ops != "mixed" {
		return fmt.Errorf("-ops %q: want list or mixed", c.ops)
	}
	ctx := context.Background()
	c.bucket = fmt.Sprintf("apiload-%d", time.Now().UnixNano())
	if c.cfg.Endpoint != "" {
		// MinIO: the bucket is seeded here, so both modes list the same one.
		st, err := s3.Open(ctx, c.cfg)
		if err != nil {
			return err
		}
		if err := seed(ctx, st, c.bucket, c.objects); err != nil {
			return err
		}
		defer cleanBucket(context.WithoutCancel(ctx), st, c.bucket)
	}
	if !asJSON {
		fmt.Println("| mode | backend | ops | clients | s | requests | req/s | p50 ms | p99 ms | max ms | errors | agent CPU ms/req | MinIO CPU ms/req |")
		fmt.Println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	}
	for _, m := range modes {
		var r result
		var err error
		switch m {
		case "agent":
			r, err = agentMode(ctx, c)
		case "direct":
			if c.cfg.Endpoint == "" {
				return errors.New("direct mode needs AMOVE_TEST_S3_ENDPOINT")
			}
			if c.ops != "list" {
				return errors.New("direct mode lists only: use -ops list")
			}
			r, err = directMode(ctx, c)
		default:
			return fmt.Errorf("unknown mode %q", m)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		if asJSON {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
			continue
		}
		perReq := func(s float64) string {
			if s < 0 || r.Requests == 0 {
				return "–"
			}
			return fmt.Sprintf("%.3f", s*1000/float64(r.Requests))
		}
		fmt.Printf("| %s | %s | %s | %d | %.1f | %d | %.0f | %.1f | %.1f | %.0f | %d | %s | %s |\n", r.Mode, r.Backend, r.Ops,
			r.Clients, r.Seconds, r.Requests, r.RPS, r.P50ms, r.P99ms, r.MaxMs, r.Errors, perReq(r.AgentCPUs), perReq(r.MinIOCPUs))
		if r.FirstError != "" {
			fmt.Fprintln(os.Stderr, "first error:", r.FirstError)
		}
	}
	return nil
}

func seed(ctx context.Context, st provider.Storage, bucket string, objects int) error {
	if err := st.(provider.BucketManager).CreateBucket(ctx, bucket, ""); err != nil {
		return err
	}
	data := bytes.Repeat([]byte("x"), 1024)
	for i := range objects {
		if _, err := st.Write(ctx, bucket, fmt.Sprintf("obj-%04d", i), bytes.NewReader(data), int64(len(data)), provider.WriteOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// cleanBucket removes what seed and the agent's upload wrote.
func cleanBucket(ctx context.Context, st provider.Storage, bucket string) {
	for _, prefix := range []string{"", "up/"} {
		page, err := st.ListObjects(ctx, bucket, provider.ListOptions{Prefix: prefix, Delimiter: "/", MaxKeys: 1000})
		if err != nil {
			return
		}
		for _, o := range page.Objects {
			if !o.IsFolder {
				_ = st.Delete(ctx, bucket, o.Key)
			}
		}
	}
	_ = st.(provider.BucketManager).DeleteBucket(ctx, bucket)
}

// agentInfo is what the child prints once it serves.
type agentInfo struct {
	Base, Token, Dir string
}

// serveAgent is the child: a Client, its first user and token and the HTTP
// API on a loopback port, until its standard input closes.
func serveAgent(c config) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apiload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	discard := slog.New(slog.DiscardHandler)
	var open func(context.Context, provider.Config) (provider.Storage, error)
	if c.cfg.Endpoint == "" {
		mem := sharedMemory{memory.New(memory.Options{})}
		open = func(context.Context, provider.Config) (provider.Storage, error) { return mem, nil }
		if err := seed(ctx, mem, c.bucket, c.objects); err != nil {
			return err
		}
	}
	cl, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"),
		Logger: discard, OpenStorage: open})
	if err != nil {
		return err
	}
	defer cl.Close()
	_, admin, err := cl.CreateTenant(ctx, "bench", amove.NewUser{Username: "admin", Role: amove.RoleDesktopAdmin})
	if err != nil {
		return err
	}
	tok, err := cl.IssueToken(ctx, admin.ID)
	if err != nil {
		return err
	}
	api := httpapi.New(cl, httpapi.Options{Roots: []string{dir}, Logger: discard})
	defer api.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api}
	go srv.Serve(ln)
	defer srv.Close()
	if err := json.NewEncoder(os.Stdout).Encode(agentInfo{Base: "http://" + ln.Addr().String(), Token: tok.Token, Dir: dir}); err != nil {
		return err
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes the pipe
	return nil
}

func agentMode(ctx context.Context, c config) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	args := []string{"-serve", "-bucket", c.bucket, "-objects", strconv.Itoa(c.objects)}
	if c.cpuProfile != "" {
		args = append(args, "-cpuprofile", c.cpuProfile)
	}
	child := exec.CommandContext(ctx, self, args...)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return result{}, err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	if err := child.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		stdin.Close()
		_ = child.Wait()
	}()
	var info agentInfo
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		return result{}, fmt.Errorf("agent child: %w", err)
	}
	if err := json.Unmarshal(line, &info); err != nil {
		return result{}, fmt.Errorf("agent child: %w", err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: c.clients, MaxIdleConnsPerHost: c.clients}, Timeout: 30 * time.Second}
	call := func(method, path string, body any, out any) (int, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, info.Base+path+"?token="+info.Token, rd)
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

	cfg := c.cfg
	if cfg.Endpoint == "" {
		cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = "http://memory.invalid", "memory-access", "memory-secret"
	}
	var acct struct{ ID string }
	if code, err := call("POST", "/cloud/insert_account", map[string]any{"cloudType": 8, "name": "bench",
		"endpoint": cfg.Endpoint, "accessKey": cfg.AccessKey, "secretKey": cfg.SecretKey}, &acct); err != nil || code != 200 {
		return result{}, fmt.Errorf("insert_account: %d %v", code, err)
	}
	// A transfer for client_transfer/{id}/status: a file in the child's
	// folder (an allowed root).
	local := filepath.Join(info.Dir, "f.bin")
	if err := os.WriteFile(local, bytes.Repeat([]byte("y"), 1<<20), 0o600); err != nil {
		return result{}, err
	}
	var tr struct{ TransferID string }
	if code, err := call("POST", "/cloud/upload_object", map[string]any{"cloudAccount": map[string]any{"id": acct.ID},
		"storageName": c.bucket, "uploadPath": "up/", "localFilePath": local}, &tr); err != nil || code != 200 {
		return result{}, fmt.Errorf("upload_object: %d %v", code, err)
	}
	list := map[string]any{"account": map[string]any{"id": acct.ID}, "request": map[string]any{"bucketName": c.bucket, "path": "/"}}
	backend := "MinIO"
	if c.cfg.Endpoint == "" {
		backend = "memory"
	}
	r := measure(c, func(n int) error {
		var code int
		var err error
		if c.ops == "list" || n%2 == 0 {
			code, err = call("POST", "/cloud/list_objects", list, nil)
		} else {
			code, err = call("GET", "/cloud/client_transfer/"+tr.TransferID+"/status", nil, nil)
		}
		if err == nil && code != 200 {
			err = fmt.Errorf("HTTP %d", code)
		}
		return err
	}, child.Process.Pid)
	r.Mode, r.Backend = "agent", backend
	return r, nil
}

func directMode(ctx context.Context, c config) (result, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: c.clients, MaxIdleConnsPerHost: c.clients}, Timeout: 30 * time.Second}
	client := s3sdk.New(s3sdk.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(c.cfg.AccessKey, c.cfg.SecretKey, ""),
		HTTPClient:   hc,
		UsePathStyle: true,
		BaseEndpoint: aws.String(c.cfg.Endpoint),
	})
	// The agent's list_objects of "/" is one ListObjectsV2 with a "/"
	// delimiter (provider/s3.Storage.ListObjects).
	in := &s3sdk.ListObjectsV2Input{Bucket: aws.String(c.bucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1000)}
	r := measure(c, func(int) error {
		_, err := client.ListObjectsV2(ctx, in)
		return err
	}, 0)
	r.Mode, r.Backend = "direct", "MinIO"
	return r, nil
}

// measure runs c.clients loops of op for c.duration and collects the
// figures; agentPID, when not 0, is the process whose CPU counts as the
// agent's.
func measure(c config, op func(n int) error, agentPID int) result {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		errs   int
		firstE error
		wg     sync.WaitGroup
	)
	agent0, minio0, self0 := cpuOf(agentPID), cpuOf(c.minioPID), selfCPU()
	start := time.Now()
	end := start.Add(c.duration)
	for i := range c.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int
			var firstErr error
			for n := i; time.Now().Before(end); n++ {
				t0 := time.Now()
				err := op(n)
				mine = append(mine, time.Since(t0))
				if err != nil {
					bad++
					if firstErr == nil {
						firstErr = err
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
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return ms(lat[int(float64(len(lat)-1)*p)])
	}
	r := result{Ops: c.ops, Clients: c.clients, Seconds: elapsed.Seconds(), Requests: len(lat), Errors: errs,
		RPS: float64(len(lat)) / elapsed.Seconds(), P50ms: pct(0.50), P99ms: pct(0.99), MaxMs: pct(1),
		ClientCPUs: selfCPU() - self0, AgentCPUs: -1, MinIOCPUs: -1}
	if agentPID != 0 {
		r.AgentCPUs = cpuOf(agentPID) - agent0
	}
	if c.minioPID != 0 {
		r.MinIOCPUs = cpuOf(c.minioPID) - minio0
	}
	if firstE != nil {
		r.FirstError = firstE.Error()
	}
	return r
}

// cpuOf returns the user+system CPU seconds of process pid from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux), or
// 0 when pid is 0 or unreadable.
func cpuOf(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces: count after its ")".
	_, rest, ok := bytes.Cut(b, []byte(") "))
	if !ok {
		return 0
	}
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
