// Package gdrive is the Google Drive driver (CloudType GoogleDrive), built on
// the official SDK google.golang.org/api/drive/v3.
//
// Buckets are the drive roots the account reaches: "My Drive" (also accepted
// as "root") and each shared drive by name; any folder id works as a bucket
// name too. Keys are paths walked from the root folder by name; Object.ID is
// the Drive file id. Drive allows several children with the same name: the
// driver never creates a second one (writes replace the content of an
// existing file) and reads the first match.
//
// Every write compares the md5Checksum Drive computed over the stored file
// with the bytes sent: a match sets the returned Object's Verified to MD5,
// a difference is provider.ErrChecksum. Objects carry md5Checksum,
// sha1Checksum and sha256Checksum in Checksums.
//
// Optional interfaces: MultipartUploader (resumable sessions, sequential by
// offset: see multipart.go) and Hasher (MD5, SHA-1, SHA-256). Drive has no
// credential-free URL for a private file, so there is no Presigner.
package gdrive

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/api/drive/v3"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/provider/internal/tree"
)

func init() { provider.Register(provider.GoogleDrive.DriverName(), provider.OpenerOf(Open)) }

const (
	// DefaultEndpoint is Drive's API host.
	DefaultEndpoint = "https://www.googleapis.com"
	folderMime      = "application/vnd.google-apps.folder"
	// fileFields are the fields every file answer needs.
	fileFields = "id,name,mimeType,size,md5Checksum,sha1Checksum,sha256Checksum,modifiedTime,headRevisionId,version,parents"
	listFields = "nextPageToken,files(" + fileFields + ")"
	// simpleMax is the largest body sent in one multipart/related request.
	simpleMax = 5 << 20
	// chunkMultiple is the resumable chunk rule.
	chunkMultiple = 256 << 10
	defaultChunk  = 8 << 20
	// myDrive is the bucket name of the user's own drive.
	myDrive = "My Drive"
)

// Storage is the Drive driver.
type Storage struct {
	fs         *tree.FS
	svc        *drive.Service
	hc         *http.Client
	uploadBase string // .../upload/drive/v3/files

	mu      sync.Mutex
	uploads map[string]*upload // by Upload.ID
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
	_ provider.Hasher            = (*Storage)(nil)
)

// Open opens a Drive connection authorised by cfg.TokenSource. cfg.Endpoint
// replaces https://www.googleapis.com (tests point it at a fake).
func Open(ctx context.Context, cfg provider.Config) (*Storage, error) {
	hc, err := tree.Client(cfg)
	if err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(cfg.Endpoint, "/")
	if base == "" {
		base = DefaultEndpoint
	}
	svc, err := drive.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(base+"/drive/v3/"))
	if err != nil {
		return nil, err
	}
	s := &Storage{svc: svc, hc: hc, uploadBase: base + "/upload/drive/v3/files", uploads: map[string]*upload{}}
	s.fs = tree.New(backend{s})
	return s, nil
}

// Close implements provider.Storage. The SDK service holds nothing that
// needs releasing, so it does nothing.
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
	if err := provider.NoMetadata("gdrive", opts); err != nil {
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

// Hashes implements provider.Hasher: Drive reports md5Checksum, sha1Checksum
// and sha256Checksum for every file with content.
func (s *Storage) Hashes() []provider.Hash {
	return []provider.Hash{provider.HashMD5, provider.HashSHA1, provider.HashSHA256}
}

// rateLimitReasons are the error reasons Drive uses for throttling, with 403
// as often as 429.
var rateLimitReasons = map[string]bool{
	"userRateLimitExceeded": true,
	"rateLimitExceeded":     true,
	"backendError":          false,
}

// mapError marks an SDK error with the provider sentinel; context errors pass
// through untouched.
func mapError(err error, what string) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return provider.Wrap(provider.ErrUnauthenticated, err, what)
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return err
	}
	for _, e := range ge.Errors {
		if rateLimitReasons[e.Reason] {
			return &provider.RateLimitError{RetryAfter: provider.ParseRetryAfter(ge.Header), Err: fmt.Errorf("%s: %w", what, err)}
		}
	}
	return tree.StatusError(ge.Code, ge.Header, err, what)
}

