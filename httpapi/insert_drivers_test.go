package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/all"
)

// TestInsertAccountEveryCloudType posts /cloud/insert_account for each of
// the 14 cloud types with the real drivers (provider/all) and credentials
// a loopback server refuses: every insert must fail because the provider
// rejected the credentials, none because no driver serves the type.
func TestInsertAccountEveryCloudType(t *testing.T) {
	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errors":[{"title":"Forbidden"}]}`))
	}))
	defer deny.Close()
	e := newEnv(t, envConfig{})
	for _, ct := range provider.CloudTypes() {
		t.Run(ct.String(), func(t *testing.T) {
			body := map[string]any{"cloudType": int(ct), "name": ct.String(), "endpoint": deny.URL,
				"serviceUrl": deny.URL, "accessKey": "AKBOGUS", "secretKey": "Ym9ndXMtc2VjcmV0LWtleQ==",
				"credentialsData": `{"access_token":"bogus","token_type":"Bearer"}`}
			r := e.cloud(t, "POST", "/cloud/insert_account", e.adminTok, body)
			if r.status == http.StatusOK {
				t.Fatalf("bogus credentials accepted: %s", r.body)
			}
			if strings.Contains(string(r.body), "no driver") || !strings.Contains(string(r.body), "rejected the credentials") {
				t.Errorf("cloudType %d: %d %s, want the provider's refusal", int(ct), r.status, r.body)
			}
		})
	}
}
