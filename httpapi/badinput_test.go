package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/amove/amove-go/provider"
)

// bodyEndpoints are the routes that read a JSON body.
var bodyEndpoints = []struct{ method, path string }{
	{"POST", "/cloud/insert_account"},
	{"PUT", "/cloud/manage_share"},
	{"POST", "/cloud/list_buckets"},
	{"POST", "/cloud/list_objects"},
	{"POST", "/cloud/generate_download_url"},
	{"POST", "/cloud/generate_upload_url"},
	{"POST", "/cloud/send_download_url"},
	{"POST", "/cloud/delete_object"},
	{"POST", "/cloud/create_folder"},
	{"POST", "/cloud/upload_object"},
	{"POST", "/cloud/download_object"},
	{"POST", "/api/v1/cloudaccount/insert"},
	{"PUT", "/api/v1/cloudaccount/manage_share"},
	{"POST", "/api/v1/cloudaccount/list_buckets"},
	{"POST", "/api/v1/cloudaccount/list_objects"},
	{"POST", "/authentication/login"},
}

// snapshot describes everything a request could change: the accounts each
// user sees, the transfers, the objects in the driver and the local root.
func (e *env) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, p := range []struct {
		name string
		tok  string
	}{{"admin", e.adminTok}, {"alice", e.aliceTok}, {"bob", e.bobTok}} {
		pr, err := e.c.Authenticate(ctx, p.tok)
		if err != nil {
			t.Fatal(err)
		}
		as, err := e.c.ListAccounts(ctx, pr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s accounts %+v\n", p.name, as)
		ts, err := e.c.ListTransfers(ctx, pr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s transfers %d\n", p.name, len(ts))
	}
	bs, err := e.mem.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range bs {
		pg, err := e.mem.ListObjects(ctx, bk.Name, provider.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range pg.Objects {
			fmt.Fprintf(&b, "object %s/%s %d %s\n", bk.Name, o.Key, o.Size, o.ETag)
		}
	}
	_ = filepath.WalkDir(e.root, func(p string, d os.DirEntry, err error) error {
		fmt.Fprintf(&b, "local %s\n", p)
		return nil
	})
	return b.String()
}

// TestBadInput sends bad bodies to every endpoint that reads one and checks
// the status and code, and that the store, the driver and the local root
// are unchanged afterwards.
func TestBadInput(t *testing.T) {
	e := newMemoryEnv(t)
	alice := e.memoryAccount(t, e.aliceTok, "alice's", "ab")
	bob := e.memoryAccount(t, e.bobTok, "bob's", "bb")
	ctx := context.Background()
	if _, err := e.mem.Write(ctx, "bb", "x", strings.NewReader("bob's data"), 10, provider.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	file := writeRandom(t, e.root, "f.bin", 100)
	before := e.snapshot(t)

	// The generic cases, for every body.
	oversized := `{"pad":"` + strings.Repeat("x", maxJSONBody) + `"}`
	generic := []struct {
		name, ctype, body string
	}{
		{"malformed", "application/json", `{"cloudType":`},
		{"not an object", "application/json", `[1,2]`},
		{"trailing data", "application/json", `{} {}`},
		{"empty", "application/json", ``},
		{"wrong type", "application/json", `{"cloudType":"eight","storageName":7,"shared":"yes","name":1,"account":[]}`},
		{"text/plain", "text/plain", `{}`},
		{"form", "application/x-www-form-urlencoded", `a=b`},
		{"oversized", "application/json", oversized},
	}
	for _, ep := range bodyEndpoints {
		for _, g := range generic {
			t.Run(ep.path+"/"+g.name, func(t *testing.T) {
				h := http.Header{"Content-Type": {g.ctype}}
				var path string
				if strings.HasPrefix(ep.path, "/api/v1/") {
					path = ep.path
					h.Set("Authorization", "Bearer "+e.aliceTok)
				} else {
					path = withToken(ep.path, e.aliceTok)
				}
				r := e.request(t, ep.method, path, h, g.body)
				if g.name == "not an object" || g.name == "wrong type" {
					// Decoded, then refused by a field rule or the type: 499
					// with any code (401 for a login that names nobody), never
					// success.
					if r.status != 499 && (ep.path != "/authentication/login" || r.status != 401) {
						t.Fatalf("%s", r)
					}
					return
				}
				wantError(t, r, 499, "DEFAULT")
			})
		}
	}

	acctRef := func(id string) map[string]any { return map[string]any{"id": id} }
	outside := t.TempDir()
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		// Unknown enums.
		{"insert cloudType", "POST", "/cloud/insert_account", map[string]any{"cloudType": 3, "name": "x", "endpoint": "http://e", "accessKey": "a", "secretKey": "s"}, 499, "DEFAULT"},
		{"insert storageTier", "POST", "/cloud/insert_account", map[string]any{"cloudType": 8, "name": "x", "endpoint": "http://e", "accessKey": "a", "secretKey": "s", "storageTier": 3}, 499, "DEFAULT"},
		{"hosted insert cloudType", "POST", "/api/v1/cloudaccount/insert", map[string]any{"cloudType": 1 << 20, "name": "x"}, 499, "DEFAULT"},
		{"probe cloudType", "POST", "/cloud/list_buckets", map[string]any{"cloudType": -1}, 499, "DEFAULT"},
		{"download objectType", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": e.root, "objectKey": "k", "objectType": 3}, 499, "DEFAULT"},
		// Missing required fields.
		{"insert name", "POST", "/cloud/insert_account", map[string]any{"cloudType": 8, "endpoint": "http://e", "accessKey": "a", "secretKey": "s"}, 499, "DEFAULT"},
		{"insert keys", "POST", "/cloud/insert_account", map[string]any{"cloudType": 8, "name": "x", "endpoint": "http://e"}, 499, "DEFAULT"},
		{"insert endpoint", "POST", "/cloud/insert_account", map[string]any{"cloudType": 8, "name": "x", "accessKey": "a", "secretKey": "s"}, 499, "DEFAULT"},
		{"share flag", "PUT", "/cloud/manage_share", map[string]any{"id": alice}, 499, "DEFAULT"},
		{"share id", "PUT", "/cloud/manage_share", map[string]any{"shared": true}, 499, "DEFAULT"},
		{"list bucketName", "POST", "/cloud/list_objects", map[string]any{"account": acctRef(alice), "request": map[string]any{}}, 499, "DEFAULT"},
		{"list count", "POST", "/cloud/list_objects", map[string]any{"account": acctRef(alice), "request": map[string]any{"bucketName": "ab", "count": 5000}}, 499, "DEFAULT"},
		{"hosted list bucketName", "POST", "/api/v1/cloudaccount/list_objects", map[string]any{"cloudAccountId": alice}, 499, "DEFAULT"},
		{"hosted buckets id", "POST", "/api/v1/cloudaccount/list_buckets", map[string]any{}, 499, "DEFAULT"},
		{"url key", "POST", "/cloud/generate_download_url", map[string]any{"cloudAccountId": alice, "storageName": "ab"}, 499, "DEFAULT"},
		{"url storageName", "POST", "/cloud/generate_upload_url", map[string]any{"cloudAccountId": alice, "key": "k"}, 499, "DEFAULT"},
		{"url expiry", "POST", "/cloud/generate_download_url", map[string]any{"cloudAccountId": alice, "storageName": "ab", "key": "k", "expireHours": 0}, 499, "DEFAULT"},
		{"url expiry long", "POST", "/cloud/generate_upload_url", map[string]any{"cloudAccountId": alice, "storageName": "ab", "key": "k", "expireHours": 169}, 499, "DEFAULT"},
		{"mail address", "POST", "/cloud/send_download_url", map[string]any{"cloudAccountId": alice, "storageName": "ab", "key": "k", "email": "not an address"}, 499, "DEFAULT"},
		{"mail header injection", "POST", "/cloud/send_download_url", map[string]any{"cloudAccountId": alice, "storageName": "ab", "key": "k", "email": "a@example.com\r\nBcc: b@example.com"}, 499, "DEFAULT"},
		{"mail display name", "POST", "/cloud/send_download_url", map[string]any{"cloudAccountId": alice, "storageName": "ab", "key": "k", "email": "Eve <eve@example.com>"}, 499, "DEFAULT"},
		{"delete key", "POST", "/cloud/delete_object", map[string]any{"cloudAccountId": alice, "storageName": "ab"}, 499, "DEFAULT"},
		{"folder storageName", "POST", "/cloud/create_folder", map[string]any{"cloudAccount": acctRef(alice), "folderName": "f"}, 499, "DEFAULT"},
		{"folder name", "POST", "/cloud/create_folder", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab"}, 499, "DEFAULT"},
		{"upload storageName", "POST", "/cloud/upload_object", map[string]any{"cloudAccount": acctRef(alice), "localFilePath": file}, 499, "DEFAULT"},
		{"upload localFilePath", "POST", "/cloud/upload_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab"}, 499, "DEFAULT"},
		{"upload missing file", "POST", "/cloud/upload_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "localFilePath": filepath.Join(e.root, "nope")}, 499, "DEFAULT"},
		{"download objectKey", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": e.root}, 499, "DEFAULT"},
		{"download downloadPath", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "objectKey": "k"}, 499, "DEFAULT"},
		{"account id not a uuid", "POST", "/cloud/list_objects", map[string]any{"account": acctRef("x"), "request": map[string]any{"bucketName": "ab"}}, 499, "DEFAULT"},
		// Traversal.
		{"folder dotdot", "POST", "/cloud/create_folder", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "folderName": ".."}, 499, "DEFAULT"},
		{"folder nested", "POST", "/cloud/create_folder", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "folderName": "../x"}, 499, "DEFAULT"},
		{"upload relative", "POST", "/cloud/upload_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "localFilePath": "f.bin"}, 499, "DEFAULT"},
		{"upload dotdot", "POST", "/cloud/upload_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "localFilePath": e.root + "/../../../etc/passwd"}, 499, "FILESYSTEM_ACCESS"},
		{"upload name", "POST", "/cloud/upload_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "localFilePath": file, "name": "a/b"}, 499, "DEFAULT"},
		{"download dotdot", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": e.root + "/..", "objectKey": "k"}, 499, "FILESYSTEM_ACCESS"},
		{"download outside", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": outside, "objectKey": "k"}, 499, "FILESYSTEM_ACCESS"},
		{"download name", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": e.root, "objectKey": "k", "name": "../k"}, 499, "DEFAULT"},
		{"download key dotdot", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": e.root, "objectKey": "../../x/.."}, 499, "DEFAULT"},
		{"download dir dotdot", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": e.root, "objectKey": "..", "objectType": 2}, 499, "DEFAULT"},
		{"download dir nested dotdot", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(alice), "storageName": "ab", "downloadPath": e.root, "objectKey": "a/../", "objectType": 2}, 499, "DEFAULT"},
		// Another user's account: not found, so its existence is not revealed.
		{"bob share", "PUT", "/cloud/manage_share", map[string]any{"id": bob, "shared": true}, 499, "NOT_FOUND"},
		{"bob hosted share", "PUT", "/api/v1/cloudaccount/manage_share", map[string]any{"id": bob, "shared": true}, 499, "NOT_FOUND"},
		{"bob buckets", "POST", "/cloud/list_buckets", acctRef(bob), 499, "NOT_FOUND"},
		{"bob hosted buckets", "POST", "/api/v1/cloudaccount/list_buckets", map[string]any{"cloudAccountId": bob}, 499, "NOT_FOUND"},
		{"bob objects", "POST", "/cloud/list_objects", map[string]any{"account": acctRef(bob), "request": map[string]any{"bucketName": "bb"}}, 499, "NOT_FOUND"},
		{"bob hosted objects", "POST", "/api/v1/cloudaccount/list_objects", map[string]any{"cloudAccountId": bob, "bucketName": "bb"}, 499, "NOT_FOUND"},
		{"bob download url", "POST", "/cloud/generate_download_url", map[string]any{"cloudAccountId": bob, "storageName": "bb", "key": "x"}, 499, "NOT_FOUND"},
		{"bob upload url", "POST", "/cloud/generate_upload_url", map[string]any{"cloudAccount": acctRef(bob), "storageName": "bb", "key": "y"}, 499, "NOT_FOUND"},
		{"bob delete object", "POST", "/cloud/delete_object", map[string]any{"cloudAccountId": bob, "storageName": "bb", "key": "x"}, 499, "NOT_FOUND"},
		{"bob folder", "POST", "/cloud/create_folder", map[string]any{"cloudAccount": acctRef(bob), "storageName": "bb", "folderName": "f"}, 499, "NOT_FOUND"},
		{"bob upload", "POST", "/cloud/upload_object", map[string]any{"cloudAccount": acctRef(bob), "storageName": "bb", "localFilePath": file}, 499, "NOT_FOUND"},
		{"bob download", "POST", "/cloud/download_object", map[string]any{"cloudAccount": acctRef(bob), "storageName": "bb", "downloadPath": e.root, "objectKey": "x"}, 499, "NOT_FOUND"},
		{"bob get", "GET", "/cloud/account?id=" + bob, nil, 499, "NOT_FOUND"},
		{"bob delete", "DELETE", "/cloud/delete?id=" + bob, nil, 499, "NOT_FOUND"},
		{"bob hosted delete", "DELETE", "/api/v1/cloudaccount/delete?id=" + bob, nil, 499, "Global"},
		// Authentication.
		{"login wrong password", "POST", "/authentication/login", map[string]any{"username": "alice", "password": "nope-nope"}, 401, "AUTH"},
		{"login unknown user", "POST", "/authentication/login", map[string]any{"username": "mallory", "password": "nope-nope"}, 401, "AUTH"},
		{"login wrong type", "POST", "/authentication/login", map[string]any{"username": "alice", "password": alicePassword, "type": 16}, 401, "AUTH"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r reply
			if strings.HasPrefix(tc.path, "/api/v1/") {
				r = e.hosted(t, tc.method, tc.path, e.aliceTok, tc.body)
			} else {
				r = e.cloud(t, tc.method, tc.path, e.aliceTok, tc.body)
			}
			wantError(t, r, tc.status, tc.code)
		})
	}

	// Tokens: missing, garbage, and ?token= on the hosted family.
	wantError(t, e.cloud(t, "POST", "/cloud/list_objects", "", map[string]any{}), 401, "AUTH")
	wantError(t, e.cloud(t, "POST", "/cloud/list_objects", "garbage", map[string]any{}), 401, "")
	wantError(t, e.hosted(t, "POST", "/api/v1/cloudaccount/list_objects", "garbage", map[string]any{}), 401, "")
	wantError(t, e.cloud(t, "GET", "/api/v1/cloudaccount/get_all", e.aliceTok, nil), 401, "AUTH")
	// The agent's routes also take the token as Authorization: Bearer, so it
	// need not sit in URLs (and logs).
	must(t, e.hosted(t, "GET", "/cloud/accounts", e.aliceTok, nil), 200, nil)

	if after := e.snapshot(t); after != before {
		t.Errorf("bad input changed the state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// The fuzz targets feed the request decoders arbitrary bodies: they must
// never panic, and what they accept must pass through the field rules
// without panicking either. Their seeds run as unit tests.

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"cloudType":8,"name":"n","endpoint":"http://e","accessKey":"a","secretKey":"s"}`,
		`{"account":{"id":"x"},"request":{"bucketName":"b","count":-1}}`,
		`{"cloudAccountId":"x","storageName":"b","key":"k","expireHours":2147483647}`,
		`{"serviceUrl":null}`, `{"cloudType":1e400}`, `{"a":` + strings.Repeat("[", 10000), `"\ud800"`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var a cloudAccount
		if decodeJSON(body, &a) == nil {
			_, _ = a.newAccount()
		}
		var o objectRequest
		if decodeJSON(body, &o) == nil {
			_ = o.check()
			_, _ = o.expiry()
			_ = o.accountID()
		}
		var l struct {
			Account cloudAccount `json:"account"`
			Request listRequest  `json:"request"`
		}
		_ = decodeJSON(body, &l)
		var share struct {
			ID     string `json:"id"`
			Shared *bool  `json:"shared"`
		}
		_ = decodeJSON(body, &share)
	})
}

// FuzzDecode goes through the HTTP decoder: Content-Type and size rules.
func FuzzDecode(f *testing.F) {
	f.Add("application/json", []byte(`{"id":"x"}`))
	f.Add("application/json; charset=utf-8", []byte(`{"id":"x"}`))
	f.Add("Application/JSON", []byte(`{}`))
	f.Add("text/plain", []byte(`{}`))
	f.Add(`application/json; x="`, []byte(`{}`))
	f.Add("", []byte(nil))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		r := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", ctype)
		var v map[string]any
		err := decode(r, &v)
		if err == nil && len(body) > maxJSONBody {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
	})
}

// FuzzLocalPath checks the roots rule: an accepted path is always inside a
// root.
func FuzzLocalPath(f *testing.F) {
	root := f.TempDir()
	for _, s := range []string{root, root + "/a", root + "/../x", root + "/a/../../x", "/", "", "rel", root + "\x00", root + "//a/./b", root + "/.."} {
		f.Add(s)
	}
	s := &Server{roots: []string{root}}
	resolvedRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := s.localPath(p, len(p)%2 == 0)
		if err != nil {
			return
		}
		if got != resolvedRoot && !strings.HasPrefix(got, resolvedRoot+string(filepath.Separator)) {
			t.Fatalf("localPath(%q) = %q, outside %q", p, got, resolvedRoot)
		}
		if !reflect.DeepEqual(filepath.Clean(got), got) {
			t.Fatalf("localPath(%q) = %q, not clean", p, got)
		}
	})
}
