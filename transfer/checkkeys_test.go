package transfer_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
	"github.com/amove/amove-go/transfer"
)

// keyGuard is a memory driver that fails the test when a key the portable
// layer would refuse reaches it: drivers no longer check their input, the
// engine does, once, at admission.
type keyGuard struct {
	*memory.Storage
	t *testing.T
}

func (g keyGuard) check(op, bucket, key string) {
	if err := provider.CheckKey(bucket, key); err != nil {
		g.t.Errorf("%s reached the driver with an invalid key %.40q: %v", op, key, err)
	}
}

func (g keyGuard) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	g.check("Stat", bucket, key)
	return g.Storage.Stat(ctx, bucket, key)
}

func (g keyGuard) NewRangeReader(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error) {
	g.check("NewRangeReader", bucket, key)
	return g.Storage.NewRangeReader(ctx, bucket, key, off, n)
}

func (g keyGuard) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	g.check("Write", bucket, key)
	return g.Storage.Write(ctx, bucket, key, r, size, opts)
}

func (g keyGuard) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	g.check("CreateMultipart", bucket, key)
	return g.Storage.CreateMultipart(ctx, bucket, key, opts)
}

func (g keyGuard) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	g.check("Copy", dstBucket, dstKey)
	g.check("Copy", srcBucket, srcKey)
	return g.Storage.Copy(ctx, dstBucket, dstKey, srcBucket, srcKey)
}

// TestInvalidKeysRejectedAtAdmission: a request whose bucket or key the
// portable layer would refuse is refused by Start with ErrInvalid before
// the engine opens a driver, so no driver call sees it.
func TestInvalidKeysRejectedAtAdmission(t *testing.T) {
	var opens atomic.Int32
	mem := newMemory(t, "b")
	open := func(ctx context.Context, id string) (provider.Storage, error) {
		opens.Add(1)
		return keyGuard{mem, t}, nil
	}
	e := transfer.New(transfer.Options{Open: open})
	defer e.Close()
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("k", 1025)
	ok := transfer.Location{Account: "m", Bucket: "b", Key: "ok"}
	bad := map[string]transfer.Location{
		"empty bucket":   {Account: "m", Key: "k"},
		"slash bucket":   {Account: "m", Bucket: "b/c", Key: "k"},
		"NUL key":        {Account: "m", Bucket: "b", Key: "a\x00b"},
		"invalid UTF-8":  {Account: "m", Bucket: "b", Key: "bad\xff"},
		"over-long key":  {Account: "m", Bucket: "b", Key: long},
		"over-long tree": {Account: "m", Bucket: "b", Key: long + "/"},
	}
	for name, loc := range bad {
		for _, req := range []transfer.Request{
			{Kind: transfer.Upload, LocalPath: file, Dest: loc},
			{Kind: transfer.Download, Source: loc, LocalPath: t.TempDir()},
			{Kind: transfer.Copy, Source: loc, Dest: ok},
			{Kind: transfer.Copy, Source: ok, Dest: loc},
			{Kind: transfer.ServerTransfer, Source: loc, Dest: ok},
			{Kind: transfer.P2P, Source: ok, Dest: loc},
		} {
			_, err := e.Start(ctx, req)
			if !errors.Is(err, provider.ErrInvalid) {
				t.Errorf("%s: Start %s = %v, want ErrInvalid", name, req.Kind, err)
			}
		}
	}
	if n := opens.Load(); n != 0 {
		t.Errorf("the engine opened a driver %d times for requests it refused", n)
	}
}

// TestInvalidDerivedKeys: keys the plan derives (the destination prefix
// and a local file name) are checked too. In a tree the item fails and the
// rest go on; a job of one object is refused.
func TestInvalidDerivedKeys(t *testing.T) {
	mem := newMemory(t, "b")
	e := transfer.New(transfer.Options{Open: func(context.Context, string) (provider.Storage, error) {
		return keyGuard{mem, t}, nil
	}})
	defer e.Close()
	ctx := context.Background()
	prefix := strings.Repeat("p", 900) + "/"
	dir := t.TempDir()
	names := []string{"ok.txt", strings.Repeat("n", 200), "bad\xff.txt"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	id, err := e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: dir, Dest: transfer.Location{Account: "m", Bucket: "b", Key: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	st := wait(t, e, id)
	if st.State != transfer.Failed || st.FilesDone != 1 || st.FilesFailed != 2 {
		t.Errorf("status %+v: want ok.txt done and the two invalid keys failed", st)
	}
	if _, err := mem.Stat(ctx, "b", prefix+"ok.txt"); err != nil {
		t.Errorf("the valid file was not uploaded: %v", err)
	}

	_, err = e.Start(ctx, transfer.Request{Kind: transfer.Upload, LocalPath: filepath.Join(dir, names[1]), Dest: transfer.Location{Account: "m", Bucket: "b", Key: prefix}})
	if !errors.Is(err, provider.ErrInvalid) {
		t.Errorf("single upload to an over-long key: %v, want ErrInvalid", err)
	}
}
