package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/memory"
)

// regionMemory is the shared memory driver with regions, so includeRegion
// shows in the answer.
type regionMemory struct{ sharedMemory }

func (regionMemory) BucketRegion(context.Context, string) (string, error) { return "mem-1", nil }

// TestQueryBool: every boolean query parameter binds like ASP.NET Core's
// bool (true/false in any case) plus 1/0; anything else is 499 DEFAULT.
func TestQueryBool(t *testing.T) {
	mem := memory.New(memory.Options{})
	e := newEnv(t, envConfig{open: func(context.Context, provider.Config) (provider.Storage, error) {
		return regionMemory{sharedMemory{mem}}, nil
	}})
	e.mem = mem
	id := e.memoryAccount(t, e.aliceTok, "regions", "rb")

	cases := []struct {
		value      string // "-" for absent
		wantRegion bool
		status     int
	}{
		{"-", false, 200},
		{"", false, 200},
		{"true", true, 200},
		{"True", true, 200},
		{"TRUE", true, 200},
		{"tRuE", true, 200},
		{" true ", true, 200},
		{"1", true, 200},
		{"false", false, 200},
		{"False", false, 200},
		{"FALSE", false, 200},
		{"0", false, 200},
		{"yes", false, 499},
		{"t", false, 499},
		{"2", false, 499},
		{"on", false, 499},
		{"truee", false, 499},
	}
	for _, tc := range cases {
		t.Run("includeRegion="+tc.value, func(t *testing.T) {
			path := "/cloud/list_buckets"
			if tc.value != "-" {
				path += "?includeRegion=" + url.QueryEscape(tc.value)
			}
			r := e.cloud(t, "POST", path, e.aliceTok, map[string]any{"id": id})
			if tc.status != 200 {
				wantError(t, r, tc.status, "DEFAULT")
				return
			}
			var out bucketList
			must(t, r, 200, &out)
			if len(out.Data) != 1 {
				t.Fatalf("buckets %+v", out.Data)
			}
			if got := out.Data[0].Region != ""; got != tc.wantRegion {
				t.Errorf("region %q, want one: %v", out.Data[0].Region, tc.wantRegion)
			}
		})
	}
}

// TestHostedDeleteNotFound: the hosted delete of an account that does not
// exist or that the caller may not see is 499 Global "Object not found.",
// as the spec words it; the agent's delete keeps NOT_FOUND.
func TestHostedDeleteNotFound(t *testing.T) {
	e := newMemoryEnv(t)
	mine := e.memoryAccount(t, e.aliceTok, "mine", "")
	gone := e.memoryAccount(t, e.aliceTok, "gone", "")
	must(t, e.hosted(t, "DELETE", "/api/v1/cloudaccount/delete?id="+gone, e.aliceTok, nil), 200, nil)
	bobs := e.memoryAccount(t, e.bobTok, "bobs", "")

	cases := []struct {
		name, path string
		hosted     bool
		status     int
		code, msg  string
	}{
		{"hosted unknown", "/api/v1/cloudaccount/delete?id=3f1e6c1a-0000-4000-8000-000000000001", true, 499, "Global", "Object not found."},
		{"hosted deleted", "/api/v1/cloudaccount/delete?id=" + gone, true, 499, "Global", "Object not found."},
		{"hosted another user's", "/api/v1/cloudaccount/delete?id=" + bobs, true, 499, "Global", "Object not found."},
		{"agent unknown", "/cloud/delete?id=3f1e6c1a-0000-4000-8000-000000000001", false, 499, "NOT_FOUND", ""},
		{"hosted own", "/api/v1/cloudaccount/delete?id=" + mine, true, 200, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r reply
			if tc.hosted {
				r = e.hosted(t, "DELETE", tc.path, e.aliceTok, nil)
			} else {
				r = e.cloud(t, "DELETE", tc.path, e.aliceTok, nil)
			}
			if tc.status == 200 {
				var ok bool
				must(t, r, 200, &ok)
				if !ok {
					t.Errorf("%s: body %s, want true", r.path, r.body)
				}
				return
			}
			wantError(t, r, tc.status, tc.code)
			var p problem
			must(t, r, tc.status, &p)
			if tc.msg != "" && (len(p.Errors[tc.code]) != 1 || p.Errors[tc.code][0] != tc.msg) {
				t.Errorf("%s: errors %v, want %s: [%s]", r.path, p.Errors, tc.code, tc.msg)
			}
		})
	}
}

