package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/amove/amove-go/provider"
)

// DriverName is the name this driver registers under. An account of it is
// opened by that name: amove.NewAccount{Driver: DriverName, ...}.
const DriverName = "example-dirstore"

// The driver registers itself like a database/sql driver: importing the
// package is enough.
func init() { provider.Register(DriverName, provider.OpenerOf(Open)) }

// Storage is a driver that keeps each bucket as a directory under a root
// folder (Config.Endpoint) and each object as a file. It is written only
// against the provider package, the way a driver outside amove-go would
// be: the required provider.Storage interface and the sentinel errors. It
// checks no bucket names or keys: amove opens it behind provider.Portable
// and the transfer engine, which check them first. It is safe for
// concurrent use.
type Storage struct {
	root *os.Root // every path stays inside it, whatever a key holds
}

var _ provider.Storage = (*Storage)(nil)

// Open opens the root folder cfg.Endpoint. A missing folder is
// provider.ErrNotFound, so inserting an account with a wrong path fails
// before anything is stored.
func Open(_ context.Context, cfg provider.Config) (*Storage, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("%w: %s needs Endpoint, the root folder", provider.ErrInvalid, DriverName)
	}
	root, err := os.OpenRoot(cfg.Endpoint)
	if err != nil {
		return nil, mapErr(err)
	}
	return &Storage{root: root}, nil
}

// Close releases the root folder.
func (s *Storage) Close() error { return s.root.Close() }

// ListBuckets lists the folders under the root.
func (s *Storage) ListBuckets(context.Context) ([]provider.Bucket, error) {
	entries, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return nil, mapErr(err)
	}
	var out []provider.Bucket
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, provider.Bucket{Name: e.Name()})
		}
	}
	return out, nil
}

// ListObjects lists keys in key order, one page of at most opts.MaxKeys;
// the token is the last key of the previous page. With a delimiter, the
// keys below the next delimiter are one folder.
func (s *Storage) ListObjects(_ context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	var keys []string
	err := fs.WalkDir(s.root.FS(), bucket, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		key := strings.TrimPrefix(p, bucket+"/")
		if d.IsDir() && p != bucket {
			key += "/"
		}
		if p != bucket && !strings.HasPrefix(d.Name(), ".") && strings.HasPrefix(key, opts.Prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return provider.Page{}, mapErr(err)
	}
	slices.Sort(keys)
	limit := opts.MaxKeys
	if limit <= 0 {
		limit = 1000
	}
	var page provider.Page
	seen := map[string]bool{}
	for _, key := range keys {
		if key <= opts.Token {
			continue
		}
		if len(page.Objects) == limit {
			page.NextToken = page.Objects[len(page.Objects)-1].Key
			break
		}
		rest := key[len(opts.Prefix):]
		if i := strings.Index(rest, opts.Delimiter); opts.Delimiter != "" && i >= 0 {
			folder := opts.Prefix + rest[:i+len(opts.Delimiter)]
			if !seen[folder] && folder > opts.Token {
				seen[folder] = true
				page.Objects = append(page.Objects, provider.Object{Key: folder, IsFolder: true})
			}
			continue
		}
		if strings.HasSuffix(key, "/") {
			continue // a folder of a flat listing: its files are listed
		}
		o, err := s.Stat(context.Background(), bucket, key)
		if err != nil {
			return provider.Page{}, err
		}
		page.Objects = append(page.Objects, o)
	}
	return page, nil
}

// Stat describes the file at key. Its SHA-256 is read from the sidecar
// file Write leaves, the way a provider reports a digest it stored.
func (s *Storage) Stat(_ context.Context, bucket, key string) (provider.Object, error) {
	fi, err := s.root.Stat(path.Join(bucket, key))
	if err != nil {
		return provider.Object{}, mapErr(err)
	}
	if fi.IsDir() {
		return provider.Object{}, fmt.Errorf("%w: %s/%s is a folder", provider.ErrNotFound, bucket, key)
	}
	o := provider.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}
	if sum, err := fs.ReadFile(s.root.FS(), sidecar(bucket, key)); err == nil {
		o.Checksums.Set(provider.Checksum{Hash: provider.HashSHA256, Value: string(sum)})
	}
	return o, nil
}

