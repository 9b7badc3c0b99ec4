// Package onedrive is a fake of the OneDrive part of Microsoft Graph v1.0:
// /me/drive, /me/drives, items by id and by "id:/name:" path, children with
// $top, $orderby=name and @odata.nextLink, simple PUT uploads, upload
// sessions as Microsoft documents them (driveitem-createuploadsession):
// pre-authenticated uploadUrl (401 with an Authorization header),
// conflictBehavior "fail" by default (409 nameAlreadyExists, also when the
// last fragment lands), fragments in order, each less than 60 MiB and a
// multiple of 320 KiB but the last, the same total on every one, 202 with
// nextExpectedRanges, 416 on a wrong offset, 200/201 with the driveItem at
// the end, GET status (200), DELETE cancel (204). Also content downloads
// through a 302 to a pre-authenticated URL with Range, file.hashes.
// quickXorHash, Graph's error JSON, 429 with Retry-After, expiring tokens
// and a token endpoint. Names are unique per folder, case-insensitively.
//
// Not modelled: delta, copy monitors, sharing links, thumbnails, SharePoint
// sites, $select (every field is always returned), recycle bin and quotas.
package onedrive

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amove/amove-go/internal/fakes/fakeauth"
	"github.com/amove/amove-go/provider/hash/quickxor"
)

// QuickXorHash returns data's quickXorHash as Graph reports it: base64.
func QuickXorHash(data []byte) string {
	h := quickxor.New()
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Options are the fake's limits; zero values take Graph's.
type Options struct {
	MaxPageSize      int   // children page cap (1,000)
	FragmentMultiple int64 // 320 KiB
	MaxFragment      int64 // fragments must be less than this (60 MiB)
	SimpleMax        int64 // simple PUT limit (250 MB)
}

type item struct {
	ID       string
	Name     string
	Folder   bool
	Parent   string
	Data     []byte
	QuickXor string // of Data, computed once when it is stored, as Graph does
	Mime     string
	Created  time.Time
	Modified time.Time
	ETag     string
}

type session struct {
	parent, name string
	conflict     string // @microsoft.graph.conflictBehavior
	total        int64
	data         []byte
}

// Server is the fake.
type Server struct {
	*httptest.Server
	Auth     *fakeauth.Auth
	Throttle fakeauth.Throttle
	// Sessions counts upload sessions created.
	SessionsCreated atomic.Int64
	// Corrupt, when set, makes the server damage what it stores: the first
	// byte of every file written afterwards is flipped, so the quickXorHash
	// it reports describes other bytes than were sent (a test switch).
	Corrupt atomic.Bool
	DriveID string
	opts    Options

	mu       sync.Mutex
	items    map[string]*item
	children map[string]map[string]*item // parent -> lower(name) -> item
	sessions map[string]*session
	rootID   string
}

// New starts a fake with one drive.
func New(opts Options) *Server {
	if opts.MaxPageSize == 0 {
		opts.MaxPageSize = 1000
	}
	if opts.FragmentMultiple == 0 {
		opts.FragmentMultiple = 320 << 10
	}
	if opts.MaxFragment == 0 {
		opts.MaxFragment = 60 << 20
	}
	if opts.SimpleMax == 0 {
		opts.SimpleMax = 250_000_000
	}
	s := &Server{
		Auth:     fakeauth.New(false),
		DriveID:  "b!" + fakeauth.ID(20),
		opts:     opts,
		items:    map[string]*item{},
		children: map[string]map[string]*item{},
		sessions: map[string]*session{},
	}
	s.rootID = "01" + strings.ToUpper(fakeauth.ID(30))
	now := time.Now().UTC()
	s.items[s.rootID] = &item{ID: s.rootID, Name: "root", Folder: true, Created: now, Modified: now, ETag: fakeauth.ID(8)}
	s.Server = httptest.NewServer(s)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]string{
			"date":              time.Now().UTC().Format(time.RFC3339),
			"request-id":        fakeauth.ID(32),
			"client-request-id": fakeauth.ID(32),
		},
	}})
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "itemNotFound", "The resource could not be found.")
}

