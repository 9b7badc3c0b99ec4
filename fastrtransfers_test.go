package amove_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/fastr"
	"github.com/amove/amove-go/transfer"
)

// slowPatch delays every chunk appended to an upload session, so a test
// can stop the client while a transfer runs.
type slowPatch struct{ delay time.Duration }

func (s slowPatch) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch {
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// chunkLog records the chunks a server accepted, by session and offset.
type chunkLog struct {
	next http.Handler
	mu   sync.Mutex
	seen map[string]int
}

func (l *chunkLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	l.next.ServeHTTP(rec, r)
	if r.Method == http.MethodPatch && rec.Code/100 == 2 {
		l.mu.Lock()
		l.seen[r.URL.Path+"@"+r.Header.Get(fastr.HeaderOffset)]++
		l.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// twice lists the chunks accepted more than once.
func (l *chunkLog) twice() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, n := range l.seen {
		if n > 1 {
			out = append(out, k)
		}
	}
	return out
}

// fastrServer is a reference Fastr server on loopback with one key pair
// and a bucket "bkt". Every server logs the chunks it accepted in chunks.
var chunks = map[*fastr.Client]*chunkLog{}

func fastrServer(t *testing.T, key, secret string, mod func(*fastr.Options)) (*httptest.Server, *fastr.Client) {
	t.Helper()
	opts := fastr.Options{Root: t.TempDir(), Credentials: fastr.StaticCredentials(map[string]string{key: secret}),
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&opts)
	}
	s, err := fastr.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	log := &chunkLog{next: s, seen: map[string]int{}}
	srv := httptest.NewServer(log)
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	c, err := fastr.NewClient(srv.URL, key, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	chunks[c] = log
	if err := c.CreateBucket(context.Background(), "bkt"); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func sha256Of(t *testing.T, c *fastr.Client, key string) string {
	t.Helper()
	rc, err := c.Get(context.Background(), "bkt", key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestFastrTransfersSurviveRestart starts a server transfer, a P2P push and
// a P2P relay through the Client, closes the client while all three run
// and opens a new one on the same store: each continues from the journal
// (the push is found again on its source, the streams resume at their
// session's committed offset) and completes with identical bytes.
func TestFastrTransfersSurviveRestart(t *testing.T) {
	ctx := context.Background()
	const (
		srcKey, srcSecret = "AKSRC0001", "source-secret-0123456789abcdef"
		dstKey, dstSecret = "AKDST0001", "target-secret-0123456789abcdef"
	)
	chunkDelay := 60 * time.Millisecond
	dstSrv, dst := fastrServer(t, dstKey, dstSecret, nil)
	srcSrv, src := fastrServer(t, srcKey, srcSecret, func(o *fastr.Options) {
		o.PushClient = &http.Client{Transport: slowPatch{chunkDelay}}
	})
	// A source whose policy refuses every target: the agent relays.
	fencedSrv, fenced := fastrServer(t, srcKey, srcSecret, func(o *fastr.Options) {
		o.AllowPushTarget = func(*url.URL) error { return os.ErrPermission }
	})

	const size = 12<<20 + 99
	data := make([]byte, size)
	_, _ = rand.Read(data)
	want := hex.EncodeToString(func() []byte { s := sha256.Sum256(data); return s[:] }())
	for _, c := range []*fastr.Client{src, fenced} {
		if _, err := c.Put(ctx, "bkt", "v.bin", bytes.NewReader(data), size, "", ""); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	open := func() *amove.Client {
		c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"),
			Logger: slog.New(slog.DiscardHandler), HTTPClient: &http.Client{Transport: slowPatch{chunkDelay}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RestoreTransfers(ctx); err != nil { // as the agent does
			t.Fatal(err)
		}
		return c
	}
	c1 := open()
	_, admin, err := c1.CreateTenant(ctx, uniqueName("t"), amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	p := admin.Principal()
	account := func(ct provider.CloudType, name, u, key, secret string) string {
		a, err := c1.InsertAccount(ctx, p, amove.NewAccount{CloudType: ct, Name: name, ServiceURL: u, AccessKey: key, SecretKey: secret})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	srcID := account(provider.LocalHttp, "source", srcSrv.URL, srcKey, srcSecret)
	fencedID := account(provider.LocalHttp, "fenced", fencedSrv.URL, srcKey, srcSecret)
	dstID := account(provider.FastrServer, "target", dstSrv.URL, dstKey, dstSecret)

	server, err := c1.StartServerTransfer(ctx, p, amove.ServerTransferRequest{SourceAccountID: srcID, SourceBucket: "bkt",
		SourceKey: "v.bin", TargetAccountID: dstID, TargetBucket: "bkt", TargetKey: "server.bin", ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	push, err := c1.StartP2PTransfer(ctx, p, amove.P2PTransferRequest{SourceAccountID: srcID, SourceBucket: "bkt",
		SourceKey: "v.bin", TargetAccountID: dstID, TargetBucket: "bkt", TargetKey: "push.bin", ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	relay, err := c1.StartP2PTransfer(ctx, p, amove.P2PTransferRequest{SourceAccountID: fencedID, SourceBucket: "bkt",
		SourceKey: "v.bin", TargetAccountID: dstID, TargetBucket: "bkt", TargetKey: "relay.bin", ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{server: "server.bin", push: "push.bin", relay: "relay.bin"}

	// Wait until every transfer is under way, then stop the client.
	deadline := time.Now().Add(time.Minute)
	for under := 0; under < len(ids); {
		under = 0
		for id := range ids {
			st, err := c1.TransferStatus(ctx, p, id)
			if err != nil {
				t.Fatal(err)
			}
			if st.State.Final() {
				t.Fatalf("%s ended before the restart: %+v", ids[id], st)
			}
			if st.BytesDone >= 2<<20 {
				under++
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("transfers did not get under way")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := c1.TransferStatus(ctx, p, relay); st.Push.Mode != transfer.RelayMode || st.Push.RelayReason == "" {
		t.Fatalf("relay: %+v", st.Push)
	}
	c1.Close()
	if _, err := dst.Stat(ctx, "bkt", "server.bin"); err == nil {
		t.Fatal("the server transfer finished before the restart")
	}

	c2 := open()
	defer c2.Close()
	for id, key := range ids {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		st, err := c2.WaitTransfer(wctx, p, id)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if st.State != transfer.Completed || !st.ChecksumVerified || st.BytesDone != size {
			t.Errorf("%s after the restart: %+v", key, st)
		}
		if got := sha256Of(t, dst, key); got != want {
			t.Errorf("%s: target SHA-256 %s, want %s", key, got, want)
		}
	}
	// Every stream resumed at its session's committed offset.
	if twice := chunks[dst].twice(); len(twice) > 0 {
		t.Errorf("chunks accepted twice: %v", twice)
	}
	// The push was found again on the source, not sent twice.
	pushes, err := src.ListPushes(ctx)
	if err != nil || len(pushes) != 1 {
		t.Errorf("source pushes: %+v %v", pushes, err)
	}
	if st, _ := c2.TransferStatus(ctx, p, push); st.Push.Mode != transfer.PushMode || st.Push.Restarts != 0 || st.Push.Session != "" {
		t.Errorf("push after the restart: %+v", st.Push)
	}
	// One list and one set of controls for every kind.
	list, err := c2.ListTransfers(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[transfer.Kind]int{}
	for _, st := range list {
		kinds[st.Kind]++
		if st.Meta[amove.MetaTargetURL] != dstSrv.URL {
			t.Errorf("%s lists target URL %q", st.ID, st.Meta[amove.MetaTargetURL])
		}
	}
	if kinds[transfer.ServerTransfer] != 1 || kinds[transfer.P2P] != 2 {
		t.Errorf("listed kinds %v", kinds)
	}
	if err := c2.CancelTransfer(ctx, p, push); !errors.Is(err, transfer.ErrBadState) {
		t.Errorf("cancel of a completed P2P transfer: %v", err)
	}
	if ups, err := dst.ListUploads(ctx, "bkt", ""); err != nil || len(ups) != 0 {
		t.Errorf("target keeps sessions: %+v %v", ups, err)
	}
}

// TestP2PControls pauses, resumes and cancels a P2P push through the
// Client: each acts on the source server before it returns.
func TestP2PControls(t *testing.T) {
	ctx := context.Background()
	const key, secret = "AKONE0001", "one-secret-0123456789abcdef01"
	srv, fc := fastrServer(t, key, secret, func(o *fastr.Options) {
		o.PushClient = &http.Client{Transport: slowPatch{50 * time.Millisecond}}
	})
	data := make([]byte, 8<<20)
	_, _ = rand.Read(data)
	if _, err := fc.Put(ctx, "bkt", "v.bin", bytes.NewReader(data), int64(len(data)), "", ""); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(dir, "a.db"), KeyFile: filepath.Join(dir, "k"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, admin, err := c.CreateTenant(ctx, uniqueName("t"), amove.NewUser{Username: uniqueName("admin"), Role: amove.RoleDesktopAdmin})
	if err != nil {
		t.Fatal(err)
	}
	p := admin.Principal()
	a, err := c.InsertAccount(ctx, p, amove.NewAccount{CloudType: provider.LocalHttp, Name: "one", ServiceURL: srv.URL, AccessKey: key, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.StartP2PTransfer(ctx, p, amove.P2PTransferRequest{SourceAccountID: a.ID, SourceBucket: "bkt", SourceKey: "v.bin",
		TargetBucket: "bkt", TargetKey: "copy.bin", ChunkSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	onSource := func() fastr.PushStatus {
		t.Helper()
		ps, err := fc.ListPushes(ctx)
		if err != nil || len(ps) == 0 {
			t.Fatalf("pushes %v %v", ps, err)
		}
		return ps[len(ps)-1]
	}
	if st := onSource(); st.Status != fastr.PushRunning {
		t.Fatalf("started: source says %s", st.Status)
	}
	if err := c.PauseTransfer(ctx, p, id); err != nil {
		t.Fatal(err)
	}
	if st := onSource(); st.Status != fastr.PushPaused {
		t.Fatalf("paused: source says %s", st.Status)
	}
	if st, _ := c.TransferStatus(ctx, p, id); st.State != transfer.Paused || st.Push.State != provider.PushPaused {
		t.Fatalf("paused: %+v", st)
	}
	if err := c.ResumeTransfer(ctx, p, id); err != nil {
		t.Fatal(err)
	}
	if st := onSource(); st.Status != fastr.PushRunning && st.Status != fastr.PushCompleted {
		t.Fatalf("resumed: source says %s", st.Status)
	}
	if err := c.CancelTransfer(ctx, p, id); err != nil {
		t.Fatal(err)
	}
	if st := onSource(); st.Status != fastr.PushCancelled {
		t.Fatalf("cancelled: source says %s", st.Status)
	}
	if st, _ := c.TransferStatus(ctx, p, id); st.State != transfer.Cancelled || st.Push.Session != "" {
		t.Fatalf("cancelled: %+v", st)
	}
	if ups, _ := fc.ListUploads(ctx, "bkt", ""); len(ups) != 0 {
		t.Fatalf("sessions left: %+v", ups)
	}
}