// call runs one SDK call with the driver's retry policy.
func call(ctx context.Context, idempotent bool, what string, fn func() error) error {
	return tree.Retry(ctx, idempotent, func() error { return mapError(fn(), what) })
}

func entry(f *drive.File) tree.Entry {
	e := tree.Entry{
		ID:          f.Id,
		Name:        f.Name,
		IsFolder:    f.MimeType == folderMime,
		Size:        f.Size,
		ContentType: f.MimeType,
		ETag:        f.HeadRevisionId,
		Checksums: provider.Checksums{MD5: strings.ToLower(f.Md5Checksum),
			SHA1: strings.ToLower(f.Sha1Checksum), SHA256: strings.ToLower(f.Sha256Checksum)},
	}
	if e.ETag == "" {
		e.ETag = f.Md5Checksum
	}
	if e.ETag == "" && f.Version != 0 {
		e.ETag = fmt.Sprintf("v%d", f.Version)
	}
	if t, err := time.Parse(time.RFC3339, f.ModifiedTime); err == nil {
		e.ModTime = t
	}
	if e.IsFolder {
		e.ContentType, e.Size = "", 0
	}
	return e
}

// native reports Google Docs, Sheets, shortcuts...: they have no bytes, so
// the driver does not list them as objects.
func native(f *drive.File) bool {
	return strings.HasPrefix(f.MimeType, "application/vnd.google-apps.") && f.MimeType != folderMime
}

// quote escapes a string literal of the Drive query language.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func (s *Storage) rootID(ctx context.Context) (string, error) {
	var f *drive.File
	err := call(ctx, true, "root folder", func() (err error) {
		f, err = s.svc.Files.Get("root").Fields("id").Context(ctx).Do()
		return err
	})
	if err != nil {
		return "", err
	}
	return f.Id, nil
}

