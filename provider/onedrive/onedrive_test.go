package onedrive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/onedrive"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/onedrive"
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
		CloudType: provider.OneDrive, Endpoint: srv.URL, TokenSource: ts,
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
	providertest.Run(t, providertest.Harness{Storage: open(t, srv, false), Bucket: "OneDrive"})
}

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = mrand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

// TestLarge40MiB writes 40 MiB through an upload session (size known and
// unknown) and compares Graph's own quickXorHash.
func TestLarge40MiB(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st := open(t, srv, false)
	ctx := context.Background()
	data := payload(40 << 20)
	want := fake.QuickXorHash(data)
	for _, size := range []int64{int64(len(data)), -1} {
		key := fmt.Sprintf("big/40mib-%d", size)
		before := srv.SessionsCreated.Load()
		o, err := st.Write(ctx, "OneDrive", key, struct{ io.Reader }{bytes.NewReader(data)}, size, provider.WriteOptions{PartSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if srv.SessionsCreated.Load() != before+1 {
			t.Errorf("size %d: no upload session was used", size)
		}
		_, itemID, _ := strings.Cut(o.ID, "/")
		if got := srv.QuickXorOf(itemID); got != want || o.Size != int64(len(data)) {
			t.Errorf("size %d: Graph quickXorHash %q size %d, want %q", size, got, o.Size, want)
		}
	}
}

// TestFragmentRules: the fake refuses what Graph refuses.
func TestFragmentRules(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	at, _, _ := srv.Auth.Issue()
	do := func(method, u string, body []byte, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest(method, u, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/drives/"+srv.DriveID+"/root:/f.bin:/createUploadSession", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+at)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sess struct{ UploadURL string }
	_ = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if r := do(http.MethodPut, sess.UploadURL, make([]byte, 1000), map[string]string{"Content-Range": "bytes 0-999/5000"}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("fragment not a multiple of 320 KiB: %d", r.StatusCode)
	}
	if r := do(http.MethodPut, sess.UploadURL, make([]byte, 10), map[string]string{"Content-Range": "bytes 100-109/5000"}); r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("fragment at a wrong offset: %d", r.StatusCode)
	}
	if r := do(http.MethodPut, sess.UploadURL, make([]byte, 10), map[string]string{"Content-Range": "bytes 0-9/10", "Authorization": "Bearer " + at}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("bearer token sent to uploadUrl: %d", r.StatusCode)
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
			if _, err := st.Write(ctx, "OneDrive", fmt.Sprintf("many/f%04d", i), bytes.NewReader(nil), 0, provider.WriteOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	opts := provider.ListOptions{Prefix: "many/", Delimiter: "/", MaxKeys: 1000}
	var keys []string
	pages := 0
	for {
		p, err := st.ListObjects(ctx, "OneDrive", opts)
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

// Test429Storm survives a burst of 429 activityLimitReached with Retry-After.
func Test429Storm(t *testing.T) {
	for _, pageSize := range []int{1000} {
		t.Run(fmt.Sprint("page=", pageSize), func(t *testing.T) {
			srv := fake.New(fake.Options{MaxPageSize: pageSize})
			defer srv.Close()
			st := open(t, srv, false)
			ctx := context.Background()
			srv.Throttle.Set(3, 1)
			if _, err := st.Write(ctx, "OneDrive", "storm/a", bytes.NewReader([]byte("abc")), 3, provider.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			srv.Throttle.Set(2, 0)
			rc, err := st.NewRangeReader(ctx, "OneDrive", "storm/a", 1, 1)
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
			_, err = st.Stat(ctx, "OneDrive", "storm/a")
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
