// Package dropbox is the Dropbox driver (cloud type 128) on the Dropbox SDK
// for Go (github.com/dropbox/dropbox-sdk-go-unofficial/v6): the SDK builds
// the requests of every route the driver uses and decodes their results,
// over the driver's own http.Client and base URLs, so tests point it at
// internal/fakes/dropbox without hooks. client.go says which parts of the
// SDK the driver does not use, and why.
//
// Buckets: Dropbox has one tree per user, so the driver has one bucket,
// RootBucket, holding the user's Dropbox root. Keys are paths under it
// ("a/b.txt" is /a/b.txt); folder keys end in "/". Dropbox is
// case-insensitive, so two keys differing only in case are one file.
//
// Dropbox has no content type: Stat derives one from the file extension.
// Its checksum is content_hash (provider.HashDropbox), which metadata
// carries: Stat, listings and writes fill Object.Checksums.Dropbox with it.
// Every upload request sends the content_hash of its body, which Dropbox
// checks on receipt (a mismatch is provider.ErrChecksum), and a write
// compares the whole file's content_hash Dropbox answers with the bytes it
// was given, reporting Object.Verified = provider.HashDropbox.
//
// Requests run under provider.RetryPolicy: 429 (honouring Retry-After), 5xx
// and too_many_write_operations are retried, unless the context comes from
// provider.WithoutRetries; an access token the server calls expired is
// refreshed once per request. A 429 the driver does not wait out is a
// *provider.RateLimitError for the transfer engine to retry.
package dropbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	sdk "github.com/dropbox/dropbox-sdk-go-unofficial/v6/dropbox"
	"github.com/dropbox/dropbox-sdk-go-unofficial/v6/dropbox/files"
	"github.com/dropbox/dropbox-sdk-go-unofficial/v6/dropbox/users"

	"github.com/amove/amove-go/provider"
)

// RootBucket is the name of the one bucket: the user's Dropbox root.
const RootBucket = "Dropbox"

const (
	blockSize   = 4 << 20     // content_hash block and concurrent-session chunk unit
	maxRequest  = 150_000_000 // bytes per upload request
	maxPartSize = 140 << 20   // largest multiple of 4 MiB under 150 MB
)

// options tune the driver. Zero values take the defaults; Open sets only
// the hosts (from Config.Endpoint), tests set the rest (export_test.go).
type options struct {
	// APIURL and ContentURL are the RPC and content hosts.
	APIURL, ContentURL string
	// ChunkSize is the upload-session chunk of Write, rounded up to a
	// multiple of 4 MiB; default 16 MiB. Writes of known size up to it use
	// a single files/upload.
	ChunkSize int64
	// MaxRetries bounds the retries of one call (provider.RetryPolicy
	// tries it MaxRetries+1 times); default 3. A context from
	// provider.WithoutRetries makes every call one try.
	MaxRetries int
	// MaxRetryWait is the longest Retry-After the driver waits itself;
	// longer ones are returned as *provider.RateLimitError at once. Default
	// 30 seconds.
	MaxRetryWait time.Duration
	// MaxBuffered bounds the bytes of multipart parts held in memory while
	// an earlier part is missing; default 64 MiB.
	MaxBuffered int64
}

func init() {
	provider.Register(provider.Dropbox.DriverName(), provider.OpenerOf(Open))
}

// Storage is the driver. It is safe for concurrent use.
type Storage struct {
	opts  options
	files files.ContextClient
	users users.ContextClient

	listMu   sync.Mutex
	listings map[string]*listing

	upMu    sync.Mutex
	uploads map[string]*session
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
	_ provider.Presigner         = (*Storage)(nil)
	_ provider.Copier            = (*Storage)(nil)
)

// Open opens the driver. cfg.TokenSource authorizes it; without one, the
// access token in cfg.CredentialsData is used as is. cfg.Endpoint, when
// set, replaces both the RPC and the content host (a fake serves both).
func Open(ctx context.Context, cfg provider.Config) (*Storage, error) {
	return open(ctx, cfg, options{APIURL: cfg.Endpoint, ContentURL: cfg.Endpoint})
}