// NewRangeReader reads length bytes from offset (length < 0: to the end).
func (s *Storage) NewRangeReader(_ context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	f, err := s.root.Open(path.Join(bucket, key))
	if err != nil {
		return nil, mapErr(err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if length < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, nil
}

// Write stores r in a temporary file and renames it into place, so a
// failed or cancelled write leaves no partial object. It then reads the
// stored file back and compares its SHA-256 with the bytes it was given:
// that comparison is what Object.Verified reports.
func (s *Storage) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, _ provider.WriteOptions) (provider.Object, error) {
	if strings.HasSuffix(key, "/") || strings.HasPrefix(path.Base(key), ".") {
		return provider.Object{}, fmt.Errorf("%w: %s cannot store the key %q", provider.ErrInvalid, DriverName, key)
	}
	if _, err := s.root.Stat(bucket); err != nil {
		return provider.Object{}, mapErr(err)
	}
	name := path.Join(bucket, key)
	if err := s.root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return provider.Object{}, mapErr(err)
	}
	tmp := path.Join(path.Dir(name), ".tmp-"+rand.Text())
	f, err := s.root.Create(tmp)
	if err != nil {
		return provider.Object{}, mapErr(err)
	}
	defer s.root.Remove(tmp) // a no-op once renamed
	sent := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sent), contextReader{ctx, r})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return provider.Object{}, err
	case size >= 0 && n != size:
		return provider.Object{}, fmt.Errorf("%w: wrote %d bytes, size was %d", provider.ErrInvalid, n, size)
	}
	stored, err := s.digest(tmp)
	if err != nil {
		return provider.Object{}, err
	}
	if want := hex.EncodeToString(sent.Sum(nil)); stored != want {
		return provider.Object{}, fmt.Errorf("%w: stored sha256 %s, sent %s", provider.ErrChecksum, stored, want)
	}
	if err := s.root.Rename(tmp, name); err != nil {
		return provider.Object{}, mapErr(err)
	}
	if err := s.root.WriteFile(sidecar(bucket, key), []byte(stored), 0o644); err != nil {
		return provider.Object{}, mapErr(err)
	}
	o, err := s.Stat(ctx, bucket, key)
	o.Verified = provider.HashSHA256
	return o, err
}

// digest is the SHA-256 of a stored file, read back from disk.
func (s *Storage) digest(name string) (string, error) {
	f, err := s.root.Open(name)
	if err != nil {
		return "", mapErr(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Delete removes the file at key (and its digest), or the empty folder at
// a key ending in "/". A missing key is not an error; a missing bucket is.
func (s *Storage) Delete(_ context.Context, bucket, key string) error {
	if _, err := s.root.Stat(bucket); err != nil {
		return mapErr(err)
	}
	if err := s.root.Remove(path.Join(bucket, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr(err)
	}
	if !strings.HasSuffix(key, "/") {
		_ = s.root.Remove(sidecar(bucket, key))
	}
	return nil
}

// CreateFolder makes the folder key (ending in "/") and its parents.
func (s *Storage) CreateFolder(_ context.Context, bucket, key string) error {
	if _, err := s.root.Stat(bucket); err != nil {
		return mapErr(err)
	}
	return mapErr(s.root.MkdirAll(path.Join(bucket, key), 0o755))
}

// sidecar is the hidden file beside an object that holds its SHA-256.
func sidecar(bucket, key string) string {
	return path.Join(bucket, path.Dir(key), "."+path.Base(key)+".sha256")
}

// mapErr maps file-system errors onto the provider sentinels, keeping the
// original for errors.As.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %w", provider.ErrNotFound, err)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w: %w", provider.ErrExists, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", provider.ErrPermission, err)
	}
	return err
}

// contextReader stops a copy once ctx is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
