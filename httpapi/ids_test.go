package httpapi

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	boxfake "github.com/amove/amove-go/internal/fakes/box"
	dbxfake "github.com/amove/amove-go/internal/fakes/dropbox"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/box"
	"github.com/amove/amove-go/provider/dropbox"
)

// idEnv is an env whose accounts open open, with alice's account of cloud
// type ct inserted through the API; it returns the account id.
func idEnv(t *testing.T, ct provider.CloudType, open func(context.Context, provider.Config) (provider.Storage, error)) (*env, string) {
	t.Helper()
	e := newEnv(t, envConfig{open: open})
	var a cloudAccount
	must(t, e.cloud(t, "POST", "/cloud/insert_account", e.aliceTok, map[string]any{
		"cloudType": int(ct), "name": ct.String(), "credentialsData": `{"access_token":"unused","token_type":"Bearer"}`,
	}), 200, &a)
	return e, a.ID
}

// list calls list_objects and returns the page.
func (e *env) list(t *testing.T, acct, bucket, path, id string) objectList {
	t.Helper()
	var out objectList
	must(t, e.cloud(t, "POST", "/cloud/list_objects", e.aliceTok, map[string]any{
		"account": map[string]any{"id": acct}, "request": map[string]any{"bucketName": bucket, "path": path, "id": id},
	}), 200, &out)
	return out
}

func idOf(t *testing.T, l objectList, key string) string {
	t.Helper()
	for _, o := range l.Data {
		if o.Key == key {
			if o.ID == "" {
				t.Fatalf("%s has no id", key)
			}
			return o.ID
		}
	}
	t.Fatalf("%s not listed in %+v", key, l.Data)
	return ""
}

// TestIDsBox drives list_objects and delete_object with the request's id
// on Box, which addresses folders and files by id: the folder or file with
// that id is the one listed or deleted.
func TestIDsBox(t *testing.T) {
	srv := boxfake.New(boxfake.Options{})
	t.Cleanup(srv.Close)
	at, _, _ := srv.Auth.Issue()
	open := func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
		cfg.Endpoint, cfg.TokenSource = srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at})
		return box.Open(ctx, cfg)
	}
	e, acct := idEnv(t, provider.Box, open)
	ctx := context.Background()
	st, err := open(ctx, provider.Config{CloudType: provider.Box})
	if err != nil {
		t.Fatal(err)
	}
	const bucket = "All Files"
	for _, k := range []string{"photos/a.txt", "photos/b.txt", "docs/c.txt"} {
		if _, err := st.Write(ctx, bucket, k, strings.NewReader(k), int64(len(k)), provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	root := e.list(t, acct, bucket, "/", "")
	photos, docs := idOf(t, root, "photos/"), idOf(t, root, "docs/")

	// The folder with the id is listed, its entries keyed under path.
	got := e.list(t, acct, bucket, "photos/", photos)
	if len(got.Data) != 2 || got.Data[0].Key != "photos/a.txt" || got.Data[1].Key != "photos/b.txt" {
		t.Fatalf("photos by id: %+v", got.Data)
	}
	// The id decides, not the path: docs' id lists docs.
	got = e.list(t, acct, bucket, "photos/", docs)
	if len(got.Data) != 1 || !strings.HasSuffix(got.Data[0].Key, "/c.txt") || got.Data[0].ID == "" {
		t.Fatalf("docs by id: %+v", got.Data)
	}
	// An id nothing has is an error, not the path's listing.
	wantError(t, e.cloud(t, "POST", "/cloud/list_objects", e.aliceTok, map[string]any{
		"account": map[string]any{"id": acct}, "request": map[string]any{"bucketName": bucket, "path": "photos/", "id": "999999"},
	}), 499, "NOT_FOUND")
	// The hosted list_objects takes the id as well.
	var hosted objectList
	must(t, e.hosted(t, "POST", "/api/v1/cloudaccount/list_objects", e.aliceTok, map[string]any{
		"cloudAccountId": acct, "bucketName": bucket, "path": "photos/", "id": photos,
	}), 200, &hosted)
	if len(hosted.Data) != 2 {
		t.Fatalf("hosted photos by id: %+v", hosted.Data)
	}

	// delete_object with b's id deletes b, whatever the key says.
	b := idOf(t, e.list(t, acct, bucket, "photos/", photos), "photos/b.txt")
	must(t, e.cloud(t, "POST", "/cloud/delete_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": bucket, "key": "photos/a.txt", "id": b,
	}), 200, nil)
	left := e.list(t, acct, bucket, "photos/", "")
	if len(left.Data) != 1 || left.Data[0].Key != "photos/a.txt" {
		t.Fatalf("after deleting b by id: %+v", left.Data)
	}
	// A folder by id: refused while not empty, removed once empty.
	wantError(t, e.cloud(t, "POST", "/cloud/delete_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": bucket, "key": "photos/", "id": photos,
	}), 499, "")
	must(t, e.cloud(t, "POST", "/cloud/delete_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": bucket, "key": "photos/a.txt",
		"id": idOf(t, left, "photos/a.txt"),
	}), 200, nil)
	must(t, e.cloud(t, "POST", "/cloud/delete_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": bucket, "key": "photos/", "id": photos,
	}), 200, nil)
	root = e.list(t, acct, bucket, "/", "")
	if len(root.Data) != 1 || root.Data[0].Key != "docs/" {
		t.Fatalf("after deleting photos/ by id: %+v", root.Data)
	}
}

