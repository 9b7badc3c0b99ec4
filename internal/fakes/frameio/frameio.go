// Package frameio is a fake of the Frame.io V4 API as the getting-started
// guide and the V4 Postman collection (../shared/external/frameio/) describe
// it: GET /v4/me (the account_id), workspaces and projects of an account,
// folder children, create/show/delete of folders, and files created with
// POST .../folders/{id}/files {data:{name, media_type, file_size}}, whose
// answer carries upload_urls [{size, url}]: presigned PUT URLs on the fake's
// own host that want exactly their part's bytes, Content-Type equal to the
// media_type and x-amz-acl: private (S3's 403 otherwise) and no bearer
// token. The parts are assembled as soon as all have arrived (no commit
// call), and the file's status goes from "created" to "uploaded". A file's
// bytes come from data.media_links.original.download_url
// (include=media_links.original), a signed URL that honours Range.
//
// Listings are cursor-paged: page_size defaults to 50, more than 100 is
// 422, and links.next is a relative URL carrying only the opaque after
// cursor: the other parameters are not carried over, as the guide warns.
// Children come in creation order, not by name. Unknown fields in a
// request's data are 422 with the guide's error shape
// {"errors":[{"detail","source":{"pointer"},"title"}]}. Every answer has
// the x-ratelimit-* headers; Throttle injects 429 with Retry-After, and
// expired or foreign tokens are 401. The Adobe IMS token endpoint
// (/ims/token/v3) serves refresh grants.
//
// Names need not be unique in a folder (Frame.io keeps both); the driver
// must cope. Not modelled: version stacks (never created, though
// version_stack is a child type the driver skips), comments, shares,
// custom fields, webhooks, remote uploads, transcoding.
package frameio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/amove/amove-go/internal/fakes/fakeauth"
)

// Options are the fake's limits; zero values take the defaults.
type Options struct {
	// MaxPageSize caps page_size (100); DefaultPageSize applies when a
	// request gives none (50).
	MaxPageSize     int
	DefaultPageSize int
	// PartSize is the largest upload part: a file of n bytes gets
	// ceil(n/PartSize) upload URLs of nearly equal size, the first ones a
	// byte larger when n does not divide evenly (the guide's example:
	// 50,645,990 bytes in 16,881,997 + 16,881,997 + 16,881,996). Frame.io
	// does not document its rule; the default is 20 MiB, which gives that
	// example its three parts.
	PartSize int64
}

type item struct {
	ID        string
	Type      string // file or folder
	Name      string
	Parent    string
	Project   string
	MediaType string
	Size      int64
	Status    string // created, uploaded
	Data      []byte
	parts     map[int][]byte
	urls      []upURL
	Created   time.Time
	Updated   time.Time
}

type upURL struct {
	Size int64  `json:"size"`
	URL  string `json:"url"`
}

// Project is a project the fake serves.
type Project struct {
	ID, Name, Workspace, RootFolder string
	Created                         time.Time
}

type workspace struct {
	ID, Name string
	Created  time.Time
}

// Server is the fake.
type Server struct {
	*httptest.Server
	Auth     *fakeauth.Auth
	Throttle fakeauth.Throttle
	// Account is the id of the one account, which GET /v4/me names.
	Account string
	// Project is the project New made ("Fake Workspace:Fake Project").
	Project Project
	// PartsReceived counts upload part PUTs accepted.
	PartsReceived atomic.Int64
	opts          Options
	// secret signs the presigned URLs.
	secret string

	mu         sync.Mutex
	workspaces []*workspace
	projects   []*Project
	items      map[string]*item
	children   map[string][]string // folder id -> child ids in creation order
}

// New starts a fake with one account holding the workspace "Fake
// Workspace" and in it the project "Fake Project".
func New(opts Options) *Server {
	if opts.MaxPageSize == 0 {
		opts.MaxPageSize = 100
	}
	if opts.DefaultPageSize == 0 {
		opts.DefaultPageSize = 50
	}
	if opts.PartSize == 0 {
		opts.PartSize = 20 << 20
	}
	s := &Server{Auth: fakeauth.New(false), Account: uuid(), opts: opts, secret: fakeauth.ID(32),
		items: map[string]*item{}, children: map[string][]string{}}
	s.Server = httptest.NewServer(s)
	s.Project = s.AddProject("Fake Workspace", "Fake Project")
	return s
}