func open(_ context.Context, cfg provider.Config, opts options) (*Storage, error) {
	if opts.APIURL == "" {
		opts.APIURL = "https://api.dropboxapi.com"
	}
	if opts.ContentURL == "" {
		opts.ContentURL = "https://content.dropboxapi.com"
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 16 << 20
	}
	opts.ChunkSize = min((opts.ChunkSize+blockSize-1)/blockSize*blockSize, maxPartSize)
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 3
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = 30 * time.Second
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = 64 << 20
	}
	ts := cfg.TokenSource
	if ts == nil {
		var err error
		if ts, err = staticToken(cfg.CredentialsData); err != nil {
			return nil, err
		}
	}
	base := http.DefaultTransport
	timeout := time.Duration(0) // transfers may be long; ctx bounds them
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Transport != nil {
			base = cfg.HTTPClient.Transport
		}
		timeout = cfg.HTTPClient.Timeout
	}
	// The transport sets the Authorization header itself, so it knows
	// which token the server refused.
	hc := &http.Client{Transport: &transport{base: base, tokens: ts}, Timeout: timeout}
	fc, uc := newClients(strings.TrimSuffix(opts.APIURL, "/"), strings.TrimSuffix(opts.ContentURL, "/"), hc)
	return &Storage{opts: opts, files: fc, users: uc, listings: map[string]*listing{}, uploads: map[string]*session{}}, nil
}

// Close releases nothing: sessions live on Dropbox for 7 days.
func (s *Storage) Close() error { return nil }

// ListBuckets returns the one bucket, after checking the credentials.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	err := s.call(ctx, func(ctx context.Context) error {
		_, err := s.users.GetCurrentAccountContext(ctx)
		return err
	})
	if err != nil {
		return nil, mapErr(err, "dropbox: get current account")
	}
	return []provider.Bucket{{Name: RootBucket}}, nil
}

func checkBucket(bucket string) error {
	if bucket != RootBucket {
		return fmt.Errorf("%w: dropbox has one bucket, %q, not %q", provider.ErrNotFound, RootBucket, bucket)
	}
	return nil
}

// dbxPath maps a key onto a Dropbox path: "a/b/" and "a/b" are "/a/b".
func dbxPath(key string) string { return "/" + strings.TrimSuffix(key, "/") }

// metadata is the part of a Dropbox file or folder entry the driver uses.
type metadata struct {
	Tag            string // "file", "folder" or "deleted"
	Name           string
	ID             string
	PathDisplay    string
	Rev            string
	Size           int64
	ContentHash    string
	ServerModified time.Time
}

// metadataOf flattens the SDK's metadata union.
func metadataOf(m files.IsMetadata) metadata {
	switch m := m.(type) {
	case *files.FileMetadata:
		return metadata{Tag: "file", Name: m.Name, ID: m.Id, PathDisplay: m.PathDisplay, Rev: m.Rev,
			Size: int64(m.Size), ContentHash: m.ContentHash, ServerModified: time.Time(m.ServerModified)}
	case *files.FolderMetadata:
		return metadata{Tag: "folder", Name: m.Name, ID: m.Id, PathDisplay: m.PathDisplay}
	case *files.DeletedMetadata:
		return metadata{Tag: "deleted", Name: m.Name, PathDisplay: m.PathDisplay}
	}
	return metadata{}
}

// fileMetadata is metadataOf for the routes that answer a FileMetadata.
func fileMetadata(m *files.FileMetadata) metadata {
	if m == nil {
		return metadata{}
	}
	return metadataOf(m)
}

// overwrite is the commit of every write: replace what the path holds, and
// do not notify the user's devices.
func overwrite(key string) *files.CommitInfo {
	c := files.NewCommitInfo(dbxPath(key))
	c.Mode = &files.WriteMode{Tagged: sdk.Tagged{Tag: files.WriteModeOverwrite}}
	c.Mute = true
	return c
}

