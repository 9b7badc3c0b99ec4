// Package frameio is the Frame.io driver (CloudType Frame) over the Frame.io
// V4 API, following Frame.io's getting-started guide and its V4 Postman
// collection: GET /v4/me for the account, workspaces and projects of that
// account, folder children with cursor paging (links.next), folders created
// and deleted by id, and files created with POST
// /v4/accounts/{a}/folders/{f}/files, whose answer lists the presigned URLs
// the bytes go to.
//
// # Buckets
//
// Frame.io nests Account → Workspace → Project → Folder → Folder / File. The
// account is the one GET /v4/me names (its account_id), and every project
// of every workspace in it is a bucket, named "<workspace>:<project>" (a
// "/" in either name becomes "_", since bucket names cannot hold one):
//
//	amove ls frame:"Marketing:Spring Campaign"/shots/
//
// Two more spellings name the same bucket: the project's id (the Bucket's
// ID, stable across renames) and the bare project name when no other
// project of the account has it. A name that matches more than one project
// is ErrInvalid, naming the ids to use instead. Keys are paths walked by
// name from the project's root folder (root_folder_id); Object.ID is the
// Frame.io file or folder id.
//
// # Listing and names
//
// The API has no lookup by name and no documented order for a folder's
// children, so the driver reads a folder's children (100 a page, following
// links.next and putting page_size back on each next link, which the API
// does not carry over), keeps the listing for a few seconds and sorts it
// by key itself. Frame.io allows two files of one name in a folder; the
// newest (updated_at) is the one a key names. Version stacks are not
// listed: a key names a file or a folder. Files still waiting for their
// bytes (status "created", size above zero) are not listed either.
//
// # Writes
//
// A write creates the file with its name, media_type (WriteOptions
// ContentType, else guessed from the name) and file_size, then PUTs the
// bytes to each upload URL in the answer: exactly that URL's size, with
// Content-Type equal to the media_type and x-amz-acl: private, without the
// bearer token (they are presigned S3 URLs). There is no commit call:
// Frame.io assembles the parts once all have arrived. The size must be
// known up front, so a write of unknown size is spooled first (in memory
// up to 8 MiB, then to a temporary file). Overwriting a key uploads the
// new file and then deletes the old one (Frame.io would keep both). A
// failed or cancelled write deletes the file it created. Frame.io reports
// no content hash, so writes are checked by size only and Object.Verified
// stays empty; WriteOptions.Metadata is refused (ErrUnsupported).
//
// # Reads
//
// A read asks for the file with include=media_links.original and fetches
// data.media_links.original.download_url, a signed URL, with a Range
// header, without the bearer token.
//
// # Credentials, limits, errors
//
// Requests carry Config.TokenSource's Adobe IMS bearer token (package oauth:
// oauth.FrameIO); without one, the oauth2.Token JSON in CredentialsData is
// used until it expires. A token the API refuses (401) is expired in the
// source when it can be (oauth.TokenSource.Expire) and the request sent
// once more with a fresh one. 429 is retried after the Retry-After, and at
// least one second doubled on each try, as the guide asks; a 5xx answer to
// an idempotent call after at least 30 seconds with jitter, at most twice.
// Errors ({"errors":[{title, detail, source}]}) are *Error, mapped onto the
// provider sentinels (422 is ErrInvalid).
//
// Not implemented: MultipartUploader (Frame.io picks the part sizes and
// needs the whole size first), Copier (the V4 collection has no copy; the
// portable layer streams), Presigner (a download_url is Frame.io's, not one
// we sign for a chosen expiry), BucketManager, Hasher.
package frameio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/internal/tree"
)

func init() { provider.Register(provider.Frame.DriverName(), provider.OpenerOf(Open)) }

// DefaultEndpoint is the API host; paths start with /v4.
const DefaultEndpoint = "https://api.frame.io"

