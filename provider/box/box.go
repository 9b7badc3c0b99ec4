// Package box is the Box driver (CloudType Box) over the Box API 2.0 with a
// small typed client on net/http.
//
// There is one bucket, the root folder "All Files" (id "0"); any folder id is
// accepted as a bucket name too. Keys are paths walked by name from there;
// Object.ID is the Box file or folder id. Box has no lookup by name, so a
// lookup lists the folder (sorted by name); writes do not look up first:
// Box answers a name clash with 409 item_name_in_use and the existing id,
// and the driver then uploads a new version of that file.
//
// Files under 20 MB go up in one form upload (SHA-1 checked by Box through
// Content-MD5); larger ones and writes of unknown size (spooled to a
// temporary file, since a session needs the size up front) use a chunked
// upload session with the part size Box dictates, a SHA-1 Digest per part
// and for the whole file on commit. Either way the file's SHA-1 that Box
// reports is compared with the bytes sent, so the Object a write returns
// has Verified set to SHA-1; Box's digest errors (bad_digest,
// digest_mismatch, a part's 412) and a differing SHA-1 match
// provider.ErrChecksum. Box stores no content type: it is derived from the
// name's extension.
//
// Optional interfaces: Hasher (SHA-1) and MultipartUploader (chunked
// sessions with the engine's parts re-cut to Box's part size; see
// multipart.go). Not implemented: Presigner (a shared link is not a
// per-object signed URL and there is no credential-free PUT).
package box

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/internal/tree"
)

func init() { provider.Register(provider.Box.DriverName(), provider.OpenerOf(Open)) }

const (
	// DefaultEndpoint serves the API (/2.0) and, on the real service, the
	// upload host is upload.box.com.
	DefaultEndpoint = "https://api.box.com"
	defaultUpload   = "https://upload.box.com"
	// chunkedMin is the smallest file Box accepts in an upload session.
	chunkedMin = 20_000_000
	itemFields = "id,type,name,size,sha1,etag,modified_at"
	rootName   = "All Files"
)

// Storage is the Box driver.
type Storage struct {
	fs      *tree.FS
	api, up string
	hc      *http.Client
	names   nameCache

	mu      sync.Mutex
	uploads map[string]*upload // multipart uploads by Upload.ID
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.Hasher            = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
)

// Open opens a Box connection authorised by cfg.TokenSource. cfg.Endpoint
// replaces both https://api.box.com and https://upload.box.com (a fake
// serves /2.0 and /api/2.0 on one host).
func Open(ctx context.Context, cfg provider.Config) (*Storage, error) {
	hc, err := tree.Client(cfg)
	if err != nil {
		return nil, err
	}
	api, up := DefaultEndpoint, defaultUpload
	if e := strings.TrimSuffix(cfg.Endpoint, "/"); e != "" {
		api, up = e, e
	}
	s := &Storage{api: api + "/2.0", up: up + "/api/2.0", hc: hc, names: nameCache{ttl: 3 * time.Second}, uploads: map[string]*upload{}}
	s.fs = tree.New(backend{s})
	s.fs.NoLookupOnWrite = true
	return s, nil
}

// Close implements provider.Storage. The driver holds only an HTTP client,
// so it does nothing.
func (s *Storage) Close() error { return nil }

// backend is the id-based half of the driver (tree.Backend). It is a type
// of its own so its methods, typed with the internal tree package, stay out
// of Storage's exported API.
type backend struct{ *Storage }

// ListObjects returns one page of keys under opts.Prefix: one folder with a
// delimiter, a depth-first walk of the folders below without.
func (s *Storage) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	return s.fs.ListObjects(ctx, bucket, opts)
}

// Stat describes the file at key, or the folder at a key ending in "/".
func (s *Storage) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	return s.fs.Stat(ctx, bucket, key)
}

// NewRangeReader reads length bytes of key from offset (length < 0: to the
// end).
func (s *Storage) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	return s.fs.NewRangeReader(ctx, bucket, key, offset, length)
}

