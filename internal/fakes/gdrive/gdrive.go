// Package gdrive is a fake of the Google Drive API v3, enough for the
// provider/gdrive driver and the official Go SDK, checked against the
// discovery document in google.golang.org/api (drive/v3/drive-api.json):
// files get/list/create/update/delete with a subset of the query language
// (q, pageSize 1-1000 with larger values coerced to 1000, pageToken and
// nextPageToken, orderBy, fields), alt=media downloads with Range,
// multipart/media/resumable uploads on /upload/drive/v3/files and the
// discovery's resumable path /resumable/upload/drive/v3/files (256 KiB chunk
// rule, 308 with Range or the X-GUploader-No-308 override, status queries),
// md5Checksum, sha1Checksum and sha256Checksum, shared drives, Google's error
// JSON, 429 or 403 rate limits, expiring tokens and a refresh endpoint.
//
// Like Drive, names are not unique: a folder may hold two children with the
// same name. Not modelled: permissions, trash listing, revisions, Google-native
// documents and export, changes, partial responses beyond "default fields vs
// requested fields", and quotas.
package gdrive

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
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
)

// FolderMime is Drive's folder MIME type.
const FolderMime = "application/vnd.google-apps.folder"

// Options are the fake's limits; zero values take Drive's.
type Options struct {
	MaxPageSize   int   // files.list pageSize cap (1,000)
	ChunkMultiple int64 // resumable chunk rule (256 KiB)
	// RateLimit403 answers throttled requests with 403 userRateLimitExceeded
	// instead of 429 rateLimitExceeded.
	RateLimit403 bool
}

type file struct {
	ID       string
	Name     string
	MimeType string
	Parent   string
	Data     []byte
	MD5      string
	Created  time.Time
	Modified time.Time
	Version  int64
	Rev      string
}

type session struct {
	fileID string // update of an existing file; "" creates
	name   string
	parent string
	mime   string
	total  int64 // -1 until known
	data   []byte
}

// Server is the fake. Its fields are safe to use from tests.
type Server struct {
	*httptest.Server
	Auth     *fakeauth.Auth
	Throttle fakeauth.Throttle
	// Resumable counts resumable sessions started.
	Resumable atomic.Int64
	// Corrupt, when set, makes the server damage what it stores: the first
	// byte of every file written afterwards is flipped, so the checksums it
	// reports describe other bytes than were sent (a test switch).
	Corrupt atomic.Bool
	opts    Options
	RootID  string

	mu       sync.Mutex
	files    map[string]*file
	children map[string]map[string]*file // parent id -> id -> file
	drives   map[string]string           // shared drive id -> name
	sessions map[string]*session
}

// New starts a fake.
func New(opts Options) *Server {
	if opts.MaxPageSize == 0 {
		opts.MaxPageSize = 1000
	}
	if opts.ChunkMultiple == 0 {
		opts.ChunkMultiple = 256 << 10
	}
	s := &Server{
		Auth:     fakeauth.New(false),
		opts:     opts,
		RootID:   "0A" + fakeauth.ID(16),
		files:    map[string]*file{},
		children: map[string]map[string]*file{},
		drives:   map[string]string{},
		sessions: map[string]*session{},
	}
	now := time.Now().UTC()
	s.files[s.RootID] = &file{ID: s.RootID, Name: "My Drive", MimeType: FolderMime, Created: now, Modified: now}
	s.Server = httptest.NewServer(s)
	return s
}

// AddSharedDrive creates a shared drive and returns its id.
func (s *Server) AddSharedDrive(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := "0A" + fakeauth.ID(16)
	s.drives[id] = name
	now := time.Now().UTC()
	s.files[id] = &file{ID: id, Name: name, MimeType: FolderMime, Created: now, Modified: now}
	return id
}

// Sessions reports the number of unfinished resumable uploads.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

type apiError struct {
	status  int
	reason  string
	message string
}

func writeError(w http.ResponseWriter, status int, reason, message string) {
	domain := "global"
	if strings.Contains(reason, "RateLimit") {
		domain = "usageLimits"
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code":    status,
		"message": message,
		"errors":  []map[string]string{{"domain": domain, "reason": reason, "message": message}},
	}})
}

