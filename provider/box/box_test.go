package box_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/box"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/box"
	"github.com/amove/amove-go/provider/providertest"
)

var lastRefresh string

// open returns a driver on srv; with expired set, the access token it starts
// with is past its expiry, so the first call refreshes it.
func open(t *testing.T, srv *fake.Server, expired bool) provider.Storage {
	t.Helper()
	at, rt, exp := srv.Auth.Issue()
	lastRefresh = rt
	if expired {
		exp = time.Now().Add(-time.Minute)
	}
	conf := &oauth2.Config{ClientID: "id", ClientSecret: "secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	ts := conf.TokenSource(context.Background(), &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: exp})
	st, err := provider.Open(context.Background(), provider.Config{
		CloudType: provider.Box, Endpoint: srv.URL, TokenSource: ts,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	providertest.Run(t, providertest.Harness{Storage: open(t, srv, false), Bucket: "All Files"})
}

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

// TestLarge40MiB writes 40 MiB through a chunked upload session and
// compares Box's own SHA-1.
func TestLarge40MiB(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, false)
	ctx := context.Background()
	data := payload(40 << 20)
	sum := sha1.Sum(data)
	for _, size := range []int64{int64(len(data)), -1} {
		key := fmt.Sprintf("big/40mib-%d", size)
		before := srv.SessionsCreated.Load()
		o, err := st.Write(ctx, "All Files", key, struct{ io.Reader }{bytes.NewReader(data)}, size, provider.WriteOptions{PartSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if srv.SessionsCreated.Load() != before+1 {
			t.Errorf("size %d: no upload session was used", size)
		}
		got, err := st.Stat(ctx, "All Files", key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Checksums.SHA1 != hex.EncodeToString(sum[:]) || o.Size != int64(len(data)) {
			t.Errorf("size %d: Box SHA-1 %q size %d, want %x", size, got.Checksums.MD5, o.Size, sum)
		}
	}
}

// TestListing2500 lists 2,500 files when Drive pages hold only 300.
func TestListing2500(t *testing.T) {
	srv := fake.New(fake.Options{MaxPageSize: 300})
	defer srv.Close()
	st := open(t, srv, false)
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range 2500 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := st.Write(ctx, "All Files", fmt.Sprintf("many/f%04d", i), bytes.NewReader(nil), 0, provider.WriteOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	opts := provider.ListOptions{Prefix: "many/", Delimiter: "/", MaxKeys: 1000}
	var keys []string
	pages := 0
	for {
		p, err := st.ListObjects(ctx, "All Files", opts)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range p.Objects {
			keys = append(keys, o.Key)
		}
		if p.NextToken == "" {
			break
		}
		opts.Token = p.NextToken
	}
	if len(keys) != 2500 || pages != 3 {
		t.Fatalf("listed %d keys in %d pages", len(keys), pages)
	}
	for i, k := range keys {
		if want := fmt.Sprintf("many/f%04d", i); k != want {
			t.Fatalf("key %d = %q, want %q", i, k, want)
		}
	}
}

// Test429Storm survives a burst of 429 rate_limit_exceeded with retry-after.
func Test429Storm(t *testing.T) {
	for _, pageSize := range []int{1000} {
		t.Run(fmt.Sprint("page=", pageSize), func(t *testing.T) {
			srv := fake.New(fake.Options{MaxPageSize: pageSize})
			defer srv.Close()
			st := open(t, srv, false)
			ctx := context.Background()
			srv.Throttle.Set(3, 1)
			if _, err := st.Write(ctx, "All Files", "storm/a", bytes.NewReader([]byte("abc")), 3, provider.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			srv.Throttle.Set(2, 0)
			rc, err := st.NewRangeReader(ctx, "All Files", "storm/a", 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "b" {
				t.Errorf("read %q", b)
			}
			if srv.Throttle.Hits.Load() != 5 {
				t.Errorf("throttled %d times, want 5", srv.Throttle.Hits.Load())
			}
			// A storm longer than the retry budget surfaces as a RateLimitError.
			// A new Storage: this one would answer from its recent listing.
			srv.Throttle.Set(100, 1)
			_, err = open(t, srv, false).Stat(ctx, "All Files", "storm/a")
			if d, ok := provider.RetryAfter(err); !ok || d != time.Second {
				t.Errorf("long storm: %v, want RateLimitError with 1s", err)
			}
			srv.Throttle.Set(0, 0)
		})
	}
}

// TestTokenRefresh: an expired access token is refreshed exactly once through
// oauth2 even with 8 concurrent callers; a token the server revoked is
// ErrUnauthenticated.
func TestTokenRefresh(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, true)
	startRefresh := lastRefresh
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.ListBuckets(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := srv.Auth.Refreshes.Load(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
	// Box rotates refresh tokens: the one we started with is dead now.
	conf := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: startRefresh}).Token(); err == nil {
		t.Error("a used refresh token was accepted again")
	}
	srv.Auth.ExpireAll()
	_, err := st.ListBuckets(ctx)
	if !errors.Is(err, provider.ErrUnauthenticated) {
		t.Errorf("expired token: %v, want ErrUnauthenticated", err)
	}
}