const (
	// pageSize is the largest page the API serves.
	pageSize = 100
	// spoolMemory is how much of a write of unknown size is held in memory
	// before it goes to a temporary file.
	spoolMemory = 8 << 20
)

// Storage is the Frame.io driver.
type Storage struct {
	fs     *tree.FS
	base   *url.URL
	hc     *http.Client // API calls; do sets the Authorization header
	plain  *http.Client // presigned URLs, which must not see the token
	tokens oauth2.TokenSource
	log    *slog.Logger
	names  folderCache

	mu      sync.Mutex
	account string
}

var _ provider.Storage = (*Storage)(nil)

// Open opens a Frame.io connection authorised by cfg.TokenSource, or by the
// access token of the oauth2.Token JSON in cfg.CredentialsData.
// cfg.Endpoint replaces https://api.frame.io (a fake).
func Open(_ context.Context, cfg provider.Config) (*Storage, error) {
	ts := cfg.TokenSource
	if ts == nil {
		var tok oauth2.Token
		if cfg.CredentialsData == "" || json.Unmarshal([]byte(cfg.CredentialsData), &tok) != nil || tok.AccessToken == "" {
			return nil, fmt.Errorf("%w: frameio needs Config.TokenSource or an OAuth token in CredentialsData", provider.ErrUnauthenticated)
		}
		ts = oauth2.StaticTokenSource(&tok)
	}
	endpoint := strings.TrimSuffix(cfg.Endpoint, "/")
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	base, err := url.Parse(endpoint)
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("%w: frameio endpoint %q is not an http(s) URL", provider.ErrInvalid, cfg.Endpoint)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Storage{base: base, hc: tree.PlainClient(cfg), plain: tree.PlainClient(cfg), tokens: ts, log: log,
		names: folderCache{ttl: 3 * time.Second}}
	s.fs = tree.New(backend{s})
	return s, nil
}

// Close implements provider.Storage. The driver holds only an HTTP client,
// so it does nothing.
func (s *Storage) Close() error { return nil }

// Features declares what the driver supports (provider.Featurer): only the
// required interface.
func (s *Storage) Features() provider.Features { return provider.Features{} }

// backend is the id-based half of the driver (tree.Backend), a type of its
// own so its methods stay out of Storage's exported API.
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
// file already there. Metadata is refused: the V4 collection has no way to
// set it with a file.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if len(opts.Metadata) > 0 {
		return provider.Object{}, fmt.Errorf("%w: frameio stores no object metadata", provider.ErrUnsupported)
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

// Error is an error answer of the Frame.io API (or of the storage behind
// its presigned URLs, whose XML body is kept in Body).
type Error struct {
	Status int
	Errors []struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Source struct {
			Pointer string `json:"pointer"`
		} `json:"source"`
	} `json:"errors"`
	// Body is the start of an answer that is not the API's JSON.
	Body string `json:"-"`
}

// Error says the status and each error's title, detail and pointer.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "frameio: %d %s", e.Status, http.StatusText(e.Status))
	for _, x := range e.Errors {
		fmt.Fprintf(&b, ": %s", x.Title)
		if x.Detail != "" {
			fmt.Fprintf(&b, " (%s)", x.Detail)
		}
		if x.Source.Pointer != "" {
			fmt.Fprintf(&b, " at %s", x.Source.Pointer)
		}
	}
	if len(e.Errors) == 0 && e.Body != "" {
		fmt.Fprintf(&b, ": %s", e.Body)
	}
	return b.String()
}

// checkResponse maps a non-2xx answer onto the provider sentinels.
func checkResponse(resp *http.Response, what string) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if json.Unmarshal(b, e) != nil || len(e.Errors) == 0 {
		e.Body = strings.TrimSpace(string(b[:min(len(b), 300)]))
	}
	if resp.StatusCode == http.StatusUnprocessableEntity {
		return provider.Wrap(provider.ErrInvalid, e, what)
	}
	return tree.StatusError(resp.StatusCode, resp.Header, e, what)
}