// Write stores r at key, creating the folders on its path and replacing a
// file already there.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if err := provider.NoMetadata("box", opts); err != nil {
		return provider.Object{}, err
	}
	return s.fs.Write(ctx, bucket, key, r, size, opts)
}

// Delete removes the file at key, or the empty folder at a key ending in
// "/"; a missing key is not an error.
func (s *Storage) Delete(ctx context.Context, bucket, key string) error {
	return s.fs.Delete(ctx, bucket, key)
}

// DeleteID removes the file or empty folder with the provider id id
// (provider.IDDeleter).
func (s *Storage) DeleteID(ctx context.Context, bucket, key, id string) error {
	return s.fs.DeleteID(ctx, bucket, key, id)
}

// CreateFolder creates the folder key (ending in "/") and its parents.
func (s *Storage) CreateFolder(ctx context.Context, bucket, key string) error {
	return s.fs.CreateFolder(ctx, bucket, key)
}

// Hashes implements provider.Hasher: Box keeps the SHA-1 of every file.
func (s *Storage) Hashes() []provider.Hash { return []provider.Hash{provider.HashSHA1} }

// boxError is Box's error body.
type boxError struct {
	Status      int    `json:"status"`
	Code        string `json:"code"`
	Message     string `json:"message"`
	ContextInfo struct {
		Conflicts json.RawMessage `json:"conflicts"`
	} `json:"context_info"`
}

func (e *boxError) Error() string { return fmt.Sprintf("box: %d %s: %s", e.Status, e.Code, e.Message) }

// conflictID returns the id of the existing item of a 409 item_name_in_use.
func (e *boxError) conflictID() string {
	var one struct{ ID string }
	if json.Unmarshal(e.ContextInfo.Conflicts, &one) == nil && one.ID != "" {
		return one.ID
	}
	var many []struct{ ID string }
	if json.Unmarshal(e.ContextInfo.Conflicts, &many) == nil && len(many) > 0 {
		return many[0].ID
	}
	return ""
}

func checkResponse(resp *http.Response, what string) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	be := &boxError{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = json.Unmarshal(b, be)
	if be.Code == "" {
		be.Code = http.StatusText(resp.StatusCode)
	}
	if digestError(resp, be) {
		return provider.Wrap(provider.ErrChecksum, be, what)
	}
	return tree.StatusError(resp.StatusCode, resp.Header, be, what)
}

// digestError reports Box refusing a body whose SHA-1 differs from the one
// sent with it: bad_digest (a form upload's Content-MD5), digest_mismatch
// (a commit's Digest), or 412 on an upload part, whose only precondition is
// its Digest (the OpenAPI description names no code for it).
func digestError(resp *http.Response, be *boxError) bool {
	switch be.Code {
	case "bad_digest", "digest_mismatch", "sha1_mismatch":
		return true
	}
	req := resp.Request
	return resp.StatusCode == http.StatusPreconditionFailed && req != nil &&
		req.Method == http.MethodPut && req.Header.Get("Digest") != "" && req.Header.Get("If-Match") == ""
}

// do sends one request with a replayable body, retrying as tree.Retry does,
// and decodes a JSON answer into out.
func (s *Storage) do(ctx context.Context, method, u string, body []byte, header http.Header, idempotent bool, out any) (*http.Response, error) {
	var resp *http.Response
	err := tree.Retry(ctx, idempotent, func() error {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		if body != nil && req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err = s.hc.Do(req)
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				return provider.Wrap(provider.ErrUnauthenticated, err, method)
			}
			return err
		}
		defer resp.Body.Close()
		if err := checkResponse(resp, method+" "+u); err != nil {
			return err
		}
		// 202 (a commit still processing) comes without a body.
		if out != nil && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	})
	return resp, err
}

