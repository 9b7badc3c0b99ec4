package frameio_test

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

	fake "github.com/amove/amove-go/internal/fakes/frameio"
	"github.com/amove/amove-go/oauth"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/frameio"
	"github.com/amove/amove-go/provider/providertest"
)

const bucket = "Fake Workspace:Fake Project"

// open returns a driver on srv with a refreshing token source of package
// oauth, as amove.Client builds it; with expired set, the access token it
// starts with is past its expiry, so the first call refreshes it.
func open(t *testing.T, srv *fake.Server, expired bool) (provider.Storage, *oauth.TokenSource) {
	t.Helper()
	at, rt, exp := srv.Auth.Issue()
	if expired {
		exp = time.Now().Add(-time.Minute)
	}
	app := oauth.FrameIO("id", "secret")
	app.Config.Endpoint.TokenURL = srv.URL + "/ims/token/v3"
	ts := oauth.NewTokenSource(context.Background(), app.Config,
		&oauth2.Token{AccessToken: at, RefreshToken: rt, Expiry: exp}, nil, oauth.TokenSourceOptions{})
	st, err := provider.Open(context.Background(), provider.Config{CloudType: provider.Frame, Endpoint: srv.URL, TokenSource: ts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, ts
}

func TestConformance(t *testing.T) {
	// 5 MiB parts, so the 17 MiB object of the Large case goes in four.
	srv := fake.New(fake.Options{PartSize: 5 << 20})
	defer srv.Close()
	st, _ := open(t, srv, false)
	providertest.Run(t, providertest.Harness{Storage: st, Bucket: bucket})
	if srv.PartsReceived.Load() == 0 {
		t.Error("no upload part reached the fake")
	}
}

// TestBuckets: every project is a bucket "<workspace>:<project>"; the
// project id and a unique project name name it too, an ambiguous name is
// ErrInvalid.
func TestBuckets(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	other := srv.AddProject("Other/Team", "Dailies")
	twin := srv.AddProject("Other/Team", "Fake Project")
	st, _ := open(t, srv, false)
	ctx := context.Background()
	bs, err := st.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
	}
	if got := strings.Join(names, ","); got != "Fake Workspace:Fake Project,Other_Team:Dailies,Other_Team:Fake Project" {
		t.Errorf("buckets %q", got)
	}
	for _, b := range []string{"Other_Team:Dailies", "Dailies", other.ID} {
		if _, err := st.Write(ctx, b, "x/"+b, strings.NewReader("x"), 1, provider.WriteOptions{}); err != nil {
			t.Errorf("write to bucket %q: %v", b, err)
		}
	}
	p, err := st.ListObjects(ctx, other.ID, provider.ListOptions{Prefix: "x/"})
	if err != nil || len(p.Objects) != 3 {
		t.Errorf("listing of %s: %+v, %v", other.ID, p.Objects, err)
	}
	_, err = st.ListObjects(ctx, "Fake Project", provider.ListOptions{})
	if !errors.Is(err, provider.ErrInvalid) || !strings.Contains(err.Error(), twin.ID) {
		t.Errorf("ambiguous project name: %v, want ErrInvalid naming %s", err, twin.ID)
	}
}

// TestUploadParts: a file goes up in the parts Frame.io dictates (the
// guide's example sizes), the listing pages are followed with page_size
// put back on each next link, and 429s with Retry-After are waited out.
func TestUploadParts(t *testing.T) {
	srv := fake.New(fake.Options{PartSize: 16_881_997})
	defer srv.Close()
	st, _ := open(t, srv, false)
	ctx := context.Background()
	data := make([]byte, 50_645_990)
	_, _ = mrand.NewChaCha8([32]byte{3}).Read(data)
	for _, size := range []int64{int64(len(data)), -1} {
		before := srv.PartsReceived.Load()
		key := fmt.Sprintf("big/video-%d.mp4", size)
		o, err := st.Write(ctx, bucket, key, struct{ io.Reader }{bytes.NewReader(data)}, size, provider.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n := srv.PartsReceived.Load() - before; n != 3 || o.Size != int64(len(data)) || o.ContentType != "video/mp4" {
			t.Errorf("size %d: %d parts, object %+v", size, n, o)
		}
		rc, err := st.NewRangeReader(ctx, bucket, key, 16_881_990, 20)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, data[16_881_990:16_882_010]) {
			t.Errorf("range across a part boundary differs")
		}
	}
}

// TestListingPages lists 250 files with the fake's default page of 50:
// the driver asks 100 a page, on every page.
func TestListingPages(t *testing.T) {
	srv := fake.New(fake.Options{MaxPageSize: 100, DefaultPageSize: 7})
	defer srv.Close()
	st, _ := open(t, srv, false)
	ctx := context.Background()
	for i := range 250 {
		if _, err := st.Write(ctx, bucket, fmt.Sprintf("many/f%03d", 249-i), strings.NewReader("x"), 1, provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st2, _ := open(t, srv, false) // no cached listing
	var keys []string
	for o, err := range provider.Walk(ctx, st2, bucket, provider.ListOptions{Prefix: "many/", Delimiter: "/"}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, o.Key)
	}
	if len(keys) != 250 || keys[0] != "many/f000" || keys[249] != "many/f249" {
		t.Errorf("listed %d keys: first %q", len(keys), keys[:min(3, len(keys))])
	}
}

// Test429 waits out 429s with Retry-After; a longer storm surfaces as a
// RateLimitError.
func Test429(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st, _ := open(t, srv, false)
	ctx := context.Background()
	if _, err := st.Write(ctx, bucket, "storm/a.txt", strings.NewReader("abc"), 3, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	srv.Throttle.Set(2, 1)
	st2, _ := open(t, srv, false)
	rc, err := st2.NewRangeReader(ctx, bucket, "storm/a.txt", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "b" || srv.Throttle.Hits.Load() != 2 {
		t.Errorf("read %q after %d throttled answers", b, srv.Throttle.Hits.Load())
	}
	// A new Storage: st2 would answer from its recent listing.
	st3, _ := open(t, srv, false)
	srv.Throttle.Set(100, 1)
	defer srv.Throttle.Set(0, 0)
	_, err = st3.Stat(provider.WithoutRetries(ctx), bucket, "storm/b.txt")
	if d, ok := provider.RetryAfter(err); !ok || d != time.Second {
		t.Errorf("throttled: %v, want a RateLimitError with 1s", err)
	}
}

// TestTokenExpiry: an expired access token is refreshed once at the IMS
// token endpoint even with 8 callers; a token the API refuses before its
// expiry is expired in the source and the call sent again; a dead refresh
// token is ErrUnauthenticated.
func TestTokenExpiry(t *testing.T) {
	srv := fake.New(fake.Options{})
	defer srv.Close()
	st, _ := open(t, srv, true)
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
	srv.Auth.ExpireAll() // the API now refuses the token the source thinks valid
	if _, err := st.ListBuckets(ctx); err != nil {
		t.Fatalf("after the API refused the token: %v", err)
	}
	if n := srv.Auth.Refreshes.Load(); n != 2 {
		t.Errorf("%d refreshes, want 2", n)
	}

	// A static token from credentialsData, without a source: 401 is
	// ErrUnauthenticated.
	at, _, _ := srv.Auth.Issue()
	st2, err := provider.Open(ctx, provider.Config{CloudType: provider.Frame, Endpoint: srv.URL,
		CredentialsData: `{"access_token":"` + at + `","token_type":"Bearer"}`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st2.ListBuckets(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Auth.ExpireAll()
	if _, err := st2.ListBuckets(ctx); !errors.Is(err, provider.ErrUnauthenticated) {
		t.Errorf("expired static token: %v, want ErrUnauthenticated", err)
	}
	if _, err := provider.Open(ctx, provider.Config{CloudType: provider.Frame}); !errors.Is(err, provider.ErrUnauthenticated) {
		t.Errorf("no credentials: %v, want ErrUnauthenticated", err)
	}
}

// TestFakeRules: the fake refuses what Frame.io refuses: an upload part
// without x-amz-acl, with another Content-Type, with the bearer token or
// of another size; a page_size over 100; an unknown field in data.
func TestFakeRules(t *testing.T) {
	srv := fake.New(fake.Options{PartSize: 4})
	defer srv.Close()
	at, _, _ := srv.Auth.Issue()
	call := func(method, url, body string, h map[string]string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bearer := map[string]string{"Authorization": "Bearer " + at}
	acct := srv.URL + "/v4/accounts/" + srv.Account
	if c, _ := call("GET", acct+"/workspaces?page_size=101", "", bearer); c != http.StatusUnprocessableEntity {
		t.Errorf("page_size 101: %d", c)
	}
	files := acct + "/folders/" + srv.Project.RootFolder + "/files"
	if c, b := call("POST", files, `{"data":{"name":"a.txt","file_size":6,"foo":1}}`, bearer); c != http.StatusUnprocessableEntity || !strings.Contains(b, "/data/foo") {
		t.Errorf("unknown field: %d %s", c, b)
	}
	c, b := call("POST", files, `{"data":{"name":"a.txt","media_type":"text/plain","file_size":6}}`, bearer)
	if c != http.StatusCreated {
		t.Fatalf("create file: %d %s", c, b)
	}
	var res struct {
		Data struct {
			UploadURLs []struct {
				Size int64
				URL  string
			} `json:"upload_urls"`
		}
	}
	if err := json.Unmarshal([]byte(b), &res); err != nil || len(res.Data.UploadURLs) != 2 || res.Data.UploadURLs[0].Size != 3 {
		t.Fatalf("upload_urls of 6 bytes in parts of at most 4: %s", b)
	}
	u := res.Data.UploadURLs[0].URL
	ok := map[string]string{"Content-Type": "text/plain", "x-amz-acl": "private"}
	for name, h := range map[string]map[string]string{
		"no acl":       {"Content-Type": "text/plain"},
		"other type":   {"Content-Type": "application/octet-stream", "x-amz-acl": "private"},
		"bearer token": {"Content-Type": "text/plain", "x-amz-acl": "private", "Authorization": "Bearer " + at},
	} {
		if c, _ := call("PUT", u, "abc", h); c/100 == 2 {
			t.Errorf("part with %s accepted", name)
		}
	}
	if c, _ := call("PUT", u, "abcd", ok); c != http.StatusBadRequest {
		t.Errorf("part of the wrong size: %d", c)
	}
	if c, _ := call("PUT", strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=0", 1), "abc", ok); c != http.StatusForbidden {
		t.Errorf("tampered URL: %d", c)
	}
	if c, b := call("PUT", u, "abc", ok); c != http.StatusOK {
		t.Errorf("good part: %d %s", c, b)
	}
	if c, _ := call("GET", acct+"/workspaces", "", nil); c != http.StatusUnauthorized {
		t.Errorf("no token: %d", c)
	}
}