func (m metadata) object(key string) provider.Object {
	if m.Tag == "folder" {
		return provider.Object{Key: key, ID: m.ID, IsFolder: true}
	}
	ct := mime.TypeByExtension(path.Ext(m.Name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return provider.Object{Key: key, ID: m.ID, Size: m.Size, ModTime: m.ServerModified, ETag: m.Rev, ContentType: ct,
		Checksums: provider.Checksums{Dropbox: strings.ToLower(m.ContentHash)}}
}

// verify checks the content_hash Dropbox answered for a write against sum,
// the content_hash of the bytes the driver was given, and returns the
// object with Verified set.
func (m metadata) verify(key string, sum []byte) (provider.Object, error) {
	want := hex.EncodeToString(sum)
	if !strings.EqualFold(m.ContentHash, want) {
		return provider.Object{}, fmt.Errorf("%w: dropbox: %s: stored content_hash %q, the bytes written have %s",
			provider.ErrChecksum, key, m.ContentHash, want)
	}
	o := m.object(key)
	o.Verified = provider.HashDropbox
	return o, nil
}

// contentHash is the hex content_hash of b, sent with each upload request
// for Dropbox to check.
func contentHash(b []byte) string { return provider.SumBytes(provider.HashDropbox, b).Value }

func (s *Storage) metadata(ctx context.Context, key string) (metadata, error) {
	return s.metadataAt(ctx, dbxPath(key), key)
}

// metadataAt is metadata of the Dropbox path or id p, which key names.
func (s *Storage) metadataAt(ctx context.Context, p, key string) (metadata, error) {
	var m metadata
	err := s.call(ctx, func(ctx context.Context) error {
		res, err := s.files.GetMetadataContext(ctx, files.NewGetMetadataArg(p))
		m = metadataOf(res)
		return err
	})
	return m, mapErr(err, "dropbox: "+key)
}

// Stat returns a file, or a folder when key ends in "/".
func (s *Storage) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	if err := checkBucket(bucket); err != nil {
		return provider.Object{}, err
	}
	m, err := s.metadata(ctx, key)
	if err != nil {
		return provider.Object{}, err
	}
	if (m.Tag == "folder") != strings.HasSuffix(key, "/") {
		return provider.Object{}, fmt.Errorf("%w: %s is a %s", provider.ErrNotFound, key, m.Tag)
	}
	return m.object(key), nil
}

// ContentHash returns Dropbox's content_hash of a file.
func (s *Storage) ContentHash(ctx context.Context, bucket, key string) (string, error) {
	if err := checkBucket(bucket); err != nil {
		return "", err
	}
	m, err := s.metadata(ctx, key)
	if err != nil {
		return "", err
	}
	return m.ContentHash, nil
}

// NewRangeReader downloads a file, or a range of it.
func (s *Storage) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	arg := files.NewDownloadArg(dbxPath(key))
	switch {
	case length == 0:
		if _, err := s.Stat(ctx, bucket, key); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	case length > 0:
		arg.ExtraHeaders = map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)}
	case offset > 0:
		arg.ExtraHeaders = map[string]string{"Range": fmt.Sprintf("bytes=%d-", offset)}
	}
	var body io.ReadCloser
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		_, body, err = s.files.DownloadContext(ctx, arg)
		return err
	})
	if err != nil {
		return nil, mapErr(err, "dropbox: download "+key)
	}
	return body, nil
}

// Delete removes a file, or an empty folder when key ends in "/". A
// folder with content is left alone: on Dropbox deleting it would delete
// everything under it, unlike deleting an S3 folder marker.
func (s *Storage) Delete(ctx context.Context, bucket, key string) error {
	return s.deleteAt(ctx, bucket, key, dbxPath(key))
}

// DeleteID removes the file or empty folder with the Dropbox id id
// ("id:..."), which Dropbox takes wherever it takes a path
// (provider.IDDeleter); key names it in errors.
func (s *Storage) DeleteID(ctx context.Context, bucket, key, id string) error {
	if !strings.HasPrefix(id, "id:") {
		return s.Delete(ctx, bucket, key)
	}
	return s.deleteAt(ctx, bucket, key, id)
}