// TestClientTransferAllShape: every client_transfer/all entry carries
// sourceBucket, sourcePath, targetBucket and targetPath (empty strings where
// the kind has no such end: an upload's source bucket, a download's target
// bucket), and pausedDuration.
func TestClientTransferAllShape(t *testing.T) {
	e := newMemoryEnv(t)
	acct := e.memoryAccount(t, e.aliceTok, "mem", "b")
	file := writeRandom(t, e.root, "f.bin", 4096)
	var up transferID
	must(t, e.cloud(t, "POST", "/cloud/upload_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "localFilePath": file,
	}), 200, &up)
	if st := e.waitTransfer(t, e.aliceTok, up.TransferID); st.Status != "completed" {
		t.Fatalf("upload: %+v", st)
	}
	dir := filepath.Join(e.root, "down")
	var down transferID
	must(t, e.cloud(t, "POST", "/cloud/download_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": "b", "downloadPath": dir, "objectKey": "f.bin",
	}), 200, &down)
	if st := e.waitTransfer(t, e.aliceTok, down.TransferID); st.Status != "completed" {
		t.Fatalf("download: %+v", st)
	}

	var all []map[string]json.RawMessage
	must(t, e.cloud(t, "GET", "/cloud/client_transfer/all", e.aliceTok, nil), 200, &all)
	byID := map[string]map[string]json.RawMessage{}
	for _, m := range all {
		var id string
		_ = json.Unmarshal(m["transferId"], &id)
		byID[id] = m
	}
	cases := []struct {
		name, id string
		want     map[string]string
	}{
		{"upload", up.TransferID, map[string]string{"sourceBucket": "", "sourcePath": file, "targetBucket": "b", "targetPath": "f.bin"}},
		{"download", down.TransferID, map[string]string{"sourceBucket": "b", "sourcePath": "f.bin", "targetBucket": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := byID[tc.id]
			if !ok {
				t.Fatalf("%s missing from client_transfer/all: %v", tc.id, all)
			}
			for _, k := range []string{"sourceBucket", "sourcePath", "targetBucket", "targetPath", "pausedDuration", "progress"} {
				if _, ok := m[k]; !ok {
					t.Errorf("entry has no %q: %v", k, m)
				}
			}
			for k, want := range tc.want {
				var got string
				if err := json.Unmarshal(m[k], &got); err != nil || got != want {
					t.Errorf("%s = %s, want %q", k, m[k], want)
				}
			}
		})
	}
}

// TestNotificationTokenProtocol: /notification takes the token as ?token= or
// in Sec-WebSocket-Protocol ("access_token, <jwt>" or the bare JWT), echoes
// the subprotocol it selected (never the token unless the client offered
// only the token), and never logs the token.
func TestNotificationTokenProtocol(t *testing.T) {
	e := newMemoryEnv(t)
	base := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/notification"
	tok := e.aliceTok
	cases := []struct {
		name      string
		query     string
		protos    []string
		status    int    // 0: the upgrade succeeds
		wantProto string // the subprotocol the agent selected
	}{
		{"query", "?token=" + tok, nil, 0, ""},
		{"query wins over protocol", "?token=" + tok, []string{"access_token", "not.a.jwt"}, 0, ""},
		{"access_token pair", "", []string{"access_token", tok}, 0, "access_token"},
		{"access_token pair after another", "", []string{"chat", "access_token", tok}, 0, "access_token"},
		{"bare jwt", "", []string{tok}, 0, tok},
		{"bad jwt", "", []string{"access_token", "a.b.c"}, 401, ""},
		{"access_token without token", "", []string{"access_token"}, 401, ""},
		{"no token", "", []string{"chat"}, 401, ""},
		{"nothing", "", nil, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, res, err := websocket.Dial(ctx, base+tc.query, &websocket.DialOptions{Subprotocols: tc.protos})
			if tc.status != 0 {
				if err == nil {
					conn.CloseNow()
					t.Fatal("/notification accepted the upgrade")
				}
				if res == nil || res.StatusCode != tc.status {
					t.Fatalf("/notification: %v, %+v; want %d", err, res, tc.status)
				}
				if res.StatusCode == http.StatusUnauthorized && res.Header.Get("Sec-WebSocket-Protocol") != "" {
					t.Errorf("a refused upgrade selected %q", res.Header.Get("Sec-WebSocket-Protocol"))
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.CloseNow()
			if got := conn.Subprotocol(); got != tc.wantProto {
				t.Errorf("subprotocol %q, want %q", got, tc.wantProto)
			}
			// The socket is alice's: her next write is announced on it.
			e.memoryAccount(t, tok, "ws-"+strings.ReplaceAll(tc.name, " ", "-"), "")
			_, b, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			var env envelope
			if err := json.Unmarshal(b, &env); err != nil || env.Type != notifyApp {
				t.Errorf("message %s, want an AppNotification", b)
			}
		})
	}
	if strings.Contains(e.logs.String(), tok) {
		t.Error("the token reached the log")
	}
}

// TestTimeSpan: pausedDuration is written as .NET writes a TimeSpan.
func TestTimeSpan(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Second, "00:00:05"},
		{90*time.Minute + 1500*time.Millisecond, "01:30:01.5000000"},
		{26*time.Hour + 3*time.Minute, "1.02:03:00"},
		{123 * time.Microsecond, "00:00:00.0001230"},
	} {
		if got := timeSpan(tc.d); got != tc.want {
			t.Errorf("timeSpan(%s) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// A listing's lastModified is formatted once (wireTime); its JSON must be
// byte for byte what encoding/json makes of the time.Time in UTC, whatever
// the zone and the fraction of a second.
func TestWireTimeJSON(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tm := range []time.Time{
		time.Date(2026, 11, 30, 6, 23, 1, 962_000_000, time.UTC),
		time.Date(2026, 11, 30, 6, 23, 1, 0, time.UTC),
		time.Date(2026, 11, 30, 6, 23, 1, 123_456_789, paris),
		time.Date(1999, 1, 2, 3, 4, 5, 100, paris),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
	} {
		want, err := json.Marshal(tm.UTC())
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(newWireTime(tm))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%v: wireTime %s, time.Time %s", tm, got, want)
		}
	}
}
