package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/internal/pgtest"
	"github.com/amove/amove-go/internal/testenv"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/s3"
	"github.com/amove/amove-go/store"
	"github.com/amove/amove-go/store/postgres"
	"github.com/amove/amove-go/store/sqlite"
	"github.com/amove/amove-go/transfer"
)

// The workload of TestAgentsTakeOver.
const (
	bigSize    = 256 << 20
	copyPart   = 8 << 20 // 32 parts
	smallCount = 2000
	agentConc  = 8 // -concurrency of each agent: parts and small objects in flight
	// rescueBound is when a dead agent's shared job runs again at the
	// latest with the default settings (docs/scale-out.md, "Slices and the
	// rescue bound"): RescueAfter 20 s + rescuer 30 s + scheduler 5 s +
	// fetch 1 s.
	rescueBound = 56 * time.Second
)

// TestAgentsTakeOver runs `amove serve` agents as separate processes on one
// store and MinIO, starts a 256 MiB copy between two S3Generic accounts
// (a multipart copy through the engine: two accounts, so no server-side
// copy) and a copy of 2,000 small objects, and SIGKILLs the agent running
// them mid-way. Every request to MinIO passes a counting proxy, slowed
// until the kill so that the kill lands mid-way.
//
// On PostgreSQL three agents share the store: the other two take the jobs
// over within the rescue bound and finish them; an upload started by a
// client that does not work the queue is never taken by any of them. On
// SQLite the one agent restarts with its id and resumes its jobs. Both
// show: the objects are byte-identical (SHA-256), the multipart upload is
// the one started before the kill, no part or object the journal recorded
// as finished at the kill is sent again, and no more parts are sent than
// the object needs plus those in flight at the kill.
func TestAgentsTakeOver(t *testing.T) {
	src := seedTakeOver(t)
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		takeOver(t, src, true)
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		takeOver(t, src, false)
	})
}

// takeOverSource is the source bucket, shared by the subtests, and the
// SHA-256 of each object in it.
type takeOverSource struct {
	env    testenv.S3
	direct *s3.Storage // MinIO without the proxy
	bucket string
	sums   map[string][32]byte // key -> SHA-256
}

