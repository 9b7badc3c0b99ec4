package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/amove/amove-go/provider"
)

// TestNotificationSocket covers /notification: token required, foreign
// Origin refused, 400 without an upgrade, and the progress envelope
// {"Type":1,"Data":{...}} with camelCase Data.
func TestNotificationSocket(t *testing.T) {
	e := newMemoryEnv(t)
	wsURL := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/notification"
	ctx := context.Background()

	refused := []struct {
		name   string
		url    string
		header http.Header
		status int
	}{
		{"no token", wsURL, nil, 401},
		{"bad token", wsURL + "?token=not-a-token", nil, 401},
		{"foreign origin", wsURL + "?token=" + e.aliceTok, http.Header{"Origin": {"https://evil.example"}}, 403},
		{"foreign host", wsURL + "?token=" + e.aliceTok, http.Header{"Host": {"rebind.evil.example"}}, 403},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			opts := &websocket.DialOptions{HTTPHeader: tc.header}
			if h := tc.header.Get("Host"); h != "" {
				opts.Host = h
			}
			conn, res, err := websocket.Dial(ctx, tc.url, opts)
			if err == nil {
				conn.CloseNow()
				t.Fatal("the upgrade succeeded")
			}
			if res == nil || res.StatusCode != tc.status {
				t.Fatalf("got %v, want %d", res, tc.status)
			}
		})
	}
	// A plain GET, even with a token, is a 400.
	wantError(t, e.cloud(t, "GET", "/notification", e.aliceTok, nil), 400, "DEFAULT")

	// The agent's own origin is fine.
	conn, _, err := websocket.Dial(ctx, wsURL+"?token="+e.aliceTok, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {e.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	conn.CloseNow()

	sock := dialNotifications(t, e, e.aliceTok)
	bobSock := dialNotifications(t, e, e.bobTok)
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	file := writeRandom(t, e.root, "f.bin", 3<<20)
	var id transferID
	must(t, e.cloud(t, "POST", "/cloud/upload_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": file,
	}), 200, &id)
	e.waitTransfer(t, e.aliceTok, id.TransferID)
	sock.waitFor(t, "completed event", func() bool {
		for _, d := range sock.envelopes(t, notifyProgress) {
			if d["status"] == "completed" {
				return true
			}
		}
		return false
	})

	// The raw envelope: PascalCase envelope keys, camelCase Data keys.
	sock.mu.Lock()
	var raw map[string]json.RawMessage
	for _, m := range sock.msgs {
		var probe struct{ Type int }
		if json.Unmarshal(m, &probe) == nil && probe.Type == notifyProgress {
			if err := json.Unmarshal(m, &raw); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	sock.mu.Unlock()
	if len(raw) != 2 || raw["Type"] == nil || raw["Data"] == nil {
		t.Fatalf("envelope keys: %v", raw)
	}
	var data map[string]any
	if err := json.Unmarshal(raw["Data"], &data); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"event", "transferId", "status", "transferredBytes", "totalBytes", "progress", "startTime"} {
		if _, ok := data[k]; !ok {
			t.Errorf("progress Data has no %q: %v", k, data)
		}
	}
	if data["transferId"] != id.TransferID {
		t.Errorf("progress Data is for %v, want %s", data["transferId"], id.TransferID)
	}
	// Bob sees neither alice's progress nor her AppNotifications.
	if n := len(bobSock.envelopes(t, notifyProgress)) + len(bobSock.envelopes(t, notifyApp)); n != 0 {
		t.Errorf("bob's socket got %d of alice's messages", n)
	}
	app := sock.envelopes(t, notifyApp)
	if len(app) == 0 || app[0]["endpoint"] != "/cloud/insert_account" || app[0]["method"] != "POST" {
		t.Errorf("AppNotifications: %v", app)
	}
}

// TestSecurity covers the agent's defences: loopback Host only, 1 MiB JSON
// bodies, local paths inside the roots (symlinks resolved) and no
// cross-site writes.
func TestSecurity(t *testing.T) {
	e := newMemoryEnv(t, Options{AllowedOrigins: []string{"https://app.example"}})
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}

	t.Run("host", func(t *testing.T) {
		accounts := withToken("/cloud/accounts", e.aliceTok)
		for _, host := range []string{"rebind.evil.example", "evil.example:29123", "127.0.0.1.evil.example", "10.0.0.1"} {
			wantError(t, e.request(t, "GET", accounts, hdr("Host", host), nil), 403, "SECURITY")
		}
		for _, host := range []string{"localhost:29123", "127.0.0.1", "[::1]:29123", "LOCALHOST"} {
			must(t, e.request(t, "GET", accounts, hdr("Host", host), nil), 200, nil)
		}
	})

	t.Run("origin", func(t *testing.T) {
		body := map[string]any{"id": acct, "shared": true}
		for _, o := range []string{"https://evil.example", "null", "http://127.0.0.1.evil.example"} {
			wantError(t, e.request(t, "PUT", withToken("/cloud/manage_share", e.aliceTok), hdr("Origin", o), body), 403, "SECURITY")
			wantError(t, e.request(t, "DELETE", withToken("/cloud/delete?id="+acct, e.aliceTok), hdr("Origin", o), nil), 403, "SECURITY")
		}
		// Reads carry no risk; local and configured origins may write.
		must(t, e.request(t, "GET", withToken("/cloud/accounts", e.aliceTok), hdr("Origin", "https://evil.example"), nil), 200, nil)
		for _, o := range []string{"https://app.example", "http://localhost:3000", e.srv.URL} {
			must(t, e.request(t, "PUT", withToken("/cloud/manage_share", e.aliceTok), hdr("Origin", o), body), 200, nil)
		}
		// A form post (what a cross-site page can send without a
		// preflight) is refused by the Content-Type rule too.
		wantError(t, e.request(t, "PUT", withToken("/cloud/manage_share", e.aliceTok), hdr("Content-Type", "text/plain"), `{"id":"`+acct+`","shared":true}`), 499, "DEFAULT")
	})

	t.Run("body size", func(t *testing.T) {
		big := `{"id":"` + acct + `","shared":true,"pad":"` + strings.Repeat("x", maxJSONBody) + `"}`
		wantError(t, e.cloud(t, "PUT", "/cloud/manage_share", e.aliceTok, big), 499, "DEFAULT")
		// Without a Content-Length (chunked) the cap still holds.
		req, _ := http.NewRequest("PUT", e.srv.URL+withToken("/cloud/manage_share", e.aliceTok), struct{ *strings.Reader }{strings.NewReader(big)})
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = -1 // unknown: sent chunked
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 499 {
			t.Fatalf("chunked 1 MiB body: status %d", res.StatusCode)
		}
		// Just under the cap is fine.
		ok := `{"id":"` + acct + `","shared":true,"pad":"` + strings.Repeat("x", maxJSONBody-200) + `"}`
		must(t, e.cloud(t, "PUT", "/cloud/manage_share", e.aliceTok, ok), 200, nil)
	})

	t.Run("local paths", func(t *testing.T) {
		outside := t.TempDir()
		secret := writeRandom(t, outside, "secret.bin", 10)
		if err := os.Symlink(outside, filepath.Join(e.root, "link")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, filepath.Join(e.root, "file-link")); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{
			secret,
			filepath.Join(e.root, "..", filepath.Base(outside), "secret.bin"),
			filepath.Join(e.root, "link", "secret.bin"),
			filepath.Join(e.root, "file-link"),
			"/etc/passwd",
		} {
			wantError(t, e.cloud(t, "POST", "/cloud/upload_object", e.aliceTok, map[string]any{
				"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": p,
			}), 499, "FILESYSTEM_ACCESS")
		}
		for _, p := range []string{outside, filepath.Join(e.root, "link"), filepath.Join(e.root, "link", "new-dir"), "/tmp"} {
			wantError(t, e.cloud(t, "POST", "/cloud/download_object", e.aliceTok, map[string]any{
				"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "downloadPath": p, "objectKey": "k",
			}), 499, "FILESYSTEM_ACCESS")
		}
		var all []transferStatus
		must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", e.aliceTok, nil), 200, &all)
		if len(all) != 0 {
			t.Fatalf("refused paths started %d transfers", len(all))
		}
	})
}