// serverWait is the least wait before a 5xx answer is retried: "a minimum
// of 30 seconds", says the guide.
const serverWait = 30 * time.Second

// retry runs fn until it succeeds or fails for good: 429 up to 5 tries,
// waiting the Retry-After but at least 1 s doubled each time; 5xx (only
// when idempotent) up to 3 tries, from 30 s with jitter. Under
// provider.WithoutRetries it runs fn once: the caller retries the step.
func retry(ctx context.Context, idempotent bool, fn func() error) error {
	attempts := 5
	if provider.RetriesDisabled(ctx) {
		attempts = 1
	}
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt >= attempts || ctx.Err() != nil {
			return err
		}
		var wait time.Duration
		if ra, ok := provider.RetryAfter(err); ok {
			wait = min(max(ra, time.Second<<(attempt-1)), time.Minute) + rand.N(250*time.Millisecond)
		} else if idempotent && errors.Is(err, tree.ErrServer) && attempt < 3 {
			wait = serverWait<<(attempt-1) + rand.N(serverWait)
		} else {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// expirer is what oauth's token sources add to oauth2.TokenSource: a way to
// say the provider refused a token the source still thought valid.
type expirer interface{ Expire(accessToken string) }

// resolve turns a path ("/v4/...") or a link the API returned into a URL on
// the API host. A link to another host is refused: the token goes with it.
func (s *Storage) resolve(ref string) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("frameio: bad link %q: %w", ref, err)
	}
	if u.Host != "" && (u.Host != s.base.Host || u.Scheme != s.base.Scheme) {
		return "", fmt.Errorf("frameio: link %q leaves %s", ref, s.base.Host)
	}
	return s.base.Scheme + "://" + s.base.Host + strings.TrimSuffix(s.base.Path, "/") + u.RequestURI(), nil
}

// do sends one API call with a JSON body (nil: none), retrying as retry
// does, and decodes the answer's JSON into out.
func (s *Storage) do(ctx context.Context, method, ref string, body any, idempotent bool, out any) error {
	u, err := s.resolve(ref)
	if err != nil {
		return err
	}
	var payload []byte
	if body != nil {
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	what := method + " " + ref
	return retry(ctx, idempotent, func() error {
		for refreshed := false; ; refreshed = true {
			tok, err := s.tokens.Token()
			if err != nil {
				return provider.Wrap(provider.ErrUnauthenticated, err, "frameio token")
			}
			var rd io.Reader
			if payload != nil {
				rd = bytes.NewReader(payload)
			}
			req, err := http.NewRequestWithContext(ctx, method, u, rd)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Set("Accept", "application/json")
			if payload != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := s.hc.Do(req)
			if err != nil {
				return err
			}
			ex, canExpire := s.tokens.(expirer)
			if resp.StatusCode == http.StatusUnauthorized && canExpire && !refreshed {
				resp.Body.Close()
				ex.Expire(tok.AccessToken)
				continue
			}
			err = checkResponse(resp, what)
			if err == nil && out != nil && resp.StatusCode != http.StatusNoContent {
				err = json.NewDecoder(resp.Body).Decode(out)
			}
			resp.Body.Close()
			return err
		}
	})
}

// pages calls fn with each item of a paged listing at path, following
// links.next. The API does not carry query parameters over to the next
// link, so query is put back on each.
func (s *Storage) pages(ctx context.Context, path string, query url.Values, fn func(json.RawMessage) error) error {
	ref := path + "?" + query.Encode()
	for seen := 0; ref != ""; seen++ {
		if seen > 1_000_000 {
			return errors.New("frameio: listing does not end")
		}
		var page struct {
			Data  []json.RawMessage `json:"data"`
			Links struct {
				Next *string `json:"next"`
			} `json:"links"`
		}
		if err := s.do(ctx, http.MethodGet, ref, nil, true, &page); err != nil {
			return err
		}
		for _, raw := range page.Data {
			if err := fn(raw); err != nil {
				return err
			}
		}
		ref = ""
		if page.Links.Next != nil && *page.Links.Next != "" {
			next, err := url.Parse(*page.Links.Next)
			if err != nil {
				return fmt.Errorf("frameio: bad links.next: %w", err)
			}
			q := next.Query()
			for k, v := range query {
				if !q.Has(k) {
					q[k] = v
				}
			}
			next.RawQuery = q.Encode()
			ref = next.String()
		}
	}
	return nil
}

// accountID returns the account of the token's user (GET /v4/me), asked
// once.
func (s *Storage) accountID(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.account != "" {
		return s.account, nil
	}
	var me struct {
		Data struct {
			AccountID string `json:"account_id"`
		} `json:"data"`
	}
	if err := s.do(ctx, http.MethodGet, "/v4/me", nil, true, &me); err != nil {
		return "", err
	}
	if me.Data.AccountID == "" {
		return "", errors.New("frameio: GET /v4/me named no account_id")
	}
	s.account = me.Data.AccountID
	return s.account, nil
}

// accountPath returns "/v4/accounts/<id>" + the elements, escaped.
func (s *Storage) accountPath(ctx context.Context, elems ...string) (string, error) {
	a, err := s.accountID(ctx)
	if err != nil {
		return "", err
	}
	p := "/v4/accounts/" + url.PathEscape(a)
	for _, e := range elems {
		p += "/" + url.PathEscape(e)
	}
	return p, nil
}

type project struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	RootFolder string    `json:"root_folder_id"`
	Created    time.Time `json:"created_at"`
	workspace  string
}