func (s *Storage) sharedDrives(ctx context.Context) ([]*drive.Drive, error) {
	var out []*drive.Drive
	token := ""
	for {
		var l *drive.DriveList
		err := call(ctx, true, "shared drives", func() (err error) {
			l, err = s.svc.Drives.List().PageSize(100).PageToken(token).Context(ctx).Do()
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, l.Drives...)
		if l.NextPageToken == "" {
			return out, nil
		}
		token = l.NextPageToken
	}
}

// ListBuckets lists My Drive and the shared drives.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	root, err := s.rootID(ctx)
	if err != nil {
		return nil, err
	}
	out := []provider.Bucket{{Name: myDrive, ID: root}}
	drives, err := s.sharedDrives(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range drives {
		b := provider.Bucket{Name: d.Name, ID: d.Id}
		if t, err := time.Parse(time.RFC3339, d.CreatedTime); err == nil {
			b.Created = t
		}
		out = append(out, b)
	}
	return out, nil
}

// Root resolves a bucket: My Drive, a shared drive's name, or a folder id.
func (s backend) Root(ctx context.Context, bucket string) (string, error) {
	if bucket == myDrive || bucket == "root" {
		return s.rootID(ctx)
	}
	drives, err := s.sharedDrives(ctx)
	if err != nil {
		return "", err
	}
	for _, d := range drives {
		if d.Name == bucket || d.Id == bucket {
			return d.Id, nil
		}
	}
	var f *drive.File
	err = call(ctx, true, "bucket "+bucket, func() (err error) {
		f, err = s.svc.Files.Get(bucket).SupportsAllDrives(true).Fields("id,mimeType").Context(ctx).Do()
		return err
	})
	if err != nil {
		return "", err
	}
	if f.MimeType != folderMime {
		return "", fmt.Errorf("%w: bucket %q is not a folder", provider.ErrNotFound, bucket)
	}
	return f.Id, nil
}

func (s *Storage) list(ctx context.Context, q, token string, pageSize int, what string) (*drive.FileList, error) {
	var l *drive.FileList
	err := call(ctx, true, what, func() (err error) {
		c := s.svc.Files.List().Q(q).Fields(listFields).PageSize(int64(pageSize)).
			SupportsAllDrives(true).IncludeItemsFromAllDrives(true).Corpora("allDrives").Context(ctx)
		if token != "" {
			c = c.PageToken(token)
		}
		if strings.Contains(q, " name = ") {
			l, err = c.Do()
		} else {
			l, err = c.OrderBy("name").Do()
		}
		return err
	})
	return l, err
}

// Lookup implements the tree backend with a files.list query on parent,
// name, kind and not trashed; the first match with bytes wins, since Drive
// allows several children of one name.
func (s backend) Lookup(ctx context.Context, parent, name string, kind tree.Kind) (tree.Entry, error) {
	op := "!="
	if kind == tree.Folder {
		op = "="
	}
	q := fmt.Sprintf("%s in parents and name = %s and trashed = false and mimeType %s '%s'", quote(parent), quote(name), op, folderMime)
	token := ""
	for {
		l, err := s.list(ctx, q, token, 100, name)
		if err != nil {
			return tree.Entry{}, err
		}
		for _, f := range l.Files {
			if !native(f) {
				return entry(f), nil
			}
		}
		if l.NextPageToken == "" {
			return tree.Entry{}, fmt.Errorf("%w: %q", provider.ErrNotFound, name)
		}
		token = l.NextPageToken
	}
}

// List implements the tree backend with one page of files.list over parent's
// children, ordered by name; Docs, Sheets and other files without bytes are
// left out.
func (s backend) List(ctx context.Context, parent, cursor string, pageSize int) ([]tree.Entry, string, error) {
	q := fmt.Sprintf("%s in parents and trashed = false", quote(parent))
	l, err := s.list(ctx, q, cursor, pageSize, "list "+parent)
	if err != nil {
		return nil, "", err
	}
	out := make([]tree.Entry, 0, len(l.Files))
	for _, f := range l.Files {
		if !native(f) {
			out = append(out, entry(f))
		}
	}
	return out, l.NextPageToken, nil
}

// Mkdir implements the tree backend: it creates the folder name in parent
// (shared drives included).
func (s backend) Mkdir(ctx context.Context, parent, name string) (tree.Entry, error) {
	var f *drive.File
	err := call(ctx, false, "create folder "+name, func() (err error) {
		f, err = s.svc.Files.Create(&drive.File{Name: name, MimeType: folderMime, Parents: []string{parent}}).
			SupportsAllDrives(true).Fields(fileFields).Context(ctx).Do()
		return err
	})
	if err != nil {
		return tree.Entry{}, err
	}
	return entry(f), nil
}

// Remove implements the tree backend with files.delete, which deletes for
// good rather than moving to the trash.
func (s backend) Remove(ctx context.Context, e tree.Entry) error {
	return call(ctx, true, "delete "+e.ID, func() error {
		return s.svc.Files.Delete(e.ID).SupportsAllDrives(true).Context(ctx).Do()
	})
}

// Download implements the tree backend: the file's content (alt=media) with
// a Range header.
func (s backend) Download(ctx context.Context, e tree.Entry, offset, length int64) (io.ReadCloser, error) {
	var resp *http.Response
	err := call(ctx, true, "download "+e.ID, func() (err error) {
		c := s.svc.Files.Get(e.ID).SupportsAllDrives(true).Context(ctx)
		if offset > 0 || length >= 0 {
			r := fmt.Sprintf("bytes=%d-", offset)
			if length >= 0 {
				r += fmt.Sprint(offset + length - 1)
			}
			c.Header().Set("Range", r)
		}
		resp, err = c.Download()
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// chunkSize rounds the requested part size to Drive's 256 KiB rule.
func chunkSize(requested int64) int64 {
	if requested <= 0 {
		return defaultChunk
	}
	return (requested + chunkMultiple - 1) / chunkMultiple * chunkMultiple
}

// Upload sends small bodies in one multipart/related request (retried on
// throttling) and everything else through a resumable session in chunks that
// are multiples of 256 KiB. The MD5 Drive reports is checked against the
// bytes read.
func (s backend) Upload(ctx context.Context, parent, name string, existing *tree.Entry, r io.Reader, size int64, opts provider.WriteOptions) (tree.Entry, error) {
	limit := int64(simpleMax)
	if size >= 0 && size <= simpleMax {
		limit = size
	}
	buf := make([]byte, 0, min(limit+1, 1<<20))
	w := bytes.NewBuffer(buf)
	n, err := io.Copy(w, io.LimitReader(ctxReader{ctx, r}, limit+1))
	if err != nil {
		return tree.Entry{}, err
	}
	if size >= 0 && n > size {
		return tree.Entry{}, fmt.Errorf("%w: reader has more than the %d bytes announced", provider.ErrInvalid, size)
	}
	h, _ := provider.NewHash(provider.HashMD5)
	defer h.Close()
	var body func() io.Reader
	var single bool
	var counted *countReader // the bytes a resumable upload read
	var media []googleapi.MediaOption
	if n <= limit && (size < 0 || size <= simpleMax) {
		if size >= 0 && n != size {
			return tree.Entry{}, fmt.Errorf("%w: reader ended after %d of %d bytes", provider.ErrInvalid, n, size)
		}
		h.Write(w.Bytes())
		data := w.Bytes()
		body = func() io.Reader { return bytes.NewReader(data) }
		media = append(media, googleapi.ChunkSize(0)) // one request
		single = true
	} else {
		chunk := chunkSize(opts.PartSize)
		counted = &countReader{r: io.TeeReader(io.MultiReader(bytes.NewReader(w.Bytes()), ctxReader{ctx, r}), h)}
		body = func() io.Reader { return counted }
		media = append(media, googleapi.ChunkSize(int(chunk)))
	}
	if opts.ContentType != "" {
		media = append(media, googleapi.ContentType(opts.ContentType))
	}
	var f *drive.File
	do := func() (err error) {
		b := body()
		if existing != nil {
			f, err = s.svc.Files.Update(existing.ID, &drive.File{MimeType: opts.ContentType}).Media(b, media...).
				SupportsAllDrives(true).Fields(fileFields).Context(ctx).Do()
		} else {
			f, err = s.svc.Files.Create(&drive.File{Name: name, Parents: []string{parent}, MimeType: opts.ContentType}).
				Media(b, media...).SupportsAllDrives(true).Fields(fileFields).Context(ctx).Do()
		}
		return err
	}
	if single {
		err = call(ctx, false, "upload "+name, do)
	} else {
		// The SDK retries each chunk itself; a stream cannot be replayed.
		err = mapError(do(), "upload "+name)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %v", ctxErr, err)
		}
		return tree.Entry{}, err
	}
	sent := n
	if counted != nil {
		if size >= 0 && counted.n != size {
			return tree.Entry{}, fmt.Errorf("%w: reader gave %d of %d bytes", provider.ErrInvalid, counted.n, size)
		}
		sent = counted.n
	}
	return verified(f, h.Sum(nil), sent)
}

// verified compares the file Drive stored with the size and MD5 digest of
// the bytes sent (md5 nil: unknown, nothing to compare). Only files with
// binary content have an md5Checksum (a write converted to a Google Doc has
// neither it nor the size sent).
func verified(f *drive.File, md5 []byte, size int64) (tree.Entry, error) {
	e := entry(f)
	if e.Checksums.MD5 == "" {
		return e, nil
	}
	if f.Size != size {
		return tree.Entry{}, fmt.Errorf("%w: Drive stored %d bytes, sent %d", provider.ErrChecksum, f.Size, size)
	}
	if md5 == nil {
		return e, nil
	}
	if sum := hex.EncodeToString(md5); sum != e.Checksums.MD5 {
		return tree.Entry{}, fmt.Errorf("%w: Drive has MD5 %s, sent %s", provider.ErrChecksum, e.Checksums.MD5, sum)
	}
	e.Verified = provider.HashMD5
	return e, nil
}

// ctxReader stops a read loop when ctx is done: the SDK only checks ctx
// between chunks and a slow source would otherwise delay cancellation.
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

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
