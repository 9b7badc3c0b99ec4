package dropbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// client speaks to the fake as Dropbox's HTTP API is described: RPC
// routes take JSON bodies, content routes the Dropbox-API-Arg header.
type client struct {
	t   *testing.T
	srv *Server
	tok string
}

func newClient(t *testing.T, opts Options) *client {
	srv := New(opts)
	t.Cleanup(srv.Close)
	tok, _, _ := srv.IssueToken()
	return &client{t: t, srv: srv, tok: tok}
}

// answer is a response: status, the decoded JSON body (result or error
// envelope) and the raw body.
type answer struct {
	status int
	json   map[string]any
	raw    string
}

func (c *client) do(route string, arg any, body []byte, content bool) answer {
	c.t.Helper()
	a, _ := json.Marshal(arg)
	var req *http.Request
	if content {
		req, _ = http.NewRequest(http.MethodPost, c.srv.URL+"/2/"+route, bytes.NewReader(body))
		req.Header.Set("Dropbox-API-Arg", string(a))
		req.Header.Set("Content-Type", "application/octet-stream")
	} else {
		req, _ = http.NewRequest(http.MethodPost, c.srv.URL+"/2/"+route, bytes.NewReader(a))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	ans := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &ans.json)
	return ans
}

func (c *client) rpc(route string, arg any) answer { return c.do(route, arg, nil, false) }

func (c *client) up(route string, arg any, body []byte) answer { return c.do(route, arg, body, true) }

// wantErr checks a route error: 409, the error_summary's tags and, unless
// union is empty, the error union value, compared as JSON.
func (c *client) wantErr(what string, a answer, summary, union string) {
	c.t.Helper()
	if a.status != http.StatusConflict {
		c.t.Errorf("%s: status %d (%s), want 409", what, a.status, a.raw)
		return
	}
	if got, _ := a.json["error_summary"].(string); !strings.HasPrefix(got, summary+"/") {
		c.t.Errorf("%s: error_summary %q, want %s/...", what, got, summary)
	}
	if union == "" {
		return
	}
	var want any
	if err := json.Unmarshal([]byte(union), &want); err != nil {
		c.t.Fatal(err)
	}
	got, _ := json.Marshal(a.json["error"])
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		c.t.Errorf("%s: error %s, want %s", what, got, exp)
	}
}

func (c *client) wantOK(what string, a answer) map[string]any {
	c.t.Helper()
	if a.status != http.StatusOK {
		c.t.Fatalf("%s: status %d: %s", what, a.status, a.raw)
	}
	return a.json
}

func TestContentHash(t *testing.T) {
	c := newClient(t, Options{})
	data := []byte("hello, content hash")
	bad := strings.Repeat("0", 64)

	// files/upload (UploadError.content_hash_mismatch): nothing is stored.
	c.wantErr("upload", c.up("files/upload", map[string]any{"path": "/a.txt", "content_hash": bad}, data),
		"content_hash_mismatch", `{".tag":"content_hash_mismatch"}`)
	c.wantErr("get_metadata after refused upload", c.rpc("files/get_metadata", map[string]any{"path": "/a.txt"}),
		"path/not_found", `{".tag":"path","path":{".tag":"not_found"}}`)
	m := c.wantOK("upload", c.up("files/upload", map[string]any{"path": "/a.txt", "content_hash": ContentHash(data)}, data))
	if m["content_hash"] != ContentHash(data) || m[".tag"] != "file" {
		t.Errorf("upload answered %v", m)
	}
	// A value that is no Sha256HexHash breaks the argument's type: 400.
	if a := c.up("files/upload", map[string]any{"path": "/b.txt", "content_hash": "abc"}, data); a.status != http.StatusBadRequest {
		t.Errorf("short content_hash: status %d", a.status)
	}

	// upload_session/start, append_v2, finish.
	c.wantErr("start", c.up("files/upload_session/start", map[string]any{"content_hash": bad}, data),
		"content_hash_mismatch", `{".tag":"content_hash_mismatch"}`)
	id := c.wantOK("start", c.up("files/upload_session/start", map[string]any{"content_hash": ContentHash(data)}, data))["session_id"].(string)
	cur := map[string]any{"session_id": id, "offset": len(data)}
	c.wantErr("append_v2", c.up("files/upload_session/append_v2", map[string]any{"cursor": cur, "content_hash": bad}, data),
		"content_hash_mismatch", `{".tag":"content_hash_mismatch"}`)
	// The refused chunk was not appended: the offset still stands.
	c.wantOK("append_v2", c.up("files/upload_session/append_v2", map[string]any{"cursor": cur, "content_hash": ContentHash(data)}, data))
	cur["offset"] = 2 * len(data)
	commit := map[string]any{"path": "/s.txt"}
	c.wantErr("finish", c.up("files/upload_session/finish", map[string]any{"cursor": cur, "commit": commit, "content_hash": bad}, data),
		"content_hash_mismatch", `{".tag":"content_hash_mismatch"}`)
	m = c.wantOK("finish", c.up("files/upload_session/finish", map[string]any{"cursor": cur, "commit": commit, "content_hash": ContentHash(data)}, data))
	all := bytes.Repeat(data, 3)
	if m["content_hash"] != ContentHash(all) || m["size"] != float64(len(all)) {
		t.Errorf("finish answered %v", m)
	}

	// Damage in transit is caught by the hash; without one it is stored.
	c.srv.CorruptUploads(1)
	c.wantErr("damaged upload", c.up("files/upload", map[string]any{"path": "/c.txt", "content_hash": ContentHash(data)}, data),
		"content_hash_mismatch", `{".tag":"content_hash_mismatch"}`)
}

