// Package onedrive is the OneDrive driver (CloudType OneDrive) over Microsoft
// Graph v1.0 with a small typed client on net/http.
//
// Buckets are the drives in /me/drives (the default drive first), by name or
// id. Keys are paths walked from the drive root; Object.ID is
// "<driveId>/<itemId>", the pair Graph addresses an item by. OneDrive refuses
// " * : < > ? \ | in names, so the driver stores them as their full-width
// Unicode look-alikes (as rclone does) and maps them back when listing; a
// name that really contains those look-alikes reads back as the ASCII form.
//
// Small files go up in one PUT (retried on throttling); larger ones and
// writes of unknown size (spooled to a temporary file, since Graph needs the
// total on every fragment) go through an upload session in fragments that
// are multiples of 320 KiB, sent without the bearer token to the
// pre-authenticated uploadUrl. Every upload is checked against the
// quickXorHash Graph reports (file.hashes, base64): a match sets the
// returned Object's Verified to provider.HashQuickXor, a difference is
// provider.ErrChecksum. Objects carry that hash in Checksums.QuickXor (hex),
// and the deprecated sha1Hash/sha256Hash where Graph still reports them.
// No Hasher yet: the conformance suite cannot check a QuickXor entry.
//
// MultipartUploader runs upload sessions for the transfer engine, which
// uploads parts out of order: see multipart.go for how parts are sequenced
// and resumed.
//
// Not implemented: Presigner (@microsoft.graph.downloadUrl is a
// credential-free GET, but a plain PUT cannot satisfy an upload session's
// Content-Range rule, and the suite's presign case needs both).
package onedrive

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/hash/quickxor"
	"github.com/amove/amove-go/provider/internal/tree"
)

func init() { provider.Register(provider.OneDrive.DriverName(), provider.OpenerOf(Open)) }

const (
	// DefaultEndpoint is Graph's v1.0 base.
	DefaultEndpoint = "https://graph.microsoft.com/v1.0"
	// simpleMax is the largest body sent in one PUT (the limit older clients
	// and rclone use; Graph now documents 250 MB).
	simpleMax        = 4 << 20
	fragmentMultiple = 320 << 10
	defaultFragment  = 32 * fragmentMultiple // 10 MiB
	// maxFragment is the largest fragment: Graph wants "less than 60 MiB"
	// in any one request, and multiples of 320 KiB.
	maxFragment = 60<<20 - fragmentMultiple
)

// Storage is the OneDrive driver.
type Storage struct {
	fs    *tree.FS
	base  string
	hc    *http.Client // authorised
	plain *http.Client // for pre-authenticated URLs

	mu      sync.Mutex
	uploads map[string]*upload // multipart uploads by Upload.ID
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
)

// Open opens a Graph connection authorised by cfg.TokenSource; cfg.Endpoint
// replaces https://graph.microsoft.com/v1.0 (a national cloud, or a fake).
func Open(ctx context.Context, cfg provider.Config) (*Storage, error) {
	hc, err := tree.Client(cfg)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.Endpoint, "/")
	if base == "" {
		base = DefaultEndpoint
	} else if !strings.HasSuffix(base, "/v1.0") {
		base += "/v1.0"
	}
	s := &Storage{base: base, hc: hc, plain: tree.PlainClient(cfg), uploads: map[string]*upload{}}
	s.fs = tree.New(backend{s})
	return s, nil
}

// Close implements provider.Storage. The driver holds only HTTP clients, so
// it does nothing.
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
	if err := provider.NoMetadata("onedrive", opts); err != nil {
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

// graphError is Graph's error body.
type graphError struct {
	Status int
	Body   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (e *graphError) Error() string {
	return fmt.Sprintf("graph: %d %s: %s", e.Status, e.Body.Code, e.Body.Message)
}

// checkResponse turns a non-2xx answer into a sentinel-marked error.
func checkResponse(resp *http.Response, what string) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	ge := &graphError{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = json.Unmarshal(b, ge)
	// Graph throttles with 503 too, and always says how long to wait.
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
		return &provider.RateLimitError{RetryAfter: provider.ParseRetryAfter(resp.Header), Err: fmt.Errorf("%s: %w", what, ge)}
	}
	return tree.StatusError(resp.StatusCode, resp.Header, ge, what)
}

func mapTransport(err error, what string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	}
	return err
}

