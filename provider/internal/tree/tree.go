// Package tree maps the flat key space of provider.Storage onto providers
// that store a tree of folders addressed by id (Google Drive, OneDrive, Box).
//
// A driver implements Backend (a handful of id-based calls) and embeds *FS,
// which turns keys into folder walks, caches folder ids, lists with "/"
// delimiter semantics and walks the tree for flat listings with a token that
// holds the walk state, so memory stays bounded by one page of one folder.
package tree

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/provider"
)

// Entry is one file or folder as the provider describes it.
type Entry struct {
	ID          string
	Name        string
	IsFolder    bool
	Size        int64
	ModTime     time.Time
	ETag        string
	ContentType string
	Checksums   provider.Checksums
	// Verified is set by an Upload that compared the bytes it sent with a
	// digest the provider computed over the stored file (see
	// provider.Object.Verified); listings and lookups leave it empty.
	Verified provider.Hash
}

// Kind narrows a Lookup to files or folders: Google Drive lets a file and a
// folder (or two files) share a name, and keys do too ("a" and "a/").
type Kind int

const (
	File Kind = iota
	Folder
)

// Backend is the id-based API of one provider.
type Backend interface {
	// Root returns the id of the bucket's root folder; ErrNotFound when the
	// bucket does not exist.
	Root(ctx context.Context, bucket string) (string, error)
	// Lookup returns the child of parent called name of the given kind;
	// ErrNotFound when there is none.
	Lookup(ctx context.Context, parent, name string, kind Kind) (Entry, error)
	// List returns one page of parent's children ordered by name and the
	// provider's cursor for the next page ("" after the last page).
	List(ctx context.Context, parent, cursor string, pageSize int) ([]Entry, string, error)
	// Mkdir creates the folder name in parent; ErrExists when it is there.
	Mkdir(ctx context.Context, parent, name string) (Entry, error)
	// Download reads length bytes from offset (length < 0: to the end).
	Download(ctx context.Context, e Entry, offset, length int64) (io.ReadCloser, error)
	// Upload writes a new file into parent, or a new version of existing
	// when it is not nil, so names are replaced and never duplicated.
	Upload(ctx context.Context, parent, name string, existing *Entry, r io.Reader, size int64, opts provider.WriteOptions) (Entry, error)
	// Remove deletes a file or an empty folder; missing is ErrNotFound.
	Remove(ctx context.Context, e Entry) error
}

// maxCache bounds the folder-id cache; when it is full the cache is simply
// emptied, which costs a few lookups and keeps the code obvious.
const maxCache = 4096

// FS implements the key-based half of provider.Storage over a Backend.
type FS struct {
	b Backend

	// NoLookupOnWrite skips the lookup of an existing file before Upload
	// (existing is always nil): for providers whose upload reports a name
	// clash with the existing id (Box), and where a lookup means listing.
	NoLookupOnWrite bool

	mu    sync.Mutex
	cache map[string]string // bucket + "\x00" + folder path ("" or "a/b/") -> id

	// mkdirMu serialises folder creation so that concurrent writers into a
	// new folder do not both create it (Drive would keep both).
	mkdirMu sync.Mutex
}

// New returns an FS over b.
func New(b Backend) *FS {
	return &FS{b: b, cache: map[string]string{}}
}

func cacheKey(bucket, dir string) string { return bucket + "\x00" + dir }

func (fs *FS) cached(bucket, dir string) (string, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	id, ok := fs.cache[cacheKey(bucket, dir)]
	return id, ok
}

func (fs *FS) remember(bucket, dir, id string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.cache) >= maxCache {
		clear(fs.cache)
	}
	fs.cache[cacheKey(bucket, dir)] = id
}

// forget drops dir and everything below it from the cache.
func (fs *FS) forget(bucket, dir string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p := cacheKey(bucket, dir)
	for k := range fs.cache {
		if strings.HasPrefix(k, p) {
			delete(fs.cache, k)
		}
	}
}

// Forget drops every cached folder id of bucket (drivers call it when an id
// turns out to be stale).
func (fs *FS) Forget(bucket string) { fs.forget(bucket, "") }