func notFound(w http.ResponseWriter, id string) {
	writeError(w, http.StatusNotFound, "notFound", "File not found: "+id+".")
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		s.Auth.ServeToken(w, r)
		return
	}
	if !s.Auth.Check(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "authError", "Invalid Credentials")
		return
	}
	if ok, after := s.Throttle.Take(); ok {
		if after > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(after))
		}
		if s.opts.RateLimit403 {
			writeError(w, http.StatusForbidden, "userRateLimitExceeded", "User rate limit exceeded.")
		} else {
			writeError(w, http.StatusTooManyRequests, "rateLimitExceeded", "Rate limit exceeded.")
		}
		return
	}
	p := r.URL.Path
	switch {
	case p == "/drive/v3/drives" && r.Method == http.MethodGet:
		s.listDrives(w, r)
	case p == "/drive/v3/files" && r.Method == http.MethodGet:
		s.list(w, r)
	case p == "/drive/v3/files" && r.Method == http.MethodPost:
		s.create(w, r, nil)
	case strings.HasPrefix(p, "/drive/v3/files/"):
		id := strings.TrimPrefix(p, "/drive/v3/files/")
		switch r.Method {
		case http.MethodGet:
			s.get(w, r, id)
		case http.MethodPatch:
			s.patch(w, r, id)
		case http.MethodDelete:
			s.delete(w, id)
		default:
			writeError(w, http.StatusMethodNotAllowed, "badRequest", "method")
		}
	case strings.HasPrefix(p, "/upload/drive/v3/files"):
		s.upload(w, r, strings.TrimPrefix(strings.TrimPrefix(p, "/upload/drive/v3/files"), "/"))
	case strings.HasPrefix(p, "/resumable/upload/drive/v3/files"):
		// The discovery document's path for the resumable protocol.
		if r.URL.Query().Get("uploadType") != "resumable" {
			writeError(w, http.StatusBadRequest, "badRequest", "Invalid uploadType")
			return
		}
		s.upload(w, r, strings.TrimPrefix(strings.TrimPrefix(p, "/resumable/upload/drive/v3/files"), "/"))
	default:
		writeError(w, http.StatusNotFound, "notFound", "Not Found")
	}
}

func (s *Server) resolve(id string) string {
	if id == "root" {
		return s.RootID
	}
	return id
}

