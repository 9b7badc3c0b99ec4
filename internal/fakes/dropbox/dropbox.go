// Package dropbox is a fake Dropbox API v2 server for tests: the RPC and
// content routes the driver uses, OAuth (authorize with automatic consent,
// token with PKCE and refresh), expiring access tokens, list_folder cursors,
// upload sessions with the offset and chunk rules, ranged downloads,
// temporary links and scheduled 429s (providers.md section 4). Limits are
// configurable so tests stay small.
//
// Not modelled: namespaces and team spaces, revisions and update mode,
// autorename, batch routes, shared links, copy/move, list_folder/longpoll,
// ETag/If-None-Match, scopes, and cursors going stale (reset).
package dropbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Options set the fake's limits; zero values take Dropbox's.
type Options struct {
	ClientID, ClientSecret string        // default "app", "secret"
	TokenTTL               time.Duration // access token lifetime; default 4 h
	ListLimit              int           // largest list_folder page; default 2,000
	MaxRequest             int64         // largest request body; default 150 MB
	ChunkMultiple          int64         // concurrent-session rule; default 4 MiB
	// StrictChunks applies the concurrent-session chunk rule (every append
	// a multiple of ChunkMultiple) to sequential sessions too, to check a
	// client's chunking.
	StrictChunks bool
}

// Server is the fake. Close it when done.
type Server struct {
	*httptest.Server
	opts Options

	mu        sync.Mutex
	seq       int
	files     map[string]*entry // by lower-case path; "" is the root
	cursors   map[string]*cursor
	sessions  map[string]*session
	codes     map[string]grant
	access    map[string]time.Time // access token -> expiry
	refresh   map[string]bool
	links     map[string]string // temporary link id -> path
	limited   []time.Duration   // Retry-After of the next 429s
	refreshes int
	requests  int
}

type entry struct {
	display  string // path as first given
	folder   bool
	data     []byte
	rev      string
	id       string
	modified time.Time
}

type cursor struct {
	entries []map[string]any
	pos     int
}

type session struct {
	data       []byte
	closed     bool
	concurrent bool
}

type grant struct{ redirect, challenge string }

// New starts a fake.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID, opts.ClientSecret = "app", "secret"
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 4 * time.Hour
	}
	if opts.ListLimit == 0 {
		opts.ListLimit = 2000
	}
	if opts.MaxRequest == 0 {
		opts.MaxRequest = 150_000_000
	}
	if opts.ChunkMultiple == 0 {
		opts.ChunkMultiple = 4 << 20
	}
	s := &Server{opts: opts, files: map[string]*entry{"": {folder: true}}, cursors: map[string]*cursor{},
		sessions: map[string]*session{}, codes: map[string]grant{}, access: map[string]time.Time{},
		refresh: map[string]bool{}, links: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// IssueToken returns a fresh access token and refresh token, as if the
// user had connected the app.
func (s *Server) IssueToken() (access, refresh string, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	refresh = "r." + s.random()
	s.refresh[refresh] = true
	access, expiry = s.newAccess()
	return access, refresh, expiry
}

// ExpireTokens makes every access token issued so far expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.access {
		s.access[t] = time.Time{}
	}
}

// RevokeRefreshTokens makes every refresh token invalid.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refresh)
}

// RateLimit answers the next len(retryAfter) API requests with 429 and the
// given Retry-After (whole seconds, as Dropbox sends).
func (s *Server) RateLimit(retryAfter ...time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited = append(s.limited, retryAfter...)
}

// Refreshes counts refresh_token grants served.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// Requests counts API requests (not OAuth) served.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// ContentHash is Dropbox's content_hash of b.
func ContentHash(b []byte) string {
	var blocks []byte
	for len(b) > 0 {
		n := min(len(b), 4<<20)
		sum := sha256.Sum256(b[:n])
		blocks = append(blocks, sum[:]...)
		b = b[n:]
	}
	sum := sha256.Sum256(blocks)
	return hex.EncodeToString(sum[:])
}

func (s *Server) random() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) newAccess() (string, time.Time) {
	tok := "a." + s.random()
	exp := time.Now().Add(s.opts.TokenTTL)
	s.access[tok] = exp
	return tok, exp
}

type apiError struct {
	status  int
	summary string
	body    map[string]any
}