func TestSessionErrors(t *testing.T) {
	c := newClient(t, Options{})
	id := c.wantOK("start", c.up("files/upload_session/start", map[string]any{}, []byte("abc")))["session_id"].(string)
	// append_v2's UploadSessionAppendError has the lookup members at the
	// top; finish's UploadSessionFinishError nests them in lookup_failed.
	c.wantErr("append at a wrong offset", c.up("files/upload_session/append_v2",
		map[string]any{"cursor": map[string]any{"session_id": id, "offset": 1}}, []byte("x")),
		"incorrect_offset", `{".tag":"incorrect_offset","correct_offset":3}`)
	c.wantErr("finish at a wrong offset", c.up("files/upload_session/finish",
		map[string]any{"cursor": map[string]any{"session_id": id, "offset": 7}, "commit": map[string]any{"path": "/f"}}, nil),
		"lookup_failed/incorrect_offset", `{".tag":"lookup_failed","lookup_failed":{".tag":"incorrect_offset","correct_offset":3}}`)
	c.wantErr("append to no session", c.up("files/upload_session/append_v2",
		map[string]any{"cursor": map[string]any{"session_id": "nope", "offset": 0}}, []byte("x")),
		"not_found", `{".tag":"not_found"}`)
	c.wantErr("finish no session", c.up("files/upload_session/finish",
		map[string]any{"cursor": map[string]any{"session_id": "nope", "offset": 0}, "commit": map[string]any{"path": "/f"}}, nil),
		"lookup_failed/not_found", `{".tag":"lookup_failed","lookup_failed":{".tag":"not_found"}}`)
	// close, then append: closed.
	c.wantOK("closing append", c.up("files/upload_session/append_v2",
		map[string]any{"cursor": map[string]any{"session_id": id, "offset": 3}, "close": true}, []byte("de")))
	c.wantErr("append after close", c.up("files/upload_session/append_v2",
		map[string]any{"cursor": map[string]any{"session_id": id, "offset": 5}}, []byte("x")),
		"closed", `{".tag":"closed"}`)
	// A commit onto a folder fails with the WriteError under path; the
	// data stays in the session and a retry elsewhere succeeds.
	c.wantOK("create folder", c.rpc("files/create_folder_v2", map[string]any{"path": "/dir"}))
	c.wantErr("finish onto a folder", c.up("files/upload_session/finish",
		map[string]any{"cursor": map[string]any{"session_id": id, "offset": 5}, "commit": map[string]any{"path": "/dir", "mode": "overwrite"}}, nil),
		"path/conflict/folder", `{".tag":"path","path":{".tag":"conflict","conflict":{".tag":"folder"}}}`)
	m := c.wantOK("finish elsewhere", c.up("files/upload_session/finish",
		map[string]any{"cursor": map[string]any{"session_id": id, "offset": 5}, "commit": map[string]any{"path": "/dir2/f", "mode": map[string]any{".tag": "add"}}}, nil))
	if m["content_hash"] != ContentHash([]byte("abcde")) {
		t.Errorf("finish answered %v", m)
	}
	// files/upload's UploadWriteFailed is a struct: its fields sit beside
	// .tag, and its session holds the data for a later finish.
	a := c.up("files/upload", map[string]any{"path": "/dir", "mode": "overwrite"}, []byte("zz"))
	if a.status != http.StatusConflict || !strings.HasPrefix(a.json["error_summary"].(string), "path/conflict/folder/") {
		t.Fatalf("upload onto a folder: %d %s", a.status, a.raw)
	}
	e := a.json["error"].(map[string]any)
	reason, _ := json.Marshal(e["reason"])
	sid, _ := e["upload_session_id"].(string)
	if e[".tag"] != "path" || string(reason) != `{".tag":"conflict","conflict":{".tag":"folder"}}` || sid == "" {
		t.Errorf("UploadWriteFailed = %s", a.raw)
	}
	c.wantOK("finish the failed upload", c.up("files/upload_session/finish",
		map[string]any{"cursor": map[string]any{"session_id": sid, "offset": 2}, "commit": map[string]any{"path": "/z"}}, nil))
	// payload_too_large is a route error of every upload route.
	small := newClient(t, Options{MaxRequest: 10})
	small.wantErr("too large", small.up("files/upload", map[string]any{"path": "/big"}, make([]byte, 11)),
		"payload_too_large", `{".tag":"payload_too_large"}`)
}

