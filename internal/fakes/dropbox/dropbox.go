// Package dropbox is a fake Dropbox API v2 server for tests. It follows
// Dropbox's Stone description of the API (../shared/external/dropbox/*.stone):
// route names (a route "name:2" is served at /2/files/name_v2), argument
// and result field names, and route errors as HTTP 409 with
// {"error_summary": "tag/tag/..", "error": <union value>}, where a union
// value is {".tag": t, t: <value>} or, for a struct value, the struct's
// fields beside ".tag" (Stone's JSON encoding). Arguments that break the
// description's types or patterns are HTTP 400 with a plain-text body, as
// Dropbox answers them.
//
// Served: users/get_current_account; files/get_metadata, list_folder(+
// /continue), create_folder_v2, delete_v2, copy_v2, get_temporary_link
// (RPC); files/upload, download, upload_session/start, append_v2, finish
// (content, Dropbox-API-Arg header or arg parameter). Uploads check the
// content_hash argument when one is sent (content_hash_mismatch otherwise);
// sessions enforce the offset rule (incorrect_offset with correct_offset),
// close, and for concurrent sessions the 4 MiB offset and chunk rules and
// the closing rules of finish. Metadata carries content_hash. Also: OAuth
// (authorize with automatic consent, token with PKCE and refresh),
// expiring access tokens (401 expired_access_token), scheduled 429s with
// Retry-After, ranged downloads and temporary links. Limits are
// configurable so tests stay small.
//
// Not modelled: namespaces and team spaces, ids and revisions as paths,
// autorename, batch routes, shared links, move, list_folder/longpoll,
// ETag/If-None-Match, scopes, session expiry, and cursors going stale.
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
	MaxRequest             int64         // largest request body; default 150 MiB
	ChunkMultiple          int64         // concurrent-session rule; default 4 MiB
	// StrictChunks applies the concurrent-session chunk rule (every append
	// but a closing one a multiple of ChunkMultiple) to sequential sessions
	// too, to check a client's chunking.
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
	// corruptIn and corruptAt count the next upload bodies to damage in
	// transit (before the content_hash check) and at rest (after it).
	corruptIn, corruptAt int
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
	data       []byte           // sequential: the bytes so far
	pieces     map[int64][]byte // concurrent: the chunks by offset
	end        int64            // concurrent: the size, known once closed
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
		opts.MaxRequest = 150 << 20
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

// CorruptUploads damages the body of the next n requests that carry file
// content (upload, upload_session/* with a non-empty body) in transit: a
// byte flips before the server checks the content_hash argument and stores
// the bytes.
func (s *Server) CorruptUploads(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corruptIn += n
}

// CorruptCommits damages the next n files that upload or
// upload_session/finish commit, after every check: the stored bytes (and
// the content_hash the server answers) differ from what was sent, as a
// faulty server would have them.
func (s *Server) CorruptCommits(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corruptAt += n
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

// ContentHash is Dropbox's content_hash of b: SHA-256 of the concatenated
// SHA-256 digests of its 4 MiB blocks.
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

// apiError is an answer other than 200: a route error (409, body and
// summary from a union value), 401, 429, or a 400 with a plain-text body.
type apiError struct {
	status  int
	summary string
	body    map[string]any
}

// u is the Stone union value {".tag": tag} or, with a value,
// {".tag": tag, tag: value}.
func u(tag string, value ...map[string]any) map[string]any {
	v := map[string]any{".tag": tag}
	if len(value) > 0 {
		v[tag] = value[0]
	}
	return v
}

// us is a union member whose value is a struct: its fields sit beside
// ".tag".
func us(tag string, fields map[string]any) map[string]any {
	v := map[string]any{".tag": tag}
	for k, f := range fields {
		v[k] = f
	}
	return v
}

// summary is the error_summary Dropbox derives from a union value: the
// tags from the outside in, then "/..".
func summary(v map[string]any) string {
	var tags []string
	for v != nil {
		tag, _ := v[".tag"].(string)
		tags = append(tags, tag)
		next, _ := v[tag].(map[string]any)
		if next == nil {
			// A struct member: follow its one union field (reason).
			for k, f := range v {
				if m, ok := f.(map[string]any); ok && k != ".tag" && m[".tag"] != nil {
					next = m
					break
				}
			}
		}
		v = next
	}
	return strings.Join(tags, "/") + "/.."
}

// routeErr is the 409 of a route's error union.
func routeErr(v map[string]any) *apiError {
	return &apiError{status: http.StatusConflict, summary: summary(v), body: v}
}

// badInput is a 400: the request breaks the description's types or
// patterns.
func badInput(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, summary: fmt.Sprintf(format, args...)}
}