// bucketName is the bucket a project is listed as.
func (p project) bucketName() string {
	clean := func(s string) string { return strings.ReplaceAll(s, "/", "_") }
	return clean(p.workspace) + ":" + clean(p.Name)
}

// projects lists every project of every workspace of the account.
func (s *Storage) projects(ctx context.Context) ([]project, error) {
	wsPath, err := s.accountPath(ctx, "workspaces")
	if err != nil {
		return nil, err
	}
	type workspace struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	var wss []workspace
	q := url.Values{"page_size": {fmt.Sprint(pageSize)}}
	err = s.pages(ctx, wsPath, q, func(raw json.RawMessage) error {
		var ws workspace
		err := json.Unmarshal(raw, &ws)
		wss = append(wss, ws)
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []project
	for _, ws := range wss {
		pPath, _ := s.accountPath(ctx, "workspaces", ws.ID, "projects")
		err := s.pages(ctx, pPath, q, func(raw json.RawMessage) error {
			var p project
			err := json.Unmarshal(raw, &p)
			p.workspace = ws.Name
			out = append(out, p)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ListBuckets implements provider.Storage: every project of the account,
// as "<workspace>:<project>" with the project id as Bucket.ID.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	ps, err := s.projects(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]provider.Bucket, 0, len(ps))
	for _, p := range ps {
		out = append(out, provider.Bucket{Name: p.bucketName(), ID: p.ID, Created: p.Created})
	}
	return out, nil
}

// Root implements the tree backend: the root folder of the project bucket
// names (see the package documentation).
func (s backend) Root(ctx context.Context, bucket string) (string, error) {
	ps, err := s.projects(ctx)
	if err != nil {
		return "", err
	}
	var byName []project
	for _, p := range ps {
		if p.ID == bucket {
			return p.RootFolder, nil
		}
		if p.bucketName() == bucket || p.Name == bucket {
			byName = append(byName, p)
		}
	}
	switch len(byName) {
	case 0:
		return "", fmt.Errorf("%w: no Frame.io project %q", provider.ErrNotFound, bucket)
	case 1:
		return byName[0].RootFolder, nil
	}
	ids := make([]string, len(byName))
	for i, p := range byName {
		ids[i] = p.ID
	}
	return "", fmt.Errorf("%w: %d Frame.io projects are called %q; name one by id (%s)", provider.ErrInvalid, len(ids), bucket, strings.Join(ids, ", "))
}

// asset is a folder child as the API describes it.
type asset struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Type      string    `json:"type"` // file, folder, version_stack
	FileSize  int64     `json:"file_size"`
	MediaType string    `json:"media_type"`
	Status    string    `json:"status"`
	Created   time.Time `json:"created_at"`
	Updated   time.Time `json:"updated_at"`
	// MediaLinks is there with include=media_links.original.
	MediaLinks struct {
		Original *struct {
			DownloadURL string `json:"download_url"`
		} `json:"original"`
	} `json:"media_links"`
	// UploadURLs is in the answer to a file's creation.
	UploadURLs []struct {
		Size int64  `json:"size"`
		URL  string `json:"url"`
	} `json:"upload_urls"`
}

func entry(a asset) tree.Entry {
	e := tree.Entry{ID: a.ID, Name: a.Name, IsFolder: a.Type == "folder", ModTime: a.Updated}
	if e.ModTime.IsZero() {
		e.ModTime = a.Created
	}
	if !e.IsFolder {
		// A write creates a new file, so the id changes with the content.
		e.Size, e.ETag, e.ContentType = a.FileSize, a.ID, a.MediaType
	}
	return e
}

// listFolder reads all of a folder's files and folders: the newest of
// duplicate names, in key order.
func (s *Storage) listFolder(ctx context.Context, folder string) ([]tree.Entry, error) {
	p, err := s.accountPath(ctx, "folders", folder, "children")
	if err != nil {
		return nil, err
	}
	newest := map[string]asset{}
	err = s.pages(ctx, p, url.Values{"page_size": {fmt.Sprint(pageSize)}}, func(raw json.RawMessage) error {
		var a asset
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		switch {
		case a.Type != "file" && a.Type != "folder":
			return nil // version stacks
		case a.Type == "file" && a.Status == "created" && a.FileSize > 0:
			return nil // bytes not there yet
		}
		k := childKey(a.Name, a.Type == "folder")
		if old, ok := newest[k]; !ok || a.Updated.After(old.Updated) ||
			(a.Updated.Equal(old.Updated) && a.Created.After(old.Created)) {
			newest[k] = a
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]tree.Entry, 0, len(newest))
	for _, a := range newest {
		out = append(out, entry(a))
	}
	slices.SortFunc(out, func(a, b tree.Entry) int { return strings.Compare(keyOf(a), keyOf(b)) })
	return out, nil
}

// childKey is a child's place in key order: a folder's name ends in "/",
// as its key does in a delimited listing.
func childKey(name string, folder bool) string {
	if folder {
		return name + "/"
	}
	return name
}

func keyOf(e tree.Entry) string { return childKey(e.Name, e.IsFolder) }

// children returns parent's listing from the cache or the API.
func (s *Storage) children(ctx context.Context, parent string) ([]tree.Entry, error) {
	return s.names.get(ctx, parent, func(ctx context.Context) ([]tree.Entry, error) { return s.listFolder(ctx, parent) })
}

// List implements the tree backend: one page of parent's children in key
// order; the cursor is the key of the last child returned.
func (s backend) List(ctx context.Context, parent, cursor string, n int) ([]tree.Entry, string, error) {
	all, err := s.children(ctx, parent)
	if err != nil {
		return nil, "", err
	}
	i := 0
	if cursor != "" {
		i, _ = slices.BinarySearchFunc(all, cursor, func(e tree.Entry, k string) int { return strings.Compare(keyOf(e), k) })
		if i < len(all) && keyOf(all[i]) == cursor {
			i++
		}
	}
	end := min(i+n, len(all))
	page := all[i:end]
	next := ""
	if end < len(all) && len(page) > 0 {
		next = keyOf(page[len(page)-1])
	}
	return page, next, nil
}

// Lookup implements the tree backend from the folder's listing.
func (s backend) Lookup(ctx context.Context, parent, name string, kind tree.Kind) (tree.Entry, error) {
	all, err := s.children(ctx, parent)
	if err != nil {
		return tree.Entry{}, err
	}
	k := childKey(name, kind == tree.Folder)
	i, ok := slices.BinarySearchFunc(all, k, func(e tree.Entry, k string) int { return strings.Compare(keyOf(e), k) })
	if !ok {
		return tree.Entry{}, fmt.Errorf("%w: %q", provider.ErrNotFound, name)
	}
	return all[i], nil
}

// Mkdir implements the tree backend: POST .../folders/{parent}/folders.
func (s backend) Mkdir(ctx context.Context, parent, name string) (tree.Entry, error) {
	p, err := s.accountPath(ctx, "folders", parent, "folders")
	if err != nil {
		return tree.Entry{}, err
	}
	var res struct {
		Data asset `json:"data"`
	}
	body := map[string]any{"data": map[string]string{"name": name}}
	if err := s.do(ctx, http.MethodPost, p, body, false, &res); err != nil {
		return tree.Entry{}, err
	}
	e := entry(res.Data)
	e.IsFolder = true
	s.names.added(parent, e)
	return e, nil
}

// Remove implements the tree backend: DELETE of the file or folder.
func (s backend) Remove(ctx context.Context, e tree.Entry) error {
	kind := "files"
	if e.IsFolder {
		kind = "folders"
	}
	p, err := s.accountPath(ctx, kind, e.ID)
	if err != nil {
		return err
	}
	err = s.do(ctx, http.MethodDelete, p, nil, true, nil)
	if err == nil || errors.Is(err, provider.ErrNotFound) {
		s.names.removed(e.ID)
	}
	return err
}

// file shows a file, with its original's download URL when original is set.
func (s *Storage) file(ctx context.Context, id string, original bool) (asset, error) {
	p, err := s.accountPath(ctx, "files", id)
	if err != nil {
		return asset{}, err
	}
	if original {
		p += "?include=media_links.original"
	}
	var res struct {
		Data asset `json:"data"`
	}
	err = s.do(ctx, http.MethodGet, p, nil, true, &res)
	return res.Data, err
}

// Download implements the tree backend: a GET of the original's
// download_url with a Range header.
func (s backend) Download(ctx context.Context, e tree.Entry, offset, length int64) (io.ReadCloser, error) {
	f, err := s.file(ctx, e.ID, true)
	if err != nil {
		return nil, err
	}
	if f.MediaLinks.Original == nil || f.MediaLinks.Original.DownloadURL == "" {
		return nil, fmt.Errorf("%w: file %s has no original to download (status %q)", provider.ErrNotFound, e.ID, f.Status)
	}
	var body io.ReadCloser
	err = retry(ctx, true, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.MediaLinks.Original.DownloadURL, nil)
		if err != nil {
			return err
		}
		ranged := offset > 0 || length >= 0
		if ranged {
			r := fmt.Sprintf("bytes=%d-", offset)
			if length >= 0 {
				r += fmt.Sprint(offset + length - 1)
			}
			req.Header.Set("Range", r)
		}
		resp, err := s.plain.Do(req)
		if err != nil {
			return err
		}
		if err := checkResponse(resp, "download "+e.ID); err != nil {
			resp.Body.Close()
			return err
		}
		body = resp.Body
		if ranged && resp.StatusCode == http.StatusOK {
			// The server ignored the range: cut it out ourselves.
			if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
				resp.Body.Close()
				return err
			}
			if length >= 0 {
				body = struct {
					io.Reader
					io.Closer
				}{io.LimitReader(resp.Body, length), resp.Body}
			}
		}
		return nil
	})
	return body, err
}