// uuid returns a random id in the form Frame.io uses.
func uuid() string {
	h := fakeauth.ID(32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// AddProject creates the project name in the workspace called workspace
// (made when missing) and returns it.
func (s *Server) AddProject(workspaceName, name string) Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	var ws *workspace
	for _, w := range s.workspaces {
		if w.Name == workspaceName {
			ws = w
		}
	}
	if ws == nil {
		ws = &workspace{ID: uuid(), Name: workspaceName, Created: now}
		s.workspaces = append(s.workspaces, ws)
	}
	p := &Project{ID: uuid(), Name: name, Workspace: ws.ID, Created: now}
	root := &item{ID: uuid(), Type: "folder", Name: "root", Project: p.ID, Created: now, Updated: now}
	s.items[root.ID] = root
	p.RootFolder = root.ID
	s.projects = append(s.projects, p)
	return *p
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the guide's error shape.
func writeError(w http.ResponseWriter, status int, title, detail, pointer string) {
	e := map[string]any{"title": title, "detail": detail}
	if pointer != "" {
		e["source"] = map[string]string{"pointer": pointer}
	}
	writeJSON(w, status, map[string]any{"errors": []any{e}})
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "Not Found", "The requested resource could not be found", "")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/ims/token/v3":
		s.Auth.ServeToken(w, r)
		return
	case strings.HasPrefix(p, "/upload/"):
		s.uploadPart(w, r, strings.TrimPrefix(p, "/upload/"))
		return
	case strings.HasPrefix(p, "/download/"):
		s.download(w, r, strings.TrimPrefix(p, "/download/"))
		return
	}
	w.Header().Set("x-ratelimit-limit", "100")
	w.Header().Set("x-ratelimit-remaining", "99")
	w.Header().Set("x-ratelimit-window", "1000")
	if !s.Auth.Check(r) {
		writeError(w, http.StatusUnauthorized, "Unauthorized", "The Authorization token is missing or invalid", "")
		return
	}
	if ok, after := s.Throttle.Take(); ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(after, 0)))
		w.Header().Set("x-ratelimit-remaining", "0")
		writeError(w, http.StatusTooManyRequests, "Too Many Requests", "Rate limit exceeded", "")
		return
	}
	rest, ok := strings.CutPrefix(p, "/v4/")
	if !ok {
		notFound(w)
		return
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(parts) == 1 && parts[0] == "me" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": "user-1", "account_id": s.Account,
			"name": "Fake User", "email": "fake@example.com"}})
		return
	}
	if len(parts) < 3 || parts[0] != "accounts" {
		notFound(w)
		return
	}
	if parts[1] != s.Account {
		writeError(w, http.StatusForbidden, "Forbidden", "You do not have access to this account", "")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	route := parts[2:]
	m := r.Method
	switch {
	case len(route) == 1 && route[0] == "workspaces" && m == http.MethodGet:
		var out []any
		for _, ws := range s.workspaces {
			out = append(out, map[string]any{"id": ws.ID, "name": ws.Name, "account_id": s.Account,
				"created_at": ws.Created.Format(time.RFC3339Nano), "updated_at": ws.Created.Format(time.RFC3339Nano)})
		}
		s.page(w, r, out)
	case len(route) == 3 && route[0] == "workspaces" && route[2] == "projects" && m == http.MethodGet:
		if !slices.ContainsFunc(s.workspaces, func(ws *workspace) bool { return ws.ID == route[1] }) {
			notFound(w)
			return
		}
		var out []any
		for _, pr := range s.projects {
			if pr.Workspace == route[1] {
				out = append(out, s.projectJSON(pr))
			}
		}
		s.page(w, r, out)
	case len(route) == 2 && route[0] == "projects" && m == http.MethodGet:
		i := slices.IndexFunc(s.projects, func(pr *Project) bool { return pr.ID == route[1] })
		if i < 0 {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": s.projectJSON(s.projects[i])})
	case len(route) == 3 && route[0] == "folders" && route[2] == "children" && m == http.MethodGet:
		s.listChildren(w, r, route[1])
	case len(route) == 3 && route[0] == "folders" && route[2] == "folders" && m == http.MethodPost:
		s.createFolder(w, r, route[1])
	case len(route) == 3 && route[0] == "folders" && route[2] == "files" && m == http.MethodPost:
		s.createFile(w, r, route[1])
	case len(route) == 2 && route[0] == "folders" && m == http.MethodGet:
		s.show(w, r, route[1], "folder")
	case len(route) == 2 && route[0] == "folders" && m == http.MethodPatch:
		s.rename(w, r, route[1])
	case len(route) == 2 && route[0] == "folders" && m == http.MethodDelete:
		s.delete(w, route[1], "folder")
	case len(route) == 2 && route[0] == "files" && m == http.MethodGet:
		s.show(w, r, route[1], "file")
	case len(route) == 2 && route[0] == "files" && m == http.MethodDelete:
		s.delete(w, route[1], "file")
	default:
		notFound(w)
	}
}

func (s *Server) projectJSON(p *Project) map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "workspace_id": p.Workspace, "root_folder_id": p.RootFolder,
		"created_at": p.Created.Format(time.RFC3339Nano), "updated_at": p.Created.Format(time.RFC3339Nano)}
}

