package httpapi

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestWebPageServed checks the page and its assets: served with their
// types and the page's security headers, nothing else under /web/, and the
// Host check first, as for every route.
func TestWebPageServed(t *testing.T) {
	e := newMemoryEnv(t)
	for path, ctype := range map[string]string{
		"/": "text/html", "/web/app.js": "text/javascript", "/web/app.css": "text/css", "/web/icon.svg": "image/svg+xml",
	} {
		r := e.request(t, "GET", path, nil, nil)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ctype) {
			t.Fatalf("GET %s: %d %q", path, r.status, r.header.Get("Content-Type"))
		}
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "connect-src 'self';", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q allows unsafe code", path, csp)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: headers %v", path, r.header)
		}
	}
	if r := e.request(t, "GET", "/", nil, nil); !strings.Contains(string(r.body), `<script src="/web/app.js" defer></script>`) {
		t.Errorf("the page does not load its script: %s", r.body)
	}
	for _, path := range []string{"/web/", "/web/nope.js", "/web/index.htm", "/web/app.js.map", "/index.html", "/web/web.go"} {
		wantError(t, e.request(t, "GET", path, nil, nil), 404, "NOT_FOUND")
	}
	wantError(t, e.request(t, "POST", "/", nil, "{}"), 404, "NOT_FOUND")
	for _, host := range []string{"rebind.evil.example", "evil.example:29123"} {
		wantError(t, e.request(t, "GET", "/", http.Header{"Host": {host}}, nil), 403, "SECURITY")
	}
}

// TestWebPageOrigin checks that the requests the page makes pass the
// agent's checks from the page's own origin and are refused from another
// site's.
func TestWebPageOrigin(t *testing.T) {
	e := newMemoryEnv(t)
	login := map[string]any{"username": "alice", "password": alicePassword}
	must(t, e.request(t, "POST", "/authentication/login", http.Header{"Origin": {e.srv.URL}}, login), 200, nil)
	for _, o := range []string{"https://evil.example", "null", "http://127.0.0.1.evil.example"} {
		h := http.Header{"Origin": {o}}
		wantError(t, e.request(t, "POST", "/authentication/login", h, login), 403, "SECURITY")
		h.Set("Content-Type", "multipart/form-data; boundary=x")
		wantError(t, e.request(t, "POST", withToken("/cloud/upload_object_from_form", e.aliceTok), h, "--x--\r\n"), 403, "SECURITY")
	}
}

// TestWebPageSource checks the embedded files for what the CSP would
// refuse anyway, and for habits that would put a token or a secret at
// risk: inline code, HTML built from strings, persistent storage, tokens
// in URLs.
func TestWebPageSource(t *testing.T) {
	html, err := fs.ReadFile(webFiles, "web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(html)
	for _, m := range regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(m[1], `src="/web/`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("index.html has an inline script: %s", m[0])
		}
	}
	for _, re := range []string{`(?i)\son[a-z]+\s*=`, `(?i)\sstyle\s*=`, `(?i)<style`} {
		if m := regexp.MustCompile(re).FindString(page); m != "" {
			t.Errorf("index.html has inline code or style: %q", m)
		}
	}
	// Everything the page loads is the agent's own.
	for _, m := range regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(m[1], "/web/") {
			t.Errorf("index.html loads %q", m[1])
		} else if _, err := fs.Stat(webFiles, strings.TrimPrefix(m[1], "/")); err != nil {
			t.Errorf("index.html loads %q, which is not embedded", m[1])
		}
	}
	js, err := fs.ReadFile(webFiles, "web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "?token=", "console."} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}
