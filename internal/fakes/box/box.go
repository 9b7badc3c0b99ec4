// Package box is a fake of the Box API 2.0: folders and their items (offset
// paging, sort=name), folder create with 409 item_name_in_use and
// context_info.conflicts, multipart form uploads to the upload host (new file
// and new version; attributes before file; Content-MD5 holding the SHA-1,
// 400 bad_digest when it differs), chunked upload sessions as the OpenAPI
// description (../shared/external/box/openapi.json) has them:
// server-chosen part_size, parts of exactly that size at multiples of it
// (416 otherwise), a per-part SHA-1 Digest (412 when it differs), parts that
// cannot be sent twice (409), commit with the whole file's Digest (400
// digest_mismatch) and the parts list, 202 with Retry-After while parts are
// processing (Options.CommitProcessing), abort, list parts with offset and
// limit. Also downloads through a 302 with Range, deletes, Box's error JSON
// {type:"error", status, code, message, help_url, request_id}, 429 with
// retry-after, expiring tokens and a token endpoint that rotates refresh
// tokens on every use. Names are unique per folder, case-insensitively.
//
// Not modelled: marker paging, trash, shared links, collaborations, file
// versions history, webhooks and quotas.
package box

import (
	"bytes"
	"crypto/sha1"
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

// Options are the fake's limits; zero values take Box's.
type Options struct {
	MaxPageSize int   // folder items limit cap (1,000)
	SimpleMax   int64 // form upload limit (50 MB)
	ChunkedMin  int64 // smallest file for a session (20 MB)
	PartSize    int64 // session part_size (8 MiB)
	// CommitProcessing is how many commits of each session are answered
	// 202 with Retry-After (parts still processing) before one succeeds.
	CommitProcessing int
}

type item struct {
	ID       string
	Type     string // file or folder
	Name     string
	Parent   string
	Data     []byte
	Modified time.Time
	ETag     int
}

type part struct {
	ID     string `json:"part_id"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	SHA1   string `json:"sha1"`
}

type session struct {
	folder, name, fileID string
	size                 int64
	parts                map[int64]part // by offset
	data                 []byte
	commits              int // commits answered 202 so far
}

// Server is the fake.
type Server struct {
	*httptest.Server
	Auth     *fakeauth.Auth
	Throttle fakeauth.Throttle
	// SessionsCreated counts chunked upload sessions.
	SessionsCreated atomic.Int64
	// Corrupt, when set, makes the server damage what it stores: the first
	// byte of every file written afterwards is flipped after the upload's
	// digests were checked, so the sha1 it reports describes other bytes
	// than were sent (a test switch; Box has no such thing).
	Corrupt atomic.Bool
	opts    Options

	mu       sync.Mutex
	items    map[string]*item
	children map[string]map[string]*item // folder -> lower(name) -> item
	sessions map[string]*session
	nextID   int64
}

// New starts a fake with the root folder "0".
func New(opts Options) *Server {
	if opts.MaxPageSize == 0 {
		opts.MaxPageSize = 1000
	}
	if opts.SimpleMax == 0 {
		opts.SimpleMax = 50_000_000
	}
	if opts.ChunkedMin == 0 {
		opts.ChunkedMin = 20_000_000
	}
	if opts.PartSize == 0 {
		opts.PartSize = 8 << 20
	}
	s := &Server{
		Auth:     fakeauth.New(true),
		opts:     opts,
		items:    map[string]*item{"0": {ID: "0", Type: "folder", Name: "All Files", Modified: time.Now().UTC()}},
		children: map[string]map[string]*item{},
		sessions: map[string]*session{},
		nextID:   100000,
	}
	s.Server = httptest.NewServer(s)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string, ctxInfo any) {
	m := map[string]any{"type": "error", "status": status, "code": code, "message": message,
		"help_url": "http://developers.box.com/docs/#errors", "request_id": fakeauth.ID(16)}
	if ctxInfo != nil {
		m["context_info"] = ctxInfo
	}
	writeJSON(w, status, m)
}

func notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, "not_found", "Not Found", nil)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/oauth2/token":
		s.Auth.ServeToken(w, r)
		return
	case strings.HasPrefix(p, "/dl/"):
		s.download(w, r, strings.TrimPrefix(p, "/dl/"))
		return
	}
	if !s.Auth.Check(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Service", error="invalid_token", error_description="The access token provided is invalid."`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ok, after := s.Throttle.Take(); ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(after, 0)))
		writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Request rate limit exceeded, please try again later", nil)
		return
	}
	if rest, ok := strings.CutPrefix(p, "/api/2.0"); ok {
		s.uploadHost(w, r, rest)
		return
	}
	rest, ok := strings.CutPrefix(p, "/2.0")
	if !ok {
		notFound(w)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "folders" && r.Method == http.MethodPost:
		s.mkdir(w, r)
	case len(parts) == 2 && parts[0] == "folders" && r.Method == http.MethodGet:
		s.get(w, parts[1], "folder")
	case len(parts) == 2 && parts[0] == "folders" && r.Method == http.MethodDelete:
		s.delete(w, parts[1], "folder", r.URL.Query().Get("recursive") == "true")
	case len(parts) == 3 && parts[0] == "folders" && parts[2] == "items" && r.Method == http.MethodGet:
		s.list(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "files" && r.Method == http.MethodGet:
		s.get(w, parts[1], "file")
	case len(parts) == 2 && parts[0] == "files" && r.Method == http.MethodDelete:
		s.delete(w, parts[1], "file", false)
	case len(parts) == 3 && parts[0] == "files" && parts[2] == "content" && r.Method == http.MethodGet:
		it := s.items[parts[1]]
		if it == nil || it.Type != "file" {
			notFound(w)
			return
		}
		http.Redirect(w, r, s.URL+"/dl/"+it.ID+"?token="+fakeauth.ID(20), http.StatusFound)
	default:
		writeError(w, http.StatusNotFound, "not_found", "Not Found: "+r.Method+" "+rest, nil)
	}
}