// split cuts key into its folder path ("" or "a/b/") and last name.
func split(key string) (dir, name string) {
	i := strings.LastIndexByte(key, '/')
	return key[:i+1], key[i+1:]
}

// Root returns the id of the bucket's root folder, cached.
func (fs *FS) Root(ctx context.Context, bucket string) (string, error) {
	if id, ok := fs.cached(bucket, ""); ok {
		return id, nil
	}
	id, err := fs.b.Root(ctx, bucket)
	if err != nil {
		return "", err
	}
	fs.remember(bucket, "", id)
	return id, nil
}

// Dir returns the id of the folder dir ("" or ending in "/"), creating it
// and its parents when create is set. A missing folder is ErrNotFound.
func (fs *FS) Dir(ctx context.Context, bucket, dir string, create bool) (string, error) {
	if id, ok := fs.cached(bucket, dir); ok {
		return id, nil
	}
	if dir == "" {
		return fs.Root(ctx, bucket)
	}
	names := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	if slices.Contains(names, "") {
		return "", fmt.Errorf("%w: empty path element in %q", provider.ErrInvalid, dir)
	}
	// Start from the deepest cached ancestor.
	start, id := 0, ""
	for i := len(names) - 1; i >= 0; i-- {
		if cid, ok := fs.cached(bucket, strings.Join(names[:i], "/")+"/"); ok && i > 0 {
			start, id = i, cid
			break
		}
	}
	if start == 0 {
		rid, err := fs.Root(ctx, bucket)
		if err != nil {
			return "", err
		}
		id = rid
	}
	for i := start; i < len(names); i++ {
		path := strings.Join(names[:i+1], "/") + "/"
		e, err := fs.b.Lookup(ctx, id, names[i], Folder)
		if errors.Is(err, provider.ErrNotFound) && create {
			e, err = fs.mkdir(ctx, id, names[i])
		}
		if err != nil {
			return "", err
		}
		id = e.ID
		fs.remember(bucket, path, id)
	}
	return id, nil
}

func (fs *FS) mkdir(ctx context.Context, parent, name string) (Entry, error) {
	fs.mkdirMu.Lock()
	defer fs.mkdirMu.Unlock()
	// Another writer may have made it while we waited.
	if e, err := fs.b.Lookup(ctx, parent, name, Folder); err == nil || !errors.Is(err, provider.ErrNotFound) {
		return e, err
	}
	e, err := fs.b.Mkdir(ctx, parent, name)
	if errors.Is(err, provider.ErrExists) {
		// Made by another process in between.
		return fs.b.Lookup(ctx, parent, name, Folder)
	}
	return e, err
}

// Object converts an entry found at key.
func Object(key string, e Entry) provider.Object {
	return provider.Object{
		Key:         key,
		ID:          e.ID,
		Size:        e.Size,
		ModTime:     e.ModTime,
		ETag:        e.ETag,
		ContentType: e.ContentType,
		Checksums:   e.Checksums,
		IsFolder:    e.IsFolder,
		Verified:    e.Verified,
	}
}

// Lookup finds the file (or, for a key ending in "/", the folder) at key.
func (fs *FS) Lookup(ctx context.Context, bucket, key string) (Entry, error) {
	if strings.HasSuffix(key, "/") {
		id, err := fs.Dir(ctx, bucket, key, false)
		if err != nil {
			return Entry{}, err
		}
		_, name := split(strings.TrimSuffix(key, "/"))
		return Entry{ID: id, Name: name, IsFolder: true}, nil
	}
	dir, name := split(key)
	if name == "" {
		return Entry{}, fmt.Errorf("%w: key %q", provider.ErrInvalid, key)
	}
	parent, err := fs.Dir(ctx, bucket, dir, false)
	if err != nil {
		return Entry{}, err
	}
	return fs.b.Lookup(ctx, parent, name, File)
}

func (fs *FS) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	e, err := fs.Lookup(ctx, bucket, key)
	if err != nil {
		return provider.Object{}, withKey(err, bucket, key)
	}
	return Object(key, e), nil
}

func withKey(err error, bucket, key string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%s/%s: %w", bucket, key, err)
}

