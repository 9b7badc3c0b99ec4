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

// An upload credential reaches its own session and nothing else.
func TestUploadCredentialScope(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	mine, err := f.c.CreateUpload(ctx, "bkt", "granted.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.c.CreateUpload(ctx, "bkt", "other.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Put(ctx, "bkt", "secret.txt", bytes.NewReader([]byte("no")), 2, "", ""); err != nil {
		t.Fatal(err)
	}
	cak, csk, err := f.c.UploadCredential(mine.ID, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if csk == secret || !bytes.Contains([]byte(cak), []byte(mine.ID)) {
		t.Fatalf("credential %q does not name its scope or is the account secret", cak)
	}
	g, err := NewClient(f.srv.URL, cak, csk, f.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	denied := func(what string, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) || e.StatusCode != http.StatusForbidden || e.Code != CodeAccessDenied {
			t.Errorf("%s with an upload credential: %v, want 403 AccessDenied", what, err)
		}
	}
	_, err = g.Stat(ctx, "bkt", "secret.txt")
	denied("HEAD an object", err)
	_, err = g.Get(ctx, "bkt", "secret.txt", 0, -1)
	denied("GET an object", err)
	_, err = g.ListBuckets(ctx)
	denied("list buckets", err)
	_, err = g.CreateUpload(ctx, "bkt", "x.bin", "")
	denied("create a session", err)
	_, err = g.GetUpload(ctx, other.ID)
	denied("read another session", err)
	denied("abort another session", g.AbortUpload(ctx, other.ID))
	_, err = g.UploadPart(ctx, mine.ID, 1, bytes.NewReader([]byte("x")), 1, hexSHA([]byte("x")))
	denied("part mode", err)
	_, err = g.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "secret.txt"})
	denied("start a push", err)

	// Its own session: read, append, complete.
	data := make([]byte, MinPartSize+17)
	_, _ = rand.Read(data)
	up, err := g.GetUpload(ctx, mine.ID)
	if err != nil || up.Offset != 0 {
		t.Fatalf("own session: %+v %v", up, err)
	}
	off, err := g.AppendChunk(ctx, mine.ID, 0, data[:MinPartSize])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.AppendChunk(ctx, mine.ID, off, data[off:]); err != nil {
		t.Fatal(err)
	}
	o, err := g.CompleteUpload(ctx, mine.ID, CompleteRequest{SHA256: hexSHA(data)})
	if err != nil || o.SHA256 != hexSHA(data) {
		t.Fatalf("complete: %+v %v", o, err)
	}
	rc, err := f.c.Get(ctx, "bkt", "granted.bin", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("granted object differs")
	}
}

func TestUploadCredentialRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	up, err := f.c.CreateUpload(ctx, "bkt", "g.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	code := func(c *Client) string {
		t.Helper()
		_, err := c.GetUpload(ctx, up.ID)
		var e *Error
		if !errors.As(err, &e) {
			return "ok"
		}
		return e.Code
	}
	// Expired: derive one that ended a minute ago, as a clock would.
	exp := time.Now().Add(-time.Minute).Unix()
	old, _ := NewClient(f.srv.URL, ak+"/upload/"+up.ID+"/"+itoa(exp), scopedSecret(secret, up.ID, exp), f.srv.Client())
	if got := code(old); got != CodeCredentialExpired {
		t.Errorf("expired credential: %s", got)
	}
	// A stretched expiry does not match the derived secret.
	cak, csk, err := f.c.UploadCredential(up.ID, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The last digit of the expiry changes whatever it was (a fixed "9"
	// changed nothing one time in ten).
	last := cak[len(cak)-1]
	stretched := cak[:len(cak)-1] + string('0'+(last-'0'+1)%10)
	later, _ := NewClient(f.srv.URL, stretched, csk, f.srv.Client())
	if got := code(later); got != CodeSignatureMismatch {
		t.Errorf("changed expiry: %s", got)
	}
	// The account secret does not sign for a scope.
	wrong, _ := NewClient(f.srv.URL, cak, secret, f.srv.Client())
	if got := code(wrong); got != CodeSignatureMismatch {
		t.Errorf("account secret with a scoped key: %s", got)
	}
	if _, _, err := f.c.UploadCredential(up.ID, time.Now().Add(8*24*time.Hour)); err == nil {
		t.Error("a credential for 8 days was issued")
	}
	if _, _, err := f.c.UploadCredential("../x", time.Now().Add(time.Hour)); err == nil {
		t.Error("a credential for a bad upload id was issued")
	}
}

// A push into a granted session: the source never sees the target's keys.
func TestPushWithUploadCredential(t *testing.T) {
	src, dst := pushPair(t, 0)
	ctx := context.Background()
	data := make([]byte, 3*MinPartSize+5)
	_, _ = rand.Read(data)
	if _, err := src.c.Put(ctx, "bkt", "v.bin", bytes.NewReader(data), int64(len(data)), "", ""); err != nil {
		t.Fatal(err)
	}
	up, err := dst.c.CreateUpload(ctx, "bkt", "copy/v.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	cak, csk, err := dst.c.UploadCredential(up.ID, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "v.bin", ChunkSize: MinPartSize,
		Target: PushTarget{URL: dst.srv.URL, AccessKey: cak, SecretKey: csk, Bucket: "bkt", Key: "copy/v.bin", UploadID: up.ID}})
	if err != nil {
		t.Fatal(err)
	}
	done := waitPush(t, src.c, st.ID, PushCompleted, PushFailed)
	if done.Status != PushCompleted || !done.ChecksumVerified {
		t.Fatalf("push %+v", done)
	}
	o, err := dst.c.Stat(ctx, "bkt", "copy/v.bin")
	if err != nil || o.SHA256 != hexSHA(data) {
		t.Fatalf("target %+v %v", o, err)
	}
}

// A push whose target cannot be reached says so.
func TestPushTargetUnreachable(t *testing.T) {
	src := newFixture(t, func(o *Options) {
		o.PushClient = &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			return nil, errors.New("no route to host")
		})}
	})
	ctx := context.Background()
	if _, err := src.c.Put(ctx, "bkt", "v.bin", bytes.NewReader([]byte("abc")), 3, "", ""); err != nil {
		t.Fatal(err)
	}
	st, err := src.c.StartPush(ctx, PushRequest{Bucket: "bkt", Key: "v.bin",
		Target: PushTarget{URL: "http://192.0.2.1", AccessKey: tgtKey, SecretKey: tgtSecret, Bucket: "bkt", Key: "v.bin"}})
	if err != nil {
		t.Fatal(err)
	}
	if done := waitPush(t, src.c, st.ID, PushCompleted, PushFailed); done.Status != PushFailed || !done.TargetUnreachable {
		t.Fatalf("push %+v", done)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