type boxItem struct {
	Type     string    `json:"type"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	SHA1     string    `json:"sha1"`
	ETag     string    `json:"etag"`
	Modified time.Time `json:"modified_at"`
}

func entry(it boxItem) tree.Entry {
	e := tree.Entry{ID: it.ID, Name: it.Name, IsFolder: it.Type == "folder", Size: it.Size,
		ModTime: it.Modified, ETag: it.ETag, Checksums: provider.Checksums{SHA1: strings.ToLower(it.SHA1)}}
	if e.IsFolder {
		e.Size = 0
	} else {
		e.ContentType = mime.TypeByExtension(path.Ext(it.Name))
		if e.ContentType == "" {
			e.ContentType = "application/octet-stream"
		}
	}
	return e
}

// ListBuckets implements provider.Storage. The only bucket is the root
// folder "All Files" (id "0"); reading it first checks that the credentials
// work.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	var root boxItem
	if _, err := s.do(ctx, http.MethodGet, s.api+"/folders/0?fields=id,name,modified_at", nil, nil, true, &root); err != nil {
		return nil, err
	}
	return []provider.Bucket{{Name: rootName, ID: "0"}}, nil
}

// Root implements the tree backend: "All Files" and "0" are the root folder,
// any other bucket name is taken as a folder id, which must exist.
func (s backend) Root(ctx context.Context, bucket string) (string, error) {
	if bucket == rootName || bucket == "0" {
		return "0", nil
	}
	var f boxItem
	if _, err := s.do(ctx, http.MethodGet, s.api+"/folders/"+url.PathEscape(bucket)+"?fields=id", nil, nil, true, &f); err != nil {
		return "", err
	}
	return f.ID, nil
}

// List implements the tree backend with one page of the folder's items
// sorted by name; the cursor is Box's offset. Web links are left out.
func (s backend) List(ctx context.Context, parent, cursor string, pageSize int) ([]tree.Entry, string, error) {
	offset := 0
	if cursor != "" {
		var err error
		if offset, err = strconv.Atoi(cursor); err != nil {
			return nil, "", fmt.Errorf("%w: bad cursor", provider.ErrInvalid)
		}
	}
	q := url.Values{"fields": {itemFields}, "limit": {strconv.Itoa(pageSize)}, "offset": {strconv.Itoa(offset)},
		"sort": {"name"}, "direction": {"ASC"}}
	var page struct {
		Total   int       `json:"total_count"`
		Entries []boxItem `json:"entries"`
	}
	if _, err := s.do(ctx, http.MethodGet, s.api+"/folders/"+url.PathEscape(parent)+"/items?"+q.Encode(), nil, nil, true, &page); err != nil {
		return nil, "", err
	}
	out := make([]tree.Entry, 0, len(page.Entries))
	for _, it := range page.Entries {
		if it.Type == "file" || it.Type == "folder" { // not web links
			out = append(out, entry(it))
		}
	}
	next := ""
	if end := offset + len(page.Entries); end < page.Total && len(page.Entries) > 0 {
		next = strconv.Itoa(end)
	}
	return out, next, nil
}

// Lookup finds a name in a folder. Box cannot look a name up, so the
// folder is listed, and the listing kept for a few seconds (names.ttl):
// without it, deleting n files of one folder would list it n times. Names
// are unique per folder regardless of case and type.
func (s backend) Lookup(ctx context.Context, parent, name string, kind tree.Kind) (tree.Entry, error) {
	byName, gen, ok := s.names.get(parent)
	if !ok {
		byName = map[string]tree.Entry{}
		cursor := ""
		for {
			entries, next, err := s.List(ctx, parent, cursor, 1000)
			if err != nil {
				return tree.Entry{}, err
			}
			for _, e := range entries {
				byName[strings.ToLower(e.Name)] = e
			}
			if next == "" {
				break
			}
			cursor = next
		}
		s.names.set(parent, byName, gen)
	}
	e, ok := byName[strings.ToLower(name)]
	if !ok || e.IsFolder != (kind == tree.Folder) || e.Name != name {
		return tree.Entry{}, fmt.Errorf("%w: %q", provider.ErrNotFound, name)
	}
	return e, nil
}

// nameCache keeps recent folder listings, updated by this Storage's own
// writes and deletes. Another client's change shows after at most ttl.
type nameCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	folders map[string]folderNames
	// gen counts this Storage's changes: a listing that raced one may lack
	// it and is not cached.
	gen uint64
}

type folderNames struct {
	at     time.Time
	byName map[string]tree.Entry // lower-case name
}

// get returns the cached listing of parent, or on a miss the generation to
// pass to set with a fresh listing.
func (c *nameCache) get(parent string) (map[string]tree.Entry, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.folders[parent]
	if !ok || time.Since(f.at) > c.ttl {
		return nil, c.gen, false
	}
	return maps.Clone(f.byName), c.gen, true
}

func (c *nameCache) set(parent string, byName map[string]tree.Entry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a change of ours raced the listing
	}
	if c.folders == nil || len(c.folders) > 1024 {
		c.folders = map[string]folderNames{}
	}
	// A copy: the caller keeps reading its map while added and removed
	// change the cached one.
	c.folders[parent] = folderNames{at: time.Now(), byName: maps.Clone(byName)}
}

// added records an entry this Storage created in parent.
func (c *nameCache) added(parent string, e tree.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if f, ok := c.folders[parent]; ok {
		f.byName[strings.ToLower(e.Name)] = e
	}
}

// removed forgets an entry this Storage deleted.
func (c *nameCache) removed(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, f := range c.folders {
		for name, e := range f.byName {
			if e.ID == id {
				delete(f.byName, name)
			}
		}
	}
}

// Mkdir implements the tree backend: it creates the folder name in parent
// and records it in the name cache.
func (s backend) Mkdir(ctx context.Context, parent, name string) (tree.Entry, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "parent": map[string]string{"id": parent}})
	var it boxItem
	if _, err := s.do(ctx, http.MethodPost, s.api+"/folders?fields="+itemFields, body, nil, false, &it); err != nil {
		return tree.Entry{}, err
	}
	s.names.added(parent, entry(it))
	return entry(it), nil
}

// Remove implements the tree backend: it deletes the file or empty folder
// and forgets it in the name cache.
func (s backend) Remove(ctx context.Context, e tree.Entry) error {
	kind := "files"
	if e.IsFolder {
		kind = "folders"
	}
	_, err := s.do(ctx, http.MethodDelete, s.api+"/"+kind+"/"+url.PathEscape(e.ID), nil, nil, true, nil)
	if err == nil {
		s.names.removed(e.ID)
	}
	return err
}

// Download implements the tree backend: a GET of the file's content with a
// Range header, following Box's redirect to its download host.
func (s backend) Download(ctx context.Context, e tree.Entry, offset, length int64) (io.ReadCloser, error) {
	var body io.ReadCloser
	err := tree.Retry(ctx, true, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.api+"/files/"+url.PathEscape(e.ID)+"/content", nil)
		if err != nil {
			return err
		}
		if offset > 0 || length >= 0 {
			r := fmt.Sprintf("bytes=%d-", offset)
			if length >= 0 {
				r += fmt.Sprint(offset + length - 1)
			}
			req.Header.Set("Range", r)
		}
		resp, err := s.hc.Do(req) // follows the 302 to the download host
		if err != nil {
			return err
		}
		if err := checkResponse(resp, "download "+e.ID); err != nil {
			resp.Body.Close()
			return err
		}
		body = resp.Body
		return nil
	})
	return body, err
}

// Upload implements the tree backend: a form upload under 20 MB, an upload
// session above (a write of unknown size is spooled to a temporary file
// first); a name already taken gets a new version of that file.
func (s backend) Upload(ctx context.Context, parent, name string, old *tree.Entry, r io.Reader, size int64, opts provider.WriteOptions) (tree.Entry, error) {
	e, err := s.upload(ctx, parent, name, r, size)
	if err == nil {
		s.names.added(parent, e)
	}
	return e, err
}

func (s *Storage) upload(ctx context.Context, parent, name string, r io.Reader, size int64) (tree.Entry, error) {
	r = ctxReader{ctx, r}
	if size < 0 {
		head, err := io.ReadAll(io.LimitReader(r, chunkedMin))
		if err != nil {
			return tree.Entry{}, err
		}
		if len(head) < chunkedMin {
			return s.form(ctx, parent, name, head)
		}
		f, err := os.CreateTemp("", "amove-box-*")
		if err != nil {
			return tree.Entry{}, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		n, err := io.Copy(f, io.MultiReader(bytes.NewReader(head), r))
		if err != nil {
			return tree.Entry{}, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return tree.Entry{}, err
		}
		return s.chunked(ctx, parent, name, f, n)
	}
	if size < chunkedMin {
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return tree.Entry{}, fmt.Errorf("reading %d bytes: %w", size, err)
		}
		return s.form(ctx, parent, name, data)
	}
	return s.chunked(ctx, parent, name, r, size)
}

// form uploads data in one multipart/form-data request, or as a new version
// when the name is taken.
func (s *Storage) form(ctx context.Context, parent, name string, data []byte) (tree.Entry, error) {
	sum := sha1.Sum(data)
	hexSum := hex.EncodeToString(sum[:])
	build := func(withAttrs bool) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		if withAttrs {
			attrs, _ := json.Marshal(map[string]any{"name": name, "parent": map[string]string{"id": parent}})
			_ = mw.WriteField("attributes", string(attrs))
		}
		fw, _ := mw.CreateFormFile("file", "blob")
		_, _ = fw.Write(data)
		_ = mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	body, ct := build(true)
	h := http.Header{"Content-Type": {ct}, "Content-Md5": {hexSum}}
	var res struct {
		Entries []boxItem `json:"entries"`
	}
	_, err := s.do(ctx, http.MethodPost, s.up+"/files/content?fields="+itemFields, body, h, false, &res)
	var be *boxError
	if errors.As(err, &be) && be.Code == "item_name_in_use" {
		id := be.conflictID()
		if id == "" {
			return tree.Entry{}, err
		}
		body, ct = build(false)
		h.Set("Content-Type", ct)
		_, err = s.do(ctx, http.MethodPost, s.up+"/files/"+url.PathEscape(id)+"/content?fields="+itemFields, body, h, false, &res)
	}
	if err != nil {
		return tree.Entry{}, err
	}
	if len(res.Entries) != 1 {
		return tree.Entry{}, errors.New("box: upload answered without the file")
	}
	return verified(res.Entries[0], hexSum, int64(len(data)))
}

// verified compares the file Box stored with the size and SHA-1 (hex) of the
// bytes sent. Box checked that SHA-1 itself before storing (Content-MD5 or
// the commit's Digest), so when the answer lacks the file's sha1 it is
// still the stored file's.
func verified(it boxItem, sha string, size int64) (tree.Entry, error) {
	if it.SHA1 != "" && !strings.EqualFold(it.SHA1, sha) || it.Size != size {
		return tree.Entry{}, fmt.Errorf("%w: Box stored %d bytes with SHA-1 %s, sent %d with %s", provider.ErrChecksum, it.Size, it.SHA1, size, sha)
	}
	e := entry(it)
	e.Checksums.SHA1 = sha
	e.Verified = provider.HashSHA1
	return e, nil
}

type uploadSession struct {
	ID       string `json:"id"`
	PartSize int64  `json:"part_size"`
}

type boxPart struct {
	ID     string `json:"part_id"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
	SHA1   string `json:"sha1"`
}