func TestConcurrentSession(t *testing.T) {
	c := newClient(t, Options{ChunkMultiple: 4})
	c.wantErr("data in a concurrent start", c.up("files/upload_session/start", map[string]any{"session_type": "concurrent"}, []byte("abcd")),
		"concurrent_session_data_not_allowed", `{".tag":"concurrent_session_data_not_allowed"}`)
	c.wantErr("closed concurrent start", c.up("files/upload_session/start", map[string]any{"session_type": map[string]any{".tag": "concurrent"}, "close": true}, nil),
		"concurrent_session_close_not_allowed", `{".tag":"concurrent_session_close_not_allowed"}`)
	id := c.wantOK("start", c.up("files/upload_session/start", map[string]any{"session_type": "concurrent"}, nil))["session_id"].(string)
	app := func(off int, data string, close bool) answer {
		return c.up("files/upload_session/append_v2", map[string]any{"cursor": map[string]any{"session_id": id, "offset": off}, "close": close}, []byte(data))
	}
	c.wantErr("odd offset", app(2, "abcd", false), "concurrent_session_invalid_offset", `{".tag":"concurrent_session_invalid_offset"}`)
	c.wantErr("odd size", app(4, "abc", false), "concurrent_session_invalid_data_size", `{".tag":"concurrent_session_invalid_data_size"}`)
	fin := func(off int, body string) answer {
		return c.up("files/upload_session/finish", map[string]any{"cursor": map[string]any{"session_id": id, "offset": off},
			"commit": map[string]any{"path": "/cc"}}, []byte(body))
	}
	c.wantOK("last chunk first", app(8, "ij", true))
	c.wantErr("finish with data", fin(10, "x"), "concurrent_session_data_not_allowed", `{".tag":"concurrent_session_data_not_allowed"}`)
	c.wantErr("finish with a gap", fin(10, ""), "concurrent_session_missing_data", `{".tag":"concurrent_session_missing_data"}`)
	c.wantOK("second", app(4, "efgh", false))
	c.wantOK("first", app(0, "abcd", false))
	m := c.wantOK("finish", fin(10, ""))
	if m["content_hash"] != ContentHash([]byte("abcdefghij")) {
		t.Errorf("finish answered %v", m)
	}
	id = c.wantOK("start", c.up("files/upload_session/start", map[string]any{"session_type": "concurrent"}, nil))["session_id"].(string)
	c.wantOK("chunk", app(0, "abcd", false))
	c.wantErr("finish before close", fin(4, ""), "concurrent_session_not_closed", `{".tag":"concurrent_session_not_closed"}`)
}