// page answers one page of all: page_size from the request (default 50,
// at most 100) and a links.next that carries only the after cursor.
func (s *Server) page(w http.ResponseWriter, r *http.Request, all []any) {
	q := r.URL.Query()
	size := s.opts.DefaultPageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.opts.MaxPageSize {
			writeError(w, http.StatusUnprocessableEntity, "Invalid value",
				fmt.Sprintf("page_size must be between 1 and %d", s.opts.MaxPageSize), "/page_size")
			return
		}
		size = n
	}
	offset := 0
	if v := q.Get("after"); v != "" {
		b, err := base64.URLEncoding.DecodeString(v)
		if err == nil {
			offset, err = strconv.Atoi(strings.TrimPrefix(string(b), "offset:"))
		}
		if err != nil || offset < 0 {
			writeError(w, http.StatusUnprocessableEntity, "Invalid value", "Invalid cursor", "/after")
			return
		}
	}
	offset = min(offset, len(all))
	end := min(offset+size, len(all))
	out := map[string]any{"data": append([]any{}, all[offset:end]...), "links": map[string]any{"next": nil}}
	if end < len(all) {
		cursor := base64.URLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
		out["links"] = map[string]any{"next": r.URL.Path + "?after=" + strings.ReplaceAll(cursor, "=", "%3D")}
	}
	if q.Get("include_total_count") == "true" {
		out["total_count"] = len(all)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) itemJSON(r *http.Request, it *item) map[string]any {
	m := map[string]any{"id": it.ID, "name": it.Name, "type": it.Type, "parent_id": it.Parent,
		"project_id": it.Project, "created_at": it.Created.Format(time.RFC3339Nano),
		"updated_at": it.Updated.Format(time.RFC3339Nano), "creator_id": "user-1",
		"view_url": s.URL + "/view/" + it.ID}
	if it.Type == "file" {
		m["file_size"] = it.Size
		m["media_type"] = it.MediaType
		m["status"] = it.Status
		if slices.Contains(strings.Split(r.URL.Query().Get("include"), ","), "media_links.original") {
			var orig any
			if it.Status != "created" {
				orig = map[string]any{"download_url": s.sign("/download/"+it.ID, time.Hour),
					"inline_url": s.sign("/download/"+it.ID, time.Hour)}
			}
			m["media_links"] = map[string]any{"original": orig}
		}
	}
	return m
}

func (s *Server) listChildren(w http.ResponseWriter, r *http.Request, id string) {
	f := s.items[id]
	if f == nil || f.Type != "folder" {
		notFound(w)
		return
	}
	var out []any
	for _, c := range s.children[id] {
		out = append(out, s.itemJSON(r, s.items[c]))
	}
	s.page(w, r, out)
}