func (s *Server) driveJSON() map[string]any {
	return map[string]any{"id": s.DriveID, "name": "OneDrive", "driveType": "business",
		"createdDateTime": s.items[s.rootID].Created.Format(time.RFC3339)}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/token":
		s.Auth.ServeToken(w, r)
		return
	case strings.HasPrefix(p, "/upload/"):
		// uploadUrl is pre-authenticated: a bearer token is refused.
		if r.Header.Get("Authorization") != "" {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "Do not send an Authorization header to the upload URL")
			return
		}
		s.fragment(w, r, strings.TrimPrefix(p, "/upload/"))
		return
	case strings.HasPrefix(p, "/download/"):
		s.download(w, r, strings.TrimPrefix(p, "/download/"))
		return
	}
	if !s.Auth.Check(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
		return
	}
	if ok, after := s.Throttle.Take(); ok {
		if after > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(after))
		}
		writeError(w, http.StatusTooManyRequests, "activityLimitReached", "The request has been throttled")
		return
	}
	p, ok := strings.CutPrefix(p, "/v1.0")
	if !ok {
		notFound(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case p == "/me/drive" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.driveJSON())
		return
	case p == "/me/drives" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"value": []any{s.driveJSON()}})
		return
	}
	rest, ok := strings.CutPrefix(p, "/drives/"+s.DriveID)
	if !ok {
		notFound(w)
		return
	}
	if rest == "" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, s.driveJSON())
		return
	}
	// /root or /items/{id}, then optionally ":/name:" and an action.
	var id string
	switch {
	case strings.HasPrefix(rest, "/root"):
		id, rest = s.rootID, strings.TrimPrefix(rest, "/root")
	case strings.HasPrefix(rest, "/items/"):
		rest = strings.TrimPrefix(rest, "/items/")
		i := strings.IndexAny(rest, ":/")
		if i < 0 {
			i = len(rest)
		}
		id, rest = rest[:i], rest[i:]
	default:
		notFound(w)
		return
	}
	parent := id
	name := ""
	if strings.HasPrefix(rest, ":/") {
		end := strings.Index(rest[2:], ":")
		if end < 0 {
			writeError(w, http.StatusBadRequest, "invalidRequest", "Invalid path syntax")
			return
		}
		name, rest = rest[2:2+end], rest[3+end:]
		if strings.Contains(name, "/") {
			writeError(w, http.StatusBadRequest, "invalidRequest", "nested paths are not supported by this fake")
			return
		}
		id = ""
		if c := s.children[parent][strings.ToLower(name)]; c != nil {
			id = c.ID
		}
	}
	if _, ok := s.items[parent]; !ok {
		notFound(w)
		return
	}
	switch {
	case rest == "" && r.Method == http.MethodGet:
		if it := s.items[id]; it != nil {
			writeJSON(w, http.StatusOK, s.json(it))
		} else {
			notFound(w)
		}
	case rest == "" && r.Method == http.MethodDelete:
		it := s.items[id]
		if it == nil || it.ID == s.rootID {
			notFound(w)
			return
		}
		s.remove(it)
		w.WriteHeader(http.StatusNoContent)
	case rest == "/children" && r.Method == http.MethodGet:
		s.list(w, r, id)
	case rest == "/children" && r.Method == http.MethodPost:
		s.mkdir(w, r, id)
	case rest == "/content" && r.Method == http.MethodGet:
		it := s.items[id]
		if it == nil || it.Folder {
			notFound(w)
			return
		}
		http.Redirect(w, r, s.downloadURL(it), http.StatusFound)
	case rest == "/content" && r.Method == http.MethodPut:
		s.simple(w, r, parent, name, id)
	case rest == "/createUploadSession" && r.Method == http.MethodPost && name != "":
		s.createSession(w, r, parent, name)
	default:
		writeError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request "+r.Method+" "+rest)
	}
}

