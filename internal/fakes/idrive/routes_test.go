package idrive

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestRoutes checks the fake's documented surface with a plain HTTP
// client: the token header, the error body, and PUT or POST alike.
func TestRoutes(t *testing.T) {
	s := New(Options{APIKey: "k", Regions: []Region{{Key: "us-or", Name: "Oregon"}}})
	defer s.Close()
	do := func(method, op, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, s.BaseURL()+"/"+op, strings.NewReader(body))
		if token != "" {
			req.Header.Set("token", token)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	errCode := func(out map[string]any) string {
		e, _ := out["error"].(map[string]any)
		code, _ := e["code"].(string)
		return code
	}
	if st, out := do(http.MethodGet, "regions", "", ""); st != http.StatusUnauthorized || errCode(out) != "unauthorized" {
		t.Errorf("no token: %d %v", st, out)
	}
	if st, out := do(http.MethodGet, "regions", "k", ""); st != http.StatusOK || len(out["regions"].([]any)) != 1 {
		t.Errorf("regions: %d %v", st, out)
	}
	st, out := do(http.MethodPost, "create_user", "k", `{"email":"a@b.c"}`)
	if e, _ := out["error"].(map[string]any); st != http.StatusBadRequest || errCode(out) != "invalid_parameters" || e["errors"] == nil {
		t.Errorf("create_user without password: %d %v", st, out)
	}
	// "c2VjcmV0MQ==" is base64 of "secret1".
	if st, out := do(http.MethodPut, "create_user", "k", `{"email":"a@b.c","password":"c2VjcmV0MQ==","first_name":"A"}`); st != http.StatusOK {
		t.Errorf("create_user by PUT: %d %v", st, out)
	}
	if pw, ok := s.Password("a@b.c"); !ok || pw != "secret1" {
		t.Errorf("stored password %q, %v", pw, ok)
	}
	if st, out := do(http.MethodPost, "create_user", "k", `{"email":"a@b.c","password":"c2VjcmV0MQ==","first_name":"A"}`); st != http.StatusBadRequest || errCode(out) != "user_exists" {
		t.Errorf("create_user twice: %d %v", st, out)
	}
	if st, out := do(http.MethodDelete, "remove_user", "k", `{"email":"a@b.c"}`); st != http.StatusForbidden {
		t.Errorf("DELETE: %d %v", st, out)
	}
	if st, out := do(http.MethodPost, "nothing", "k", `{}`); st != http.StatusNotFound {
		t.Errorf("unknown call: %d %v", st, out)
	}
}