// data decodes a request's {"data": {...}} into v, refusing unknown fields
// with 422 as the guide's error example does.
func data(w http.ResponseWriter, r *http.Request, v any, allowed ...string) bool {
	var body struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Data == nil {
		writeError(w, http.StatusBadRequest, "Bad Request", "The request body must be a JSON object with data", "/data")
		return false
	}
	for k := range body.Data {
		if !slices.Contains(allowed, k) {
			writeError(w, http.StatusUnprocessableEntity, "Invalid value", "Unexpected field: "+k, "/data/"+k)
			return false
		}
	}
	b, _ := json.Marshal(body.Data)
	if err := json.Unmarshal(b, v); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "Invalid value", err.Error(), "/data")
		return false
	}
	return true
}

func validName(n string) bool { return n != "" && len(n) <= 255 && !strings.ContainsRune(n, '/') }

func (s *Server) add(parent *item, typ, name string) *item {
	now := time.Now().UTC()
	it := &item{ID: uuid(), Type: typ, Name: name, Parent: parent.ID, Project: parent.Project, Created: now, Updated: now}
	s.items[it.ID] = it
	s.children[parent.ID] = append(s.children[parent.ID], it.ID)
	return it
}

func (s *Server) createFolder(w http.ResponseWriter, r *http.Request, parentID string) {
	parent := s.items[parentID]
	if parent == nil || parent.Type != "folder" {
		notFound(w)
		return
	}
	name, ok := folderName(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"data": s.itemJSON(r, s.add(parent, "folder", name))})
}

// partSizes splits n bytes into the fake's upload parts.
func (s *Server) partSizes(n int64) []int64 {
	if n == 0 {
		return nil
	}
	count := (n + s.opts.PartSize - 1) / s.opts.PartSize
	base, rem := n/count, n%count
	out := make([]int64, count)
	for i := range out {
		out[i] = base
		if int64(i) < rem {
			out[i]++
		}
	}
	return out
}

func (s *Server) createFile(w http.ResponseWriter, r *http.Request, parentID string) {
	parent := s.items[parentID]
	if parent == nil || parent.Type != "folder" {
		notFound(w)
		return
	}
	var in struct {
		Name      string `json:"name"`
		MediaType string `json:"media_type"`
		FileSize  *int64 `json:"file_size"`
	}
	if !data(w, r, &in, "name", "media_type", "file_size") {
		return
	}
	switch {
	case !validName(in.Name):
		writeError(w, http.StatusUnprocessableEntity, "Invalid value", "Invalid file name", "/data/name")
		return
	case in.FileSize == nil || *in.FileSize < 0:
		writeError(w, http.StatusUnprocessableEntity, "Invalid value", "file_size is required", "/data/file_size")
		return
	}
	it := s.add(parent, "file", in.Name)
	it.Size, it.MediaType, it.Status = *in.FileSize, in.MediaType, "created"
	if it.MediaType == "" {
		it.MediaType = "application/octet-stream"
	}
	it.parts = map[int][]byte{}
	for i, n := range s.partSizes(it.Size) {
		it.urls = append(it.urls, upURL{Size: n, URL: s.sign(fmt.Sprintf("/upload/%s/%d", it.ID, i+1), time.Hour)})
	}
	if it.Size == 0 {
		it.Status = "uploaded"
	}
	out := s.itemJSON(r, it)
	out["upload_urls"] = append([]upURL{}, it.urls...)
	writeJSON(w, http.StatusCreated, map[string]any{"data": out})
}

