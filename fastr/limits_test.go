package fastr

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUploadSessionsPerKey: one access key may hold MaxUploadsPerKey open
// sessions; the next is 429 SlowDown with Retry-After, another key is not
// affected, a completed or aborted session frees its place, and a restarted
// server counts the sessions on disk.
func TestUploadSessionsPerKey(t *testing.T) {
	const other, otherSecret = "AKOTHER", "other-secret-0123456789abcdef"
	limit := func(o *Options) {
		o.MaxUploadsPerKey = 3
		o.Credentials = StaticCredentials(map[string]string{ak: secret, other: otherSecret})
	}
	f := newFixture(t, limit)
	ctx := context.Background()
	var ids []string
	for range 3 {
		u, err := f.c.CreateUpload(ctx, "bkt", "k", "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	_, err := f.c.CreateUpload(ctx, "bkt", "k", "")
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusTooManyRequests || e.Code != CodeSlowDown || e.RetryAfter <= 0 {
		t.Fatalf("a fourth session: %v, want 429 SlowDown with Retry-After", err)
	}
	if ups, _ := f.c.ListUploads(ctx, "bkt", ""); len(ups) != 3 {
		t.Fatalf("%d sessions on disk, want 3", len(ups))
	}
	oc, err := NewClient(f.srv.URL, other, otherSecret, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.CreateUpload(ctx, "bkt", "k", ""); err != nil {
		t.Fatalf("another key: %v", err)
	}
	if err := f.c.AbortUpload(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AppendChunk(ctx, ids[1], 0, []byte("tiny")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.CompleteUpload(ctx, ids[1], CompleteRequest{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := f.c.CreateUpload(ctx, "bkt", "k", ""); err != nil {
			t.Fatalf("after an abort and a complete: %v", err)
		}
	}
	if _, err := f.c.CreateUpload(ctx, "bkt", "k", ""); !isStatus(err, http.StatusTooManyRequests) {
		t.Fatalf("over the limit again: %v", err)
	}

	// A new server on the same root knows the sessions of the old one.
	o := Options{Root: f.root}
	limit(&o)
	s2, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.createUpload(CreateUploadRequest{Bucket: "bkt", Key: "k"}, ak); !isStatus(err, http.StatusTooManyRequests) {
		t.Fatalf("after a restart: %v, want 429", err)
	}
	if _, err := s2.createUpload(CreateUploadRequest{Bucket: "bkt", Key: "k"}, other); err != nil {
		t.Fatalf("after a restart, the other key: %v", err)
	}
}

// TestSessionLocksForgotten: requests naming sessions that do not exist
// leave no lock behind, nor do finished ones.
func TestSessionLocksForgotten(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range 100 {
		id := newID()
		if err := f.c.AbortUpload(ctx, id); !isStatus(err, http.StatusNotFound) {
			t.Fatalf("abort of a made-up session: %v", err)
		}
		if _, err := f.c.CompleteUpload(ctx, id, CompleteRequest{}); !isStatus(err, http.StatusNotFound) {
			t.Fatalf("complete of a made-up session: %v", err)
		}
	}
	u, err := f.c.CreateUpload(ctx, "bkt", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AppendChunk(ctx, u.ID, 0, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.CompleteUpload(ctx, u.ID, CompleteRequest{}); err != nil {
		t.Fatal(err)
	}
	if n := f.s.locks.held(); n != 0 {
		t.Fatalf("%d session locks left", n)
	}
}

// TestPushesBounded: MaxPushes unfinished pushes at once; the next is 429
// SlowDown and opens nothing on the target.
func TestPushesBounded(t *testing.T) {
	// Slow chunks keep the first push running.
	src, dst := pushPair(t, time.Hour)
	src.s.opts.MaxPushes = 1
	ctx := context.Background()
	data := make([]byte, 2*MinPartSize)
	_, _ = rand.Read(data)
	if _, err := src.c.Put(ctx, "bkt", "v", bytes.NewReader(data), int64(len(data)), "", ""); err != nil {
		t.Fatal(err)
	}
	req := PushRequest{Bucket: "bkt", Key: "v", ChunkSize: MinPartSize,
		Target: PushTarget{URL: dst.srv.URL, AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "one"}}
	first, err := src.c.StartPush(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	waitPush(t, src.c, first.ID, PushRunning)
	req.Target.Key = "two"
	if _, err := src.c.StartPush(ctx, req); !isStatus(err, http.StatusTooManyRequests) {
		t.Fatalf("a second push: %v, want 429", err)
	}
	if _, err := src.c.CancelPush(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := src.c.StartPush(ctx, req); err != nil {
		t.Fatalf("a push after the first was cancelled: %v", err)
	}
}

// TestHugeDeclaredLength: a signed PUT, part or chunk that declares more
// bytes than the route takes is refused with 413 EntityTooLarge before its
// body is read: the test never sends it, and no temp file is made.
func TestHugeDeclaredLength(t *testing.T) {
	f := newFixture(t)
	u, err := f.c.CreateUpload(context.Background(), "bkt", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, rq := range []struct{ method, path string }{
		{"PUT", "/v1/o/bkt/huge"},
		{"PUT", "/v1/uploads/" + u.ID + "/parts/1"},
		{"PATCH", "/v1/uploads/" + u.ID},
		{"POST", "/v1/uploads"},
	} {
		method, path := rq.method, rq.path
		req, err := http.NewRequest(method, f.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(HeaderOffset, "0")
		SignRequest(req, req.URL.Path, ak, secret, UnsignedPayload, time.Now())
		conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var head strings.Builder
		fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, req.Host, int64(6)<<30)
		for k, vs := range req.Header {
			for _, v := range vs {
				fmt.Fprintf(&head, "%s: %s\r\n", k, v)
			}
		}
		head.WriteString("\r\nonly these bytes")
		if _, err := conn.Write([]byte(head.String())); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(conn), req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || res.Header.Get(HeaderErrorCode) != CodeEntityTooLarge {
			t.Errorf("%s %s: %d %s, want 413 EntityTooLarge", method, path, res.StatusCode, res.Header.Get(HeaderErrorCode))
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(f.root, tmpDir)); len(ents) != 0 {
		t.Errorf("temp files made: %v", ents)
	}
}
