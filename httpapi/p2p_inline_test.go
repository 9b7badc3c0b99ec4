package httpapi

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
)

// TestP2PInlineSourceCredentials: p2p_transfer/initiate with the spec's
// inline sourceAccount (serviceUrl, accessKey, secretKey, no stored
// account) pushes the object, and the keys are neither stored nor
// answered.
func TestP2PInlineSourceCredentials(t *testing.T) {
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	want := src.put("inline.bin", 3<<20+5)
	var out struct{ TransferID string }
	code := a.call("POST", "/cloud/p2p_transfer/initiate", map[string]any{
		"sourceAccount": map[string]any{"cloudType": int(provider.LocalHttp), "serviceUrl": src.srv.URL,
			"accessKey": fxSrcKey, "secretKey": fxSrcSecret},
		"targetAccount": map[string]any{"id": a.dstID},
		"sourceBucket":  "bkt", "sourcePath": "inline.bin",
		"targetServerUrl": dst.srv.URL, "targetBucket": "bkt", "targetPath": "copy/inline.bin",
	}, &out)
	if code != http.StatusOK || out.TransferID == "" {
		t.Fatalf("initiate: %d %+v", code, out)
	}
	st := a.waitP2P(out.TransferID, isStatus(stCompleted, stFailed, stCancelled))
	if st.Status != stCompleted {
		t.Fatalf("status %+v", st)
	}
	if got := dst.sum("copy/inline.bin"); got != want {
		t.Fatalf("target SHA-256 %s, want %s", got, want)
	}
	// Nothing was stored: the agent still has its two accounts.
	var accts []cloudAccount
	if code := a.call("GET", "/cloud/accounts", nil, &accts); code != http.StatusOK || len(accts) != 2 {
		t.Fatalf("accounts after an inline transfer: %d %+v", code, accts)
	}
	// A masked key (as the API answers accounts) is no credential: with no
	// id either, the request is refused.
	code = a.call("POST", "/cloud/p2p_transfer/initiate", map[string]any{
		"sourceAccount": map[string]any{"serviceUrl": src.srv.URL, "accessKey": "****0001", "secretKey": "****cdef"},
		"sourceBucket":  "bkt", "sourcePath": "inline.bin",
		"targetServerUrl": dst.srv.URL, "targetBucket": "bkt", "targetPath": "copy/again.bin",
	}, nil)
	if code != http.StatusBadRequest {
		t.Fatalf("masked inline keys: %d, want 400", code)
	}
}

// TestP2PInlineSourceOutbound: the outbound policy applies to an inline
// serviceUrl as to a stored account's: a source off the allow-list is
// never contacted.
func TestP2PInlineSourceOutbound(t *testing.T) {
	e := outboundEnv(t, provider.OutboundPolicy{AllowHosts: []string{"fastr.example.com"}})
	srv := newHostRecorder(t, nil)
	r := e.cloud(t, "POST", "/cloud/p2p_transfer/initiate", e.adminTok, map[string]any{
		"sourceAccount": map[string]any{"cloudType": int(provider.LocalHttp), "serviceUrl": srv.srv.URL,
			"accessKey": "AKINLINE0001", "secretKey": "inline-secret-0123456789"},
		"sourceBucket": "bkt", "sourcePath": "x.bin",
		"targetServerUrl": srv.srv.URL, "targetBucket": "bkt", "targetPath": "y.bin",
	})
	switch r.status {
	case http.StatusOK:
		var out struct{ TransferID string }
		must(t, r, 200, &out)
		var st p2pStatus
		for range 200 {
			must(t, e.cloud(t, "GET", "/cloud/p2p_transfer/"+out.TransferID+"/status", e.adminTok, nil), 200, &st)
			if st.Status == stFailed || st.Status == stCompleted {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st.Status != stFailed || st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, "outbound") {
			t.Fatalf("status %+v", st)
		}
	default:
		if !strings.Contains(string(r.body), "outbound") {
			t.Fatalf("refused for another reason: %s", r)
		}
	}
	if n, c := srv.count(), srv.conns.Load(); n != 0 || c != 0 {
		t.Fatalf("the source off the list got %d requests on %d connections", n, c)
	}
}

// TestServerTransferSixFields: server_transfer/initiate with only the six
// fields the spec requires: the caller's Fastr accounts at the two URLs
// sign the requests. Without an account at the source URL it is refused
// with NOT_FOUND.
func TestServerTransferSixFields(t *testing.T) {
	src, dst := fxPair(t, nil)
	a := fxNewAgent(t, src, dst)
	want := src.put("six.bin", 1<<20+9)
	body := map[string]any{"sourceServerUrl": src.srv.URL, "targetServerUrl": dst.srv.URL,
		"sourceBucket": "bkt", "sourcePath": "six.bin", "targetBucket": "bkt", "targetPath": "copy/six.bin",
		"metadata": map[string]any{"project": "alpha", "Reviewed-By": "Ann"}}
	var init struct{ TransferID, Status string }
	if code := a.call("POST", "/cloud/server_transfer/initiate", body, &init); code != http.StatusAccepted || init.TransferID == "" {
		t.Fatalf("initiate: %d %+v", code, init)
	}
	var st serverTransferStatus
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		a.call("GET", "/cloud/server_transfer/"+init.TransferID+"/status", nil, &st)
		if terminal(st.Status) {
			break
		}
	}
	if st.Status != stCompleted || dst.sum("copy/six.bin") != want {
		t.Fatalf("status %+v", st)
	}
	// The metadata reached the target object, keys as sent.
	o, err := dst.c.Stat(context.Background(), "bkt", "copy/six.bin")
	if err != nil || o.Metadata["project"] != "alpha" || o.Metadata["Reviewed-By"] != "Ann" || len(o.Metadata) != 2 {
		t.Fatalf("target metadata %v %v", o.Metadata, err)
	}
	// Metadata values are strings.
	bad := maps.Clone(body)
	bad["metadata"] = map[string]any{"n": 1}
	if code := a.call("POST", "/cloud/server_transfer/initiate", bad, nil); code != StatusValidation {
		t.Fatalf("numeric metadata: %d, want 499", code)
	}
	body["sourceServerUrl"] = "http://127.0.0.1:1"
	if code := a.call("POST", "/cloud/server_transfer/initiate", body, nil); code != StatusValidation {
		t.Fatalf("no account at the source URL: %d, want 499", code)
	}
}
