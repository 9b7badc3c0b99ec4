package httpapi

import (
	"bytes"
	"embed"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// The web page (docs/web.md): plain HTML, CSS and JavaScript, embedded so
// the agent serves it with nothing fetched at run time and no build step.
//
//go:embed web
var webFiles embed.FS

// webCSP is the page's Content-Security-Policy: only the agent's own
// scripts, styles and connections (its API and the /notification socket;
// 'self' covers ws: on the same host and port), no inline code, no
// framing, no form posts elsewhere. Downloads are navigations to presigned
// URLs, which connect-src does not govern; uploads go through the agent.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// webTypes are the content types of the embedded assets, by extension.
var webTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// registerWeb serves the page at / and its assets at /web/{file}. Both pass
// ServeHTTP's Host check first, like every route; they need no token (the
// page holds no data: everything it shows comes from the API with the
// token the user signs in for).
func (s *Server) registerWeb() {
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		serveWebFile(w, r, "index.html")
	})
	s.mux.HandleFunc("GET /web/{file}", func(w http.ResponseWriter, r *http.Request) {
		serveWebFile(w, r, r.PathValue("file"))
	})
}

// serveWebFile answers one embedded file with the page's security headers,
// or the API's 404 for anything else (no directory listings).
func serveWebFile(w http.ResponseWriter, r *http.Request, name string) {
	ctype, ok := webTypes[path.Ext(name)]
	var data []byte
	if ok {
		var err error
		data, err = fs.ReadFile(webFiles, "web/"+name)
		ok = err == nil
	}
	if !ok {
		writeError(w, &httpError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "no such endpoint: " + r.Method + " " + r.URL.Path})
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Security-Policy", webCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	// Another site may neither load the page's script nor keep a handle on
	// its window.
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Revalidate, so an upgraded agent never runs yesterday's script.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}