func (s *Server) json(it *item) map[string]any {
	m := map[string]any{"type": it.Type, "id": it.ID, "name": it.Name, "etag": strconv.Itoa(it.ETag),
		"modified_at": it.Modified.Format(time.RFC3339), "size": len(it.Data)}
	if it.Type == "file" {
		sum := sha1.Sum(it.Data)
		m["sha1"] = hex.EncodeToString(sum[:])
	}
	if it.Parent != "" {
		m["parent"] = map[string]string{"type": "folder", "id": it.Parent}
	}
	return m
}

func (s *Server) get(w http.ResponseWriter, id, typ string) {
	it := s.items[id]
	if it == nil || it.Type != typ {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, s.json(it))
}

func (s *Server) remove(it *item) {
	for _, c := range s.children[it.ID] {
		s.remove(c)
	}
	delete(s.children, it.ID)
	delete(s.children[it.Parent], strings.ToLower(it.Name))
	delete(s.items, it.ID)
}

func (s *Server) delete(w http.ResponseWriter, id, typ string, recursive bool) {
	it := s.items[id]
	if it == nil || it.Type != typ || id == "0" {
		notFound(w)
		return
	}
	if typ == "folder" && !recursive && len(s.children[id]) > 0 {
		writeError(w, http.StatusBadRequest, "folder_not_empty", "Cannot delete - folder not empty", nil)
		return
	}
	s.remove(it)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, id string) {
	it := s.items[id]
	if it == nil || it.Type != "folder" {
		notFound(w)
		return
	}
	q := r.URL.Query()
	limit, offset := 100, 0
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if v := q.Get("offset"); v != "" {
		offset, _ = strconv.Atoi(v)
	}
	if limit < 1 || offset < 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid limit or offset", nil)
		return
	}
	limit = min(limit, s.opts.MaxPageSize)
	var kids []*item
	for _, c := range s.children[id] {
		kids = append(kids, c)
	}
	desc := q.Get("direction") == "DESC"
	switch q.Get("sort") {
	case "name":
		slices.SortFunc(kids, func(a, b *item) int { return strings.Compare(a.Name, b.Name) })
	default:
		slices.SortFunc(kids, func(a, b *item) int { return strings.Compare(a.ID, b.ID) })
	}
	if desc {
		slices.Reverse(kids)
	}
	end := min(offset+limit, len(kids))
	out := []any{}
	for _, c := range kids[min(offset, len(kids)):end] {
		out = append(out, s.json(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(kids), "entries": out, "offset": offset, "limit": limit})
}

func (s *Server) conflict(w http.ResponseWriter, old *item) {
	writeError(w, http.StatusConflict, "item_name_in_use", "Item with the same name already exists",
		map[string]any{"conflicts": []any{map[string]any{"type": old.Type, "id": old.ID, "name": old.Name, "etag": strconv.Itoa(old.ETag)}}})
}

