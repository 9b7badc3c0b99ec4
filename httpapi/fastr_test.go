package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/fastr"
)

// The Fastr transfer tests run two reference servers and the agent on
// loopback. Names carry an fx prefix to stay clear of other test files.

// The states and modes of the wire.
const (
	stPending   = "pending"
	stRunning   = "running"
	stPaused    = "paused"
	stCompleted = "completed"
	stFailed    = "failed"
	stCancelled = "cancelled"
	modePush    = "push"
	modeRelay   = "relay"
)

func terminal(st string) bool { return st == stCompleted || st == stFailed || st == stCancelled }

const (
	fxSrcKey    = "AKSOURCE0001"
	fxSrcSecret = "source-secret-0123456789abcdef"
	fxDstKey    = "AKTARGET0001"
	fxDstSecret = "target-secret-0123456789abcdef"
)

// fxTarget wraps a server to record the offsets of the chunks it accepted,
// and holds the delay the senders to it apply (fxSlow), so a test can act
// while a transfer runs.
type fxTarget struct {
	next  http.Handler
	delay *atomic.Int64 // nanoseconds per chunk
	mu    sync.Mutex
	sizes []int64 // body sizes of accepted PATCHes
	offs  []int64 // their offsets
}

func (f *fxTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPatch {
		f.next.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	f.next.ServeHTTP(rec, r)
	if rec.status/100 == 2 {
		off, _ := strconv.ParseInt(r.Header.Get(fastr.HeaderOffset), 10, 64)
		f.mu.Lock()
		f.sizes = append(f.sizes, r.ContentLength)
		f.offs = append(f.offs, off)
		f.mu.Unlock()
	}
}

func (f *fxTarget) accepted() (offs, sizes []int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int64(nil), f.offs...), append([]int64(nil), f.sizes...)
}

// fxSlow delays every chunk a sender sends, on the sender's side, so that
// cancelling the sender really stops the chunk.
type fxSlow struct{ delay *atomic.Int64 }

