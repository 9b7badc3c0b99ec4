package dropbox_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	fake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/internal/fakes/fakecheck"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/dropbox"
	"github.com/amove/amove-go/provider/providertest"
)

// stoneDir holds Dropbox's Stone description of the API (shared/external
// beside the repository).
const stoneDir = "../../../../shared/external/dropbox"

// TestRoutesMatchStone runs the driver's conformance suite against the fake
// and checks every exchange against the Stone files: the route exists, and
// each argument field, result field, union tag and error tag the fake read
// or wrote is in the route's types.
func TestRoutesMatchStone(t *testing.T) {
	st, err := fakecheck.ParseStone(stoneDir)
	if err != nil {
		t.Skipf("Stone files not found: %v", err)
	}
	srv := fake.New(fake.Options{ListLimit: 700})
	defer srv.Close()
	rec := fakecheck.Wrap(srv.Server)
	access, refresh, exp := srv.IssueToken()
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, RefreshToken: refresh, Expiry: exp})
	drv, err := dropbox.Open(context.Background(),
		provider.Config{CloudType: provider.Dropbox, TokenSource: ts, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("traffic", func(t *testing.T) {
		providertest.Run(t, providertest.Harness{Storage: drv, Bucket: dropbox.RootBucket,
			Limitations: map[string]string{"PresignDisposition": "a Dropbox temporary link cannot carry a Content-Disposition"}})
		// The error shapes the suite does not reach: 429 and a stale
		// session offset.
		if _, err := drv.ListBuckets(context.Background()); err != nil {
			t.Error(err)
		}
		srv.RateLimit(time.Second)
		_, _ = drv.ListBuckets(provider.WithoutRetries(context.Background()))
		srv.ExpireTokens()
		_, _ = drv.ListBuckets(context.Background())
		u, err := drv.CreateMultipart(context.Background(), dropbox.RootBucket, "x", provider.WriteOptions{})
		if err == nil {
			_, _ = drv.CompleteMultipart(context.Background(), provider.Upload{Bucket: u.Bucket, Key: u.Key, ID: u.ID + "x"},
				[]provider.Part{{Number: 1, Size: 5}})
		}
		_, _ = drv.Write(context.Background(), dropbox.RootBucket, "y", bytes.NewReader(nil), 0, provider.WriteOptions{})
	})

	// The parser must see what the checks rely on, or they pass vacuously.
	if r := st.Routes["files/copy_v2"]; r.Arg != "RelocationArg" || r.Error != "RelocationError" {
		t.Fatalf("Stone parse: copy_v2 = %+v", r)
	}
	if bad := st.Check("ListFolderResult", map[string]any{"entries": []any{
		map[string]any{".tag": "file", "name": "a", "sizes": 1}}, "cursorx": ""}, "probe"); len(bad) != 2 {
		t.Fatalf("Stone check of two wrong names found %q", bad)
	}

	statuses := map[int]int{}
	for _, x := range rec.Exchanges() {
		statuses[x.Status]++
	}
	t.Logf("exchanges by status: %v", statuses)
	served := map[string]bool{}
	for _, x := range rec.Exchanges() {
		route, ok := strings.CutPrefix(x.Path, "/2/")
		if !ok {
			continue // OAuth and temporary links are not API routes
		}
		r, ok := st.Routes[route]
		if !ok {
			t.Errorf("%s: no such route in the Stone files", route)
			continue
		}
		served[route] = true
		for _, bad := range st.Check(r.Arg, x.Arg, route+" arg") {
			t.Error(bad)
		}
		switch body, _ := x.Result.(map[string]any); {
		case x.Status == 200 || x.Status == 206:
			for _, bad := range st.Check(r.Result, x.Result, route+" result") {
				t.Error(bad)
			}
			for _, bad := range st.Missing(r.Result, x.Result, route+" result") {
				t.Error(bad)
			}
		case x.Status == 409:
			checkKeys(t, route, body, "error_summary", "error")
			for _, bad := range st.Check(r.Error, body["error"], route+" error") {
				t.Error(bad)
			}
			for _, bad := range st.Missing(r.Error, body["error"], route+" error") {
				t.Error(bad)
			}
		case x.Status == 401:
			checkKeys(t, route, body, "error_summary", "error")
			for _, bad := range st.Check("AuthError", body["error"], route+" 401") {
				t.Error(bad)
			}
		case x.Status == 429:
			checkKeys(t, route, body, "error_summary", "error")
			for _, bad := range st.Check("RateLimitError", body["error"], route+" 429") {
				t.Error(bad)
			}
		}
	}
	for _, want := range []string{"users/get_current_account", "files/get_metadata", "files/list_folder",
		"files/list_folder/continue", "files/create_folder_v2", "files/delete_v2", "files/copy_v2",
		"files/get_temporary_link", "files/upload", "files/download", "files/upload_session/start",
		"files/upload_session/append_v2", "files/upload_session/finish"} {
		if !served[want] {
			t.Errorf("route %s was not exercised", want)
		}
	}
}

// checkKeys fails on a key of an error body other than the allowed ones.
func checkKeys(t *testing.T, route string, body map[string]any, allowed ...string) {
	t.Helper()
	for k := range body {
		found := false
		for _, a := range allowed {
			found = found || k == a
		}
		if !found {
			t.Errorf("%s: error body has key %q; Dropbox's has only %v", route, k, allowed)
		}
	}
}