func endpointErr(summary string, body map[string]any) *apiError {
	return &apiError{status: http.StatusConflict, summary: summary, body: body}
}

func pathErr(tag, what string) *apiError {
	return endpointErr(tag+"/"+what+"/..", map[string]any{".tag": tag, tag: map[string]any{".tag": what}})
}

func badInput(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, summary: fmt.Sprintf(format, args...)}
}

func writeErr(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusBadRequest { // plain text, as Dropbox does
		http.Error(w, "Error in call: "+e.summary, e.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	body := map[string]any{"error_summary": e.summary}
	if e.body != nil {
		body["error"] = e.body
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/oauth2/authorize":
		s.authorize(w, r)
		return
	case r.URL.Path == "/oauth2/token":
		s.token(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/tl/"):
		s.link(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	s.requests++
	if len(s.limited) > 0 {
		d := s.limited[0]
		s.limited = s.limited[1:]
		s.mu.Unlock()
		secs := int((d + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeErr(w, &apiError{status: http.StatusTooManyRequests, summary: "too_many_requests/..",
			body: map[string]any{"reason": map[string]any{".tag": "too_many_requests"}, "retry_after": secs}})
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, ok := s.access[tok]
	s.mu.Unlock()
	switch {
	case !ok:
		writeErr(w, &apiError{status: http.StatusUnauthorized, summary: "invalid_access_token/..",
			body: map[string]any{".tag": "invalid_access_token"}})
		return
	case !time.Now().Before(exp):
		writeErr(w, &apiError{status: http.StatusUnauthorized, summary: "expired_access_token/..",
			body: map[string]any{".tag": "expired_access_token"}})
		return
	}
	route := strings.TrimPrefix(r.URL.Path, "/2/")
	switch route {
	case "files/upload", "files/download", "files/upload_session/start", "files/upload_session/append_v2",
		"files/upload_session/finish":
		s.content(w, r, route)
		return
	}
	var arg map[string]any
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &arg)
	}
	if err != nil {
		writeErr(w, badInput("could not decode input as JSON"))
		return
	}
	s.mu.Lock()
	out, aerr := s.rpc(route, arg)
	s.mu.Unlock()
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func str(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

// normPath checks a Dropbox path argument and returns its lookup key.
func normPath(p string) (string, *apiError) {
	if p == "" {
		return "", nil
	}
	if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || !utf8.ValidString(p) {
		return "", pathErr("path", "malformed_path")
	}
	return strings.ToLower(p), nil
}

func (s *Server) meta(e *entry) map[string]any {
	m := map[string]any{"name": path.Base(e.display), "path_display": e.display,
		"path_lower": strings.ToLower(e.display), "id": e.id}
	if e.folder {
		m[".tag"] = "folder"
		return m
	}
	m[".tag"] = "file"
	m["size"] = len(e.data)
	m["rev"] = e.rev
	m["content_hash"] = ContentHash(e.data)
	ts := e.modified.UTC().Format(time.RFC3339)
	m["server_modified"], m["client_modified"] = ts, ts
	return m
}

// mkdirs creates the parents of p (a display path) as folders. A file in
// the way is a conflict.
func (s *Server) mkdirs(p string) *apiError {
	dir := path.Dir(p)
	if dir == "/" {
		return nil
	}
	if e, ok := s.files[strings.ToLower(dir)]; ok {
		if !e.folder {
			return pathErr("path", "conflict")
		}
		return nil
	}
	if err := s.mkdirs(dir); err != nil {
		return err
	}
	s.seq++
	s.files[strings.ToLower(dir)] = &entry{display: dir, folder: true, id: fmt.Sprintf("id:%d", s.seq)}
	return nil
}

func (s *Server) put(p string, data []byte, mode string) (*entry, *apiError) {
	key, aerr := normPath(p)
	if aerr != nil || key == "" {
		return nil, pathErr("path", "malformed_path")
	}
	old, exists := s.files[key]
	if exists && old.folder {
		return nil, endpointErr("path/conflict/folder/..", map[string]any{".tag": "path",
			"path": map[string]any{"reason": map[string]any{".tag": "conflict", "conflict": map[string]any{".tag": "folder"}}}})
	}
	if exists && mode == "add" {
		return nil, endpointErr("path/conflict/file/..", map[string]any{".tag": "path",
			"path": map[string]any{"reason": map[string]any{".tag": "conflict", "conflict": map[string]any{".tag": "file"}}}})
	}
	if err := s.mkdirs(p); err != nil {
		return nil, err
	}
	s.seq++
	e := &entry{display: p, data: data, rev: fmt.Sprintf("%09x", s.seq), id: fmt.Sprintf("id:%d", s.seq), modified: time.Now()}
	if exists {
		e.display, e.id = old.display, old.id
	}
	s.files[key] = e
	return e, nil
}

func (s *Server) rpc(route string, arg map[string]any) (any, *apiError) {
	switch route {
	case "users/get_current_account":
		return map[string]any{"account_id": "dbid:fake", "email": "fake@example.com",
			"root_info": map[string]any{".tag": "user", "root_namespace_id": "1", "home_namespace_id": "1"}}, nil
	case "files/get_metadata":
		key, aerr := normPath(str(arg, "path"))
		if aerr != nil {
			return nil, aerr
		}
		e, ok := s.files[key]
		if !ok || key == "" {
			return nil, pathErr("path", "not_found")
		}
		return s.meta(e), nil
	case "files/list_folder":
		return s.listFolder(arg)
	case "files/list_folder/continue":
		c, ok := s.cursors[str(arg, "cursor")]
		if !ok {
			return nil, endpointErr("reset/..", map[string]any{".tag": "reset"})
		}
		return s.page(str(arg, "cursor"), c, s.opts.ListLimit), nil
	case "files/create_folder_v2":
		key, aerr := normPath(str(arg, "path"))
		if aerr != nil || key == "" {
			return nil, pathErr("path", "malformed_path")
		}
		if e, ok := s.files[key]; ok {
			what := "file"
			if e.folder {
				what = "folder"
			}
			return nil, endpointErr("path/conflict/"+what+"/..", map[string]any{".tag": "path",
				"path": map[string]any{".tag": "conflict", "conflict": map[string]any{".tag": what}}})
		}
		p := str(arg, "path")
		if err := s.mkdirs(p); err != nil {
			return nil, err
		}
		s.seq++
		e := &entry{display: p, folder: true, id: fmt.Sprintf("id:%d", s.seq)}
		s.files[key] = e
		return map[string]any{"metadata": s.meta(e)}, nil
	case "files/delete_v2":
		key, aerr := normPath(str(arg, "path"))
		if aerr != nil || key == "" {
			return nil, pathErr("path_lookup", "malformed_path")
		}
		e, ok := s.files[key]
		if !ok {
			return nil, pathErr("path_lookup", "not_found")
		}
		if rev := str(arg, "parent_rev"); rev != "" && (e.folder || e.rev != rev) {
			return nil, pathErr("path_lookup", "restricted_content") // close enough: refused
		}
		m := s.meta(e)
		for k := range s.files {
			if k == key || strings.HasPrefix(k, key+"/") {
				delete(s.files, k)
			}
		}
		return map[string]any{"metadata": m}, nil
	case "files/get_temporary_link":
		key, aerr := normPath(str(arg, "path"))
		if aerr != nil {
			return nil, aerr
		}
		e, ok := s.files[key]
		if !ok || e.folder {
			return nil, pathErr("path", "not_found")
		}
		id := s.random()
		s.links[id] = key
		return map[string]any{"metadata": s.meta(e), "link": s.URL + "/tl/" + id}, nil
	}
	return nil, badInput("unknown route %s", route)
}

func (s *Server) listFolder(arg map[string]any) (any, *apiError) {
	key, aerr := normPath(str(arg, "path"))
	if aerr != nil {
		return nil, aerr
	}
	dir, ok := s.files[key]
	if !ok {
		return nil, pathErr("path", "not_found")
	}
	if !dir.folder {
		return nil, pathErr("path", "not_folder")
	}
	recursive, _ := arg["recursive"].(bool)
	var entries []map[string]any
	for k, e := range s.files {
		if k == "" || (key != "" && !strings.HasPrefix(k, key+"/")) {
			continue
		}
		rest := strings.TrimPrefix(k, key+"/")
		if !recursive && strings.Contains(rest, "/") {
			continue
		}
		entries = append(entries, s.meta(e))
	}
	if recursive && key != "" {
		entries = append(entries, s.meta(dir)) // Dropbox includes the folder itself
	}
	// Dropbox promises no order; a fixed, non-alphabetical one keeps tests
	// honest and repeatable.
	sort.Slice(entries, func(i, j int) bool {
		hi, hj := sha256.Sum256([]byte(entries[i]["path_lower"].(string))), sha256.Sum256([]byte(entries[j]["path_lower"].(string)))
		return hex.EncodeToString(hi[:]) < hex.EncodeToString(hj[:])
	})
	limit := s.opts.ListLimit
	if l, ok := arg["limit"].(float64); ok && int(l) > 0 && int(l) < limit {
		limit = int(l)
	}
	id := s.random()
	c := &cursor{entries: entries}
	s.cursors[id] = c
	return s.page(id, c, limit), nil
}

func (s *Server) page(id string, c *cursor, limit int) map[string]any {
	end := min(c.pos+limit, len(c.entries))
	out := append([]map[string]any{}, c.entries[c.pos:end]...)
	c.pos = end
	return map[string]any{"entries": out, "cursor": id, "has_more": end < len(c.entries)}
}

// asciiJSON encodes v as JSON with every non-ASCII rune escaped, as HTTP
// header values must be.
func asciiJSON(v any) string {
	b, _ := json.Marshal(v)
	var sb strings.Builder
	for _, r := range string(b) {
		if r < 0x80 {
			sb.WriteRune(r)
			continue
		}
		for _, u := range utf16(r) {
			fmt.Fprintf(&sb, `\u%04x`, u)
		}
	}
	return sb.String()
}

func utf16(r rune) []rune {
	if r < 0x10000 {
		return []rune{r}
	}
	r -= 0x10000
	return []rune{0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF}
}

func (s *Server) content(w http.ResponseWriter, r *http.Request, route string) {
	raw := r.Header.Get("Dropbox-API-Arg")
	if raw == "" {
		raw = r.URL.Query().Get("arg")
	}
	var arg map[string]any
	if err := json.Unmarshal([]byte(raw), &arg); err != nil {
		writeErr(w, badInput("Dropbox-API-Arg is not JSON"))
		return
	}
	var body []byte
	if route != "files/download" {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, s.opts.MaxRequest+1))
		if err != nil {
			return // the client went away
		}
		if int64(len(body)) > s.opts.MaxRequest {
			writeErr(w, badInput("request body exceeds %d bytes", s.opts.MaxRequest))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out any
	var aerr *apiError
	switch route {
	case "files/upload":
		var e *entry
		mode := "add"
		if m, ok := arg["mode"].(string); ok {
			mode = m
		}
		if e, aerr = s.put(str(arg, "path"), body, mode); aerr == nil {
			out = s.meta(e)
		}
	case "files/download":
		s.download(w, r, arg)
		return
	case "files/upload_session/start":
		ss := &session{data: body}
		ss.closed, _ = arg["close"].(bool)
		ss.concurrent = str(arg, "session_type") == "concurrent"
		if (ss.concurrent || s.opts.StrictChunks) && int64(len(body))%s.opts.ChunkMultiple != 0 {
			aerr = badInput("concurrent_session_invalid_data_size")
			break
		}
		id := "sess." + s.random()
		s.sessions[id] = ss
		out = map[string]any{"session_id": id}
	case "files/upload_session/append_v2", "files/upload_session/finish":
		cur, _ := arg["cursor"].(map[string]any)
		id := str(cur, "session_id")
		off, _ := cur["offset"].(float64)
		ss, ok := s.sessions[id]
		if !ok {
			aerr = endpointErr("lookup_failed/not_found/..", map[string]any{".tag": "lookup_failed",
				"lookup_failed": map[string]any{".tag": "not_found"}})
			break
		}
		finish := route == "files/upload_session/finish"
		switch {
		case int64(off) != int64(len(ss.data)):
			aerr = endpointErr("lookup_failed/incorrect_offset/..", map[string]any{".tag": "lookup_failed",
				"lookup_failed": map[string]any{".tag": "incorrect_offset", "correct_offset": len(ss.data)}})
		case ss.closed && (len(body) > 0 || !finish):
			aerr = endpointErr("lookup_failed/closed/..", map[string]any{".tag": "lookup_failed",
				"lookup_failed": map[string]any{".tag": "closed"}})
		case !finish && (ss.concurrent || s.opts.StrictChunks) && int64(len(body))%s.opts.ChunkMultiple != 0:
			aerr = badInput("concurrent_session_invalid_data_size")
		}
		if aerr != nil {
			break
		}
		ss.data = append(ss.data, body...)
		if !finish {
			ss.closed, _ = arg["close"].(bool)
			out = nil
			break
		}
		commit, _ := arg["commit"].(map[string]any)
		mode := "add"
		if m, ok := commit["mode"].(string); ok {
			mode = m
		}
		var e *entry
		if e, aerr = s.put(str(commit, "path"), ss.data, mode); aerr == nil {
			delete(s.sessions, id)
			out = s.meta(e)
		}
	}
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if out == nil {
		_, _ = w.Write([]byte("null"))
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, arg map[string]any) {
	key, aerr := normPath(str(arg, "path"))
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	e, ok := s.files[key]
	if !ok || key == "" {
		writeErr(w, pathErr("path", "not_found"))
		return
	}
	if e.folder {
		writeErr(w, pathErr("path", "not_file"))
		return
	}
	w.Header().Set("Dropbox-API-Result", asciiJSON(s.meta(e)))
	serveRange(w, r, e.data)
}

// serveRange answers a single "bytes=a-b" or "bytes=a-" Range, or the whole
// body.
func serveRange(w http.ResponseWriter, r *http.Request, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	rng := r.Header.Get("Range")
	if rng == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
		return
	}
	spec, ok := strings.CutPrefix(rng, "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	start, err := strconv.ParseInt(a, 10, 64)
	if !ok || !ok2 || err != nil || start >= int64(len(data)) {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	end := int64(len(data)) - 1
	if b != "" {
		if e, err := strconv.ParseInt(b, 10, 64); err == nil && e < end {
			end = e
		}
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(data)))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(data[start : end+1])
}

func (s *Server) link(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	key, ok := s.links[strings.TrimPrefix(r.URL.Path, "/tl/")]
	e := s.files[key]
	s.mu.Unlock()
	if !ok || e == nil || e.folder {
		http.NotFound(w, r)
		return
	}
	serveRange(w, r, e.data)
}

// authorize is the consent page: it approves at once and redirects back
// with a code, or with error=access_denied when the request asks for it
// through the test-only parameter deny=1.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != s.opts.ClientID || q.Get("response_type") != "code" || err != nil || redirect.Scheme == "" {
		http.Error(w, "invalid authorization request", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if q.Get("deny") == "1" {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user chose not to give your app access to their Dropbox account.")
	} else {
		s.mu.Lock()
		code := "c." + s.random()
		s.codes[code] = grant{redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
		s.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func oauthErr(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		oauthErr(w, "invalid_request", "bad form")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// With PKCE the secret is optional; without it the secret is required.
	pkce := r.PostForm.Get("code_verifier") != ""
	if id != s.opts.ClientID || (secret != s.opts.ClientSecret && !(pkce && secret == "")) {
		oauthErr(w, "invalid_client", "Invalid client_id or client_secret")
		return
	}
	out := map[string]any{"token_type": "bearer", "expires_in": int(s.opts.TokenTTL / time.Second),
		"account_id": "dbid:fake", "uid": "1"}
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		g, ok := s.codes[code]
		delete(s.codes, code) // single use
		if !ok || g.redirect != r.PostForm.Get("redirect_uri") {
			oauthErr(w, "invalid_grant", "code doesn't exist or has expired")
			return
		}
		if g.challenge != "" {
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
				oauthErr(w, "invalid_grant", "invalid code verifier")
				return
			}
		}
		rt := "r." + s.random()
		s.refresh[rt] = true
		out["refresh_token"] = rt
		out["scope"] = "files.content.read files.content.write files.metadata.read files.metadata.write"
	case "refresh_token":
		s.refreshes++
		if !s.refresh[r.PostForm.Get("refresh_token")] {
			oauthErr(w, "invalid_grant", "refresh token is malformed or revoked")
			return
		}
		// Dropbox does not rotate refresh tokens: none in the answer.
	default:
		oauthErr(w, "unsupported_grant_type", "")
		return
	}
	out["access_token"], _ = s.newAccess()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