func (s *Server) show(w http.ResponseWriter, r *http.Request, id, typ string) {
	it := s.items[id]
	if it == nil || it.Type != typ {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": s.itemJSON(r, it)})
}

func (s *Server) rename(w http.ResponseWriter, r *http.Request, id string) {
	it := s.items[id]
	if it == nil || it.Type != "folder" {
		notFound(w)
		return
	}
	name, ok := folderName(w, r)
	if !ok {
		return
	}
	it.Name, it.Updated = name, time.Now().UTC()
	writeJSON(w, http.StatusOK, map[string]any{"data": s.itemJSON(r, it)})
}

func (s *Server) remove(it *item) {
	for _, c := range s.children[it.ID] {
		s.remove(s.items[c])
	}
	delete(s.children, it.ID)
	s.children[it.Parent] = slices.DeleteFunc(s.children[it.Parent], func(c string) bool { return c == it.ID })
	delete(s.items, it.ID)
}

// delete removes a file, or a folder with everything in it; a project's
// root folder cannot be deleted.
func (s *Server) delete(w http.ResponseWriter, id, typ string) {
	it := s.items[id]
	if it == nil || it.Type != typ {
		notFound(w)
		return
	}
	if it.Parent == "" {
		writeError(w, http.StatusUnprocessableEntity, "Invalid value", "A project's root folder cannot be deleted", "")
		return
	}
	s.remove(it)
	w.WriteHeader(http.StatusNoContent)
}

// sign returns a presigned URL for path on this host, S3 style.
func (s *Server) sign(path string, ttl time.Duration) string {
	exp := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	return s.URL + path + "?X-Amz-Expires=" + exp + "&X-Amz-Signature=" + s.signature(path, exp)
}

func (s *Server) signature(path, exp string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%x", fnv(s.secret+path+exp))))
}

func fnv(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// s3Error answers in S3's XML error shape, as the presigned URLs' host does.
func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message><RequestId>%s</RequestId></Error>", code, msg, fakeauth.ID(16))
}

// checkSigned verifies a presigned URL's signature and expiry.
func (s *Server) checkSigned(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	exp := q.Get("X-Amz-Expires")
	if q.Get("X-Amz-Signature") != s.signature(r.URL.Path, exp) {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return false
	}
	if t, err := strconv.ParseInt(exp, 10, 64); err != nil || time.Now().Unix() > t {
		s3Error(w, http.StatusForbidden, "AccessDenied", "Request has expired")
		return false
	}
	if r.Header.Get("Authorization") != "" {
		s3Error(w, http.StatusBadRequest, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
		return false
	}
	return true
}

// uploadPart is a PUT to one of a file's upload URLs.
func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, rest string) {
	if !s.checkSigned(w, r) {
		return
	}
	if r.Method != http.MethodPut {
		s3Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
		return
	}
	id, num, _ := strings.Cut(rest, "/")
	n, _ := strconv.Atoi(num)
	body, err := io.ReadAll(io.LimitReader(r.Body, s.opts.PartSize+1))
	if err != nil {
		s3Error(w, http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil || it.Type != "file" || n < 1 || n > len(it.urls) {
		s3Error(w, http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist.")
		return
	}
	// The signed headers: a different set is a different signature.
	if r.Header.Get("x-amz-acl") != "private" || r.Header.Get("Content-Type") != it.MediaType {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		return
	}
	if int64(len(body)) != it.urls[n-1].Size {
		s3Error(w, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("part %d must be %d bytes, got %d", n, it.urls[n-1].Size, len(body)))
		return
	}
	it.parts[n] = body
	s.PartsReceived.Add(1)
	if len(it.parts) == len(it.urls) && it.Status == "created" {
		var all []byte
		for i := 1; i <= len(it.urls); i++ {
			all = append(all, it.parts[i]...)
		}
		it.Data, it.parts, it.Status, it.Updated = all, nil, "uploaded", time.Now().UTC()
	}
	w.Header().Set("ETag", fmt.Sprintf("\"%x\"", fnv(string(body))))
	w.WriteHeader(http.StatusOK)
}

// download serves a file's original through its signed URL, with Range.
func (s *Server) download(w http.ResponseWriter, r *http.Request, id string) {
	if !s.checkSigned(w, r) {
		return
	}
	s.mu.Lock()
	it := s.items[id]
	var content []byte
	var mt string
	if it != nil && it.Status != "created" {
		content, mt = it.Data, it.MediaType
	}
	s.mu.Unlock()
	if it == nil || it.Type != "file" || content == nil && it.Size > 0 {
		s3Error(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
		return
	}
	w.Header().Set("Content-Type", mt)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
}

// folderName reads the new folder name of a create or rename request,
// answering 422 as Frame.io does for a missing or invalid one.
func folderName(w http.ResponseWriter, r *http.Request) (string, bool) {
	var in struct {
		Name string `json:"name"`
	}
	if !data(w, r, &in, "name") {
		return "", false
	}
	if !validName(in.Name) {
		writeError(w, http.StatusUnprocessableEntity, "Invalid value", "Invalid folder name", "/data/name")
		return "", false
	}
	return in.Name, true
}