// TestIDsDropbox: generate_download_url with the request's id signs the
// file with that id on Dropbox, list_objects lists the folder with that id
// and delete_object deletes the file with that id.
func TestIDsDropbox(t *testing.T) {
	srv := dbxfake.New(dbxfake.Options{})
	t.Cleanup(srv.Close)
	at, _, _ := srv.IssueToken()
	open := func(ctx context.Context, cfg provider.Config) (provider.Storage, error) {
		cfg.Endpoint, cfg.TokenSource = srv.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: at})
		return dropbox.Open(ctx, cfg)
	}
	e, acct := idEnv(t, provider.Dropbox, open)
	ctx := context.Background()
	st, err := open(ctx, provider.Config{CloudType: provider.Dropbox})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := st.ListBuckets(ctx)
	if err != nil || len(bs) == 0 {
		t.Fatal(bs, err)
	}
	bucket := bs[0].Name
	for _, k := range []string{"x.txt", "y.txt"} {
		if _, err := st.Write(ctx, bucket, k, strings.NewReader("content of "+k), -1, provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	y := idOf(t, e.list(t, acct, bucket, "/", ""), "y.txt")
	fetch := func(id string) string {
		var u string
		must(t, e.cloud(t, "POST", "/cloud/generate_download_url", e.aliceTok, map[string]any{
			"cloudAccount": map[string]any{"id": acct}, "storageName": bucket, "key": "x.txt", "id": id,
		}), 200, &u)
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if got := fetch(""); got != "content of x.txt" {
		t.Fatalf("by key: %q", got)
	}
	if got := fetch(y); got != "content of y.txt" {
		t.Fatalf("by id: %q", got)
	}

	// list_objects by folder id, delete_object by file id.
	for _, k := range []string{"dir/a.txt", "dir/b.txt"} {
		if _, err := st.Write(ctx, bucket, k, strings.NewReader(k), -1, provider.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := idOf(t, e.list(t, acct, bucket, "/", ""), "dir/")
	got := e.list(t, acct, bucket, "dir/", dir)
	if len(got.Data) != 2 || got.Data[0].Key != "dir/a.txt" || got.Data[1].Key != "dir/b.txt" {
		t.Fatalf("dir by id: %+v", got.Data)
	}
	wantError(t, e.cloud(t, "POST", "/cloud/list_objects", e.aliceTok, map[string]any{
		"account": map[string]any{"id": acct}, "request": map[string]any{"bucketName": bucket, "path": "dir/", "id": "id:nope"},
	}), 499, "NOT_FOUND")
	must(t, e.cloud(t, "POST", "/cloud/delete_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": bucket, "key": "dir/a.txt", "id": idOf(t, got, "dir/b.txt"),
	}), 200, nil)
	left := e.list(t, acct, bucket, "dir/", "")
	if len(left.Data) != 1 || left.Data[0].Key != "dir/a.txt" {
		t.Fatalf("after deleting b by id: %+v", left.Data)
	}
}