// json renders a file with the requested fields (Drive answers only
// id, name, mimeType and kind unless fields asks for more).
func (s *Server) json(f *file, fields string) map[string]any {
	want := func(name string) bool {
		return fields == "*" || strings.Contains(fields, name)
	}
	m := map[string]any{"kind": "drive#file", "id": f.ID, "name": f.Name, "mimeType": f.MimeType}
	if fields == "" {
		return m
	}
	if want("parents") && f.Parent != "" {
		m["parents"] = []string{f.Parent}
	}
	if want("modifiedTime") {
		m["modifiedTime"] = f.Modified.Format(time.RFC3339Nano)
	}
	if want("createdTime") {
		m["createdTime"] = f.Created.Format(time.RFC3339Nano)
	}
	if want("trashed") {
		m["trashed"] = false
	}
	if want("version") {
		m["version"] = strconv.FormatInt(f.Version, 10)
	}
	if f.MimeType != FolderMime {
		if want("size") {
			m["size"] = strconv.Itoa(len(f.Data))
		}
		if want("md5Checksum") {
			m["md5Checksum"] = f.MD5
		}
		if want("sha1Checksum") {
			sum := sha1.Sum(f.Data)
			m["sha1Checksum"] = hex.EncodeToString(sum[:])
		}
		if want("sha256Checksum") {
			sum := sha256.Sum256(f.Data)
			m["sha256Checksum"] = hex.EncodeToString(sum[:])
		}
		if want("headRevisionId") {
			m["headRevisionId"] = f.Rev
		}
	}
	if _, ok := s.drives[f.ID]; ok {
		m["driveId"] = f.ID
	}
	return m
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) listDrives(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.drives))
	for id := range s.drives {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []map[string]string
	for _, id := range ids {
		out = append(out, map[string]string{"kind": "drive#drive", "id": id, "name": s.drives[id]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "drive#driveList", "drives": out})
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	f, ok := s.files[s.resolve(id)]
	var data []byte
	var meta map[string]any
	if ok {
		data = f.Data
		meta = s.json(f, r.URL.Query().Get("fields"))
	}
	s.mu.Unlock()
	if !ok {
		notFound(w, id)
		return
	}
	if r.URL.Query().Get("alt") != "media" {
		writeJSON(w, http.StatusOK, meta)
		return
	}
	if f.MimeType == FolderMime {
		writeError(w, http.StatusForbidden, "fileNotDownloadable", "Only files with binary content can be downloaded.")
		return
	}
	serveRange(w, r, data, f.MimeType)
}

var rangeRE = regexp.MustCompile(`^bytes=(\d+)-(\d*)$`)

// serveRange answers a download with the one range forms clients send.
func serveRange(w http.ResponseWriter, r *http.Request, data []byte, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Accept-Ranges", "bytes")
	rh := r.Header.Get("Range")
	if rh == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return
	}
	m := rangeRE.FindStringSubmatch(rh)
	if m == nil {
		writeError(w, http.StatusBadRequest, "badRequest", "Bad Range header")
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
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "requestedRangeNotSatisfiable", "Request range not satisfiable")
		return
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(data)))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(data[start : end+1])
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query, err := parseQuery(q.Get("q"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "Invalid Value: "+err.Error())
		return
	}
	// Unspecified: at most 100 files for shared drives, the entire list
	// otherwise (here: up to the fake's page cap). Above 1000 is coerced.
	pageSize := 1000
	if q.Get("driveId") != "" || q.Get("corpora") == "drive" {
		pageSize = 100
	}
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "invalid", "Invalid value for pageSize")
			return
		}
		pageSize = min(n, 1000)
	}
	pageSize = min(pageSize, s.opts.MaxPageSize)
	offset := 0
	if tok := q.Get("pageToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			offset, err = strconv.Atoi(string(b))
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", "Invalid Value: pageToken")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var matches []*file
	if query.parent != "" {
		for _, f := range s.children[s.resolve(query.parent)] {
			if query.match(f) {
				matches = append(matches, f)
			}
		}
	} else {
		for _, f := range s.files {
			if f.Parent != "" && query.match(f) {
				matches = append(matches, f)
			}
		}
	}
	switch ob := q.Get("orderBy"); ob {
	case "name", "name_natural", "folder,name":
		slices.SortFunc(matches, func(a, b *file) int {
			if ob == "folder,name" && (a.MimeType == FolderMime) != (b.MimeType == FolderMime) {
				if a.MimeType == FolderMime {
					return -1
				}
				return 1
			}
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	case "":
		slices.SortFunc(matches, func(a, b *file) int { return strings.Compare(a.ID, b.ID) })
	default:
		writeError(w, http.StatusBadRequest, "invalid", "Invalid Value: orderBy "+ob)
		return
	}
	fields := q.Get("fields")
	inner := ""
	if i := strings.Index(fields, "files("); i >= 0 {
		inner = fields[i+len("files("):]
	}
	end := min(offset+pageSize, len(matches))
	out := []map[string]any{}
	for _, f := range matches[min(offset, len(matches)):end] {
		out = append(out, s.json(f, inner))
	}
	resp := map[string]any{"kind": "drive#fileList", "incompleteSearch": false, "files": out}
	if end < len(matches) {
		resp["nextPageToken"] = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
	}
	writeJSON(w, http.StatusOK, resp)
}

type meta struct {
	Name     string   `json:"name"`
	MimeType string   `json:"mimeType"`
	Parents  []string `json:"parents"`
	Trashed  *bool    `json:"trashed"`
}

// put stores a new file or a new version; s.mu must be held.
func (s *Server) put(f *file, data []byte) {
	if s.Corrupt.Load() && len(data) > 0 && f.MimeType != FolderMime {
		data = bytes.Clone(data)
		data[0] ^= 0xff
	}
	now := time.Now().UTC()
	sum := md5.Sum(data)
	if f.ID == "" {
		f.ID = "1" + fakeauth.ID(32)
		f.Created = now
	}
	f.Data, f.MD5, f.Modified = data, hex.EncodeToString(sum[:]), now
	f.Version++
	f.Rev = "0B" + fakeauth.ID(24)
	s.files[f.ID] = f
	if s.children[f.Parent] == nil {
		s.children[f.Parent] = map[string]*file{}
	}
	s.children[f.Parent][f.ID] = f
}

// newFile validates metadata for a create; s.mu must be held.
func (s *Server) newFile(m meta) (*file, *apiError) {
	parent := s.RootID
	if len(m.Parents) > 1 {
		return nil, &apiError{http.StatusForbidden, "cannotAddParent", "Increasing the number of parents is not allowed."}
	}
	if len(m.Parents) == 1 {
		parent = s.resolve(m.Parents[0])
	}
	p, ok := s.files[parent]
	if !ok || p.MimeType != FolderMime {
		return nil, &apiError{http.StatusNotFound, "notFound", "File not found: " + parent + "."}
	}
	if m.Name == "" {
		m.Name = "Untitled"
	}
	if m.MimeType == "" {
		m.MimeType = "application/octet-stream"
	}
	return &file{Name: m.Name, MimeType: m.MimeType, Parent: parent}, nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, _ []byte) {
	var m meta
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil && err != io.EOF {
		writeError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, e := s.newFile(m)
	if e != nil {
		writeError(w, e.status, e.reason, e.message)
		return
	}
	s.put(f, nil)
	writeJSON(w, http.StatusOK, s.json(f, r.URL.Query().Get("fields")))
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, id string) {
	var m meta
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil && err != io.EOF {
		writeError(w, http.StatusBadRequest, "parseError", "Parse Error")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[s.resolve(id)]
	if !ok {
		notFound(w, id)
		return
	}
	s.applyMeta(f, m, r)
	writeJSON(w, http.StatusOK, s.json(f, r.URL.Query().Get("fields")))
}

// applyMeta applies an update's metadata; s.mu must be held.
func (s *Server) applyMeta(f *file, m meta, r *http.Request) {
	if m.Name != "" {
		f.Name = m.Name
	}
	if m.MimeType != "" && f.MimeType != FolderMime {
		f.MimeType = m.MimeType
	}
	if add := r.URL.Query().Get("addParents"); add != "" {
		delete(s.children[f.Parent], f.ID)
		f.Parent = s.resolve(add)
		if s.children[f.Parent] == nil {
			s.children[f.Parent] = map[string]*file{}
		}
		s.children[f.Parent][f.ID] = f
	}
	f.Modified = time.Now().UTC()
}

func (s *Server) delete(w http.ResponseWriter, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[s.resolve(id)]
	if !ok || f.Parent == "" {
		notFound(w, id)
		return
	}
	s.removeLocked(f)
	w.WriteHeader(http.StatusNoContent)
}

// removeLocked deletes f and, for a folder, everything below it.
func (s *Server) removeLocked(f *file) {
	for _, c := range s.children[f.ID] {
		s.removeLocked(c)
	}
	delete(s.children, f.ID)
	delete(s.children[f.Parent], f.ID)
	delete(s.files, f.ID)
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	if uid := q.Get("upload_id"); uid != "" {
		s.chunk(w, r, uid)
		return
	}
	if id != "" && r.Method != http.MethodPatch || id == "" && r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "badRequest", "method")
		return
	}
	switch q.Get("uploadType") {
	case "media":
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		s.finish(w, r, id, meta{MimeType: r.Header.Get("Content-Type")}, data)
	case "multipart":
		m, data, err := readRelated(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, "badContent", err.Error())
			return
		}
		s.finish(w, r, id, m, data)
	case "resumable":
		var m meta
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil && err != io.EOF {
			writeError(w, http.StatusBadRequest, "parseError", "Parse Error")
			return
		}
		if ct := r.Header.Get("X-Upload-Content-Type"); ct != "" && m.MimeType == "" {
			m.MimeType = ct
		}
		total := int64(-1)
		if v := r.Header.Get("X-Upload-Content-Length"); v != "" {
			total, _ = strconv.ParseInt(v, 10, 64)
		}
		s.mu.Lock()
		sess := &session{total: total, name: m.Name, mime: m.MimeType}
		if id != "" {
			if _, ok := s.files[s.resolve(id)]; !ok {
				s.mu.Unlock()
				notFound(w, id)
				return
			}
			sess.fileID = s.resolve(id)
		} else {
			f, e := s.newFile(m)
			if e != nil {
				s.mu.Unlock()
				writeError(w, e.status, e.reason, e.message)
				return
			}
			sess.parent, sess.name, sess.mime = f.Parent, f.Name, f.MimeType
		}
		s.Resumable.Add(1)
		uid := "ADPycd" + fakeauth.ID(40)
		s.sessions[uid] = sess
		s.mu.Unlock()
		loc := s.URL + r.URL.Path + "?uploadType=resumable&upload_id=" + uid
		if f := q.Get("fields"); f != "" {
			loc += "&fields=" + urlQueryEscape(f)
		}
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, http.StatusBadRequest, "badRequest", "Invalid uploadType")
	}
}

func urlQueryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", " ", "%20", "#", "%23").Replace(s)
}

// finish stores an upload as a new file or a new version of id.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, id string, m meta, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var f *file
	if id != "" {
		var ok bool
		if f, ok = s.files[s.resolve(id)]; !ok {
			notFound(w, id)
			return
		}
		s.applyMeta(f, m, r)
	} else {
		var e *apiError
		if f, e = s.newFile(m); e != nil {
			writeError(w, e.status, e.reason, e.message)
			return
		}
	}
	s.put(f, data)
	writeJSON(w, http.StatusOK, s.json(f, r.URL.Query().Get("fields")))
}

// readRelated parses a multipart/related upload: JSON metadata, then media.
func readRelated(r *http.Request) (meta, []byte, error) {
	var m meta
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		return m, nil, fmt.Errorf("multipart upload needs Content-Type multipart/related")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	p, err := mr.NextPart()
	if err != nil {
		return m, nil, err
	}
	if err := json.NewDecoder(p).Decode(&m); err != nil {
		return m, nil, fmt.Errorf("metadata part: %v", err)
	}
	p, err = mr.NextPart()
	if err != nil {
		return m, nil, fmt.Errorf("media part: %v", err)
	}
	data, err := io.ReadAll(p)
	if err != nil {
		return m, nil, err
	}
	if ct := p.Header.Get("Content-Type"); ct != "" && m.MimeType == "" {
		m.MimeType = ct
	}
	return m, data, nil
}

