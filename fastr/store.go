package fastr

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// The on-disk layout under Root:
//
//	<bucket>/<key>              object bytes, a plain file
//	<bucket>/<dir>/.fastr-folder folder marker of the key "<dir>/"
//	.fastr-meta/<bucket>/<key>.json  content type and checksums
//	.fastr-tmp/                 temp files, renamed into place when complete
//	.fastr-uploads/<id>/        upload sessions: session.json and parts
//
// Objects are plain files so a LocalHttp root stays a browsable directory.
// Every access goes through an *os.Root, which refuses any path (.., symlink)
// that resolves outside the root.
const (
	tmpDir       = ".fastr-tmp"
	metaDir      = ".fastr-meta"
	uploadsDir   = ".fastr-uploads"
	folderMarker = ".fastr-folder"
	reserved     = ".fastr"
)

// Bucket names follow S3's basic rule (lowercase, digits, '.', '-', '_',
// 3-63 characters) so they are portable file names on every OS, including
// case-insensitive ones.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$`)

func checkBucket(b string) *Error {
	if !bucketRE.MatchString(b) || strings.Contains(b, "..") {
		return errf(http.StatusBadRequest, CodeInvalidBucketName, "invalid bucket name %q", b)
	}
	return nil
}

// checkKey refuses keys that cannot be a path below the bucket: empty
// segments (also a leading '/'), "." and "..", backslashes, NUL, the
// reserved ".fastr" names, over-long segments. A trailing '/' names a folder.
func checkKey(key string) *Error {
	bad := func(why string) *Error {
		return errf(http.StatusBadRequest, CodeInvalidKey, "invalid key %q: %s", key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > 1024:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.ContainsAny(key, "\x00\\"):
		return bad("contains NUL or backslash")
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs {
		switch {
		case s == "":
			return bad("empty path segment")
		case s == "." || s == "..":
			return bad("dot segment")
		case strings.HasPrefix(s, reserved):
			return bad("reserved name")
		case len(s) > 255:
			return bad("segment longer than 255 bytes")
		}
	}
	return nil
}

func isFolderKey(key string) bool { return strings.HasSuffix(key, "/") }

// objectMeta is the sidecar of an object. Size and MTime tie it to one
// version of the data file: a sidecar that does not match (the file was
// replaced by hand, or a writer is between its two renames) is ignored.
type objectMeta struct {
	ContentType string            `json:"contentType,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	SHA256      string            `json:"sha256"`
	MD5         string            `json:"md5"`
	Size        int64             `json:"size"`
	MTime       int64             `json:"mtime"`
}

func dataPath(bucket, key string) string { return bucket + "/" + strings.TrimSuffix(key, "/") }
func metaPath(bucket, key string) string { return metaDir + "/" + bucket + "/" + key + ".json" }

func (s *Server) bucketExists(bucket string) (bool, error) {
	fi, err := s.root.Stat(bucket)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.IsDir(), nil
}

func (s *Server) needBucket(bucket string) error {
	if e := checkBucket(bucket); e != nil {
		return e
	}
	ok, err := s.bucketExists(bucket)
	if err != nil {
		return err
	}
	if !ok {
		return errf(http.StatusNotFound, CodeNoSuchBucket, "bucket %q does not exist", bucket)
	}
	return nil
}

func (s *Server) readMeta(bucket, key string, fi fs.FileInfo) (objectMeta, bool) {
	return s.readMetaOf(bucket, key, fi.Size(), fi.ModTime())
}

// readMetaOf reads the sidecar of the data file of that size and
// modification time; ok is false when it describes another version.
func (s *Server) readMetaOf(bucket, key string, size int64, mod time.Time) (objectMeta, bool) {
	b, err := s.root.ReadFile(metaPath(bucket, key))
	if err != nil {
		return objectMeta{}, false
	}
	var m objectMeta
	if json.Unmarshal(b, &m) != nil || m.Size != size || m.MTime != mod.UnixNano() {
		return objectMeta{}, false
	}
	return m, true
}

func (s *Server) info(bucket, key string, fi fs.FileInfo) ObjectInfo {
	o := ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC()}
	if m, ok := s.readMeta(bucket, key, fi); ok {
		o.ContentType, o.SHA256, o.MD5, o.ETag, o.Metadata = m.ContentType, m.SHA256, m.MD5, m.SHA256, m.Metadata
	}
	if o.ContentType == "" {
		o.ContentType = mime.TypeByExtension(path.Ext(key))
	}
	if o.ContentType == "" {
		o.ContentType = "application/octet-stream"
	}
	if o.ETag == "" {
		// Unknown content (a file put there by hand): a weak tag that still
		// changes with the file.
		o.ETag = "W/" + itoa(fi.Size()) + "-" + itoa(fi.ModTime().UnixNano())
	}
	return o
}

// stat finds an object or folder marker.
func (s *Server) stat(bucket, key string) (ObjectInfo, error) {
	if err := s.needBucket(bucket); err != nil {
		return ObjectInfo{}, err
	}
	if e := checkKey(key); e != nil {
		return ObjectInfo{}, e
	}
	if isFolderKey(key) {
		fi, err := s.root.Stat(dataPath(bucket, key) + "/" + folderMarker)
		if err != nil {
			return ObjectInfo{}, s.notFound(err, key)
		}
		return ObjectInfo{Key: key, ModTime: fi.ModTime().UTC(), IsFolder: true, ETag: EmptySHA256,
			SHA256: EmptySHA256, MD5: "d41d8cd98f00b204e9800998ecf8427e", ContentType: "application/x-directory"}, nil
	}
	fi, err := s.root.Stat(dataPath(bucket, key))
	if err != nil {
		return ObjectInfo{}, s.notFound(err, key)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, errf(http.StatusNotFound, CodeNoSuchKey, "no object %q", key)
	}
	return s.info(bucket, key, fi), nil
}

// notFound turns "does not exist" (and "a parent is a file") into NoSuchKey;
// anything else, including an escape attempt os.Root refused, stays an
// internal error that is logged, not explained.
func (s *Server) notFound(err error, key string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return errf(http.StatusNotFound, CodeNoSuchKey, "no object %q", key)
	}
	if escapes(err) {
		return errf(http.StatusForbidden, CodeAccessDenied, "key %q leads outside the root", key)
	}
	return err
}

// escapes recognises os.Root refusing a path that resolves outside the root
// (a symlink placed in a bucket). The os package has no sentinel for it, so
// this matches the message of its PathError.
func escapes(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes")
}

// open opens an object for reading. The handle keeps reading the version it
// opened even if a writer renames a new one into place meanwhile.
func (s *Server) open(bucket, key string) (*os.File, ObjectInfo, error) {
	o, err := s.stat(bucket, key)
	if err != nil {
		return nil, o, err
	}
	if o.IsFolder {
		return nil, o, nil
	}
	f, err := s.root.Open(dataPath(bucket, key))
	if err != nil {
		return nil, o, s.notFound(err, key)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, o, errf(http.StatusNotFound, CodeNoSuchKey, "no object %q", key)
	}
	// Describe exactly the version we opened.
	return f, s.info(bucket, key, fi), nil
}

// tempFile is a file being written in .fastr-tmp with its running hashes.
type tempFile struct {
	s    *Server
	name string
	f    *os.File
	sha  hash.Hash
	md5  hash.Hash
	size int64
}

func (s *Server) createTemp() (*tempFile, error) {
	name := tmpDir + "/" + newID()
	f, err := s.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &tempFile{s: s, name: name, f: f, sha: sha256.New(), md5: md5.New()}, nil
}

func (t *tempFile) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.sha.Write(p[:n])
	t.md5.Write(p[:n])
	t.size += int64(n)
	return n, err
}

func (t *tempFile) sum() string { return hex.EncodeToString(t.sha.Sum(nil)) }

// discard removes the temp file; safe to call after commit.
func (t *tempFile) discard() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
	_ = t.s.root.Remove(t.name)
}

// commit makes the temp file the object bucket/key: the data is renamed into
// place, then its sidecar. A reader between the two renames sees the new
// data with the old sidecar, which does not match it and is ignored (no
// checksums for a moment); it never sees half an object.
func (t *tempFile) commit(bucket, key, contentType string, metadata map[string]string) (ObjectInfo, error) {
	s := t.s
	if err := t.f.Sync(); err != nil {
		return ObjectInfo{}, err
	}
	fi, err := t.f.Stat()
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := t.f.Close(); err != nil {
		return ObjectInfo{}, err
	}
	t.f = nil
	m := objectMeta{ContentType: contentType, Metadata: metadata, SHA256: t.sum(), MD5: hex.EncodeToString(t.md5.Sum(nil)),
		Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	if err := s.renameInto(t.name, dataPath(bucket, key)); err != nil {
		return ObjectInfo{}, s.conflict(err, key)
	}
	mb, _ := json.Marshal(m)
	if err := s.writeFileAtomic(metaPath(bucket, key), mb); err != nil {
		return ObjectInfo{}, err
	}
	return s.info(bucket, key, fi), nil
}

// conflict reports a key that collides with a folder prefix (or the other
// way round) as 409: a directory tree cannot hold both "a" and "a/b".
func (s *Server) conflict(err error, key string) error {
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) ||
		errors.Is(err, syscall.ENOTEMPTY) {
		return errf(http.StatusConflict, CodeKeyConflict, "key %q collides with an existing object or folder", key)
	}
	if escapes(err) {
		return errf(http.StatusForbidden, CodeAccessDenied, "key %q leads outside the root", key)
	}
	return err
}

// renameInto renames from onto to, creating parent directories. A concurrent
// delete may prune an empty parent between MkdirAll and Rename, so it tries
// again a few times.
func (s *Server) renameInto(from, to string) error {
	var err error
	for range 5 {
		if dir := path.Dir(to); dir != "." {
			if err = s.root.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		err = s.root.Rename(from, to)
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

func (s *Server) writeFileAtomic(name string, b []byte) error {
	t, err := s.createTemp()
	if err != nil {
		return err
	}
	defer t.discard()
	if _, err := t.f.Write(b); err != nil {
		return err
	}
	if err := t.f.Close(); err != nil {
		return err
	}
	t.f = nil
	return s.renameInto(t.name, name)
}

// put streams body into a temp file and commits it. wantSHA, unless empty or
// UnsignedPayload, must match the bytes received.
func (s *Server) put(bucket, key string, body io.Reader, contentType, wantSHA string, limit int64) (ObjectInfo, error) {
	if err := s.needBucket(bucket); err != nil {
		return ObjectInfo{}, err
	}
	if e := checkKey(key); e != nil {
		return ObjectInfo{}, e
	}
	if isFolderKey(key) {
		return s.createFolder(bucket, key, body)
	}
	t, err := s.createTemp()
	if err != nil {
		return ObjectInfo{}, err
	}
	defer t.discard()
	n, err := io.Copy(t, io.LimitReader(body, limit+1))
	if err != nil {
		return ObjectInfo{}, errf(http.StatusBadRequest, CodeInvalidArgument, "reading body: %v", err)
	}
	if n > limit {
		return ObjectInfo{}, errf(http.StatusRequestEntityTooLarge, CodeEntityTooLarge, "object larger than %d bytes", limit)
	}
	if wantSHA != "" && wantSHA != UnsignedPayload && wantSHA != t.sum() {
		return ObjectInfo{}, errf(http.StatusBadRequest, CodeBadDigest, "body SHA-256 %s differs from the signed %s", t.sum(), wantSHA)
	}
	return t.commit(bucket, key, contentType, nil)
}

func (s *Server) createFolder(bucket, key string, body io.Reader) (ObjectInfo, error) {
	var one [1]byte
	if n, _ := io.ReadFull(body, one[:]); n > 0 {
		return ObjectInfo{}, errf(http.StatusBadRequest, CodeInvalidArgument, "a folder marker has no content")
	}
	dir := dataPath(bucket, key)
	if err := s.root.MkdirAll(dir, 0o755); err != nil {
		return ObjectInfo{}, s.conflict(err, key)
	}
	f, err := s.root.OpenFile(dir+"/"+folderMarker, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return ObjectInfo{}, err
	}
	f.Close()
	return s.stat(bucket, key)
}

// remove deletes an object or folder marker; a missing key is not an error.
func (s *Server) remove(bucket, key string) error {
	if err := s.needBucket(bucket); err != nil {
		return err
	}
	if e := checkKey(key); e != nil {
		return e
	}
	p := dataPath(bucket, key)
	if isFolderKey(key) {
		p += "/" + folderMarker
	} else if fi, err := s.root.Lstat(p); err == nil && fi.IsDir() {
		return nil // a folder prefix, not an object
	}
	if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return err
	}
	if !isFolderKey(key) {
		_ = s.root.Remove(metaPath(bucket, key))
		s.prune(metaDir+"/"+bucket, key)
	}
	s.prune(bucket, p[len(bucket)+1:])
	return nil
}

// prune removes the now empty parent directories of rel below base, so a
// folder without objects and without a marker disappears as on S3.
func (s *Server) prune(base, rel string) {
	for dir := path.Dir(strings.TrimSuffix(rel, "/")); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if s.root.Remove(base+"/"+dir) != nil {
			return // not empty (or gone): stop here
		}
	}
}

// copyObject copies src to dst through a temp file.
func (s *Server) copyObject(req CopyRequest) (ObjectInfo, error) {
	if err := s.needBucket(req.DstBucket); err != nil {
		return ObjectInfo{}, err
	}
	if e := checkKey(req.DstKey); e != nil {
		return ObjectInfo{}, e
	}
	if isFolderKey(req.DstKey) || isFolderKey(req.SrcKey) {
		return ObjectInfo{}, errf(http.StatusBadRequest, CodeInvalidKey, "cannot copy folders")
	}
	f, src, err := s.open(req.SrcBucket, req.SrcKey)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer f.Close()
	t, err := s.createTemp()
	if err != nil {
		return ObjectInfo{}, err
	}
	defer t.discard()
	if _, err := io.Copy(t, f); err != nil {
		return ObjectInfo{}, err
	}
	return t.commit(req.DstBucket, req.DstKey, src.ContentType, src.Metadata)
}

// listBuckets lists the directories of the root that are valid bucket names
// (the reserved .fastr-* directories are not).
func (s *Server) listBuckets() ([]BucketInfo, error) {
	f, err := s.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	out := []BucketInfo{}
	for _, e := range ents {
		if !e.IsDir() || checkBucket(e.Name()) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, BucketInfo{Name: e.Name(), Created: fi.ModTime().UTC()})
	}
	slices.SortFunc(out, func(a, b BucketInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *Server) createBucket(name string) error {
	if e := checkBucket(name); e != nil {
		return e
	}
	if err := s.root.Mkdir(name, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errf(http.StatusConflict, CodeBucketExists, "bucket %q exists", name)
		}
		return err
	}
	return nil
}

func (s *Server) deleteBucket(name string) error {
	if err := s.needBucket(name); err != nil {
		return err
	}
	if err := s.root.Remove(name); err != nil {
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return errf(http.StatusConflict, CodeBucketNotEmpty, "bucket %q is not empty", name)
		}
		return err
	}
	_ = s.root.RemoveAll(metaDir + "/" + name)
	return nil
}

// MaxListKeys bounds a listing page.
const MaxListKeys = 1000

type listEntry struct {
	key    string
	folder bool
	size   int64
	mod    time.Time
}

// list returns one page in key order: objects, folder markers and (with a
// delimiter) common prefixes merged. The token is the last key returned, so
// paging never repeats or loses an entry. The reference server rebuilds the
// candidate set on each page; that is O(keys under the prefix's directory),
// fine for a reference, not for a billion keys.
func (s *Server) list(bucket, prefix, delim, token string, maxKeys int) (ObjectList, error) {
	if err := s.needBucket(bucket); err != nil {
		return ObjectList{}, err
	}
	if maxKeys <= 0 || maxKeys > MaxListKeys {
		maxKeys = MaxListKeys
	}
	dirPart := prefix[:strings.LastIndex(prefix, "/")+1]
	if dirPart != "" && checkKey(dirPart) != nil {
		return ObjectList{Objects: []ObjectInfo{}}, nil // no key can live there
	}
	var entries []listEntry
	var err error
	if delim == "/" {
		entries, err = s.listDir(bucket, dirPart, prefix)
	} else {
		entries, err = s.listTree(bucket, dirPart, prefix, delim)
	}
	if err != nil {
		return ObjectList{}, err
	}
	slices.SortFunc(entries, func(a, b listEntry) int { return strings.Compare(a.key, b.key) })
	entries = slices.CompactFunc(entries, func(a, b listEntry) bool { return a.key == b.key })
	start := 0
	if token != "" {
		start, _ = slices.BinarySearchFunc(entries, token, func(e listEntry, t string) int {
			if e.key <= t {
				return -1
			}
			return 1
		})
	}
	out := ObjectList{Objects: []ObjectInfo{}}
	for i := start; i < len(entries); i++ {
		if len(out.Objects) == maxKeys {
			out.NextToken = out.Objects[len(out.Objects)-1].Key
			break
		}
		e := entries[i]
		o := ObjectInfo{Key: e.key, Size: e.size, ModTime: e.mod, IsFolder: e.folder}
		if !e.folder {
			// The checksums the server computed when it stored the object,
			// so a client can check a download without a HEAD per object.
			if m, ok := s.readMetaOf(bucket, e.key, e.size, e.mod); ok {
				o.SHA256, o.MD5, o.ETag = m.SHA256, m.MD5, m.SHA256
			}
		}
		out.Objects = append(out.Objects, o)
	}
	return out, nil
}

// listDir serves the common delimiter "/" from one directory read.
func (s *Server) listDir(bucket, dirPart, prefix string) ([]listEntry, error) {
	f, err := s.root.Open(path.Join(bucket, dirPart))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || escapes(err) {
		return nil, nil // nothing to list, or a symlink out of the root
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []listEntry
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, reserved) {
			// The marker of dirPart itself is the listed folder, which a
			// delimited listing does not repeat.
			continue
		}
		key := dirPart + name
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if fi.IsDir() {
			out = append(out, listEntry{key: key + "/", folder: true})
		} else if fi.Mode().IsRegular() {
			out = append(out, listEntry{key: key, size: fi.Size(), mod: fi.ModTime().UTC()})
		}
	}
	return out, nil
}

// listTree walks the subtree for flat listings and other delimiters.
func (s *Server) listTree(bucket, dirPart, prefix, delim string) ([]listEntry, error) {
	base := path.Join(bucket, dirPart)
	fsys := s.root.FS()
	var out []listEntry
	seen := map[string]bool{}
	err := fs.WalkDir(fsys, base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel := strings.TrimPrefix(p, bucket+"/")
		name := path.Base(rel)
		var e listEntry
		switch {
		case name == folderMarker:
			e = listEntry{key: path.Dir(rel) + "/", folder: true}
		case strings.HasPrefix(name, reserved) || !d.Type().IsRegular():
			return nil
		default:
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			e = listEntry{key: rel, size: fi.Size(), mod: fi.ModTime().UTC()}
		}
		if !strings.HasPrefix(e.key, prefix) {
			return nil
		}
		if delim != "" {
			rest := e.key[len(prefix):]
			if rest == "" {
				return nil // the listed folder's own marker
			}
			if i := strings.Index(rest, delim); i >= 0 {
				cp := prefix + rest[:i+len(delim)]
				if !seen[cp] {
					seen[cp] = true
					out = append(out, listEntry{key: cp, folder: strings.HasSuffix(cp, "/")})
				}
				return nil
			}
		}
		out = append(out, e)
		return nil
	})
	return out, err
}