func (fs *FS) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	if strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("%w: %q is a folder", provider.ErrInvalid, key)
	}
	e, err := fs.Lookup(ctx, bucket, key)
	if err != nil {
		return nil, withKey(err, bucket, key)
	}
	// Empty reads never reach the provider: a Range on an empty file is 416.
	if length == 0 || (offset >= e.Size && offset == 0) {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if length > 0 && offset+length > e.Size {
		length = e.Size - offset
	}
	rc, err := fs.b.Download(ctx, e, offset, length)
	if err != nil {
		return nil, withKey(err, bucket, key)
	}
	return rc, nil
}

// Parent resolves (creating as needed) the folder of key and returns its id,
// the file name and the existing file of that name, if any.
func (fs *FS) Parent(ctx context.Context, bucket, key string) (parent, name string, existing *Entry, err error) {
	dir, name := split(key)
	if name == "" {
		return "", "", nil, fmt.Errorf("%w: key %q ends in a slash (use CreateFolder)", provider.ErrInvalid, key)
	}
	parent, err = fs.Dir(ctx, bucket, dir, true)
	if err != nil || fs.NoLookupOnWrite {
		return parent, name, nil, err
	}
	e, err := fs.b.Lookup(ctx, parent, name, File)
	switch {
	case err == nil:
		existing = &e
	case !errors.Is(err, provider.ErrNotFound):
		return "", "", nil, err
	}
	return parent, name, existing, nil
}

func (fs *FS) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if strings.HasSuffix(key, "/") && size == 0 {
		if err := fs.CreateFolder(ctx, bucket, key); err != nil {
			return provider.Object{}, err
		}
		return provider.Object{Key: key, IsFolder: true}, nil
	}
	parent, name, existing, err := fs.Parent(ctx, bucket, key)
	if err != nil {
		return provider.Object{}, withKey(err, bucket, key)
	}
	e, err := fs.b.Upload(ctx, parent, name, existing, r, size, opts)
	if err != nil {
		return provider.Object{}, withKey(err, bucket, key)
	}
	return Object(key, e), nil
}

// Delete removes a file, or a folder when key ends in "/". A folder is only
// removed when it is empty: deleting a marker on S3 never deletes the keys
// below it, and a recursive delete here would.
func (fs *FS) Delete(ctx context.Context, bucket, key string) error {
	e, err := fs.Lookup(ctx, bucket, key)
	if errors.Is(err, provider.ErrNotFound) {
		// Missing key: fine. Missing bucket: not.
		if _, rerr := fs.Root(ctx, bucket); rerr != nil {
			return rerr
		}
		return nil
	}
	if err != nil {
		return withKey(err, bucket, key)
	}
	return fs.remove(ctx, bucket, key, e)
}

// remove removes e, the entry of key: a folder only when it is empty. An
// entry already gone when it is removed counts as removed.
func (fs *FS) remove(ctx context.Context, bucket, key string, e Entry) error {
	if e.IsFolder {
		children, _, err := fs.b.List(ctx, e.ID, "", 1)
		if err != nil {
			return withKey(err, bucket, key)
		}
		if len(children) > 0 {
			return fmt.Errorf("%w: folder %q is not empty", provider.ErrInvalid, key)
		}
		fs.forget(bucket, key)
	}
	if err := fs.b.Remove(ctx, e); err != nil && !errors.Is(err, provider.ErrNotFound) {
		return withKey(err, bucket, key)
	}
	return nil
}

// DeleteID removes the file with provider id id, or the empty folder when
// key ends in "/" (provider.IDDeleter).
func (fs *FS) DeleteID(ctx context.Context, bucket, key, id string) error {
	if _, err := fs.Root(ctx, bucket); err != nil {
		return err
	}
	err := fs.remove(ctx, bucket, key, Entry{ID: id, IsFolder: strings.HasSuffix(key, "/")})
	if errors.Is(err, provider.ErrNotFound) {
		return nil // a folder id that is gone: nothing to remove
	}
	return err
}

func (fs *FS) CreateFolder(ctx context.Context, bucket, key string) error {
	if _, err := fs.Dir(ctx, bucket, key, true); err != nil {
		return withKey(err, bucket, key)
	}
	return nil
}