var contentRangeRE = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$`)

// chunk handles PUT (one chunk, or a status query) and DELETE (cancel) on a
// resumable session URI.
func (s *Server) chunk(w http.ResponseWriter, r *http.Request, uid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[uid]
	if !ok {
		writeError(w, http.StatusNotFound, "notFound", "Upload session not found or expired")
		return
	}
	if r.Method == http.MethodDelete {
		delete(s.sessions, uid)
		w.WriteHeader(499) // what Google answers a cancelled session
		return
	}
	if r.Method != http.MethodPut && r.Method != http.MethodPost { // the Go SDK POSTs chunks
		writeError(w, http.StatusMethodNotAllowed, "badRequest", "method")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		cr = fmt.Sprintf("bytes 0-%d/%d", len(body)-1, len(body))
		if len(body) == 0 {
			cr = "bytes */0"
		}
	}
	m := contentRangeRE.FindStringSubmatch(cr)
	if m == nil {
		writeError(w, http.StatusBadRequest, "badRequest", "Failed to parse Content-Range header.")
		return
	}
	total := int64(-1)
	if m[3] != "*" {
		total, _ = strconv.ParseInt(m[3], 10, 64)
		if sess.total >= 0 && sess.total != total {
			writeError(w, http.StatusBadRequest, "badRequest", "Content-Range total differs from the declared length")
			return
		}
		sess.total = total
	}
	have := int64(len(sess.data))
	if m[1] != "" {
		start, _ := strconv.ParseInt(m[1], 10, 64)
		end, _ := strconv.ParseInt(m[2], 10, 64)
		if end-start+1 != int64(len(body)) {
			writeError(w, http.StatusBadRequest, "badRequest", "Content-Range does not match the body length")
			return
		}
		if start > have {
			writeError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf(
				"Invalid request. According to the Content-Range header, the upload offset is %d byte(s), which exceeds already uploaded size of %d byte(s).", start, have))
			return
		}
		final := total >= 0 && end+1 == total
		if !final && int64(len(body)) < s.opts.ChunkMultiple {
			writeError(w, http.StatusBadRequest, "badRequest", fmt.Sprintf(
				"Invalid request. The number of bytes uploaded is required to be equal or greater than %d, except for the final request (it's recommended to be the exact multiple of %d). The received request contained %d bytes, which does not meet this requirement.",
				s.opts.ChunkMultiple, s.opts.ChunkMultiple, len(body)))
			return
		}
		// Bytes already received are skipped, as after a lost answer.
		body = body[have-start:]
		if !final {
			// Only whole multiples are persisted; the client resends the rest.
			keep := (end + 1) / s.opts.ChunkMultiple * s.opts.ChunkMultiple
			body = body[:max(0, keep-have)]
		}
		sess.data = append(sess.data, body...)
	}
	if sess.total >= 0 && int64(len(sess.data)) == sess.total {
		delete(s.sessions, uid)
		f := &file{ID: sess.fileID}
		if sess.fileID != "" {
			f, ok = s.files[sess.fileID]
			if !ok {
				notFound(w, sess.fileID)
				return
			}
			if sess.mime != "" {
				f.MimeType = sess.mime
			}
		} else {
			f.Name, f.Parent, f.MimeType = sess.name, sess.parent, sess.mime
		}
		s.put(f, sess.data)
		writeJSON(w, http.StatusOK, s.json(f, r.URL.Query().Get("fields")))
		return
	}
	if len(sess.data) > 0 {
		w.Header().Set("Range", fmt.Sprintf("bytes=0-%d", len(sess.data)-1))
	}
	w.Header().Set("Content-Length", "0")
	if r.Header.Get("X-GUploader-No-308") == "yes" {
		w.Header().Set("X-HTTP-Status-Code-Override", "308")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusPermanentRedirect) // "Resume Incomplete"
}

// query is the parsed subset of the Drive query language: clauses joined by
// "and".
type query struct {
	parent  string
	name    *string
	mime    *string
	notMime []string
	trashed *bool
}

func (q query) match(f *file) bool {
	if q.name != nil && f.Name != *q.name {
		return false
	}
	if q.mime != nil && f.MimeType != *q.mime {
		return false
	}
	if slices.Contains(q.notMime, f.MimeType) {
		return false
	}
	return q.trashed == nil || !*q.trashed // nothing is ever trashed here
}

var tokenRE = regexp.MustCompile(`^\s*(?:'((?:[^'\\]|\\.)*)'|(!=|=)|([A-Za-z]+))`)

