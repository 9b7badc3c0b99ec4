package httpapi

import (
	"maps"
	"net/http"
	"slices"
	"testing"
)

// keysOf is the sorted field names of a message's Data.
func keysOf(d map[string]any) []string { return slices.Sorted(maps.Keys(d)) }

// TestNotificationShapes: each /notification message type has one Data
// shape. Progress (Type 1) of an upload and of a server transfer carry the
// same fields, status always a string; UserNotification (2) and
// AppNotification (4) have theirs.
func TestNotificationShapes(t *testing.T) {
	// A client transfer: an upload to a memory account.
	e := newMemoryEnv(t)
	sock := dialNotifications(t, e, e.aliceTok)
	acct := e.memoryAccount(t, e.aliceTok, "mem", "notify-bkt")
	writeRandom(t, e.root, "n.bin", 1<<20)
	var up transferID
	must(t, e.cloud(t, "POST", "/cloud/upload_object", e.aliceTok, map[string]any{
		"cloudAccount": map[string]any{"id": acct}, "storageName": "notify-bkt", "localFilePath": e.root + "/n.bin",
	}), 200, &up)
	e.waitTransfer(t, e.aliceTok, up.TransferID)
	sock.waitFor(t, "the upload's user notification", func() bool { return len(sock.envelopes(t, notifyUser)) > 0 })

	// A server transfer on a Fastr agent.
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	fsock := dialNotifications(t, &env{srv: a.srv}, a.token)
	src.put("n.bin", 1<<20)
	var init struct{ TransferID string }
	if code := a.call("POST", "/cloud/server_transfer/initiate", map[string]any{"sourceServerUrl": src.srv.URL,
		"targetServerUrl": dst.srv.URL, "sourceBucket": "bkt", "sourcePath": "n.bin", "targetBucket": "bkt", "targetPath": "n2.bin"},
		&init); code != http.StatusAccepted {
		t.Fatalf("initiate: %d", code)
	}
	fsock.waitFor(t, "the server transfer's user notification", func() bool { return len(fsock.envelopes(t, notifyUser)) > 0 })

	var want []string
	kinds := map[string]bool{}
	for _, d := range append(sock.envelopes(t, notifyProgress), fsock.envelopes(t, notifyProgress)...) {
		if want == nil {
			want = keysOf(d)
		}
		if got := keysOf(d); !slices.Equal(got, want) {
			t.Errorf("progress fields differ:\n%v\n%v", got, want)
		}
		if _, ok := d["status"].(string); !ok {
			t.Errorf("status is %T, want a string: %v", d["status"], d)
		}
		kinds[d["kind"].(string)] = true
	}
	if !kinds["upload"] || !kinds["server_transfer"] {
		t.Fatalf("progress of %v, want upload and server_transfer", kinds)
	}
	for typ, fields := range map[int][]string{notifyUser: {"message", "transferId"}, notifyApp: {"endpoint", "method", "origin"}} {
		all := append(sock.envelopes(t, typ), fsock.envelopes(t, typ)...)
		if len(all) == 0 {
			t.Errorf("no message of type %d", typ)
		}
		for _, d := range all {
			if got := keysOf(d); !slices.Equal(got, fields) {
				t.Errorf("type %d fields %v, want %v", typ, got, fields)
			}
		}
	}
}