func writeErr(w http.ResponseWriter, route string, e *apiError) {
	if e.status == http.StatusBadRequest { // plain text, as Dropbox does
		http.Error(w, fmt.Sprintf("Error in call to API function %q: %s", route, e.summary), e.status)
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

// Content routes carry file data in the body (upload style) or answer with
// it (download style); their argument is the Dropbox-API-Arg header.
var contentRoutes = map[string]bool{"files/upload": true, "files/download": true,
	"files/upload_session/start": true, "files/upload_session/append_v2": true, "files/upload_session/finish": true}

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
	route := strings.TrimPrefix(r.URL.Path, "/2/")
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
		// auth.RateLimitError: a struct, not a union.
		writeErr(w, route, &apiError{status: http.StatusTooManyRequests, summary: "too_many_requests/..",
			body: map[string]any{"reason": u("too_many_requests"), "retry_after": secs}})
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	exp, ok := s.access[tok]
	s.mu.Unlock()
	switch {
	case !ok:
		writeErr(w, route, &apiError{status: http.StatusUnauthorized, summary: "invalid_access_token/..",
			body: u("invalid_access_token")})
		return
	case !time.Now().Before(exp):
		writeErr(w, route, &apiError{status: http.StatusUnauthorized, summary: "expired_access_token/..",
			body: u("expired_access_token")})
		return
	}
	if contentRoutes[route] {
		s.content(w, r, route)
		return
	}
	var arg map[string]any
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &arg)
	}
	if err != nil {
		writeErr(w, route, badInput("could not decode input as JSON"))
		return
	}
	s.mu.Lock()
	out, aerr := s.rpc(route, arg)
	s.mu.Unlock()
	if aerr != nil {
		writeErr(w, route, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func str(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

func boolArg(m map[string]any, k string) bool {
	v, _ := m[k].(bool)
	return v
}

// tagArg reads a void union member, which Stone accepts as "tag" or as
// {".tag": "tag"}.
func tagArg(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case map[string]any:
		return str(v, ".tag")
	}
	return ""
}

// normPath checks a path argument and returns its lookup key ("" is the
// root, allowed only where rootOK). A path that breaks the argument's
// pattern is a 400; one that fits it but is no valid path (a trailing
// slash, an empty component) is malformed, which each route reports in
// its own union.
func normPath(p string, rootOK bool) (key string, malformed bool, bad *apiError) {
	switch {
	case p == "" && rootOK:
		return "", false, nil
	case !strings.HasPrefix(p, "/") || !utf8.ValidString(p):
		return "", false, badInput("path: %q did not match pattern '(/(.|[\\r\\n])*)'", p)
	case strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		return "", true, nil
	}
	return strings.ToLower(p), false, nil
}

// lookup resolves a path argument to an entry for the routes whose error
// is a LookupError under the member outer. As on Dropbox, the path may be
// a file or folder id ("id:...") instead.
func (s *Server) lookup(p, outer string, rootOK bool) (string, *entry, *apiError) {
	if strings.HasPrefix(p, "id:") {
		for key, e := range s.files {
			if e.id == p {
				return key, e, nil
			}
		}
		return "", nil, routeErr(u(outer, u("not_found")))
	}
	key, malformed, bad := normPath(p, rootOK)
	switch {
	case bad != nil:
		return "", nil, bad
	case malformed:
		return "", nil, routeErr(u(outer, u("malformed_path")))
	}
	e, ok := s.files[key]
	if !ok {
		return "", nil, routeErr(u(outer, u("not_found")))
	}
	return key, e, nil
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
	m["is_downloadable"] = true
	ts := e.modified.UTC().Format("2006-01-02T15:04:05Z")
	m["server_modified"], m["client_modified"] = ts, ts
	return m
}

// mkdirs creates the parents of p (a display path) as folders. A file in
// the way is the WriteError conflict/file_ancestor.
func (s *Server) mkdirs(p string) map[string]any {
	dir := path.Dir(p)
	if dir == "/" {
		return nil
	}
	if e, ok := s.files[strings.ToLower(dir)]; ok {
		if !e.folder {
			return u("conflict", u("file_ancestor"))
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

// put commits data as the file commit (a CommitInfo) names. It returns the
// entry, a WriteError union value, or a 400.
func (s *Server) put(commit map[string]any, data []byte) (*entry, map[string]any, *apiError) {
	p := str(commit, "path")
	key, malformed, bad := normPath(p, false)
	switch {
	case bad != nil:
		return nil, nil, bad
	case malformed:
		return nil, u("malformed_path"), nil
	}
	mode, rev := "add", ""
	switch v := commit["mode"].(type) {
	case nil:
	case string:
		mode = v
	case map[string]any:
		mode, rev = str(v, ".tag"), str(v, "update")
	}
	if mode != "add" && mode != "overwrite" && (mode != "update" || rev == "") {
		return nil, nil, badInput("mode: unknown WriteMode %v", commit["mode"])
	}
	strict := boolArg(commit, "strict_conflict")
	old, exists := s.files[key]
	switch {
	case exists && old.folder:
		return nil, u("conflict", u("folder")), nil
	case exists && !strict && string(old.data) == string(data):
		return old, nil, nil // identical contents: nothing is written
	case exists && mode == "add", exists && mode == "update" && old.rev != rev, !exists && mode == "update" && strict:
		return nil, u("conflict", u("file")), nil
	}
	if err := s.mkdirs(p); err != nil {
		return nil, err, nil
	}
	if s.corruptAt > 0 {
		s.corruptAt--
		data = corrupt(data)
	}
	s.seq++
	e := &entry{display: p, data: data, rev: fmt.Sprintf("%09x", s.seq), id: fmt.Sprintf("id:%d", s.seq), modified: time.Now()}
	if exists {
		e.display, e.id = old.display, old.id
	}
	s.files[key] = e
	return e, nil, nil
}

// corrupt returns a copy of b with one byte changed (or one byte, for an
// empty b).
func corrupt(b []byte) []byte {
	c := append([]byte(nil), b...)
	if len(c) == 0 {
		return []byte{0}
	}
	c[len(c)/2] ^= 0x55
	return c
}

func (s *Server) rpc(route string, arg map[string]any) (any, *apiError) {
	switch route {
	case "users/get_current_account":
		// FullAccount with every field users.stone requires.
		return map[string]any{"account_id": "dbid:fake", "email": "fake@example.com",
			"name": map[string]any{"given_name": "Fake", "surname": "User", "familiar_name": "Fake",
				"display_name": "Fake User", "abbreviated_name": "FU"},
			"email_verified": true, "disabled": false, "locale": "en", "is_paired": false,
			"referral_link": s.URL + "/referrals/fake", "account_type": u("basic"),
			"root_info": map[string]any{".tag": "user", "root_namespace_id": "1", "home_namespace_id": "1"}}, nil
	case "files/get_metadata":
		// ReadPath: the root has no metadata ("" breaks the pattern).
		_, e, aerr := s.lookup(str(arg, "path"), "path", false)
		if aerr != nil {
			return nil, aerr
		}
		return s.meta(e), nil
	case "files/list_folder":
		return s.listFolder(arg)
	case "files/list_folder/continue":
		id := str(arg, "cursor")
		if id == "" {
			return nil, badInput("cursor: string is shorter than 1")
		}
		c, ok := s.cursors[id]
		if !ok {
			return nil, routeErr(u("reset"))
		}
		return s.page(id, c, s.opts.ListLimit), nil
	case "files/create_folder_v2":
		p := str(arg, "path")
		key, malformed, bad := normPath(p, false)
		switch {
		case bad != nil:
			return nil, bad
		case malformed:
			return nil, routeErr(u("path", u("malformed_path")))
		}
		if e, ok := s.files[key]; ok {
			what := "file"
			if e.folder {
				what = "folder"
			}
			return nil, routeErr(u("path", u("conflict", u(what))))
		}
		if werr := s.mkdirs(p); werr != nil {
			return nil, routeErr(u("path", werr))
		}
		s.seq++
		e := &entry{display: p, folder: true, id: fmt.Sprintf("id:%d", s.seq)}
		s.files[key] = e
		return map[string]any{"metadata": s.meta(e)}, nil
	case "files/delete_v2":
		key, e, aerr := s.lookup(str(arg, "path"), "path_lookup", false)
		if aerr != nil {
			return nil, aerr
		}
		if rev := str(arg, "parent_rev"); rev != "" {
			// The description says parent_rev does not support folders and
			// that a file is deleted only at that rev; it names no error
			// for either, so these are the nearest members.
			if e.folder {
				return nil, routeErr(u("path_lookup", u("not_file")))
			}
			if e.rev != rev {
				return nil, routeErr(u("path_write", u("conflict", u("file"))))
			}
		}
		m := s.meta(e)
		s.remove(key)
		return map[string]any{"metadata": m}, nil
	case "files/copy_v2":
		return s.copy(arg)
	case "files/get_temporary_link":
		key, e, aerr := s.lookup(str(arg, "path"), "path", false)
		if aerr != nil {
			return nil, aerr
		}
		if e.folder {
			return nil, routeErr(u("path", u("not_file")))
		}
		id := s.random()
		s.links[id] = key
		return map[string]any{"metadata": s.meta(e), "link": s.URL + "/tl/" + id}, nil
	}
	return nil, badInput("unknown route %s", route)
}

// remove deletes key and everything under it.
func (s *Server) remove(key string) {
	for k := range s.files {
		if k == key || strings.HasPrefix(k, key+"/") {
			delete(s.files, k)
		}
	}
}

// copy is files/copy_v2 (RelocationArg, RelocationResult, RelocationError):
// a file or a folder with everything under it; the destination must be
// free.
func (s *Server) copy(arg map[string]any) (any, *apiError) {
	fromKey, src, aerr := s.lookup(str(arg, "from_path"), "from_lookup", false)
	if aerr != nil {
		return nil, aerr
	}
	to := str(arg, "to_path")
	toKey, malformed, bad := normPath(to, false)
	switch {
	case bad != nil:
		return nil, bad
	case malformed:
		return nil, routeErr(u("to", u("malformed_path")))
	case toKey == fromKey || strings.HasPrefix(toKey, fromKey+"/"):
		return nil, routeErr(u("duplicated_or_nested_paths"))
	}
	if e, ok := s.files[toKey]; ok {
		what := "file"
		if e.folder {
			what = "folder"
		}
		return nil, routeErr(u("to", u("conflict", u(what))))
	}
	if werr := s.mkdirs(to); werr != nil {
		return nil, routeErr(u("to", werr))
	}
	var keys []string
	for k := range s.files {
		if k == fromKey || strings.HasPrefix(k, fromKey+"/") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // parents first
	var top *entry
	for _, k := range keys {
		e := s.files[k]
		s.seq++
		c := &entry{display: to + e.display[len(src.display):], folder: e.folder, data: e.data,
			rev: fmt.Sprintf("%09x", s.seq), id: fmt.Sprintf("id:%d", s.seq), modified: time.Now()}
		if e.folder {
			c.rev = ""
		}
		s.files[toKey+k[len(fromKey):]] = c
		if k == fromKey {
			top = c
		}
	}
	return map[string]any{"metadata": s.meta(top)}, nil
}

func (s *Server) listFolder(arg map[string]any) (any, *apiError) {
	key, dir, aerr := s.lookup(str(arg, "path"), "path", true)
	if aerr != nil {
		return nil, aerr
	}
	if !dir.folder {
		return nil, routeErr(u("path", u("not_folder")))
	}
	limit := s.opts.ListLimit
	if v, ok := arg["limit"]; ok && v != nil {
		l, _ := v.(float64)
		if l < 1 || l > 2000 || l != float64(int(l)) {
			return nil, badInput("limit: %v is not a UInt32 in [1, 2000]", v)
		}
		limit = min(limit, int(l))
	}
	recursive := boolArg(arg, "recursive")
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
	for i := 0; i < len(raw); i++ {
		if raw[i] >= 0x80 {
			// Dropbox documents header JSON as ASCII, with \uXXXX escapes
			// ("JSON encoding" in its reference); raw UTF-8 is refused.
			writeErr(w, route, badInput("Dropbox-API-Arg: non-ASCII byte; escape it as \\uXXXX"))
			return
		}
	}
	if raw == "" {
		raw = r.URL.Query().Get("arg")
	}
	var arg map[string]any
	if err := json.Unmarshal([]byte(raw), &arg); err != nil {
		writeErr(w, route, badInput("Dropbox-API-Arg is not JSON"))
		return
	}
	if route == "files/download" {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.download(w, r, arg)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.MaxRequest+1))
	if err != nil {
		return // the client went away
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, aerr := s.upload(route, arg, body)
	if aerr != nil {
		writeErr(w, route, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if out == nil {
		_, _ = w.Write([]byte("null")) // Void
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// upload serves the upload-style routes. Every one of them refuses a body
// over MaxRequest (payload_too_large) and checks the content_hash argument
// against the body when it is given (content_hash_mismatch): both are
// members of each route's error union.
func (s *Server) upload(route string, arg map[string]any, body []byte) (any, *apiError) {
	if int64(len(body)) > s.opts.MaxRequest {
		return nil, routeErr(u("payload_too_large"))
	}
	if s.corruptIn > 0 && len(body) > 0 {
		s.corruptIn--
		body = corrupt(body)
	}
	if v, ok := arg["content_hash"]; ok && v != nil {
		h, _ := v.(string)
		if len(h) != 64 { // Sha256HexHash
			return nil, badInput("content_hash: %v is not a string of 64 characters", v)
		}
		if !strings.EqualFold(h, ContentHash(body)) {
			return nil, routeErr(u("content_hash_mismatch"))
		}
	}
	switch route {
	case "files/upload":
		e, werr, bad := s.put(arg, body)
		switch {
		case bad != nil:
			return nil, bad
		case werr != nil:
			// UploadWriteFailed: the data waits in a closed session that
			// upload_session/finish can commit elsewhere.
			id := s.newSession(&session{data: body, closed: true})
			return nil, routeErr(us("path", map[string]any{"reason": werr, "upload_session_id": id}))
		}
		return s.meta(e), nil
	case "files/upload_session/start":
		ss := &session{data: body, closed: boolArg(arg, "close")}
		switch tagArg(arg, "session_type") {
		case "", "sequential":
		case "concurrent":
			ss.concurrent, ss.data, ss.pieces = true, nil, map[int64][]byte{}
			if len(body) > 0 {
				return nil, routeErr(u("concurrent_session_data_not_allowed"))
			}
			if ss.closed {
				return nil, routeErr(u("concurrent_session_close_not_allowed"))
			}
		default:
			return nil, badInput("session_type: unknown UploadSessionType %v", arg["session_type"])
		}
		if s.opts.StrictChunks && !ss.closed && int64(len(body))%s.opts.ChunkMultiple != 0 {
			return nil, badInput("StrictChunks: a non-closing chunk of %d bytes is not a multiple of %d", len(body), s.opts.ChunkMultiple)
		}
		return map[string]any{"session_id": s.newSession(ss)}, nil
	case "files/upload_session/append_v2":
		// UploadSessionAppendError: the lookup members are top-level.
		if lerr := s.appendChunk(arg, body, boolArg(arg, "close")); lerr != nil {
			return nil, routeErr(lerr)
		}
		return nil, nil
	case "files/upload_session/finish":
		return s.finish(arg, body)
	}
	return nil, badInput("unknown route %s", route)
}

func (s *Server) newSession(ss *session) string {
	id := "pid_upload_session:" + s.random()
	s.sessions[id] = ss
	return id
}

// appendChunk adds body at the cursor of arg. The error is an
// UploadSessionLookupError member (UploadSessionAppendError has the same
// ones).
func (s *Server) appendChunk(arg map[string]any, body []byte, closing bool) map[string]any {
	cur, _ := arg["cursor"].(map[string]any)
	ss, ok := s.sessions[str(cur, "session_id")]
	if !ok {
		return u("not_found")
	}
	off := offset(cur)
	mult := s.opts.ChunkMultiple
	if ss.concurrent {
		switch {
		case ss.closed && (closing || off+int64(len(body)) > ss.end):
			// Chunks before the closing one may still land: concurrent
			// appends arrive in any order.
			return u("closed")
		case off%mult != 0:
			return u("concurrent_session_invalid_offset")
		case !closing && int64(len(body))%mult != 0:
			return u("concurrent_session_invalid_data_size")
		}
		ss.pieces[off] = body
		if closing {
			ss.closed, ss.end = true, off+int64(len(body))
		}
		return nil
	}
	switch {
	case off != int64(len(ss.data)):
		// Before closed: a retried closing append whose answer was lost
		// learns that it landed.
		return us("incorrect_offset", map[string]any{"correct_offset": len(ss.data)})
	case ss.closed:
		return u("closed")
	case s.opts.StrictChunks && !closing && int64(len(body))%mult != 0:
		return u("concurrent_session_invalid_data_size")
	}
	ss.data = append(ss.data, body...)
	ss.closed = closing
	return nil
}

// offset reads UploadSessionCursor.offset (UInt64); -1 when missing.
func offset(cur map[string]any) int64 {
	f, ok := cur["offset"].(float64)
	if !ok {
		return -1
	}
	return int64(f)
}

// finish is upload_session/finish (UploadSessionFinishArg, FileMetadata,
// UploadSessionFinishError).
func (s *Server) finish(arg map[string]any, body []byte) (any, *apiError) {
	cur, _ := arg["cursor"].(map[string]any)
	id := str(cur, "session_id")
	ss, ok := s.sessions[id]
	if !ok {
		return nil, routeErr(u("lookup_failed", u("not_found")))
	}
	if ss.concurrent {
		switch {
		case len(body) > 0:
			return nil, routeErr(u("concurrent_session_data_not_allowed"))
		case !ss.closed:
			return nil, routeErr(u("concurrent_session_not_closed"))
		}
		var data []byte
		for int64(len(data)) < ss.end {
			piece, ok := ss.pieces[int64(len(data))]
			if !ok {
				return nil, routeErr(u("concurrent_session_missing_data"))
			}
			data = append(data, piece...)
		}
		if off := offset(cur); off != ss.end {
			return nil, routeErr(u("lookup_failed", us("incorrect_offset", map[string]any{"correct_offset": ss.end})))
		}
		ss.data, ss.pieces, ss.concurrent = data, nil, false // committed like a sequential one
	} else {
		switch {
		case offset(cur) != int64(len(ss.data)):
			return nil, routeErr(u("lookup_failed", us("incorrect_offset", map[string]any{"correct_offset": len(ss.data)})))
		case ss.closed && len(body) > 0:
			return nil, routeErr(u("lookup_failed", u("closed")))
		}
		// The data is appended even when the commit fails: the client
		// retries with an empty body and the new offset.
		ss.data = append(ss.data, body...)
	}
	commit, _ := arg["commit"].(map[string]any)
	e, werr, bad := s.put(commit, ss.data)
	switch {
	case bad != nil:
		return nil, bad
	case werr != nil:
		return nil, routeErr(u("path", werr))
	}
	delete(s.sessions, id)
	return s.meta(e), nil
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, arg map[string]any) {
	_, e, aerr := s.lookup(str(arg, "path"), "path", false)
	if aerr != nil {
		writeErr(w, "files/download", aerr)
		return
	}
	if e.folder {
		writeErr(w, "files/download", routeErr(u("path", u("not_file"))))
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
