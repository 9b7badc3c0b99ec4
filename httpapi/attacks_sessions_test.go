package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// sessionAttacks: sessions and transfers outlive neither the token nor the
// access they were opened with (issue 13, item 8).
var sessionAttacks = []attack{
	{name: "notification sockets opened without bound", run: func(t *testing.T, e *env) {
		ctx := context.Background()
		url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/notification?token="
		for range maxSocketsPerUser {
			conn, _, err := websocket.Dial(ctx, url+e.aliceTok, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
		}
		conn, res, err := websocket.Dial(ctx, url+e.aliceTok, nil)
		if err == nil {
			conn.CloseNow()
			t.Fatal("a socket over the per-user bound was accepted")
		}
		if res == nil || res.StatusCode != http.StatusTooManyRequests || res.Header.Get("error-code") != "RATE_LIMIT" {
			t.Fatalf("over the bound: %v %v", res, err)
		}
		// Another user is not starved by alice's sockets.
		bob, _, err := websocket.Dial(ctx, url+e.bobTok, nil)
		if err != nil {
			t.Fatalf("bob's socket: %v", err)
		}
		bob.CloseNow()
	}},
	{
		name: "websocket kept open after its token expired",
		env:  shortTokenEnv,
		run: func(t *testing.T, e *env) {
			tok, err := e.c.IssueToken(context.Background(), e.alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			conn := dialRaw(t, e, tok.Token)
			closed := readUntilClosed(conn)
			// The failure deadline only: the close itself comes at the
			// token's expiry, a second or two from now.
			ce := waitClose(t, closed, time.Until(tok.Expires)+10*time.Second)
			if ce.Code != closeTokenExpired || ce.Reason != "token expired" {
				t.Fatalf("socket closed with %d %q, want %d \"token expired\"", ce.Code, ce.Reason, closeTokenExpired)
			}
			if time.Now().Before(tok.Expires) {
				t.Errorf("socket closed before the token expired (at %v)", tok.Expires)
			}
			// The same token opens nothing any more.
			wantError(t, e.cloud(t, "GET", "/cloud/accounts", tok.Token, nil), http.StatusUnauthorized, "TOKEN")
			wantDialRefused(t, e, tok.Token, "TOKEN")
		},
	},
	{
		name: "websocket of a deactivated user kept open",
		run: func(t *testing.T, e *env) {
			alice := dialRaw(t, e, e.aliceTok)
			aliceClosed := readUntilClosed(alice)
			bob := dialRaw(t, e, e.bobTok)
			bobMsgs := make(chan []byte, 16)
			go func() {
				for {
					_, m, err := bob.Read(context.Background())
					if err != nil {
						close(bobMsgs)
						return
					}
					bobMsgs <- m
				}
			}()
			if err := e.c.SetUserActive(context.Background(), e.admin.Principal(), e.alice.ID, false); err != nil {
				t.Fatal(err)
			}
			ce := waitClose(t, aliceClosed, 10*time.Second)
			if ce.Code != closeUserDeactivated || ce.Reason != "user deactivated" {
				t.Fatalf("socket closed with %d %q, want %d \"user deactivated\"", ce.Code, ce.Reason, closeUserDeactivated)
			}
			wantDialRefused(t, e, e.aliceTok, "INACTIVE_USER")
			// Bob's socket is untouched: his next call still reaches it.
			e.memoryAccount(t, e.bobTok, "bob's", "")
			select {
			case m, ok := <-bobMsgs:
				if !ok || !strings.Contains(string(m), "insert_account") {
					t.Fatalf("bob's socket: %q, open %v; want the app notification of his call", m, ok)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("bob's socket got nothing after alice was deactivated")
			}
		},
	},
	{
		name: "transfer on an account its owner unshared goes on and is resumed",
		env:  gatedEnv,
		run: func(t *testing.T, e *env) {
			// Bob shares an account; the admin (who sees shared accounts)
			// uploads to it, and so does bob.
			acct := e.memoryAccount(t, e.bobTok, "bob's", "b")
			must(t, e.cloud(t, "PUT", "/cloud/manage_share", e.bobTok, map[string]any{"id": acct, "shared": true}), 200, nil)
			theirs := startUpload(t, e, e.adminTok, acct, "b", "admin.bin")
			own := startUpload(t, e, e.bobTok, acct, "b", "bob.bin")
			e.waitState(t, e.adminTok, theirs, "running")
			e.waitState(t, e.bobTok, own, "running")

			must(t, e.cloud(t, "PUT", "/cloud/manage_share", e.bobTok, map[string]any{"id": acct, "shared": false}), 200, nil)
			wantState(t, e, e.adminTok, theirs, "paused") // at once: the unshare returned after the pause
			wantState(t, e, e.bobTok, own, "running")
			wantError(t, e.cloud(t, "POST", "/cloud/client_transfer/"+theirs+"/resume", e.adminTok, nil), http.StatusNotFound, "NOT_FOUND")
			// The owner keeps control of their own.
			must(t, e.cloud(t, "POST", "/cloud/client_transfer/"+own+"/pause", e.bobTok, nil), 200, nil)
			must(t, e.cloud(t, "POST", "/cloud/client_transfer/"+own+"/resume", e.bobTok, nil), 200, nil)

			e.gate.open()
			if st := e.waitTransfer(t, e.bobTok, own); st.Status != "completed" {
				t.Fatalf("bob's own upload: %+v", st)
			}
			wantState(t, e, e.adminTok, theirs, "paused")
			wantNoObject(t, e, "b", "admin.bin")
		},
	},
	{
		name: "transfer on a deleted account goes on and is resumed",
		env:  gatedEnv,
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "alice's", "b")
			id := startUpload(t, e, e.aliceTok, acct, "b", "f.bin")
			e.waitState(t, e.aliceTok, id, "running")
			must(t, e.cloud(t, "DELETE", "/cloud/delete?id="+acct, e.aliceTok, nil), 200, nil)
			wantState(t, e, e.aliceTok, id, "paused")
			wantError(t, e.cloud(t, "POST", "/cloud/client_transfer/"+id+"/resume", e.aliceTok, nil), http.StatusNotFound, "NOT_FOUND")
			wantError(t, e.cloud(t, "POST", "/cloud/client_transfer/"+id+"/resume", e.adminTok, nil), http.StatusNotFound, "NOT_FOUND")
			e.gate.open()
			wantState(t, e, e.aliceTok, id, "paused")
			wantNoObject(t, e, "b", "f.bin")
		},
	},
	{
		name: "deactivated user's token and transfers keep working",
		env:  gatedEnv,
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "alice's", "b")
			id := startUpload(t, e, e.aliceTok, acct, "b", "f.bin")
			e.waitState(t, e.aliceTok, id, "running")
			if err := e.c.SetUserActive(context.Background(), e.admin.Principal(), e.alice.ID, false); err != nil {
				t.Fatal(err)
			}
			wantState(t, e, e.adminTok, id, "paused")
			// Every route that takes a token refuses hers, before doing
			// anything.
			for _, rt := range e.api.routes {
				if rt.auth == authPublic {
					continue
				}
				path := strings.ReplaceAll(rt.path, "{transferId}", id)
				var body any
				if rt.method != http.MethodGet && rt.method != http.MethodDelete {
					body = "{}"
				}
				var r reply
				if rt.auth == authBearer {
					r = e.hosted(t, rt.method, path, e.aliceTok, body)
				} else {
					r = e.cloud(t, rt.method, path, e.aliceTok, body)
				}
				wantError(t, r, http.StatusUnauthorized, "INACTIVE_USER")
			}
			wantDialRefused(t, e, e.aliceTok, "INACTIVE_USER")
			// Nobody resumes it for her while she is inactive.
			wantError(t, e.cloud(t, "POST", "/cloud/client_transfer/"+id+"/resume", e.adminTok, nil), StatusValidation, "ACCESS")
			e.gate.open()
			wantState(t, e, e.adminTok, id, "paused")
			wantNoObject(t, e, "b", "f.bin")
		},
	},
	{
		name: "tokenless route acting for a signed-in user who was deactivated",
		opts: Options{TokenlessLocalRoutes: true},
		run: func(t *testing.T, e *env) {
			acct := e.memoryAccount(t, e.aliceTok, "alice's", "b")
			must(t, e.request(t, "POST", "/authentication/login", nil, map[string]any{
				"username": "alice", "password": alicePassword}), 200, nil)
			must(t, e.cloud(t, "POST", "/cloud/list_buckets", "", map[string]any{"id": acct}), 200, nil) // signed in: acts for alice
			if err := e.c.SetUserActive(context.Background(), e.admin.Principal(), e.alice.ID, false); err != nil {
				t.Fatal(err)
			}
			wantError(t, e.cloud(t, "POST", "/cloud/list_buckets", "", map[string]any{"id": acct}), http.StatusUnauthorized, "AUTH")
			if p, ok := e.api.signedIn.get(); ok {
				t.Fatalf("the agent still acts for %s", p.UserID)
			}
		},
	},
	{
		name: "non-admin deactivates another user",
		run: func(t *testing.T, e *env) {
			err := e.c.SetUserActive(context.Background(), e.bob.Principal(), e.alice.ID, false)
			if !errors.Is(err, amove.ErrForbidden) {
				t.Fatalf("SetUserActive by bob = %v, want ACCESS", err)
			}
			// Alice is untouched.
			must(t, e.cloud(t, "GET", "/cloud/accounts", e.aliceTok, nil), 200, nil)
		},
	},
}