func (s fxSlow) RoundTrip(r *http.Request) (*http.Response, error) {
	if d := time.Duration(s.delay.Load()); d > 0 && r.Method == http.MethodPatch {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// fxServer is one reference server on loopback.
type fxServer struct {
	t     *testing.T
	root  string
	opts  fastr.Options
	s     *fastr.Server
	wrap  *fxTarget
	delay atomic.Int64 // of chunks sent to this server
	srv   *httptest.Server
	c     *fastr.Client // signed with the server's own key
}

func fxNewServer(t *testing.T, key, secret string, mod func(*fastr.Options)) *fxServer {
	t.Helper()
	root := t.TempDir()
	opts := fastr.Options{Root: root, Credentials: fastr.StaticCredentials(map[string]string{key: secret}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&opts)
	}
	f := &fxServer{t: t, root: root, opts: opts}
	f.start(nil)
	t.Cleanup(f.stop)
	var err error
	if f.c, err = fastr.NewClient(f.srv.URL, key, secret, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.c.CreateBucket(context.Background(), "bkt"); err != nil {
		t.Fatal(err)
	}
	return f
}

// start serves a new fastr.Server on the root, on ln when given (a restart
// on the same port).
func (f *fxServer) start(ln net.Listener) {
	f.t.Helper()
	s, err := fastr.NewServer(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.s, f.wrap = s, &fxTarget{next: s, delay: &f.delay}
	f.srv = httptest.NewUnstartedServer(f.wrap)
	if ln != nil {
		f.srv.Listener.Close()
		f.srv.Listener = ln
	}
	f.srv.Start()
}

// stop kills the server: its pushes stop mid-chunk, as in a crash.
func (f *fxServer) stop() {
	if f.s == nil {
		return
	}
	f.s.Close()
	f.srv.CloseClientConnections()
	f.srv.Close()
	f.s = nil
}

func (f *fxServer) restart() {
	f.t.Helper()
	addr := f.srv.Listener.Addr().String()
	f.stop()
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	f.start(ln)
}

// put stores size pseudo-random bytes as bkt/key and returns their SHA-256.
// The file is written into the root by hand (no sidecar): cheap, and the
// source then has to hash it itself.
func (f *fxServer) put(key string, size int64) string {
	f.t.Helper()
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	path := filepath.Join(f.root, "bkt", filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	out, err := os.Create(path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer out.Close()
	h := sha256.New()
	w := io.MultiWriter(out, h)
	for i := int64(0); size > 0; i++ {
		binary.LittleEndian.PutUint64(block, uint64(i)) // every block differs
		n := min(size, int64(len(block)))
		if _, err := w.Write(block[:n]); err != nil {
			f.t.Fatal(err)
		}
		size -= n
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sum hashes bkt/key as stored in the root ("" when absent).
func (f *fxServer) sum(key string) string {
	f.t.Helper()
	in, err := os.Open(filepath.Join(f.root, "bkt", filepath.FromSlash(key)))
	if err != nil {
		return ""
	}
	defer in.Close()
	h := sha256.New()
	if _, err := io.Copy(h, in); err != nil {
		f.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (f *fxServer) uploads() []fastr.UploadInfo {
	f.t.Helper()
	ups, err := f.c.ListUploads(context.Background(), "bkt", "")
	if err != nil {
		f.t.Fatal(err)
	}
	return ups
}

// fxAgent is the agent with a user who has a LocalHttp account on the
// source and a FastrServer account on the target.
type fxAgent struct {
	t        *testing.T
	api      *Server
	srv      *httptest.Server
	token    string
	src, dst *fxServer
	srcID    string
	dstID    string
	spec     *specCheck // checks every call against /openapi.json
}

func fxNewAgent(t *testing.T, src, dst *fxServer) *fxAgent {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	// The agent's requests to the target honour the target's delay, as the
	// source's pushes do.
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + dir + "/a.db", KeyFile: dir + "/k",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		HTTPClient: &http.Client{Transport: fxSlow{dst.wrap.delay}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, u, err := c.CreateTenant(ctx, "t", amove.NewUser{Username: "fx", Password: "fx-password-1234", Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.IssueToken(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := &fxAgent{t: t, token: tok.Token, src: src, dst: dst}
	sa, err := c.InsertAccount(ctx, u.Principal(), amove.NewAccount{CloudType: provider.LocalHttp, Name: "source",
		ServiceURL: src.srv.URL, AccessKey: fxSrcKey, SecretKey: fxSrcSecret})
	if err != nil {
		t.Fatal(err)
	}
	da, err := c.InsertAccount(ctx, u.Principal(), amove.NewAccount{CloudType: provider.FastrServer, Name: "target",
		ServiceURL: dst.srv.URL, AccessKey: fxDstKey, SecretKey: fxDstSecret})
	if err != nil {
		t.Fatal(err)
	}
	a.srcID, a.dstID = sa.ID, da.ID
	a.api = New(c, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	a.srv = httptest.NewServer(a.api)
	t.Cleanup(func() {
		a.srv.Close()
		a.api.Close()
	})
	a.spec = newSpecCheck(t, a.srv.URL)
	return a
}

// call sends a JSON request and decodes a JSON answer into out (if any).
func (a *fxAgent) call(method, path string, body, out any) int {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path+"?token="+url.QueryEscape(a.token), rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.spec.client().Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (a *fxAgent) p2p(key string, chunkMB int, overwrite bool) string {
	a.t.Helper()
	var out struct{ TransferID string }
	body := map[string]any{
		"sourceAccount": map[string]any{"id": a.srcID, "cloudType": 2048},
		"targetAccount": map[string]any{"id": a.dstID},
		"sourceBucket":  "bkt", "sourcePath": key,
		"targetServerUrl": a.dst.srv.URL, "targetBucket": "bkt", "targetPath": "copy/" + key,
		"overwrite": overwrite, "chunkSizeMB": chunkMB,
	}
	if code := a.call("POST", "/cloud/p2p_transfer/initiate", body, &out); code != http.StatusOK || out.TransferID == "" {
		a.t.Fatalf("initiate: %d %+v", code, out)
	}
	return out.TransferID
}

func (a *fxAgent) p2pStatus(id string) p2pStatus {
	a.t.Helper()
	var st p2pStatus
	if code := a.call("GET", "/cloud/p2p_transfer/"+id+"/status", nil, &st); code != http.StatusOK {
		a.t.Fatalf("status: %d", code)
	}
	return st
}

// waitP2P polls the agent until the transfer reaches one of want, or the
// test fails after a minute (two under the race detector's slowness).
func (a *fxAgent) waitP2P(id string, cond func(p2pStatus) bool) p2pStatus {
	a.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := a.p2pStatus(id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("transfer stuck: %+v", st)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func isStatus(want ...string) func(p2pStatus) bool {
	return func(st p2pStatus) bool {
		for _, w := range want {
			if st.Status == w {
				return true
			}
		}
		return false
	}
}

// fxPair makes a target and a source whose pushes to it honour
// dst.wrap.delay.
func fxPair(t *testing.T, srcMod func(*fastr.Options)) (src, dst *fxServer) {
	dst = fxNewServer(t, fxDstKey, fxDstSecret, nil)
	src = fxNewServer(t, fxSrcKey, fxSrcSecret, func(o *fastr.Options) {
		o.PushClient = &http.Client{Transport: fxSlow{dst.wrap.delay}}
		if srcMod != nil {
			srcMod(o)
		}
	})
	return src, dst
}

func TestP2PPush300MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("300 MiB")
	}
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	want := src.put("big.bin", 300<<20)
	start := time.Now()
	id := a.p2p("big.bin", 64, false)
	st := a.waitP2P(id, isStatus(stCompleted, stFailed, stCancelled))
	t.Logf("300 MiB pushed in %v", time.Since(start))
	if st.Status != stCompleted || !st.ChecksumVerified || st.Mode != modePush || st.ProgressPercentage != 100 ||
		st.TotalBytes != 300<<20 || st.TransferredBytes != st.TotalBytes || st.EndTime == nil {
		t.Fatalf("status %+v", st)
	}
	if got := dst.sum("copy/big.bin"); got != want {
		t.Fatalf("target SHA-256 %s, want %s", got, want)
	}
	if offs, _ := dst.wrap.accepted(); len(offs) != 5 { // ceil(300/64)
		t.Errorf("%d chunks accepted, want 5", len(offs))
	}
	var all []p2pStatus
	if code := a.call("GET", "/cloud/p2p_transfer/all", nil, &all); code != 200 || len(all) != 1 || all[0].TransferID != id {
		t.Errorf("all: %d %+v", code, all)
	}
}

// sourcePush is the one push the source server knows.
func sourcePush(t *testing.T, src *fxServer) fastr.PushStatus {
	t.Helper()
	ps, err := src.c.ListPushes(context.Background())
	if err != nil || len(ps) == 0 {
		t.Fatalf("source pushes: %v %v", ps, err)
	}
	return ps[len(ps)-1]
}

func TestP2PPauseResumeCancel(t *testing.T) {
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	want := src.put("v.bin", 12<<20+77)
	dst.wrap.delay.Store(int64(100 * time.Millisecond))
	id := a.p2p("v.bin", 1, false)
	a.waitP2P(id, func(st p2pStatus) bool { return st.TransferredBytes >= 2<<20 })

	var pause struct {
		Success      bool
		ServerPaused bool
		ServerStatus string
	}
	if code := a.call("POST", "/cloud/p2p_transfer/"+id+"/pause", nil, &pause); code != 200 || !pause.Success ||
		!pause.ServerPaused || pause.ServerStatus != "paused" {
		t.Fatalf("pause: %d %+v", code, pause)
	}
	if ps := sourcePush(t, src); ps.Status != fastr.PushPaused {
		t.Fatalf("source says %s after pause", ps.Status)
	}
	// Paused means nothing arrives any more. (A chunk the target had
	// already received when the source gave it up may still land; the
	// resume adopts it through the committed offset.)
	time.Sleep(150 * time.Millisecond)
	before, _ := dst.wrap.accepted()
	time.Sleep(300 * time.Millisecond)
	if after, _ := dst.wrap.accepted(); len(after) != len(before) {
		t.Fatalf("chunks arrived while paused: %d -> %d", len(before), len(after))
	}
	if st := a.p2pStatus(id); st.Status != stPaused {
		t.Fatalf("agent says %s", st.Status)
	}
	if code := a.call("POST", "/cloud/p2p_transfer/"+id+"/pause", nil, nil); code != http.StatusBadRequest {
		t.Fatalf("second pause: %d, want 400", code)
	}

	var resume struct {
		Success       bool
		ServerResumed bool
		ServerStatus  string
	}
	if code := a.call("POST", "/cloud/p2p_transfer/"+id+"/resume", nil, &resume); code != 200 || !resume.ServerResumed ||
		resume.ServerStatus != "running" {
		t.Fatalf("resume: %d %+v", code, resume)
	}
	if ps := sourcePush(t, src); ps.Status != fastr.PushRunning && ps.Status != fastr.PushCompleted {
		t.Fatalf("source says %s after resume", ps.Status)
	}
	if code := a.call("POST", "/cloud/p2p_transfer/"+id+"/resume", nil, nil); code != http.StatusBadRequest {
		t.Fatalf("resume of a running transfer: %d, want 400", code)
	}
	dst.wrap.delay.Store(0)
	st := a.waitP2P(id, isStatus(stCompleted, stFailed))
	if st.Status != stCompleted || !st.ChecksumVerified || dst.sum("copy/v.bin") != want {
		t.Fatalf("after resume: %+v", st)
	}
	// Every chunk was sent once: the resume continued at the committed offset.
	offs, _ := dst.wrap.accepted()
	if len(offs) != 13 {
		t.Errorf("%d chunks accepted, want 13: %v", len(offs), offs)
	}
	if code := a.call("POST", "/cloud/p2p_transfer/"+id+"/cancel", nil, nil); code != http.StatusBadRequest {
		t.Fatalf("cancel of a completed transfer: %d, want 400", code)
	}

	// Cancel reaches the source, which discards the target session.
	dst.wrap.delay.Store(int64(100 * time.Millisecond))
	id2 := a.p2p("v.bin", 1, true)
	a.waitP2P(id2, func(st p2pStatus) bool { return st.TransferredBytes >= 1<<20 })
	var cancel struct {
		Success         bool
		ServerCancelled bool
	}
	if code := a.call("POST", "/cloud/p2p_transfer/"+id2+"/cancel", nil, &cancel); code != 200 || !cancel.ServerCancelled {
		t.Fatalf("cancel: %d %+v", code, cancel)
	}
	if ps := sourcePush(t, src); ps.Status != fastr.PushCancelled {
		t.Fatalf("source says %s after cancel", ps.Status)
	}
	if ups := dst.uploads(); len(ups) != 0 {
		t.Fatalf("target keeps %d upload sessions", len(ups))
	}
	if st := a.p2pStatus(id2); st.Status != stCancelled || st.EndTime == nil {
		t.Fatalf("agent status %+v", st)
	}
	for _, op := range []string{"cancel", "pause", "resume"} {
		if code := a.call("POST", "/cloud/p2p_transfer/"+id2+"/"+op, nil, nil); code != http.StatusBadRequest {
			t.Errorf("%s of a cancelled transfer: %d, want 400", op, code)
		}
	}
}

func TestP2PRelayFallback(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		// The source's policy refuses the target: only the agent can
		// carry the bytes.
		src, dst := fxPair(t, func(o *fastr.Options) {
			o.AllowPushTarget = func(*url.URL) error { return os.ErrPermission }
		})
		a := fxNewAgent(t, src, dst)
		want := src.put("r.bin", 5<<20+3)
		dst.wrap.delay.Store(int64(60 * time.Millisecond))
		id := a.p2p("r.bin", 1, false)
		if st := a.p2pStatus(id); st.Mode != modeRelay || st.RelayReason == "" {
			t.Fatalf("not relayed: %+v", st)
		}
		// Pause and resume act on the agent's own loop.
		var pause struct{ ServerPaused bool }
		if code := a.call("POST", "/cloud/p2p_transfer/"+id+"/pause", nil, &pause); code != 200 || !pause.ServerPaused {
			t.Fatalf("pause: %d", code)
		}
		if code := a.call("POST", "/cloud/p2p_transfer/"+id+"/resume", nil, nil); code != 200 {
			t.Fatalf("resume: %d", code)
		}
		dst.wrap.delay.Store(0)
		st := a.waitP2P(id, isStatus(stCompleted, stFailed))
		if st.Status != stCompleted || !st.ChecksumVerified || st.Mode != modeRelay || dst.sum("copy/r.bin") != want {
			t.Fatalf("relay: %+v", st)
		}
		if offs, _ := dst.wrap.accepted(); len(offs) != 6 {
			t.Errorf("%d chunks accepted, want 6: %v", len(offs), offs)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		// The source cannot connect to the target (as if it had no
		// route to it); the agent can.
		src, dst := fxPair(t, func(o *fastr.Options) {
			o.PushClient = &http.Client{Transport: unreachable{}}
		})
		a := fxNewAgent(t, src, dst)
		want := src.put("u.bin", 3<<20)
		id := a.p2p("u.bin", 1, false)
		st := a.waitP2P(id, isStatus(stCompleted, stCancelled))
		if st.Status != stCompleted || st.Mode != modeRelay || !st.ChecksumVerified || dst.sum("copy/u.bin") != want {
			t.Fatalf("relay: %+v", st)
		}
		t.Logf("relay reason: %s", st.RelayReason)
	})
}

type unreachable struct{}

func (unreachable) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
}

func TestP2PSourceRestartResumes(t *testing.T) {
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	want := src.put("k.bin", 10<<20)
	dst.wrap.delay.Store(int64(80 * time.Millisecond))
	id := a.p2p("k.bin", 1, false)
	a.waitP2P(id, func(st p2pStatus) bool { return st.TransferredBytes >= 3<<20 })

	src.restart() // the push dies mid-chunk; the new process knows nothing of it
	up, err := dst.c.GetUpload(context.Background(), dst.uploads()[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	committedAtKill := up.Offset
	dst.wrap.delay.Store(0)
	st := a.waitP2P(id, isStatus(stCompleted, stFailed, stCancelled))
	if st.Status != stCompleted || !st.ChecksumVerified || st.Restarts < 1 || dst.sum("copy/k.bin") != want {
		t.Fatalf("after restart: %+v", st)
	}
	// No finished chunk was sent twice: each offset was accepted once,
	// and the restarted push began at the session's committed offset.
	offs, _ := dst.wrap.accepted()
	seen := map[int64]bool{}
	for _, o := range offs {
		if seen[o] {
			t.Fatalf("chunk at %d accepted twice: %v", o, offs)
		}
		seen[o] = true
	}
	if len(offs) != 10 || committedAtKill < 3<<20 {
		t.Fatalf("%d chunks, committed at kill %d: %v", len(offs), committedAtKill, offs)
	}
	t.Logf("killed at committed offset %d MiB, resumed there", committedAtKill>>20)
}

func TestServerTransfer(t *testing.T) {
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	size := int64(20<<20 + 123)
	want := src.put("s.bin", size)
	body := func(key string) map[string]any {
		return map[string]any{"sourceServerUrl": src.srv.URL, "targetServerUrl": dst.srv.URL,
			"sourceBucket": "bkt", "sourcePath": key, "targetBucket": "bkt", "targetPath": "copy/" + key,
			"sourceAccountId": a.srcID, "targetAccountId": a.dstID, "metadata": map[string]any{}}
	}
	for _, field := range []string{"sourceServerUrl", "targetServerUrl", "sourceBucket", "sourcePath", "targetBucket", "targetPath"} {
		b := body("s.bin")
		delete(b, field)
		if code := a.call("POST", "/cloud/server_transfer/initiate", b, nil); code != http.StatusBadRequest {
			t.Errorf("without %s: %d, want 400", field, code)
		}
	}

	var init struct{ TransferID, Message, Status string }
	if code := a.call("POST", "/cloud/server_transfer/initiate", body("s.bin"), &init); code != http.StatusAccepted ||
		init.Status != "pending" || init.TransferID == "" {
		t.Fatalf("initiate: %d %+v", code, init)
	}
	var st serverTransferStatus
	var raw map[string]any
	deadline := time.Now().Add(time.Minute)
	for {
		a.call("GET", "/cloud/server_transfer/"+init.TransferID+"/status", nil, &st)
		if terminal(st.Status) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.call("GET", "/cloud/server_transfer/"+init.TransferID+"/status", nil, &raw)
	if st.Status != stCompleted || st.BytesTransferred != size || st.TotalBytes != size || st.Progress != 100 ||
		st.SourceServerURL != src.srv.URL || st.TargetPath != "copy/s.bin" || raw["errorMessage"] != "" ||
		raw["endTime"] == "0001-01-01T00:00:00" || dst.sum("copy/s.bin") != want {
		t.Fatalf("status %+v %v", st, raw)
	}
	// The agent streamed 8 MB chunks.
	_, sizes := dst.wrap.accepted()
	if len(sizes) != 3 || sizes[0] != 8<<20 || sizes[1] != 8<<20 || sizes[2] != 4<<20+123 {
		t.Fatalf("chunks %v", sizes)
	}
	if code := a.call("DELETE", "/cloud/server_transfer/"+init.TransferID, nil, nil); code != http.StatusBadRequest {
		t.Fatalf("cancel of a completed transfer: %d, want 400", code)
	}

	// Cancel while running: 200, then 400; the target keeps nothing.
	dst.wrap.delay.Store(int64(200 * time.Millisecond))
	if code := a.call("POST", "/cloud/server_transfer/initiate", body("s.bin"), &init); code != http.StatusAccepted {
		t.Fatal(code)
	}
	for {
		a.call("GET", "/cloud/server_transfer/"+init.TransferID+"/status", nil, &raw)
		if raw["status"] == "running" && raw["endTime"] == "0001-01-01T00:00:00" && raw["bytesTransferred"].(float64) >= 8<<20 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := a.call("DELETE", "/cloud/server_transfer/"+init.TransferID, nil, nil); code != http.StatusOK {
		t.Fatalf("cancel: %d", code)
	}
	a.call("GET", "/cloud/server_transfer/"+init.TransferID+"/status", nil, &st)
	if st.Status != stCancelled {
		t.Fatalf("after cancel: %+v", st)
	}
	if code := a.call("DELETE", "/cloud/server_transfer/"+init.TransferID, nil, nil); code != http.StatusBadRequest {
		t.Fatalf("second cancel: %d, want 400", code)
	}
	if ups := dst.uploads(); len(ups) != 0 {
		t.Fatalf("target keeps %d upload sessions", len(ups))
	}
	var all []serverTransferStatus
	if code := a.call("GET", "/cloud/server_transfer/all", nil, &all); code != 200 || len(all) != 2 {
		t.Fatalf("all: %d %d", code, len(all))
	}
}

func TestFastrUnknownIDs(t *testing.T) {
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	for _, c := range []struct{ method, path string }{
		{"GET", "/cloud/server_transfer/nope/status"},
		{"DELETE", "/cloud/server_transfer/nope"},
		{"GET", "/cloud/p2p_transfer/nope/status"},
		{"POST", "/cloud/p2p_transfer/nope/pause"},
		{"POST", "/cloud/p2p_transfer/nope/resume"},
		{"POST", "/cloud/p2p_transfer/nope/cancel"},
	} {
		if code := a.call(c.method, c.path, nil, nil); code != http.StatusNotFound {
			t.Errorf("%s %s: %d, want 404", c.method, c.path, code)
		}
	}
}
