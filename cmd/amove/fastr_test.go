package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
)

func TestLocalStorageFirstStartIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AMOVE_CONFIG", filepath.Join(dir, "none.json"))
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var ids []string
	for start := range 2 {
		s := settings{DSN: "sqlite:" + dir + "/a.db", KeyFile: dir + "/secret.key", Addr: "127.0.0.1:0"}
		if err := s.load(); err != nil {
			t.Fatal(err)
		}
		c, err := s.open(ctx, log, "")
		if err != nil {
			t.Fatal(err)
		}
		admin, err := s.localAdmin(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		stop, err := s.startLocalStorage(ctx, c, admin, log)
		if err != nil {
			t.Fatal(err)
		}
		list, err := c.ListAccounts(ctx, admin.Principal())
		if err != nil {
			t.Fatal(err)
		}
		var local []string
		for _, a := range list {
			if a.CloudType == provider.LocalHttp && a.Name == "Local storage" {
				local = append(local, a.ID)
			}
		}
		if len(local) != 1 {
			t.Fatalf("start %d: %d local storage accounts", start, len(local))
		}
		ids = append(ids, local[0])
		// The embedded server accepts the stored keys: the bucket lists.
		bs, err := c.ListBuckets(ctx, admin.Principal(), local[0])
		if err != nil || len(bs) != 1 || bs[0].Name != localBucket {
			t.Fatalf("start %d: buckets %v %v", start, bs, err)
		}
		stop()
		c.Close()
	}
	if ids[0] != ids[1] {
		t.Fatalf("a second account was made: %v", ids)
	}
	fi, err := os.Stat(filepath.Join(dir, "local-storage.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
}

func TestFastrServe(t *testing.T) {
	root := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("FASTR_ACCESS_KEY", "AKSERVE")
	t.Setenv("FASTR_SECRET_KEY", "serve-secret-0123456789")
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("# more keys\nAKOTHER other-secret-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- cmdFastr(ctx, []string{"serve", "--root", root, "--addr", addr, "--keys", keys}) }()
	for _, k := range [][2]string{{"AKSERVE", "serve-secret-0123456789"}, {"AKOTHER", "other-secret-0123456789"}} {
		c, err := fastr.NewClient("http://"+addr, k[0], k[1], nil)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err = c.ListBuckets(context.Background())
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("key %s: %v", k[0], err)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	if err := cmdFastr(context.Background(), []string{"serve"}); err == nil || !strings.Contains(err.Error(), "-root") {
		t.Errorf("without -root: %v", err)
	}
	t.Setenv("FASTR_ACCESS_KEY", "")
	t.Setenv("FASTR_SECRET_KEY", "")
	if err := cmdFastr(context.Background(), []string{"serve", "-root", root}); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("without keys: %v", err)
	}
}

func TestCIDRPolicy(t *testing.T) {
	allow, err := cidrPolicy("127.0.0.0/8, ::1/128")
	if err != nil {
		t.Fatal(err)
	}
	for u, ok := range map[string]bool{"http://127.0.0.1:1": true, "http://[::1]:1": true, "http://10.1.2.3": false} {
		pu, _ := url.Parse(u)
		if got := allow(pu) == nil; got != ok {
			t.Errorf("%s: allowed %v, want %v", u, got, ok)
		}
	}
	if _, err := cidrPolicy("nonsense"); err == nil {
		t.Error("bad CIDR accepted")
	}
}
