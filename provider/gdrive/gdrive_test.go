package gdrive_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/gdrive"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/gdrive"
	"github.com/amove/amove-go/provider/providertest"
)

// open returns a driver on srv; with expired set, the access token it starts
// with is past its expiry, so the first call refreshes it.
func open(t *testing.T, srv *fake.Server, expired bool) provider.Storage {
	t.Helper()
	at, rt, exp := srv.Auth.Issue()
	if expired {
		exp = time.Now().Add(-time.Minute)
	}
	conf := &oauth2.Config{ClientID: "id", ClientSecret: "secret",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	ts := conf.TokenSource(context.Background(), &oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: exp})
	st, err := provider.Open(context.Background(), provider.Config{
		CloudType: provider.GoogleDrive, Endpoint: srv.URL, TokenSource: ts,
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
	providertest.Run(t, providertest.Harness{Storage: open(t, srv, false), Bucket: "My Drive"})
}

func TestSharedDriveBucket(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	id := srv.AddSharedDrive("Team")
	st := open(t, srv, false)
	ctx := context.Background()
	bs, err := st.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Name != "My Drive" || bs[1].Name != "Team" || bs[1].ID != id {
		t.Fatalf("ListBuckets = %+v", bs)
	}
	if _, err := st.Write(ctx, "Team", "x/y.txt", bytes.NewReader([]byte("hi")), 2, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if o, err := st.Stat(ctx, id, "x/y.txt"); err != nil || o.Size != 2 {
		t.Fatalf("Stat by drive id = %+v, %v", o, err)
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

// TestLarge40MiB writes 40 MiB through a resumable session and compares
// Drive's own MD5.
func TestLarge40MiB(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, false)
	ctx := context.Background()
	data := payload(40 << 20)
	sum := md5.Sum(data)
	for _, size := range []int64{int64(len(data)), -1} {
		key := fmt.Sprintf("big/40mib-%d", size)
		before := srv.Resumable.Load()
		o, err := st.Write(ctx, "My Drive", key, struct{ io.Reader }{bytes.NewReader(data)}, size, provider.WriteOptions{PartSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if srv.Resumable.Load() != before+1 {
			t.Errorf("size %d: no resumable session was used", size)
		}
		got, err := st.Stat(ctx, "My Drive", key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Checksums.MD5 != hex.EncodeToString(sum[:]) || o.Size != int64(len(data)) {
			t.Errorf("size %d: Drive MD5 %q size %d, want %x", size, got.Checksums.MD5, o.Size, sum)
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
			if _, err := st.Write(ctx, "My Drive", fmt.Sprintf("many/f%04d", i), bytes.NewReader(nil), 0, provider.WriteOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	opts := provider.ListOptions{Prefix: "many/", Delimiter: "/", MaxKeys: 1000}
	var keys []string
	pages := 0
	for {
		p, err := st.ListObjects(ctx, "My Drive", opts)
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

// Test429Storm survives a burst of throttling, as 429 and as Drive's 403
// userRateLimitExceeded.
func Test429Storm(t *testing.T) {
	for _, as403 := range []bool{false, true} {
		t.Run(fmt.Sprint("403=", as403), func(t *testing.T) {
			srv := fake.New(fake.Options{RateLimit403: as403})
			defer srv.Close()
			st := open(t, srv, false)
			ctx := context.Background()
			srv.Throttle.Set(3, 1)
			if _, err := st.Write(ctx, "My Drive", "storm/a", bytes.NewReader([]byte("abc")), 3, provider.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			srv.Throttle.Set(2, 0)
			rc, err := st.NewRangeReader(ctx, "My Drive", "storm/a", 1, 1)
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
			srv.Throttle.Set(100, 1)
			_, err = st.Stat(ctx, "My Drive", "storm/a")
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
	srv.Auth.ExpireAll()
	_, err := st.ListBuckets(ctx)
	if !errors.Is(err, provider.ErrUnauthenticated) {
		t.Errorf("expired token: %v, want ErrUnauthenticated", err)
	}
}