// deleteAt is Delete of the Dropbox path or id p.
func (s *Storage) deleteAt(ctx context.Context, bucket, key, p string) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	m, err := s.metadataAt(ctx, p, key)
	switch {
	case errors.Is(err, provider.ErrNotFound):
		return nil
	case err != nil:
		return err
	case (m.Tag == "folder") != strings.HasSuffix(key, "/"):
		return nil
	}
	arg := files.NewDeleteArg(p)
	if m.Tag == "folder" {
		la := files.NewListFolderArg(p)
		la.Limit = 1
		var n int
		err := s.call(ctx, func(ctx context.Context) error {
			page, err := s.files.ListFolderContext(ctx, la)
			if page != nil {
				n = len(page.Entries)
			}
			return err
		})
		if err != nil {
			return mapErr(err, "dropbox: "+key)
		}
		if n > 0 {
			return nil
		}
	} else {
		arg.ParentRev = m.Rev // never delete a folder that replaced the file meanwhile
	}
	err = mapErr(s.delete(ctx, arg), "dropbox: delete "+key)
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	return err
}

// CreateFolder makes a folder (and its parents); an existing folder is fine.
func (s *Storage) CreateFolder(ctx context.Context, bucket, key string) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	err := s.call(ctx, func(ctx context.Context) error {
		_, err := s.files.CreateFolderV2Context(ctx, files.NewCreateFolderArg(dbxPath(key)))
		return err
	})
	var ae *apiError
	if errors.As(err, &ae) && ae.has("conflict/folder") {
		return nil
	}
	return mapErr(err, "dropbox: create folder "+key)
}

// Copy copies a file inside Dropbox with files/copy_v2, replacing what
// dstKey holds (copy_v2 itself refuses an occupied destination, so a file
// there is deleted first, at the rev seen). The returned object carries the
// content_hash Dropbox reports for the copy; Verified stays empty, as no
// bytes passed through the driver.
func (s *Storage) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	for _, bk := range [][2]string{{dstBucket, dstKey}, {srcBucket, srcKey}} {
		if err := checkBucket(bk[0]); err != nil {
			return provider.Object{}, err
		}
		if strings.HasSuffix(bk[1], "/") {
			return provider.Object{}, fmt.Errorf("%w: copy of folder key %q", provider.ErrInvalid, bk[1])
		}
	}
	// A folder at srcKey is no object: copy_v2 would copy its whole tree.
	src, err := s.metadata(ctx, srcKey)
	if err != nil {
		return provider.Object{}, err
	}
	if src.Tag != "file" {
		return provider.Object{}, fmt.Errorf("%w: %s is a %s", provider.ErrNotFound, srcKey, src.Tag)
	}
	arg := files.NewRelocationArg(dbxPath(srcKey), dbxPath(dstKey))
	for attempt := 0; ; attempt++ {
		var res metadata
		err := s.call(ctx, func(ctx context.Context) error {
			r, err := s.files.CopyV2Context(ctx, arg)
			if r != nil {
				res = metadataOf(r.Metadata)
			}
			return err
		})
		var ae *apiError
		if errors.As(err, &ae) && ae.has("to/conflict/file") && attempt == 0 {
			old, err := s.metadata(ctx, dstKey)
			if err == nil && old.Tag == "file" {
				del := files.NewDeleteArg(dbxPath(dstKey))
				del.ParentRev = old.Rev
				err = s.delete(ctx, del)
			}
			if err != nil && !errors.Is(mapErr(err, ""), provider.ErrNotFound) {
				return provider.Object{}, mapErr(err, "dropbox: replace "+dstKey)
			}
			continue
		}
		if err != nil {
			return provider.Object{}, mapErr(err, "dropbox: copy "+srcKey+" to "+dstKey)
		}
		return res.object(dstKey), nil
	}
}

