package fastr

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"
)

// slowTransport delays every chunk, so a push is still running when the
// test pauses or cancels it.
type slowTransport struct {
	next  http.RoundTripper
	delay time.Duration
}

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch {
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return s.next.RoundTrip(r)
}

const (
	tgtKey    = "AKTARGET"
	tgtSecret = "target-secret-abcdefghijklmnop"
)

// pushPair is a source server (fixture) and a target server with its own
// credentials.
func pushPair(t *testing.T, delay time.Duration) (src, dst *fixture) {
	t.Helper()
	dst = newFixture(t, func(o *Options) {
		o.Credentials = StaticCredentials(map[string]string{ak: secret, tgtKey: tgtSecret})
	})
	src = newFixture(t, func(o *Options) {
		o.PushClient = &http.Client{Transport: slowTransport{next: http.DefaultTransport, delay: delay}}
	})
	return src, dst
}

func waitPush(t *testing.T, c *Client, id string, want ...string) PushStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.PushStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if st.Status == w {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("push stuck in %+v, want %v", st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPushPauseResume(t *testing.T) {
	src, dst := pushPair(t, 60*time.Millisecond)
	ctx := context.Background()
	data := make([]byte, 6*MinPartSize+4321)
	_, _ = rand.Read(data)
	if _, err := src.c.Put(ctx, "bkt", "video.mp4", bytes.NewReader(data), int64(len(data)), "video/mp4", ""); err != nil {
		t.Fatal(err)
	}
	st, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "video.mp4", ChunkSize: MinPartSize,
		Target: PushTarget{URL: dst.srv.URL, AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "copy/video.mp4"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.TotalBytes != int64(len(data)) || st.SHA256 != hexSHA(data) {
		t.Errorf("started push %+v", st)
	}
	// Let a chunk or two land, then pause.
	for {
		cur, _ := src.c.PushStatus(ctx, st.ID)
		if cur.ChunksSent >= 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	paused, err := src.c.PausePush(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if paused.Status != PushPaused {
		t.Fatalf("pause answered %+v", paused)
	}
	// Confirmed means stopped: nothing moves while paused, and the target
	// holds exactly what the source reports.
	time.Sleep(200 * time.Millisecond)
	still, _ := src.c.PushStatus(ctx, st.ID)
	if still.Status != PushPaused || still.TransferredBytes != paused.TransferredBytes {
		t.Errorf("paused push moved: %+v -> %+v", paused, still)
	}
	up, err := dst.c.GetUpload(ctx, still.TargetUploadID)
	if err != nil || up.Offset != still.TransferredBytes {
		t.Errorf("target session %+v, %v; source says %d bytes", up, err, still.TransferredBytes)
	}
	if still.TransferredBytes >= int64(len(data)) {
		t.Fatal("push finished before it was paused; slow the transport")
	}
	// Pausing twice is refused with the state.
	_, err = src.c.PausePush(ctx, st.ID)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidState || e.Status != PushPaused {
		t.Errorf("second pause: %v", err)
	}
	resumed, err := src.c.ResumePush(ctx, st.ID)
	if err != nil || resumed.Status != PushRunning {
		t.Fatalf("resume: %+v, %v", resumed, err)
	}
	done := waitPush(t, src.c, st.ID, PushCompleted, PushFailed)
	if done.Status != PushCompleted || !done.ChecksumVerified || done.TransferredBytes != int64(len(data)) || done.EndTime == nil {
		t.Fatalf("finished push %+v", done)
	}
	rc, err := dst.c.Get(ctx, "bkt", "copy/video.mp4", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if hexSHA(got) != hexSHA(data) {
		t.Error("target object differs from the source by SHA-256")
	}
	if _, err := src.c.ResumePush(ctx, st.ID); !isStatus(err, http.StatusConflict) {
		t.Errorf("resume of a completed push: %v", err)
	}
	// Overwrite is off by default: a second push to the same key fails.
	st2, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "video.mp4", ChunkSize: MinPartSize,
		Target: PushTarget{URL: dst.srv.URL, AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "copy/video.mp4"}})
	if err != nil {
		t.Fatal(err)
	}
	if fin := waitPush(t, src.c, st2.ID, PushCompleted, PushFailed); fin.Status != PushFailed {
		t.Errorf("push onto an existing object without overwrite: %+v", fin)
	}
}

func TestPushCancel(t *testing.T) {
	src, dst := pushPair(t, 80*time.Millisecond)
	ctx := context.Background()
	data := make([]byte, 8*MinPartSize)
	_, _ = rand.Read(data)
	if _, err := src.c.Put(ctx, "bkt", "big", bytes.NewReader(data), int64(len(data)), "", ""); err != nil {
		t.Fatal(err)
	}
	st, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "big", ChunkSize: MinPartSize,
		Target: PushTarget{URL: dst.srv.URL, AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "big"}})
	if err != nil {
		t.Fatal(err)
	}
	waitPush(t, src.c, st.ID, PushRunning)
	time.Sleep(150 * time.Millisecond)
	c, err := src.c.CancelPush(ctx, st.ID)
	if err != nil || c.Status != PushCancelled || c.EndTime == nil {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	// Cancel reached the target: no session, no object.
	ups, err := dst.c.ListUploads(ctx, "bkt", "")
	if err != nil || len(ups) != 0 {
		t.Errorf("target uploads after cancel: %+v, %v", ups, err)
	}
	if _, err := dst.c.Stat(ctx, "bkt", "big"); !isStatus(err, 404) {
		t.Errorf("target object after cancel: %v", err)
	}
	if _, err := src.c.CancelPush(ctx, st.ID); !isStatus(err, http.StatusConflict) {
		t.Errorf("second cancel: %v", err)
	}
	// A paused push can be cancelled too.
	st, err = src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "big", ChunkSize: MinPartSize,
		Target: PushTarget{URL: dst.srv.URL, AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "big2"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.c.PausePush(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if c, err := src.c.CancelPush(ctx, st.ID); err != nil || c.Status != PushCancelled {
		t.Fatalf("cancel paused: %+v, %v", c, err)
	}
	if ups, _ := dst.c.ListUploads(ctx, "bkt", ""); len(ups) != 0 {
		t.Errorf("target uploads after cancelling a paused push: %+v", ups)
	}
	all, err := src.c.ListPushes(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("ListPushes = %d pushes, %v", len(all), err)
	}
}

func TestPushBadTarget(t *testing.T) {
	src, dst := pushPair(t, 0)
	ctx := context.Background()
	if _, err := src.c.Put(ctx, "bkt", "k", bytes.NewReader([]byte("x")), 1, "", ""); err != nil {
		t.Fatal(err)
	}
	st, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "k",
		Target: PushTarget{URL: dst.srv.URL, AccessKey: tgtKey, SecretKey: "wrong-secret-wrong-secret", Bucket: "bkt", Key: "k"}})
	if err != nil {
		t.Fatal(err)
	}
	if fin := waitPush(t, src.c, st.ID, PushCompleted, PushFailed); fin.Status != PushFailed || fin.ErrorMessage == "" {
		t.Errorf("push with a wrong target secret: %+v", fin)
	}
	if _, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "missing",
		Target: PushTarget{URL: dst.srv.URL, AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "k"}}); !isStatus(err, 404) {
		t.Errorf("push of a missing object: %v", err)
	}
	if _, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "k",
		Target: PushTarget{URL: "file:///etc/passwd", AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "k"}}); !isStatus(err, 400) {
		t.Errorf("push to a file URL: %v", err)
	}
}