func validName(n string) bool {
	return n != "" && n != "." && n != ".." && !strings.ContainsAny(n, `/\`) && len(n) <= 255
}

func (s *Server) mkdir(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Name   string `json:"name"`
		Parent struct {
			ID string `json:"id"`
		} `json:"parent"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || !validName(b.Name) {
		writeError(w, http.StatusBadRequest, "bad_request", "Invalid folder name", nil)
		return
	}
	if p := s.items[b.Parent.ID]; p == nil || p.Type != "folder" {
		notFound(w)
		return
	}
	if old := s.children[b.Parent.ID][strings.ToLower(b.Name)]; old != nil {
		s.conflict(w, old)
		return
	}
	writeJSON(w, http.StatusCreated, s.json(s.add(b.Parent.ID, b.Name, "folder", nil)))
}

// stored is what the server keeps of data: a copy with its first byte
// flipped when Corrupt is set.
func (s *Server) stored(data []byte) []byte {
	if !s.Corrupt.Load() || len(data) == 0 {
		return data
	}
	d := bytes.Clone(data)
	d[0] ^= 0xff
	return d
}

// add creates an item; s.mu must be held.
func (s *Server) add(parent, name, typ string, data []byte) *item {
	if typ == "file" {
		data = s.stored(data)
	}
	s.nextID++
	it := &item{ID: strconv.FormatInt(s.nextID, 10), Type: typ, Name: name, Parent: parent, Data: data, Modified: time.Now().UTC(), ETag: 0}
	if s.children[parent] == nil {
		s.children[parent] = map[string]*item{}
	}
	s.children[parent][strings.ToLower(name)] = it
	s.items[it.ID] = it
	return it
}

func (s *Server) version(it *item, data []byte) {
	it.Data, it.Modified = s.stored(data), time.Now().UTC()
	it.ETag++
}

type attributes struct {
	Name   string `json:"name"`
	Parent struct {
		ID string `json:"id"`
	} `json:"parent"`
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// uploadHost serves upload.box.com/api/2.0.
func (s *Server) uploadHost(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case r.Method == http.MethodPost && rest == "/files/content":
		s.formUpload(w, r, "")
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "files" && parts[2] == "content":
		s.formUpload(w, r, parts[1])
	case r.Method == http.MethodPost && rest == "/files/upload_sessions":
		s.createSession(w, r, "")
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "files" && parts[2] == "upload_sessions":
		s.createSession(w, r, parts[1])
	case len(parts) >= 3 && parts[0] == "files" && parts[1] == "upload_sessions":
		s.sessionCall(w, r, parts[2], strings.Join(parts[3:], "/"))
	default:
		writeError(w, http.StatusNotFound, "not_found", "Not Found", nil)
	}
}

func (s *Server) formUpload(w http.ResponseWriter, r *http.Request, fileID string) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		writeError(w, http.StatusBadRequest, "bad_request", "multipart/form-data expected", nil)
		return
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	var attrs attributes
	var data []byte
	gotAttrs := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error(), nil)
			return
		}
		switch p.FormName() {
		case "attributes":
			if data != nil {
				writeError(w, http.StatusBadRequest, "metadata_after_file_contents", "The attributes part must come before the file part", nil)
				return
			}
			if err := json.NewDecoder(p).Decode(&attrs); err != nil {
				writeError(w, http.StatusBadRequest, "bad_request", "bad attributes", nil)
				return
			}
			gotAttrs = true
		case "file":
			data, err = io.ReadAll(io.LimitReader(p, s.opts.SimpleMax+1))
			if err != nil {
				return
			}
			if int64(len(data)) > s.opts.SimpleMax {
				writeError(w, http.StatusRequestEntityTooLarge, "file_size_too_large", "File is too large for a direct upload", nil)
				return
			}
		}
	}
	if data == nil {
		data = []byte{}
	}
	if want := r.Header.Get("Content-MD5"); want != "" {
		sum := sha1.Sum(data)
		if !strings.EqualFold(want, hex.EncodeToString(sum[:])) {
			writeError(w, http.StatusBadRequest, "bad_digest", "The specified content-md5 did not match what we received", nil)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var it *item
	if fileID != "" {
		it = s.items[fileID]
		if it == nil || it.Type != "file" {
			notFound(w)
			return
		}
		s.version(it, data)
	} else {
		if !gotAttrs || !validName(attrs.Name) {
			writeError(w, http.StatusBadRequest, "bad_request", "attributes with a valid name required", nil)
			return
		}
		if p := s.items[attrs.Parent.ID]; p == nil || p.Type != "folder" {
			notFound(w)
			return
		}
		if old := s.children[attrs.Parent.ID][strings.ToLower(attrs.Name)]; old != nil {
			s.conflict(w, old)
			return
		}
		it = s.add(attrs.Parent.ID, attrs.Name, "file", data)
	}
	// The OpenAPI document: a new file is 201, a new version of a file
	// (POST /files/{file_id}/content) is 200.
	status := http.StatusCreated
	if fileID != "" {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"total_count": 1, "entries": []any{s.json(it)}})
}