// delete is files/delete_v2.
func (s *Storage) delete(ctx context.Context, arg *files.DeleteArg) error {
	return s.call(ctx, func(ctx context.Context) error {
		_, err := s.files.DeleteV2Context(ctx, arg)
		return err
	})
}

// PresignURL returns a temporary link (valid 4 hours, whatever the asked
// expiry) for GET. Dropbox has no presigned PUT: ErrUnsupported.
func (s *Storage) PresignURL(ctx context.Context, bucket, key string, opts provider.PresignOptions) (string, error) {
	switch opts.Method {
	case http.MethodGet, "":
	case http.MethodPut:
		return "", fmt.Errorf("%w: dropbox has no presigned uploads", provider.ErrUnsupported)
	default:
		return "", fmt.Errorf("%w: presign method %q", provider.ErrInvalid, opts.Method)
	}
	if err := checkBucket(bucket); err != nil {
		return "", err
	}
	var link string
	err := s.call(ctx, func(ctx context.Context) error {
		// Dropbox takes an id ("id:...") wherever it takes a path.
		p := dbxPath(key)
		if strings.HasPrefix(opts.ObjectID, "id:") {
			p = opts.ObjectID
		}
		res, err := s.files.GetTemporaryLinkContext(ctx, files.NewGetTemporaryLinkArg(p))
		if res != nil {
			link = res.Link
		}
		return err
	})
	if err != nil {
		return "", mapErr(err, "dropbox: temporary link "+key)
	}
	return link, nil
}

// Write stores r at key, overwriting. A known size up to ChunkSize goes in
// one files/upload; anything else through an upload session in ChunkSize
// appends. Each request carries the content_hash of its body, and the
// content_hash Dropbox reports for the file is checked against ours.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts provider.WriteOptions) (provider.Object, error) {
	if err := provider.NoMetadata("dropbox", opts); err != nil {
		return provider.Object{}, err
	}
	if strings.HasSuffix(key, "/") {
		return provider.Object{}, fmt.Errorf("%w: key %q names a folder", provider.ErrInvalid, key)
	}
	if err := checkBucket(bucket); err != nil {
		return provider.Object{}, err
	}
	chunk := s.opts.ChunkSize
	if opts.PartSize > 0 {
		chunk = min((opts.PartSize+blockSize-1)/blockSize*blockSize, maxPartSize)
	}
	h := provider.NewDropboxHash()
	var m metadata
	if size >= 0 && size <= chunk {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return provider.Object{}, readErr2(ctx, err)
		}
		h.Write(buf)
		arg := &files.UploadArg{CommitInfo: *overwrite(key), ContentHash: contentHash(buf)}
		err := s.call(ctx, func(ctx context.Context) error {
			res, err := s.files.UploadContext(ctx, arg, bytes.NewReader(buf))
			m = fileMetadata(res)
			return err
		})
		if err != nil {
			return provider.Object{}, mapErr(err, "dropbox: upload "+key)
		}
	} else {
		id, err := s.startSession(ctx)
		if err != nil {
			return provider.Object{}, mapErr(err, "dropbox: upload session "+key)
		}
		buf := make([]byte, chunk)
		var off int64
		for {
			if err := ctx.Err(); err != nil {
				return provider.Object{}, err
			}
			n, err := io.ReadFull(r, buf)
			last := err == io.EOF || err == io.ErrUnexpectedEOF
			if err != nil && !last {
				return provider.Object{}, readErr2(ctx, err)
			}
			h.Write(buf[:n])
			if last {
				if m, err = s.finish(ctx, id, off, buf[:n], overwrite(key)); err != nil {
					return provider.Object{}, mapErr(err, "dropbox: finish "+key)
				}
				break
			}
			if err := s.appendChunk(ctx, id, off, buf[:n], contentHash(buf[:n])); err != nil {
				return provider.Object{}, mapErr(err, "dropbox: append "+key)
			}
			off += int64(n)
		}
	}
	if size >= 0 && m.Size != size {
		return provider.Object{}, fmt.Errorf("dropbox: %s: stored %d bytes, want %d", key, m.Size, size)
	}
	return m.verify(key, h.Sum(nil))
}