// chunked uploads through an upload session with Box's part size; on any
// failure the session is aborted so nothing is left behind.
func (s *Storage) chunked(ctx context.Context, parent, name string, r io.Reader, size int64) (_ tree.Entry, err error) {
	sess, err := s.createSession(ctx, parent, name, size)
	if err != nil {
		return tree.Entry{}, err
	}
	sessURL := s.sessionURL(sess.ID)
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = s.do(cctx, http.MethodDelete, sessURL, nil, nil, true, nil)
		}
	}()
	whole := sha1.New()
	buf := make([]byte, sess.PartSize)
	var parts []boxPart
	for off := int64(0); off < size; {
		n := min(sess.PartSize, size-off)
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return tree.Entry{}, fmt.Errorf("reading at %d of %d: %w", off, size, err)
		}
		whole.Write(buf[:n])
		ps := sha1.Sum(buf[:n])
		h := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size)},
			"Digest":        {"sha=" + base64.StdEncoding.EncodeToString(ps[:])},
		}
		var res struct {
			Part boxPart `json:"part"`
		}
		if _, err := s.do(ctx, http.MethodPut, sessURL, buf[:n], h, true, &res); err != nil {
			return tree.Entry{}, err
		}
		parts = append(parts, res.Part)
		off += n
	}
	sum := whole.Sum(nil)
	it, err := s.commit(ctx, sessURL, parts, sum)
	if err != nil {
		return tree.Entry{}, err
	}
	return verified(it, hex.EncodeToString(sum), size)
}