// shortTokenEnv is a memory env whose tokens live two seconds.
func shortTokenEnv(t *testing.T) *env {
	mem := memory.New(memory.Options{})
	e := newEnv(t, envConfig{
		open:     func(context.Context, provider.Config) (provider.Storage, error) { return sharedMemory{mem}, nil },
		tokenTTL: 2 * time.Second,
	})
	e.mem = mem
	return e
}

// gatedEnv is newGatedEnv for the table: uploads wait for e.gate.
func gatedEnv(t *testing.T) *env {
	e, _ := newGatedEnv(t)
	return e
}

// dialRaw opens /notification with token.
func dialRaw(t *testing.T, e *env, token string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/notification?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// readUntilClosed reads conn in the background and reports how it ended.
func readUntilClosed(conn *websocket.Conn) <-chan error {
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				closed <- err
				return
			}
		}
	}()
	return closed
}

// waitClose waits for the close frame the agent sent.
func waitClose(t *testing.T, closed <-chan error, limit time.Duration) websocket.CloseError {
	t.Helper()
	select {
	case err := <-closed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("socket ended without a close frame: %v", err)
		}
		return ce
	case <-time.After(limit):
		t.Fatalf("socket still open after %v", limit)
	}
	panic("unreachable")
}

// wantDialRefused checks that /notification refuses token with 401 code.
func wantDialRefused(t *testing.T, e *env, token, code string) {
	t.Helper()
	conn, res, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/notification?token="+token, nil)
	if err == nil {
		conn.CloseNow()
		t.Fatal("/notification accepted the token")
	}
	if res == nil || res.StatusCode != http.StatusUnauthorized || res.Header.Get("error-code") != code {
		t.Fatalf("/notification: %v, %+v; want 401 %s", err, res, code)
	}
}