// seedTakeOver writes big.bin (256 MiB) and small/0000..1999 (1 to 16 KiB)
// to a new bucket.
func seedTakeOver(t *testing.T) *takeOverSource {
	env := testenv.RequireS3(t)
	ctx := context.Background()
	direct, err := s3.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: env.Endpoint,
		Region: "us-east-1", AccessKey: env.AccessKey, SecretKey: env.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	s := &takeOverSource{env: env, direct: direct, bucket: testBucket(t, direct, "src"), sums: map[string][32]byte{}}
	var mu sync.Mutex
	put := func(key string, size int64, seed uint64) error {
		h := sha256.New()
		r := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}), size), h)
		if _, err := direct.Write(ctx, s.bucket, key, r, size, provider.WriteOptions{}); err != nil {
			return fmt.Errorf("seed %s: %w", key, err)
		}
		mu.Lock()
		s.sums[key] = [32]byte(h.Sum(nil))
		mu.Unlock()
		return nil
	}
	var g errgroup.Group
	g.SetLimit(16)
	g.Go(func() error { return put("big.bin", bigSize, 1<<15) })
	for i := range smallCount {
		g.Go(func() error { return put(fmt.Sprintf("small/%04d.bin", i), 1024+int64(i*7919%(15<<10)), uint64(i)) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return s
}

func testBucket(t *testing.T, st *s3.Storage, what string) string {
	t.Helper()
	name := fmt.Sprintf("takeover-%s-%08x", what, rand.Uint32())
	if err := st.CreateBucket(context.Background(), name, ""); err != nil {
		t.Fatal(err)
	}
	return name
}

// takeOver is one run of TestAgentsTakeOver: shared tells PostgreSQL with
// three agents from SQLite with one.
func takeOver(t *testing.T, src *takeOverSource, shared bool) {
	ctx := context.Background()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "secret.key")
	var (
		dsn string
		st  store.Store
		err error
	)
	if shared {
		dsn = pgtest.Schema(t)
		st, err = postgres.Open(ctx, dsn)
	} else {
		dsn = "sqlite:" + filepath.Join(dir, "amove.db")
		st, err = sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	journal := st.Journal()

	// The controller: a client of the store that starts the copies. It is
	// an agent (so its transfers go to the queue) that works no queue
	// until the end.
	ctl, err := amove.New(ctx, amove.Options{Store: st, KeyFile: keyFile, Logger: slog.New(slog.DiscardHandler),
		Transfers: amove.TransferOptions{AgentID: "ctl", PartSize: copyPart}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	// The user `amove serve` acts for (settings.localAdmin).
	_, admin, err := ctl.CreateTenant(ctx, "local", amove.NewUser{Username: "admin", Password: fmt.Sprintf("Pw-%016x", rand.Uint64()), Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	p := admin.Principal()
	proxy := newCountingProxy(t, src.env.Endpoint)
	account := func(name string) amove.CloudAccount {
		a, err := ctl.InsertAccount(ctx, p, amove.NewAccount{CloudType: provider.S3Generic, Name: name,
			Endpoint: proxy.URL, Region: "us-east-1", AccessKey: src.env.AccessKey, SecretKey: src.env.SecretKey})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	from, to := account("from"), account("to")
	dstBucket := testBucket(t, src.direct, "dst")

	agents := &agentSet{t: t, dir: dir, args: []string{"-dsn", dsn, "-key-file", keyFile,
		"-config", filepath.Join(dir, "none.json")}}
	first := "a1"
	if !shared {
		first = "solo"
	}
	agents.start(first)

	// Slow enough that the kill lands mid-way: a part takes about 3 s.
	proxy.bigDelay.Store(int64(1500 * time.Millisecond))
	proxy.smallDelay.Store(int64(20 * time.Millisecond))
	big, err := ctl.Copy(ctx, p, amove.CopyRequest{SourceAccountID: from.ID, SourceBucket: src.bucket, SourceKey: "big.bin",
		DestAccountID: to.ID, DestBucket: dstBucket, DestKey: "big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	small, err := ctl.Copy(ctx, p, amove.CopyRequest{SourceAccountID: from.ID, SourceBucket: src.bucket, SourceKey: "small/",
		DestAccountID: to.ID, DestBucket: dstBucket, DestKey: "small/"})
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()

	var upload string
	if shared {
		// Two more agents join while a1 runs the copies.
		agents.start("a2", "a3")
		// An upload of ctl's: its file is on ctl's machine, so only ctl
		// may run it, and ctl does not work its queue (yet).
		file := filepath.Join(t.TempDir(), "local.bin")
		if err := os.WriteFile(file, bytes.Repeat([]byte("local "), 100_000), 0o600); err != nil {
			t.Fatal(err)
		}
		if upload, err = ctl.Upload(ctx, p, amove.UploadRequest{AccountID: to.ID, Bucket: dstBucket, Key: "local.bin", LocalPath: file}); err != nil {
			t.Fatal(err)
		}
	}

	// The small copy is split into shards (2,000 objects: 8 jobs of 250)
	// that the agents run side by side; its record lists them.
	shards := getRecord(t, journal, small).Shards
	if len(shards) < 2 {
		t.Fatalf("the copy of %d objects has %d shards; want it split", smallCount, len(shards))
	}

	// Mid-way: at least 4 of the 32 parts and 10 small objects are in the
	// journal; on PostgreSQL, the agent running the big copy (with the
	// shards it runs too) is the one killed, so its jobs must be taken
	// over while the other agents go on with theirs.
	var holders []string
	for {
		bigRec := getRecord(t, journal, big)
		if st, _ := ctl.TransferStatus(ctx, p, small); bigRec.State.Final() || st.State.Final() {
			t.Fatalf("a copy ended before the kill (big %s, small %s): slow the proxy down", bigRec.State, st.State)
		}
		if len(bigRec.Items[0].Parts) >= 4 && doneItems(t, journal, shards) >= 10 {
			if !shared {
				holders = []string{first}
				break
			}
			if holders = runningOn(t, dsn, big); holders != nil {
				break
			}
		}
		if time.Since(started) > 2*time.Minute {
			t.Fatal("the copies did not get mid-way in 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	killAt := time.Now()
	for _, id := range holders {
		agents.kill(id)
	}
	// Requests that started before killed may come from a killed agent.
	killed := time.Now()
	// The killed agents are gone and the rescue is at least 20 s away: the
	// journal is what the next agent will resume from.
	bigRec := getRecord(t, journal, big)
	var partsAtKill []int
	for _, pr := range bigRec.Items[0].Parts {
		partsAtKill = append(partsAtKill, pr.Number)
	}
	objectsAtKill := map[string]bool{}
	for _, id := range shards {
		for _, it := range getRecord(t, journal, id).Items {
			if it.Done {
				objectsAtKill[it.Dst] = true
			}
		}
	}
	// The survivors go on with their shards meanwhile: what the journal
	// held when it was read must not be sent after that.
	readAt := time.Now()
	proxy.bigDelay.Store(0)
	proxy.smallDelay.Store(0)
	t.Logf("killed %v %s after the copies started: %d of %d parts and %d of %d objects in the journal",
		holders, killAt.Sub(started).Round(time.Millisecond), len(partsAtKill), bigSize/copyPart, len(objectsAtKill), smallCount)
	if !shared {
		agents.start(first) // the same id: its queue, its jobs
	}

	// The work finishes within the rescue bound plus the time the rest of
	// the work takes (generous: a loaded machine).
	deadline := killAt.Add(rescueBound + 2*time.Minute)
	for _, id := range []string{big, small} {
		st := waitFinal(t, ctl, p, id, deadline)
		if st.State != transfer.Completed {
			t.Fatalf("transfer %s: %s %s", id, st.State, st.Error)
		}
	}
	done := time.Now()

	// Taken over: the first request for each copy's destination after the
	// kill.
	log := proxy.entries()
	isPart := func(e proxyRecord) bool {
		return e.Method == http.MethodPut && e.Bucket == dstBucket && e.Key == "big.bin" && e.Part > 0
	}
	isObject := func(e proxyRecord) bool {
		return e.Method == http.MethodPut && e.Bucket == dstBucket && strings.HasPrefix(e.Key, "small/") && e.Part == 0
	}
	for what, match := range map[string]func(proxyRecord) bool{"big copy": isPart} {
		i := slices.IndexFunc(log, func(e proxyRecord) bool { return match(e) && e.Start.After(killed) })
		if i < 0 {
			t.Errorf("%s: no request after the kill", what)
			continue
		}
		took := log[i].Start.Sub(killAt)
		t.Logf("%s: taken over %s after the kill, finished %s after it", what, took.Round(time.Millisecond), done.Sub(killAt).Round(time.Second))
		if took > rescueBound+30*time.Second {
			t.Errorf("%s taken over %s after the kill; the bound is %s", what, took, rescueBound)
		}
	}

	// No finished part sent twice.
	inFlight := func(e proxyRecord) bool { return e.Start.Before(killed) && e.End.After(killAt) }
	var partsSent, partsInFlight, objectsSent, objectsInFlight, creates, completes int
	for _, e := range log {
		switch {
		case isPart(e):
			if e.Status == http.StatusOK {
				partsSent++
			}
			if inFlight(e) {
				partsInFlight++
			}
			if e.Start.After(readAt) && slices.Contains(partsAtKill, e.Part) {
				t.Errorf("part %d was in the journal at the kill but sent again", e.Part)
			}
		case isObject(e):
			if e.Status == http.StatusOK {
				objectsSent++
			}
			if inFlight(e) {
				objectsInFlight++
			}
			if e.Start.After(readAt) && objectsAtKill[e.Key] {
				t.Errorf("object %s was in the journal at the kill but sent again", e.Key)
			}
		case e.Method == http.MethodPost && e.Bucket == dstBucket && e.Key == "big.bin":
			if e.Create {
				creates++
			} else if e.Status == http.StatusOK {
				completes++
			}
		}
	}
	const nparts = bigSize / copyPart
	t.Logf("big copy: %d parts needed, %d sent (%d in the journal at the kill, %d in flight at the kill); "+
		"small copy: %d objects, %d sent (%d in the journal at the kill, %d in flight)",
		nparts, partsSent, len(partsAtKill), partsInFlight, smallCount, objectsSent, len(objectsAtKill), objectsInFlight)
	if partsSent > nparts+partsInFlight {
		t.Errorf("%d parts sent; at most %d needed + %d in flight at the kill", partsSent, nparts, partsInFlight)
	}
	if objectsSent > smallCount+objectsInFlight {
		t.Errorf("%d objects sent; at most %d needed + %d in flight at the kill", objectsSent, smallCount, objectsInFlight)
	}
	if creates != 1 || completes != 1 {
		t.Errorf("big copy: %d multipart uploads created, %d completed; want the one upload resumed and completed once", creates, completes)
	}

	// Byte-identical.
	var g errgroup.Group
	g.SetLimit(8)
	for key, want := range src.sums {
		g.Go(func() error {
			if got := objectSum(t, src.direct, dstBucket, key); got != want {
				return fmt.Errorf("%s: SHA-256 %x, source %x", key, got, want)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Error(err)
	}

	if !shared {
		return
	}
	// Who ran the jobs: the big copy on a killed agent, then a survivor;
	// every shard the killed agent ran, finished by a survivor; and the
	// shards on more than one agent.
	if by := attemptedBy(t, dsn, big); !slices.ContainsFunc(by, func(a string) bool { return slices.Contains(holders, a) }) ||
		slices.Contains(holders, by[len(by)-1]) {
		t.Errorf("the big copy ran on %v; want a killed agent %v, then another", by, holders)
	}
	ranShards := map[string]bool{}
	for _, id := range shards {
		by := attemptedBy(t, dsn, id)
		for _, a := range by {
			ranShards[a] = true
		}
		if len(by) > 0 && slices.Contains(holders, by[len(by)-1]) {
			t.Errorf("shard %s ran last on %v, a killed agent", id, by)
		}
	}
	if len(ranShards) < 2 {
		t.Errorf("the shards of the small copy ran on %v; want several agents", ranShards)
	}
	// Any agent answers for the transfer over HTTP.
	survivor := agents.running()[0]
	tok, err := ctl.IssueToken(ctx, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ws struct{ Status string }
	getJSON(t, survivor.base+"/cloud/client_transfer/"+big+"/status?token="+url.QueryEscape(tok.Token), &ws)
	if ws.Status != string(transfer.Completed) {
		t.Errorf("%s answers the big copy's status %q", survivor.id, ws.Status)
	}
	// `amove agents` lists them.
	var out bytes.Buffer
	if err := runCLI(ctx, &out, io.Discard, append([]string{"agents"}, agents.args...)...); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a1", "a2", "a3", "ctl"} {
		if !strings.Contains(out.String(), "\n"+id+" ") {
			t.Errorf("amove agents does not list %s:\n%s", id, out.String())
		}
	}
	// The upload waited for ctl all along, then runs when ctl works.
	if s, err := ctl.TransferStatus(ctx, p, upload); err != nil || s.State != transfer.Pending {
		t.Errorf("the upload of ctl while ctl did not work: %+v, %v; want it pending", s, err)
	}
	if slices.ContainsFunc(proxy.entries(), func(e proxyRecord) bool { return e.Key == "local.bin" }) {
		t.Error("an agent that does not own the upload's file sent it")
	}
	if err := ctl.RestoreTransfers(ctx); err != nil {
		t.Fatal(err)
	}
	if s := waitFinal(t, ctl, p, upload, time.Now().Add(time.Minute)); s.State != transfer.Completed {
		t.Errorf("the upload on its own agent: %s %s", s.State, s.Error)
	}
	// SIGTERM drains the survivors: they exit cleanly.
	for _, a := range agents.running() {
		a.stop(t)
	}
}

func getRecord(t *testing.T, j transfer.Journal, id string) *transfer.JobRecord {
	t.Helper()
	rec, err := j.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// doneItems counts the finished items of the jobs ids.
func doneItems(t *testing.T, j transfer.Journal, ids []string) int {
	n := 0
	for _, id := range ids {
		for _, it := range getRecord(t, j, id).Items {
			if it.Done {
				n++
			}
		}
	}
	return n
}

func waitFinal(t *testing.T, c *amove.Client, p amove.Principal, id string, deadline time.Time) transfer.Status {
	t.Helper()
	for {
		st, err := c.TransferStatus(context.Background(), p, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State.Final() {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer %s still %s (%d/%d bytes, %d/%d files)", id, st.State, st.BytesDone, st.BytesTotal, st.FilesDone, st.FilesTotal)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func objectSum(t *testing.T, st provider.Storage, bucket, key string) [32]byte {
	rc, err := st.NewRangeReader(context.Background(), bucket, key, 0, -1)
	if err != nil {
		t.Errorf("read %s: %v", key, err)
		return [32]byte{}
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Errorf("read %s: %v", key, err)
	}
	return [32]byte(h.Sum(nil))
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %s %s", u, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// River's view of the jobs (docs/scale-out.md: river_job, attempted_by
// holds river client ids <agent id>-<8 hex>).

// runningOn returns the agents running the transfers' jobs, or nil unless
// every one of them is running.
func runningOn(t *testing.T, dsn string, transfers ...string) []string {
	t.Helper()
	var agents []string
	for _, id := range transfers {
		state, by := riverJob(t, dsn, id)
		if state != "running" || len(by) == 0 {
			return nil
		}
		if a := by[len(by)-1]; !slices.Contains(agents, a) {
			agents = append(agents, a)
		}
	}
	return agents
}

// attemptedBy returns the agents that ran the transfer's job, in order.
func attemptedBy(t *testing.T, dsn, id string) []string {
	_, by := riverJob(t, dsn, id)
	return by
}

func riverJob(t *testing.T, dsn, transferID string) (state string, agents []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var clients []string
	err = conn.QueryRow(ctx, `SELECT state::text, attempted_by FROM river_job WHERE kind = 'transfer' AND args->>'transfer' = $1
		ORDER BY id DESC LIMIT 1`, transferID).Scan(&state, &clients)
	if err != nil {
		t.Fatalf("river_job of %s: %v", transferID, err)
	}
	for _, c := range clients {
		if i := strings.LastIndexByte(c, '-'); i > 0 {
			c = c[:i]
		}
		agents = append(agents, c)
	}
	return state, agents
}

// agentSet runs `amove serve` processes: this test binary, which runs main
// when envRunMain is set (TestMain).
type agentSet struct {
	t    *testing.T
	dir  string
	args []string // the common flags: store, key, config

	mu    sync.Mutex
	procs map[string]*agentProc
}

type agentProc struct {
	id     string
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// start starts the agents and returns once each answers HTTP.
func (s *agentSet) start(ids ...string) {
	s.t.Helper()
	ready := make(chan error, len(ids))
	for _, id := range ids {
		go func() { ready <- s.start1(id) }()
	}
	for range ids {
		if err := <-ready; err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *agentSet) start1(id string) error {
	logPath := filepath.Join(s.dir, id+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	args := append([]string{"serve", "-agent-id", id, "-addr", "127.0.0.1:0", "-no-local-storage",
		"-concurrency", strconv.Itoa(agentConc)}, s.args...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	a := &agentProc{id: id, cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
				select {
				case addr <- strings.Fields(rest)[0]:
				default:
				}
			}
		}
		a.err = cmd.Wait()
		logf.Close()
		close(a.exited)
	}()
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-a.exited
		if s.t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 8<<10 {
				b = b[len(b)-8<<10:]
			}
			s.t.Logf("log of agent %s (end):\n%s", id, b)
		}
	})
	select {
	case a.base = <-addr:
	case <-a.exited:
		return fmt.Errorf("agent %s exited at start: %v (log: %s)", id, a.err, logPath)
	case <-time.After(time.Minute):
		return fmt.Errorf("agent %s did not listen within a minute (log: %s)", id, logPath)
	}
	s.mu.Lock()
	if s.procs == nil {
		s.procs = map[string]*agentProc{}
	}
	s.procs[id] = a
	s.mu.Unlock()
	return nil
}

// kill SIGKILLs agent id: no drain, no last words.
func (s *agentSet) kill(id string) {
	s.t.Helper()
	s.mu.Lock()
	a := s.procs[id]
	delete(s.procs, id)
	s.mu.Unlock()
	if a == nil {
		s.t.Fatalf("no agent %s to kill", id)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	<-a.exited
}

// running returns the agents not killed, by id.
func (s *agentSet) running() []*agentProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*agentProc
	for _, a := range s.procs {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *agentProc) int { return strings.Compare(a.id, b.id) })
	return out
}

// stop sends SIGTERM and expects a clean exit.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
		if a.err != nil {
			t.Errorf("agent %s after SIGTERM: %v", a.id, a.err)
		}
	case <-time.After(time.Minute):
		t.Errorf("agent %s did not stop within a minute of SIGTERM", a.id)
	}
}

// countingProxy is a loopback reverse proxy in front of MinIO that
// records every request (as transfer/proxy_test.go's s3Proxy, reduced to
// what TestAgentsTakeOver counts) and can slow the copies down. SigV4
// signs the Host header, so the proxy forwards the client's unchanged.
type countingProxy struct {
	URL string
	// bigDelay holds each GET of big.bin and each part upload; smallDelay
	// each GET of small/... (nanoseconds).
	bigDelay, smallDelay atomic.Int64

	mu  sync.Mutex
	log []proxyRecord
}

// proxyRecord is one request; path-style: /bucket/key.
type proxyRecord struct {
	Method, Bucket, Key string
	Part                int  // partNumber of a part upload
	Create              bool // POST ?uploads: a multipart upload created
	Start, End          time.Time
	Status              int // 0: aborted (the client died)
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport:    &http.Transport{MaxIdleConnsPerHost: 64},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) },
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		q := r.URL.Query()
		part, _ := strconv.Atoi(q.Get("partNumber"))
		e := proxyRecord{Method: r.Method, Bucket: bucket, Key: key, Part: part, Create: q.Has("uploads"), Start: time.Now()}
		p.mu.Lock()
		i := len(p.log)
		p.log = append(p.log, e)
		p.mu.Unlock()
		sw := &statusRecorder{ResponseWriter: w}
		defer func() {
			p.mu.Lock()
			p.log[i].End, p.log[i].Status = time.Now(), sw.status
			p.mu.Unlock()
		}()
		var d time.Duration
		switch {
		case r.Method == http.MethodPut && part > 0, r.Method == http.MethodGet && key == "big.bin" && !q.Has("uploadId"):
			d = time.Duration(p.bigDelay.Load())
		case r.Method == http.MethodGet && strings.HasPrefix(key, "small/"):
			d = time.Duration(p.smallDelay.Load())
		}
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(sw, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *countingProxy) entries() []proxyRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.log)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // not 100 Continue, which the proxy forwards first
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