func (s *Storage) sessionURL(id string) string {
	return s.up + "/files/upload_sessions/" + url.PathEscape(id)
}

// createSession starts a chunked upload session for name in parent, or for
// a new version of the file when the name is taken.
func (s *Storage) createSession(ctx context.Context, parent, name string, size int64) (uploadSession, error) {
	body, _ := json.Marshal(map[string]any{"folder_id": parent, "file_size": size, "file_name": name})
	var sess uploadSession
	_, err := s.do(ctx, http.MethodPost, s.up+"/files/upload_sessions", body, nil, false, &sess)
	var be *boxError
	if errors.As(err, &be) && be.Code == "item_name_in_use" && be.conflictID() != "" {
		body, _ = json.Marshal(map[string]any{"file_size": size})
		_, err = s.do(ctx, http.MethodPost, s.up+"/files/"+url.PathEscape(be.conflictID())+"/upload_sessions", body, nil, false, &sess)
	}
	if err != nil {
		return uploadSession{}, err
	}
	if sess.ID == "" || sess.PartSize <= 0 {
		return uploadSession{}, errors.New("box: upload session without id or part_size")
	}
	return sess, nil
}

// commitRounds bounds how often a commit answered 202 (parts still
// processing) is sent again.
const commitRounds = 30

// commit assembles the session's parts (in offset order) into the file;
// sum is the whole file's SHA-1, which Box checks (digest_mismatch
// otherwise). The commit endpoint takes no fields parameter: it answers
// the standard file representation, which carries sha1 and size.
func (s *Storage) commit(ctx context.Context, sessURL string, parts []boxPart, sum []byte) (boxItem, error) {
	body, _ := json.Marshal(map[string]any{"parts": parts})
	h := http.Header{"Digest": {"sha=" + base64.StdEncoding.EncodeToString(sum)}}
	// 202 means Box is still processing the parts: commit again after
	// Retry-After. This is the protocol, not a retry of a failure, so it
	// runs under provider.WithoutRetries too.
	for round := 1; ; round++ {
		var res struct {
			Entries []boxItem `json:"entries"`
		}
		resp, err := s.do(ctx, http.MethodPost, sessURL+"/commit", body, h, true, &res)
		if err != nil {
			return boxItem{}, err
		}
		if resp.StatusCode != http.StatusAccepted {
			if len(res.Entries) != 1 {
				return boxItem{}, errors.New("box: commit answered without the file")
			}
			return res.Entries[0], nil
		}
		if round == commitRounds {
			return boxItem{}, fmt.Errorf("box: commit still processing after %d rounds", round)
		}
		t := time.NewTimer(min(max(provider.ParseRetryAfter(resp.Header), time.Second), time.Minute))
		select {
		case <-ctx.Done():
			t.Stop()
			return boxItem{}, ctx.Err()
		case <-t.C:
		}
	}
}

// ctxReader ends a read loop when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