func (s *Server) downloadURL(it *item) string {
	return s.URL + "/download/" + it.ID + "?tempauth=" + fakeauth.ID(24)
}

func (s *Server) json(it *item) map[string]any {
	m := map[string]any{
		"id":                   it.ID,
		"name":                 it.Name,
		"eTag":                 `"{` + it.ETag + `},1"`,
		"cTag":                 `"c:{` + it.ETag + `},1"`,
		"createdDateTime":      it.Created.Format(time.RFC3339),
		"lastModifiedDateTime": it.Modified.Format(time.RFC3339),
		"size":                 len(it.Data),
	}
	if it.Parent != "" {
		m["parentReference"] = map[string]string{"driveId": s.DriveID, "driveType": "business", "id": it.Parent}
	}
	if it.Folder {
		m["folder"] = map[string]int{"childCount": len(s.children[it.ID])}
	} else {
		m["file"] = map[string]any{"mimeType": it.Mime, "hashes": map[string]string{"quickXorHash": it.QuickXor}}
		m["@microsoft.graph.downloadUrl"] = s.downloadURL(it)
	}
	return m
}

func (s *Server) remove(it *item) {
	for _, c := range s.children[it.ID] {
		s.remove(c)
	}
	delete(s.children, it.ID)
	delete(s.children[it.Parent], strings.ToLower(it.Name))
	delete(s.items, it.ID)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, id string) {
	it := s.items[id]
	if it == nil || !it.Folder {
		notFound(w)
		return
	}
	q := r.URL.Query()
	top := 200
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalidRequest", "Invalid $top")
			return
		}
		top = n
	}
	top = min(top, s.opts.MaxPageSize)
	var kids []*item
	for _, c := range s.children[id] {
		kids = append(kids, c)
	}
	switch q.Get("$orderby") {
	case "name", "name asc":
		slices.SortFunc(kids, func(a, b *item) int { return strings.Compare(a.Name, b.Name) })
	case "":
		slices.SortFunc(kids, func(a, b *item) int { return strings.Compare(a.ID, b.ID) })
	default:
		writeError(w, http.StatusBadRequest, "invalidRequest", "Unsupported $orderby")
		return
	}
	off := 0
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			off, err = strconv.Atoi(string(b))
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalidRequest", "Invalid $skiptoken")
			return
		}
	}
	end := min(off+top, len(kids))
	out := []any{}
	for _, c := range kids[min(off, len(kids)):end] {
		out = append(out, s.json(c))
	}
	resp := map[string]any{"value": out}
	if end < len(kids) {
		q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		resp["@odata.nextLink"] = s.URL + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, resp)
}

type itemBody struct {
	Name     string          `json:"name"`
	Folder   json.RawMessage `json:"folder"`
	Conflict string          `json:"@microsoft.graph.conflictBehavior"`
}

func validName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `"*:<>?/\|`) && len(name) <= 400
}

func (s *Server) mkdir(w http.ResponseWriter, r *http.Request, parent string) {
	var b itemBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Folder == nil || !validName(b.Name) {
		writeError(w, http.StatusBadRequest, "invalidRequest", "Invalid request body")
		return
	}
	if p := s.items[parent]; p == nil || !p.Folder {
		notFound(w)
		return
	}
	if old := s.children[parent][strings.ToLower(b.Name)]; old != nil {
		switch b.Conflict {
		case "", "fail":
			writeError(w, http.StatusConflict, "nameAlreadyExists", "The specified item name already exists.")
			return
		case "replace":
			s.remove(old)
		}
	}
	it := s.put(parent, b.Name, nil, "", true)
	writeJSON(w, http.StatusCreated, s.json(it))
}