// appendChunk appends data at off to a session, with sum, its
// content_hash, for Dropbox to check. An incorrect_offset naming the offset
// after data means an earlier try landed (so its content_hash was checked)
// and only its answer was lost: that is success.
func (s *Storage) appendChunk(ctx context.Context, id string, off int64, data []byte, sum string) error {
	arg := files.NewUploadSessionAppendArg(files.NewUploadSessionCursor(id, uint64(off)))
	arg.ContentHash = sum
	err := s.call(ctx, func(ctx context.Context) error {
		return s.files.UploadSessionAppendV2Context(ctx, arg, bytes.NewReader(data))
	})
	var ae *apiError
	if errors.As(err, &ae) && ae.has("incorrect_offset") && ae.CorrectOffset == off+int64(len(data)) && len(data) > 0 {
		return nil
	}
	return err
}

// finish commits a session whose first off bytes are appended, sending
// last (with its content_hash) as the final bytes. Dropbox appends last
// even when the commit fails; a try that finds it appended (incorrect_offset
// at off+len(last)) commits again with no body.
func (s *Storage) finish(ctx context.Context, id string, off int64, last []byte, commit *files.CommitInfo) (metadata, error) {
	arg := files.NewUploadSessionFinishArg(files.NewUploadSessionCursor(id, uint64(off)), commit)
	arg.ContentHash = contentHash(last)
	m, err := s.finishCall(ctx, arg, last)
	var ae *apiError
	if errors.As(err, &ae) && ae.has("incorrect_offset") && ae.CorrectOffset == off+int64(len(last)) && len(last) > 0 {
		arg := files.NewUploadSessionFinishArg(files.NewUploadSessionCursor(id, uint64(off+int64(len(last)))), commit)
		return s.finishCall(ctx, arg, nil)
	}
	return m, err
}

func (s *Storage) finishCall(ctx context.Context, arg *files.UploadSessionFinishArg, body []byte) (metadata, error) {
	var m metadata
	err := s.call(ctx, func(ctx context.Context) error {
		res, err := s.files.UploadSessionFinishContext(ctx, arg, bytes.NewReader(body))
		m = fileMetadata(res)
		return err
	})
	return m, err
}

// startSession starts a sequential upload session with no data.
func (s *Storage) startSession(ctx context.Context) (string, error) {
	var id string
	err := s.call(ctx, func(ctx context.Context) error {
		res, err := s.files.UploadSessionStartContext(ctx, files.NewUploadSessionStartArg(), bytes.NewReader(nil))
		if res != nil {
			id = res.SessionId
		}
		return err
	})
	return id, err
}

// readErr2 prefers the context's error: a reader that failed because the
// write was cancelled should say so.
func readErr2(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("dropbox: reading the source: %w", err)
}

// listing is a whole folder listing, sorted by key, kept briefly so the
// pages after the first do not list the folder again.
type listing struct {
	objects []provider.Object
	at      time.Time
}

const listingTTL = 5 * time.Minute