func TestRouteErrors(t *testing.T) {
	c := newClient(t, Options{})
	c.wantOK("upload", c.up("files/upload", map[string]any{"path": "/d/f.txt"}, []byte("1")))
	c.wantErr("upload add onto a different file", c.up("files/upload", map[string]any{"path": "/d/f.txt"}, []byte("2")),
		"path/conflict/file", "")
	c.wantOK("upload add of identical content", c.up("files/upload", map[string]any{"path": "/d/f.txt"}, []byte("1")))
	c.wantErr("file as a parent", c.up("files/upload", map[string]any{"path": "/d/f.txt/g"}, []byte("1")),
		"path/conflict/file_ancestor", "")
	// get_metadata: the root has no metadata ("" breaks ReadPath's pattern).
	if a := c.rpc("files/get_metadata", map[string]any{"path": ""}); a.status != http.StatusBadRequest {
		t.Errorf("get_metadata of the root: %d %s", a.status, a.raw)
	}
	c.wantErr("malformed path", c.rpc("files/get_metadata", map[string]any{"path": "/d/"}),
		"path/malformed_path", `{".tag":"path","path":{".tag":"malformed_path"}}`)
	c.wantErr("list a file", c.rpc("files/list_folder", map[string]any{"path": "/d/f.txt"}),
		"path/not_folder", `{".tag":"path","path":{".tag":"not_folder"}}`)
	if a := c.rpc("files/list_folder", map[string]any{"path": "", "limit": 5000}); a.status != http.StatusBadRequest {
		t.Errorf("list_folder limit 5000: %d", a.status)
	}
	c.wantErr("continue a bad cursor", c.rpc("files/list_folder/continue", map[string]any{"cursor": "nope"}),
		"reset", `{".tag":"reset"}`)
	c.wantErr("folder onto a file", c.rpc("files/create_folder_v2", map[string]any{"path": "/d/f.txt"}),
		"path/conflict/file", `{".tag":"path","path":{".tag":"conflict","conflict":{".tag":"file"}}}`)
	c.wantErr("delete missing", c.rpc("files/delete_v2", map[string]any{"path": "/nope"}),
		"path_lookup/not_found", `{".tag":"path_lookup","path_lookup":{".tag":"not_found"}}`)
	c.wantErr("temporary link to a folder", c.rpc("files/get_temporary_link", map[string]any{"path": "/d"}),
		"path/not_file", `{".tag":"path","path":{".tag":"not_file"}}`)
	c.wantErr("download a folder", c.up("files/download", map[string]any{"path": "/d"}, nil),
		"path/not_file", `{".tag":"path","path":{".tag":"not_file"}}`)
	// copy_v2 (RelocationArg, RelocationResult, RelocationError).
	m := c.wantOK("copy", c.rpc("files/copy_v2", map[string]any{"from_path": "/d", "to_path": "/e/d2"}))
	if md, _ := m["metadata"].(map[string]any); md == nil || md[".tag"] != "folder" || md["path_display"] != "/e/d2" {
		t.Errorf("copy answered %v", m)
	}
	c.wantOK("copied file", c.rpc("files/get_metadata", map[string]any{"path": "/e/d2/f.txt"}))
	c.wantErr("copy onto a file", c.rpc("files/copy_v2", map[string]any{"from_path": "/d/f.txt", "to_path": "/e/d2/f.txt"}),
		"to/conflict/file", `{".tag":"to","to":{".tag":"conflict","conflict":{".tag":"file"}}}`)
	c.wantErr("copy missing", c.rpc("files/copy_v2", map[string]any{"from_path": "/nope", "to_path": "/x"}),
		"from_lookup/not_found", `{".tag":"from_lookup","from_lookup":{".tag":"not_found"}}`)
	c.wantErr("copy into itself", c.rpc("files/copy_v2", map[string]any{"from_path": "/d", "to_path": "/d/sub"}),
		"duplicated_or_nested_paths", `{".tag":"duplicated_or_nested_paths"}`)
	// Auth: 401 with the AuthError union.
	c.srv.ExpireTokens()
	a := c.rpc("files/get_metadata", map[string]any{"path": "/d"})
	if a.status != http.StatusUnauthorized || a.json["error_summary"] != "expired_access_token/.." {
		t.Errorf("expired token: %d %s", a.status, a.raw)
	}
}