func (s *Server) sessionJSON(id string, ss *session) map[string]any {
	base := s.URL + "/api/2.0/files/upload_sessions/" + id
	return map[string]any{
		"id": id, "type": "upload_session", "part_size": s.opts.PartSize,
		"total_parts":         (ss.size + s.opts.PartSize - 1) / s.opts.PartSize,
		"num_parts_processed": len(ss.parts),
		"session_expires_at":  time.Now().Add(7 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"session_endpoints": map[string]string{
			"upload_part": base, "commit": base + "/commit", "list_parts": base + "/parts",
			"status": base, "abort": base, "log_event": base + "/log",
		},
	}
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request, fileID string) {
	var b struct {
		FolderID *string `json:"folder_id"`
		FileSize *int64  `json:"file_size"`
		FileName *string `json:"file_name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "bad body", nil)
		return
	}
	// The 400 codes of POST /files/upload_sessions.
	switch {
	case fileID == "" && b.FolderID == nil:
		writeError(w, http.StatusBadRequest, "missing_destination", "folder_id is required", nil)
		return
	case b.FileSize == nil:
		writeError(w, http.StatusBadRequest, "missing_file_size", "file_size is required", nil)
		return
	case *b.FileSize < 0:
		writeError(w, http.StatusBadRequest, "invalid_file_size", "file_size is not valid", nil)
		return
	case *b.FileSize < s.opts.ChunkedMin:
		writeError(w, http.StatusBadRequest, "file_size_too_small", "File size is less than minimum allowed for this API", nil)
		return
	case fileID == "" && b.FileName == nil:
		writeError(w, http.StatusBadRequest, "missing_file_name", "file_name is required", nil)
		return
	case b.FileName != nil && !validName(*b.FileName):
		writeError(w, http.StatusBadRequest, "item_name_invalid", "file_name is not valid", nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := &session{size: *b.FileSize, parts: map[int64]part{}, fileID: fileID}
	if b.FolderID != nil {
		ss.folder = *b.FolderID
	}
	if b.FileName != nil {
		ss.name = *b.FileName
	}
	if fileID != "" {
		if it := s.items[fileID]; it == nil || it.Type != "file" {
			notFound(w)
			return
		}
	} else {
		if p := s.items[ss.folder]; p == nil || p.Type != "folder" {
			writeError(w, http.StatusNotFound, "invalid_parameter", "folder_id does not name a folder you can access", nil)
			return
		}
		if old := s.children[ss.folder][strings.ToLower(ss.name)]; old != nil {
			s.conflict(w, old)
			return
		}
	}
	s.SessionsCreated.Add(1)
	id := strings.ToUpper(fakeauth.ID(32))
	s.sessions[id] = ss
	writeJSON(w, http.StatusCreated, s.sessionJSON(id, ss))
}

func digest(r *http.Request) ([]byte, bool) {
	v, ok := strings.CutPrefix(r.Header.Get("Digest"), "sha=")
	if !ok {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(v)
	return b, err == nil && len(b) == sha1.Size
}

func (s *Server) sessionCall(w http.ResponseWriter, r *http.Request, id, action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[id]
	if ss == nil {
		writeError(w, http.StatusNotFound, "not_found", "Upload session not found", nil)
		return
	}
	switch {
	case action == "" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.sessionJSON(id, ss))
	case action == "" && r.Method == http.MethodDelete:
		delete(s.sessions, id)
		w.WriteHeader(http.StatusNoContent)
	case action == "parts" && r.Method == http.MethodGet:
		q := r.URL.Query()
		offset, limit := 0, 1000
		if v := q.Get("offset"); v != "" {
			offset, _ = strconv.Atoi(v)
		}
		if v := q.Get("limit"); v != "" {
			limit, _ = strconv.Atoi(v)
		}
		if offset < 0 || offset > 10000 || limit < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "offset must be 0 to 10000 and limit positive", nil)
			return
		}
		limit = min(limit, 1000)
		out := []part{}
		for _, p := range ss.parts {
			out = append(out, p)
		}
		slices.SortFunc(out, func(a, b part) int { return int(a.Offset - b.Offset) })
		total := len(out)
		out = out[min(offset, total):min(offset+limit, total)]
		writeJSON(w, http.StatusOK, map[string]any{"entries": out, "total_count": total, "offset": offset, "limit": limit})
	case action == "" && r.Method == http.MethodPut:
		m := contentRangeRE.FindStringSubmatch(r.Header.Get("Content-Range"))
		want, ok := digest(r)
		if m == nil || !ok {
			writeError(w, http.StatusBadRequest, "bad_request", "Content-Range and Digest: sha= are required", nil)
			return
		}
		start, _ := strconv.ParseInt(m[1], 10, 64)
		end, _ := strconv.ParseInt(m[2], 10, 64)
		total, _ := strconv.ParseInt(m[3], 10, 64)
		size := end - start + 1
		if total != ss.size || start%s.opts.PartSize != 0 || end >= total ||
			(size != s.opts.PartSize && end+1 != total) {
			writeError(w, http.StatusRequestedRangeNotSatisfiable, "requested_range_not_satisfiable",
				fmt.Sprintf("Parts must be %d bytes at multiples of it, except the last", s.opts.PartSize), nil)
			return
		}
		data, err := io.ReadAll(r.Body)
		if err != nil || int64(len(data)) != size {
			writeError(w, http.StatusBadRequest, "bad_request", "body does not match Content-Range", nil)
			return
		}
		sum := sha1.Sum(data)
		if !bytes.Equal(sum[:], want) {
			writeError(w, http.StatusPreconditionFailed, "precondition_failed", "The digest of the part does not match its content", nil)
			return
		}
		if _, ok := ss.parts[start]; ok {
			// Parts are immutable: not even the same bytes go up twice.
			writeError(w, http.StatusConflict, "range_overlaps_existing_part", "Part overlaps with a previously uploaded part", nil)
			return
		}
		p := part{ID: strings.ToUpper(fakeauth.ID(8)), Offset: start, Size: size, SHA1: hex.EncodeToString(sum[:])}
		ss.parts[start] = p
		if len(ss.data) < int(total) {
			ss.data = append(ss.data, make([]byte, int(total)-len(ss.data))...)
		}
		copy(ss.data[start:], data)
		writeJSON(w, http.StatusOK, map[string]any{"part": p})
	case action == "commit" && r.Method == http.MethodPost:
		want, ok := digest(r)
		var b struct {
			Parts []part `json:"parts"`
		}
		if !ok || json.NewDecoder(r.Body).Decode(&b) != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "Digest and parts are required", nil)
			return
		}
		var off int64
		for _, p := range b.Parts {
			have, ok := ss.parts[p.Offset]
			if !ok || have.ID != p.ID || p.Offset != off || p.Size != 0 && p.Size != have.Size ||
				p.SHA1 != "" && !strings.EqualFold(p.SHA1, have.SHA1) {
				writeError(w, http.StatusBadRequest, "parts_mismatch", "The list of parts does not match the uploaded parts", nil)
				return
			}
			off += have.Size
		}
		if off != ss.size || len(b.Parts) != len(ss.parts) {
			writeError(w, http.StatusBadRequest, "parts_mismatch", "The list of parts does not cover the file", nil)
			return
		}
		if ss.commits < s.opts.CommitProcessing {
			ss.commits++
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		sum := sha1.Sum(ss.data)
		if !bytes.Equal(sum[:], want) {
			writeError(w, http.StatusBadRequest, "digest_mismatch", fmt.Sprintf("File digest was incorrect. Actual: %s Expected: %s",
				base64.StdEncoding.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(want)), nil)
			return
		}
		delete(s.sessions, id)
		var it *item
		if ss.fileID != "" {
			if it = s.items[ss.fileID]; it == nil {
				notFound(w)
				return
			}
			s.version(it, ss.data)
		} else {
			if old := s.children[ss.folder][strings.ToLower(ss.name)]; old != nil {
				s.conflict(w, old)
				return
			}
			it = s.add(ss.folder, ss.name, "file", ss.data)
		}
		writeJSON(w, http.StatusCreated, map[string]any{"total_count": 1, "entries": []any{s.json(it)}})
	default:
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method Not Allowed", nil)
	}
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
	if it == nil || r.URL.Query().Get("token") == "" {
		notFound(w)
		return
	}
	rh := r.Header.Get("Range")
	if rh == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
		return
	}
	m := rangeRE.FindStringSubmatch(rh)
	if m == nil {
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
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
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(data)))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(data[start : end+1])
}