// TestTokenlessLocalRoutes: the four routes the spec marks tokenless need a
// token by default, so the attack of issue 13 (upload_object of the
// agent's key file with no token at all, while a user is signed in) is a
// 401 that starts nothing. Options.TokenlessLocalRoutes turns the spec's
// behaviour on, and then the request acts for the signed-in user only.
func TestTokenlessLocalRoutes(t *testing.T) {
	for _, tokenless := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "tokenless"}[tokenless], func(t *testing.T) {
			e := newMemoryEnv(t, Options{TokenlessLocalRoutes: tokenless})
			acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
			key := filepath.Join(e.root, "secret.key")
			if err := os.WriteFile(key, []byte("the master key"), 0o600); err != nil {
				t.Fatal(err)
			}
			must(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{"username": "alice", "password": alicePassword}), 200, nil)
			ref := map[string]any{"id": acct}
			upload := e.request(t, "POST", "/cloud/upload_object", nil, map[string]any{"cloudAccount": ref, "storageName": "b", "localFilePath": key})
			list := e.request(t, "POST", "/cloud/list_buckets", nil, ref)
			download := e.request(t, "POST", "/cloud/download_object", nil, map[string]any{"cloudAccount": ref, "storageName": "b",
				"downloadPath": filepath.Join(e.root, "got"), "objectKey": "secret.key"})
			if !tokenless {
				for _, r := range []reply{upload, list, download} {
					wantError(t, r, 401, "AUTH")
				}
				var all []map[string]any
				must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", e.aliceTok, nil), 200, &all)
				if len(all) != 0 {
					t.Errorf("refused requests started transfers: %v", all)
				}
				if _, err := e.mem.Stat(context.Background(), "b", "secret.key"); !errors.Is(err, provider.ErrNotFound) {
					t.Errorf("the key file reached the bucket: %v", err)
				}
				// The same requests with a token (header or query) work.
				must(t, e.hosted(t, "POST", "/cloud/list_buckets", e.aliceTok, ref), 200, nil)
				return
			}
			var up transferID
			must(t, upload, 200, &up)
			if st := e.waitTransfer(t, e.aliceTok, up.TransferID); st.Status != "completed" {
				t.Fatalf("tokenless upload for the signed-in user: %+v", st)
			}
			must(t, list, 200, nil)
			// Bob's token cannot see what the signed-in alice did.
			wantError(t, e.cloud(t, "GET", "/cloud/client_transfer/"+up.TransferID+"/status", e.bobTok, nil), 404, "")
		})
	}
}
