package oauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/oauth"
)

// TestFrameIO: the consent URL is Adobe IMS's with the collection's scopes
// and an S256 challenge; the code exchange sends the client credentials
// in the body with the verifier, as the V4 collection's OAuth settings do.
func TestFrameIO(t *testing.T) {
	app := oauth.FrameIO("cid", "csecret")
	verifier := oauth2.GenerateVerifier()
	u, err := url.Parse(app.AuthCodeURL("st", "http://localhost:3000/oauth/frameio", verifier))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "ims-na1.adobelogin.com" || u.Path != "/ims/authorize/v2" || q.Get("client_id") != "cid" ||
		q.Get("scope") != "openid profile AdobeID additional_info.roles offline_access" ||
		q.Get("code_challenge_method") != "S256" || q.Get("state") != "st" || q.Get("response_type") != "code" {
		t.Errorf("authorization URL %s", u)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		if r.URL.Path != "/ims/token/v3" || f.Get("grant_type") != "authorization_code" || f.Get("code") != "the-code" ||
			f.Get("client_id") != "cid" || f.Get("client_secret") != "csecret" || f.Get("code_verifier") != verifier {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "refresh_token": "rt",
			"token_type": "bearer", "expires_in": 86399})
	}))
	defer srv.Close()
	app.Config.Endpoint.TokenURL = srv.URL + "/ims/token/v3"
	tok, err := app.Exchange(context.Background(), "the-code", "http://localhost:3000/oauth/frameio", verifier)
	if err != nil || tok.AccessToken != "at" || tok.RefreshToken != "rt" {
		t.Fatalf("exchange: %+v, %v", tok, err)
	}
}