// ListObjects lists by prefix. Dropbox lists whole folders in no particular
// order, so the driver fetches the folder (all list_folder pages), sorts it
// and pages through it itself; the token names the cached listing and the
// last key, so a lost cache costs a re-list, not a wrong page. Without a
// delimiter the listing is recursive and holds files only (Dropbox folders
// are not objects).
func (s *Storage) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	if err := checkBucket(bucket); err != nil {
		return provider.Page{}, err
	}
	if opts.Delimiter != "" && opts.Delimiter != "/" {
		return provider.Page{}, fmt.Errorf("%w: dropbox lists with delimiter \"/\" or none", provider.ErrInvalid)
	}
	maxKeys := opts.MaxKeys
	if maxKeys <= 0 {
		maxKeys = 1000
	}
	var id, after string
	if opts.Token != "" {
		i, a, ok := strings.Cut(opts.Token, ".")
		raw, err := base64.RawURLEncoding.DecodeString(a)
		if !ok || err != nil {
			return provider.Page{}, fmt.Errorf("%w: bad listing token", provider.ErrInvalid)
		}
		id, after = i, string(raw)
	}
	objs, id, err := s.listing(ctx, id, opts)
	if err != nil {
		return provider.Page{}, err
	}
	i := 0
	if opts.Token != "" {
		i = sort.Search(len(objs), func(i int) bool { return objs[i].Key > after })
	}
	end := min(i+maxKeys, len(objs))
	page := provider.Page{Objects: append([]provider.Object(nil), objs[i:end]...)}
	if end < len(objs) {
		page.NextToken = id + "." + base64.RawURLEncoding.EncodeToString([]byte(objs[end-1].Key))
	}
	return page, nil
}

func (s *Storage) listing(ctx context.Context, id string, opts provider.ListOptions) ([]provider.Object, string, error) {
	s.listMu.Lock()
	for k, l := range s.listings {
		if time.Since(l.at) > listingTTL {
			delete(s.listings, k)
		}
	}
	l := s.listings[id]
	s.listMu.Unlock()
	if l != nil {
		return l.objects, id, nil
	}
	objs, err := s.listAll(ctx, opts)
	if err != nil {
		return nil, "", err
	}
	b := make([]byte, 9)
	_, _ = randRead(b)
	id = base64.RawURLEncoding.EncodeToString(b)
	s.listMu.Lock()
	s.listings[id] = &listing{objects: objs, at: time.Now()}
	s.listMu.Unlock()
	return objs, id, nil
}

func (s *Storage) listAll(ctx context.Context, opts provider.ListOptions) ([]provider.Object, error) {
	dirKey := opts.Prefix[:strings.LastIndex(opts.Prefix, "/")+1] // "" or "a/b/"
	dir := ""
	if dirKey != "" {
		dir = dbxPath(dirKey)
	}
	recursive := opts.Delimiter == ""
	// A folder id lists that folder, its entries keyed under the prefix
	// (provider.ListOptions.FolderID).
	byID := !recursive && strings.HasPrefix(opts.FolderID, "id:")
	if byID {
		dir = opts.FolderID
	}
	arg := files.NewListFolderArg(dir)
	arg.Recursive, arg.Limit = recursive, 2000
	var res *files.ListFolderResult
	err := s.call(ctx, func(ctx context.Context) (err error) {
		res, err = s.files.ListFolderContext(ctx, arg)
		return err
	})
	if errors.Is(mapErr(err, ""), provider.ErrNotFound) && !byID {
		return nil, nil // a prefix nothing is under; an id must exist
	}
	if err != nil {
		return nil, mapErr(err, "dropbox: list "+dirKey)
	}
	var objs []provider.Object
	for {
		for _, e := range res.Entries {
			m := metadataOf(e)
			if m.Tag == "deleted" || (!byID && len(m.PathDisplay) <= len(dir)+1) {
				continue // the folder itself in a recursive listing
			}
			var key string
			if byID {
				key = dirKey + path.Base(m.PathDisplay)
			} else {
				key = dirKey + m.PathDisplay[len(dir)+1:]
			}
			if m.Tag == "folder" {
				if recursive {
					continue
				}
				key += "/"
			}
			if strings.HasPrefix(key, opts.Prefix) {
				objs = append(objs, m.object(key))
			}
		}
		if !res.HasMore {
			break
		}
		next := files.NewListFolderContinueArg(res.Cursor)
		err := s.call(ctx, func(ctx context.Context) (err error) {
			res, err = s.files.ListFolderContinueContext(ctx, next)
			return err
		})
		if err != nil {
			return nil, mapErr(err, "dropbox: list "+dirKey)
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Hashes: Dropbox reports its content_hash for every file (Stat, listings,
// writes).
func (s *Storage) Hashes() []provider.Hash { return []provider.Hash{provider.HashDropbox} }