func parseQuery(s string) (query, error) {
	var q query
	var toks []string
	var isStr []bool
	rest := s
	for strings.TrimSpace(rest) != "" {
		m := tokenRE.FindStringSubmatchIndex(rest)
		if m == nil {
			return q, fmt.Errorf("q: cannot parse %q", rest)
		}
		switch {
		case m[2] >= 0:
			raw := rest[m[2]:m[3]]
			var b bytes.Buffer
			for i := 0; i < len(raw); i++ {
				if raw[i] == '\\' && i+1 < len(raw) {
					i++
				}
				b.WriteByte(raw[i])
			}
			toks, isStr = append(toks, b.String()), append(isStr, true)
		case m[4] >= 0:
			toks, isStr = append(toks, rest[m[4]:m[5]]), append(isStr, false)
		default:
			toks, isStr = append(toks, rest[m[6]:m[7]]), append(isStr, false)
		}
		rest = rest[m[1]:]
	}
	for i := 0; i < len(toks); {
		if i > 0 {
			if toks[i] != "and" || isStr[i] {
				return q, fmt.Errorf("q: expected and, got %q", toks[i])
			}
			i++
		}
		if i+2 >= len(toks) {
			return q, fmt.Errorf("q: incomplete clause")
		}
		a, op, b := toks[i], toks[i+1], toks[i+2]
		switch {
		case isStr[i] && op == "in" && b == "parents":
			q.parent = a
		case a == "name" && op == "=" && isStr[i+2]:
			q.name = &b
		case a == "mimeType" && op == "=" && isStr[i+2]:
			q.mime = &b
		case a == "mimeType" && op == "!=" && isStr[i+2]:
			q.notMime = append(q.notMime, b)
		case a == "trashed" && op == "=" && (b == "true" || b == "false"):
			v := b == "true"
			q.trashed = &v
		default:
			return q, fmt.Errorf("q: unsupported clause %s %s %s", a, op, b)
		}
		i += 3
	}
	return q, nil
}