// put stores a new item or replaces the content of an existing file.
func (s *Server) put(parent, name string, data []byte, mime string, folder bool) *item {
	now := time.Now().UTC()
	it := s.children[parent][strings.ToLower(name)]
	if it == nil {
		it = &item{ID: "01" + strings.ToUpper(fakeauth.ID(30)), Name: name, Parent: parent, Folder: folder, Created: now}
		if s.children[parent] == nil {
			s.children[parent] = map[string]*item{}
		}
		s.children[parent][strings.ToLower(name)] = it
		s.items[it.ID] = it
	}
	if mime == "" {
		mime = "application/octet-stream"
	}
	if !folder && s.Corrupt.Load() && len(data) > 0 {
		data = bytes.Clone(data)
		data[0] ^= 0xff
	}
	it.Data, it.Mime, it.Modified, it.ETag = data, mime, now, fakeauth.ID(8)
	if !folder {
		it.QuickXor = QuickXorHash(data)
	}
	return it
}

var ctRE = regexp.MustCompile(`^[\w.+-]+/[\w.+-]+`)

func (s *Server) simple(w http.ResponseWriter, r *http.Request, parent, name, id string) {
	if r.ContentLength > s.opts.SimpleMax {
		writeError(w, http.StatusRequestEntityTooLarge, "requestTooLarge", "Simple upload is limited")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.opts.SimpleMax+1))
	if err != nil {
		return
	}
	if int64(len(data)) > s.opts.SimpleMax {
		writeError(w, http.StatusRequestEntityTooLarge, "requestTooLarge", "Simple upload is limited")
		return
	}
	if name == "" { // PUT /items/{id}/content: a new version
		it := s.items[id]
		if it == nil || it.Folder {
			notFound(w)
			return
		}
		parent, name = it.Parent, it.Name
	}
	if !validName(name) {
		writeError(w, http.StatusBadRequest, "invalidRequest", "The provided name contains invalid characters")
		return
	}
	if old := s.children[parent][strings.ToLower(name)]; old != nil && old.Folder {
		writeError(w, http.StatusConflict, "nameAlreadyExists", "The specified item name already exists.")
		return
	}
	status := http.StatusCreated
	if s.children[parent][strings.ToLower(name)] != nil {
		status = http.StatusOK
	}
	it := s.put(parent, name, data, ctRE.FindString(r.Header.Get("Content-Type")), false)
	writeJSON(w, status, s.json(it))
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, parent, name string) {
	if !validName(name) {
		writeError(w, http.StatusBadRequest, "invalidRequest", "The provided name contains invalid characters")
		return
	}
	var body struct {
		Item itemBody `json:"item"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	conflict := body.Item.Conflict
	if conflict == "" {
		conflict = "fail" // Graph's default for upload sessions
	}
	if conflict != "fail" && conflict != "replace" {
		writeError(w, http.StatusBadRequest, "invalidRequest", "This fake supports conflictBehavior fail and replace only")
		return
	}
	if old := s.children[parent][strings.ToLower(name)]; old != nil && (conflict == "fail" || old.Folder) {
		writeError(w, http.StatusConflict, "nameAlreadyExists", "The specified item name already exists.")
		return
	}
	s.SessionsCreated.Add(1)
	sid := fakeauth.ID(40)
	s.sessions[sid] = &session{parent: parent, name: name, conflict: conflict, total: -1}
	writeJSON(w, http.StatusOK, map[string]any{
		"uploadUrl":          s.URL + "/upload/" + sid + "?tempauth=" + fakeauth.ID(24),
		"expirationDateTime": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339),
		"nextExpectedRanges": []string{"0-"},
	})
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

func (s *Server) fragment(w http.ResponseWriter, r *http.Request, sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[sid]
	if sess == nil {
		writeError(w, http.StatusNotFound, "itemNotFound", "The upload session was not found")
		return
	}
	status := func(code int) {
		writeJSON(w, code, map[string]any{
			"expirationDateTime": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339),
			"nextExpectedRanges": []string{fmt.Sprintf("%d-", len(sess.data))},
		})
	}
	switch r.Method {
	case http.MethodGet: // upload status
		status(http.StatusOK)
		return
	case http.MethodDelete:
		delete(s.sessions, sid)
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPut:
	default:
		writeError(w, http.StatusMethodNotAllowed, "invalidRequest", "method")
		return
	}
	m := contentRangeRE.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		writeError(w, http.StatusBadRequest, "invalidRequest", "Content-Range header is required: bytes start-end/total")
		return
	}
	start, _ := strconv.ParseInt(m[1], 10, 64)
	end, _ := strconv.ParseInt(m[2], 10, 64)
	total, _ := strconv.ParseInt(m[3], 10, 64)
	n := end - start + 1
	if r.ContentLength != n {
		writeError(w, http.StatusBadRequest, "invalidRequest", "Content-Length does not match Content-Range")
		return
	}
	if sess.total >= 0 && sess.total != total {
		writeError(w, http.StatusBadRequest, "invalidRequest", "The total size changed")
		return
	}
	have := int64(len(sess.data))
	if start != have {
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "invalidRange",
			fmt.Sprintf("The fragment starts at %d; the next expected range is %d-", start, have))
		return
	}
	final := end+1 == total
	if n >= s.opts.MaxFragment || (!final && n%s.opts.FragmentMultiple != 0) || end >= total {
		writeError(w, http.StatusBadRequest, "invalidRequest",
			fmt.Sprintf("Fragments must be less than %d bytes and multiples of %d bytes, except the last", s.opts.MaxFragment, s.opts.FragmentMultiple))
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil || int64(len(data)) != n {
		writeError(w, http.StatusBadRequest, "invalidRequest", "short body")
		return
	}
	sess.total = total
	sess.data = append(sess.data, data...)
	if !final {
		status(http.StatusAccepted)
		return
	}
	if p := s.items[sess.parent]; p == nil {
		delete(s.sessions, sid)
		notFound(w)
		return
	}
	status2 := http.StatusCreated
	if old := s.children[sess.parent][strings.ToLower(sess.name)]; old != nil {
		if sess.conflict == "fail" || old.Folder {
			// The session is kept until it expires, as on Graph.
			sess.data = sess.data[:start]
			writeError(w, http.StatusConflict, "nameAlreadyExists", "Another file exists with the same name as the uploaded session.")
			return
		}
		status2 = http.StatusOK
	}
	delete(s.sessions, sid)
	it := s.put(sess.parent, sess.name, sess.data, "", false)
	writeJSON(w, status2, s.json(it))
}

var rangeRE = regexp.MustCompile(`^bytes=(\d+)-(\d*)$`)

func (s *Server) download(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	it := s.items[id]
	var data []byte
	if it != nil {
		data = it.Data
	}
	s.mu.Unlock()
	if it == nil || r.URL.Query().Get("tempauth") == "" {
		notFound(w)
		return
	}
	w.Header().Set("Content-Type", it.Mime)
	rh := r.Header.Get("Range")
	if rh == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
		return
	}
	m := rangeRE.FindStringSubmatch(rh)
	if m == nil {
		writeError(w, http.StatusBadRequest, "invalidRange", "Bad Range header")
		return
	}
	start, _ := strconv.ParseInt(m[1], 10, 64)
	end := int64(len(data)) - 1
	if m[2] != "" {
		e, _ := strconv.ParseInt(m[2], 10, 64)
		end = min(e, end)
	}
	if start >= int64(len(data)) || start > end {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "invalidRange", "The requested range is not satisfiable")
		return
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(data)))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(data[start : end+1])
}

// QuickXorOf returns the quickXorHash Graph reports for item id.
func (s *Server) QuickXorOf(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.items[id]; it != nil && !it.Folder {
		return it.QuickXor
	}
	return ""
}