// do sends one request (body replayable) with retries and decodes a JSON
// answer into out when it is not nil.
func (s *Storage) do(ctx context.Context, c *http.Client, method, u string, body []byte, header http.Header, idempotent bool, out any) (*http.Response, error) {
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
		resp, err = c.Do(req)
		if err != nil {
			return mapTransport(err, method+" "+u)
		}
		defer resp.Body.Close()
		if err := checkResponse(resp, method+" "+redact(u)); err != nil {
			return err
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	})
	return resp, err
}

// redact drops the query of a URL for messages: upload and download URLs
// carry their credential there.
func redact(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p
}

type drive struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"createdDateTime"`
}

type driveItem struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	ETag     string    `json:"eTag"`
	Modified time.Time `json:"lastModifiedDateTime"`
	Folder   *struct{} `json:"folder"`
	File     *struct {
		MimeType string `json:"mimeType"`
		Hashes   struct {
			QuickXorHash string `json:"quickXorHash"` // base64
			SHA1Hash     string `json:"sha1Hash"`     // hex; Personal only, deprecated
			SHA256Hash   string `json:"sha256Hash"`
		} `json:"hashes"`
	} `json:"file"`
	Parent struct {
		DriveID string `json:"driveId"`
	} `json:"parentReference"`
}

func (s *Storage) drives(ctx context.Context) ([]drive, error) {
	var def drive
	if _, err := s.do(ctx, s.hc, http.MethodGet, s.base+"/me/drive", nil, nil, true, &def); err != nil {
		return nil, err
	}
	var all struct {
		Value []drive `json:"value"`
	}
	if _, err := s.do(ctx, s.hc, http.MethodGet, s.base+"/me/drives", nil, nil, true, &all); err != nil {
		return nil, err
	}
	out := []drive{def}
	for _, d := range all.Value {
		if d.ID != def.ID {
			out = append(out, d)
		}
	}
	return out, nil
}

// ListBuckets implements provider.Storage: the drives in /me/drives, the
// default drive first.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	ds, err := s.drives(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]provider.Bucket, 0, len(ds))
	for _, d := range ds {
		out = append(out, provider.Bucket{Name: d.Name, ID: d.ID, Created: d.Created})
	}
	return out, nil
}

// Root resolves a drive name or id to "<driveId>/<rootItemId>".
func (s backend) Root(ctx context.Context, bucket string) (string, error) {
	ds, err := s.drives(ctx)
	if err != nil {
		return "", err
	}
	driveID := ""
	for _, d := range ds {
		if d.Name == bucket || d.ID == bucket {
			driveID = d.ID
			break
		}
	}
	if driveID == "" {
		// Another drive the user can reach by id (a SharePoint library).
		driveID = bucket
	}
	var root driveItem
	if _, err := s.do(ctx, s.hc, http.MethodGet, s.base+"/drives/"+url.PathEscape(driveID)+"/root", nil, nil, true, &root); err != nil {
		return "", err
	}
	return driveID + "/" + root.ID, nil
}

// itemURL is the Graph URL of a "<driveId>/<itemId>" id.
func (s *Storage) itemURL(id string) string {
	d, i, _ := strings.Cut(id, "/")
	return s.base + "/drives/" + url.PathEscape(d) + "/items/" + url.PathEscape(i)
}

func (s *Storage) childURL(parent, name, action string) string {
	return s.itemURL(parent) + ":/" + url.PathEscape(encodeName(name)) + ":" + action
}

func driveOf(id string) string { d, _, _ := strings.Cut(id, "/"); return d }

func (s *Storage) entry(driveID string, it driveItem) tree.Entry {
	e := tree.Entry{
		ID:       driveID + "/" + it.ID,
		Name:     decodeName(it.Name),
		IsFolder: it.Folder != nil,
		Size:     it.Size,
		ModTime:  it.Modified,
		ETag:     it.ETag,
	}
	if it.File != nil {
		e.ContentType = it.File.MimeType
		e.Checksums = provider.Checksums{
			QuickXor: graphHex(it.File.Hashes.QuickXorHash),
			SHA1:     strings.ToLower(it.File.Hashes.SHA1Hash),
			SHA256:   strings.ToLower(it.File.Hashes.SHA256Hash),
		}
	}
	if e.IsFolder {
		e.Size = 0
	}
	return e
}

// Lookup implements the tree backend with a GET of the child by path (the
// name in OneDrive's encoding); a child of the other kind is ErrNotFound.
func (s backend) Lookup(ctx context.Context, parent, name string, kind tree.Kind) (tree.Entry, error) {
	var it driveItem
	if _, err := s.do(ctx, s.hc, http.MethodGet, s.childURL(parent, name, ""), nil, nil, true, &it); err != nil {
		return tree.Entry{}, err
	}
	e := s.entry(driveOf(parent), it)
	if e.IsFolder != (kind == tree.Folder) {
		return tree.Entry{}, fmt.Errorf("%w: %q is not a %s", provider.ErrNotFound, name, map[bool]string{true: "folder", false: "file"}[kind == tree.Folder])
	}
	return e, nil
}

// List implements the tree backend with one page of the folder's children
// ordered by name; the cursor is Graph's @odata.nextLink, refused unless it
// points at Graph. Items that are neither file nor folder (notebooks,
// packages) are left out.
func (s backend) List(ctx context.Context, parent, cursor string, pageSize int) ([]tree.Entry, string, error) {
	u := cursor
	if u == "" {
		u = s.itemURL(parent) + "/children?$top=" + fmt.Sprint(pageSize) + "&$orderby=name"
	} else if !strings.HasPrefix(u, s.base) {
		// The cursor is Graph's @odata.nextLink; never send the token elsewhere.
		return nil, "", fmt.Errorf("%w: listing cursor is not a Graph URL", provider.ErrInvalid)
	}
	var page struct {
		Value    []driveItem `json:"value"`
		NextLink string      `json:"@odata.nextLink"`
	}
	if _, err := s.do(ctx, s.hc, http.MethodGet, u, nil, nil, true, &page); err != nil {
		return nil, "", err
	}
	out := make([]tree.Entry, 0, len(page.Value))
	for _, it := range page.Value {
		if it.Folder != nil || it.File != nil { // skip notebooks, packages...
			out = append(out, s.entry(driveOf(parent), it))
		}
	}
	return out, page.NextLink, nil
}

// Mkdir implements the tree backend: it creates the folder name in parent,
// failing rather than renaming when the name is taken.
func (s backend) Mkdir(ctx context.Context, parent, name string) (tree.Entry, error) {
	body, _ := json.Marshal(map[string]any{"name": encodeName(name), "folder": map[string]any{}, "@microsoft.graph.conflictBehavior": "fail"})
	var it driveItem
	if _, err := s.do(ctx, s.hc, http.MethodPost, s.itemURL(parent)+"/children", body, nil, false, &it); err != nil {
		return tree.Entry{}, err
	}
	return s.entry(driveOf(parent), it), nil
}

// Remove implements the tree backend with a DELETE of the item, which moves
// it to the recycle bin.
func (s backend) Remove(ctx context.Context, e tree.Entry) error {
	_, err := s.do(ctx, s.hc, http.MethodDelete, s.itemURL(e.ID), nil, nil, true, nil)
	return err
}

// Download implements the tree backend: a GET of the item's content with a
// Range header, following Graph's redirect to a pre-authenticated URL.
func (s backend) Download(ctx context.Context, e tree.Entry, offset, length int64) (io.ReadCloser, error) {
	var body io.ReadCloser
	err := tree.Retry(ctx, true, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.itemURL(e.ID)+"/content", nil)
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
		// The 302 target is pre-authenticated; Go keeps the Range header
		// across the redirect.
		resp, err := s.hc.Do(req)
		if err != nil {
			return mapTransport(err, "download")
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

// Upload writes small bodies in one PUT and the rest through a session.
func (s backend) Upload(ctx context.Context, parent, name string, _ *tree.Entry, r io.Reader, size int64, opts provider.WriteOptions) (tree.Entry, error) {
	r = ctxReader{ctx, r}
	if size < 0 {
		// Graph needs the total on every fragment: read what fits in one
		// PUT, and spool the rest to disk.
		head, err := io.ReadAll(io.LimitReader(r, simpleMax+1))
		if err != nil {
			return tree.Entry{}, err
		}
		if len(head) <= simpleMax {
			return s.simple(ctx, parent, name, head, opts)
		}
		f, err := os.CreateTemp("", "amove-onedrive-*")
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
		return s.session(ctx, parent, name, f, n, opts)
	}
	if size <= simpleMax {
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return tree.Entry{}, fmt.Errorf("reading %d bytes: %w", size, err)
		}
		return s.simple(ctx, parent, name, data, opts)
	}
	return s.session(ctx, parent, name, r, size, opts)
}

func (s *Storage) simple(ctx context.Context, parent, name string, data []byte, opts provider.WriteOptions) (tree.Entry, error) {
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if opts.ContentType != "" {
		h.Set("Content-Type", opts.ContentType)
	}
	var it driveItem
	if _, err := s.do(ctx, s.hc, http.MethodPut, s.childURL(parent, name, "/content"), data, h, false, &it); err != nil {
		return tree.Entry{}, err
	}
	return s.verified(driveOf(parent), it, quickXor(data), int64(len(data)))
}

// verified compares the file Graph stored with the size and quickXorHash
// digest of the bytes sent (sum nil: unknown, nothing to compare).
func (s *Storage) verified(driveID string, it driveItem, sum []byte, size int64) (tree.Entry, error) {
	e := s.entry(driveID, it)
	if it.Size != size {
		return tree.Entry{}, fmt.Errorf("%w: Graph stored %d bytes, sent %d", provider.ErrChecksum, it.Size, size)
	}
	if sum == nil || e.Checksums.QuickXor == "" {
		return e, nil
	}
	if sent := hex.EncodeToString(sum); sent != e.Checksums.QuickXor {
		return tree.Entry{}, fmt.Errorf("%w: Graph has quickXorHash %s, sent %s", provider.ErrChecksum, e.Checksums.QuickXor, sent)
	}
	e.Verified = provider.HashQuickXor
	return e, nil
}

// session uploads size bytes from r through an upload session: fragments in
// order, each a multiple of 320 KiB but the last, to the uploadUrl without
// the bearer token. A failure cancels the session so nothing is left behind.
func (s *Storage) session(ctx context.Context, parent, name string, r io.Reader, size int64, opts provider.WriteOptions) (_ tree.Entry, err error) {
	frag := int64(defaultFragment)
	if opts.PartSize > 0 {
		frag = min((opts.PartSize+fragmentMultiple-1)/fragmentMultiple*fragmentMultiple, maxFragment)
	}
	uploadURL, err := s.createSession(ctx, parent, name)
	if err != nil {
		return tree.Entry{}, err
	}
	defer func() {
		if err != nil {
			// Best effort, on a fresh context: ctx may be what failed.
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = s.do(cctx, s.plain, http.MethodDelete, uploadURL, nil, nil, true, nil)
		}
	}()
	h := quickxor.New()
	buf := make([]byte, frag)
	var off int64
	var it driveItem
	for off < size {
		n := min(frag, size-off)
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return tree.Entry{}, fmt.Errorf("reading at %d of %d: %w", off, size, err)
		}
		h.Write(buf[:n])
		hdr := http.Header{
			"Content-Range": {fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size)},
			"Content-Type":  {"application/octet-stream"},
		}
		resp, err := s.do(ctx, s.plain, http.MethodPut, uploadURL, buf[:n], hdr, true, nil)
		if err != nil {
			return tree.Entry{}, err
		}
		off += n
		if off == size {
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
				return tree.Entry{}, fmt.Errorf("upload session ended with status %d", resp.StatusCode)
			}
		}
		_ = resp
	}
	// The last answer's body was consumed by do; ask for the item.
	if err := s.getChild(ctx, parent, name, &it); err != nil {
		return tree.Entry{}, err
	}
	return s.verified(driveOf(parent), it, h.Sum(nil), size)
}

func (s *Storage) getChild(ctx context.Context, parent, name string, it *driveItem) error {
	_, err := s.do(ctx, s.hc, http.MethodGet, s.childURL(parent, name, ""), nil, nil, true, it)
	return err
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

// OneDrive refuses these characters in names; they are stored as their
// full-width look-alikes.
var (
	encoder = strings.NewReplacer(`"`, "＂", "*", "＊", ":", "：", "<", "＜", ">", "＞", "?", "？", `\`, "＼", "|", "｜")
	decoder = strings.NewReplacer("＂", `"`, "＊", "*", "：", ":", "＜", "<", "＞", ">", "？", "?", "＼", `\`, "｜", "|")
)

func encodeName(s string) string { return encoder.Replace(s) }
func decodeName(s string) string { return decoder.Replace(s) }

// Hashes: Graph reports a QuickXorHash for every file (Stat, listings,
// writes).
func (s *Storage) Hashes() []provider.Hash { return []provider.Hash{provider.HashQuickXor} }