// startUpload uploads a 1 MiB file of e.root to account:bucket/key.
func startUpload(t *testing.T, e *env, token, account, bucket, key string) string {
	t.Helper()
	file := writeRandom(t, e.root, key, 1<<20)
	var id transferID
	must(t, e.cloud(t, "POST", "/cloud/upload_object", token, map[string]any{
		"cloudAccount": map[string]any{"id": account}, "storageName": bucket, "localFilePath": file,
	}), 200, &id)
	return id.TransferID
}

// wantState checks the transfer's state now (no waiting).
func wantState(t *testing.T, e *env, token, id, want string) {
	t.Helper()
	var st transferStatus
	must(t, e.cloud(t, "GET", "/cloud/client_transfer/"+id+"/status", token, nil), 200, &st)
	if st.Status != want {
		msg := ""
		if st.ErrorMessage != nil {
			msg = *st.ErrorMessage
		}
		t.Fatalf("transfer %s is %s (%s), want %s", id, st.Status, msg, want)
	}
}

// wantNoObject checks that nothing reached bucket/key.
func wantNoObject(t *testing.T, e *env, bucket, key string) {
	t.Helper()
	if o, err := e.mem.Stat(context.Background(), bucket, key); !errors.Is(err, provider.ErrNotFound) {
		t.Fatalf("%s/%s: %+v, %v; want nothing written", bucket, key, o, err)
	}
}