// frame is one folder of a listing in progress.
type frame struct {
	ID     string `json:"i"`
	Dir    string `json:"d"` // key prefix of the folder's children
	Cursor string `json:"c"` // provider cursor of the page being read
	Skip   int    `json:"s"` // entries of that page already handled
}

// walk is the listing state carried in ListOptions.Token.
type walk struct {
	Stack    []frame `json:"f"`
	PageSize int     `json:"p"`
}

// ListObjects lists one page. With a delimiter it lists the one folder the
// prefix names; without, it walks the tree depth first, one folder page at a
// time, and reports empty folders as folder objects (like S3 markers).
// Children come in the provider's name order and each page is sorted by key,
// so a single folder lists in key order.
func (fs *FS) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	if opts.Delimiter != "" && opts.Delimiter != "/" {
		return provider.Page{}, fmt.Errorf("%w: delimiter %q (only \"/\")", provider.ErrInvalid, opts.Delimiter)
	}
	if _, err := fs.Root(ctx, bucket); err != nil {
		return provider.Page{}, err
	}
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 || maxKeys > 1000 {
		maxKeys = 1000
	}
	dir, partial := split(opts.Prefix)
	var w walk
	if opts.Token != "" {
		b, err := base64.RawURLEncoding.DecodeString(opts.Token)
		if err == nil {
			err = json.Unmarshal(b, &w)
		}
		if err != nil || len(w.Stack) == 0 || w.PageSize <= 0 || w.Stack[0].Dir != dir {
			return provider.Page{}, fmt.Errorf("%w: bad listing token", provider.ErrInvalid)
		}
	} else {
		id := opts.FolderID
		if id == "" || opts.Delimiter == "" {
			var err error
			id, err = fs.Dir(ctx, bucket, dir, false)
			if errors.Is(err, provider.ErrNotFound) {
				return provider.Page{}, nil
			}
			if err != nil {
				return provider.Page{}, err
			}
		}
		w = walk{Stack: []frame{{ID: id, Dir: dir}}, PageSize: maxKeys}
	}
	var out []provider.Object
	for len(out) < maxKeys && len(w.Stack) > 0 {
		depth := len(w.Stack) - 1
		top := w.Stack[depth]
		entries, next, err := fs.b.List(ctx, top.ID, top.Cursor, w.PageSize)
		if err != nil {
			return provider.Page{}, err
		}
		if depth > 0 && top.Cursor == "" && top.Skip == 0 && len(entries) == 0 && next == "" {
			out = append(out, provider.Object{Key: top.Dir, ID: top.ID, IsFolder: true})
		}
		var child *frame
		i := top.Skip
		for ; i < len(entries) && len(out) < maxKeys; i++ {
			e := entries[i]
			if depth == 0 && !strings.HasPrefix(e.Name, partial) {
				continue
			}
			key := top.Dir + e.Name
			switch {
			case e.IsFolder && opts.Delimiter != "":
				e.ModTime = time.Time{}
				out = append(out, Object(key+"/", e))
			case e.IsFolder:
				child = &frame{ID: e.ID, Dir: key + "/"}
			default:
				out = append(out, Object(key, e))
			}
			if child != nil {
				i++
				break
			}
		}
		top.Skip = i
		switch {
		case child != nil:
			w.Stack[depth] = top
			w.Stack = append(w.Stack, *child)
		case i < len(entries):
			w.Stack[depth] = top // page full in the middle of a provider page
		case next != "":
			w.Stack[depth] = frame{ID: top.ID, Dir: top.Dir, Cursor: next}
		default:
			w.Stack = w.Stack[:depth]
		}
	}
	// A pushed folder whose parent page is exhausted is resolved on the next
	// call; an empty stack ends the listing.
	slices.SortStableFunc(out, func(a, b provider.Object) int { return strings.Compare(a.Key, b.Key) })
	page := provider.Page{Objects: out}
	if len(w.Stack) > 0 {
		b, err := json.Marshal(w)
		if err != nil {
			return provider.Page{}, err
		}
		page.NextToken = base64.RawURLEncoding.EncodeToString(b)
	}
	return page, nil
}
