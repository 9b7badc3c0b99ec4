package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/amove/amove-go/internal/localpath"
	"github.com/amove/amove-go/provider"
)

// isPrefix reports whether a key names a tree rather than one object.
func isPrefix(key string) bool { return key == "" || strings.HasSuffix(key, "/") }

func (e *Engine) plan(ctx context.Context, req Request) (*JobRecord, error) {
	if req.PartSize < 0 || req.Concurrency < 0 || req.BytesPerSecond < 0 {
		return nil, fmt.Errorf("%w: negative part size, concurrency or bandwidth", provider.ErrInvalid)
	}
	now := time.Now().UTC()
	rec := &JobRecord{
		ID:        newID(),
		Owner:     req.Owner,
		Kind:      req.Kind,
		State:     Pending,
		LocalPath: req.LocalPath,
		Source:    req.Source,
		Dest:      req.Dest,
		Options:   JobOptions{PartSize: req.PartSize, Concurrency: req.Concurrency, BytesPerSecond: req.BytesPerSecond},
		Created:   now,
		Updated:   now,
		Meta:      req.Meta,
		Metadata:  req.Metadata,
		Overwrite: req.Overwrite,
	}
	var err error
	switch req.Kind {
	case Upload:
		err = e.planUpload(ctx, rec)
	case Download:
		err = e.planDownload(ctx, rec)
	case Copy:
		err = e.planCopy(ctx, rec)
	case ServerTransfer, P2P:
		err = e.planRemote(ctx, rec, req)
	default:
		err = fmt.Errorf("%w: job kind %q", provider.ErrInvalid, req.Kind)
	}
	if err != nil {
		return nil, err
	}
	if err := checkKeys(rec); err != nil {
		return nil, err
	}
	if err := e.assignPartSizes(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// The engine calls drivers directly (ranged reads, multipart parts, server
// copies), not through provider.Portable, and drivers do not check their
// input again: so every bucket and key a job hands a driver is checked
// here, once, when the job is admitted, with the portable layer's own
// provider.Check functions. checkLocation runs before the first driver
// call; checkKeys covers the keys a plan derives from a listing or a local
// tree. A journaled job's keys were checked when it was admitted.

// checkLocation checks a request's account, bucket and, unless it is empty
// (the whole bucket), key or prefix.
func checkLocation(l Location, what string) error {
	if l.Account == "" {
		return fmt.Errorf("%w: %s account is empty", provider.ErrInvalid, what)
	}
	err := provider.CheckBucket(l.Bucket)
	if err == nil && l.Key != "" {
		err = provider.CheckKey(l.Bucket, l.Key)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// checkKeys checks the cloud keys of a plan's items: a key that a prefix
// and a file name (or a listed key under a new prefix) made invalid, too
// long say, fails its item before any driver sees it, or the whole job
// when the job moves one object.
func checkKeys(rec *JobRecord) error {
	for i := range rec.Items {
		it := &rec.Items[i]
		if it.Failed != "" {
			continue
		}
		var err error
		switch rec.Kind {
		case Upload:
			err = itemKey(rec.Dest.Bucket, it.Dst)
		case Download:
			err = itemKey(rec.Source.Bucket, it.Src)
		default:
			err = errors.Join(itemKey(rec.Source.Bucket, it.Src), itemKey(rec.Dest.Bucket, it.Dst))
		}
		if err == nil {
			continue
		}
		if len(rec.Items) == 1 {
			return err
		}
		it.Failed, it.Dst = err.Error(), "" // refused at plan time
	}
	return nil
}

func itemKey(bucket, key string) error {
	if err := provider.CheckKey(bucket, key); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	return nil
}

// fileVersion pins a local file's version for resume: size and mod time.
func fileVersion(fi fs.FileInfo) string {
	return fmt.Sprintf("%d:%d", fi.Size(), fi.ModTime().UnixNano())
}

func (e *Engine) planUpload(ctx context.Context, rec *JobRecord) error {
	if err := checkLocation(rec.Dest, "destination"); err != nil {
		return err
	}
	if rec.LocalPath == "" {
		return fmt.Errorf("%w: empty local path", provider.ErrInvalid)
	}
	// The real path: symlinks on the way resolved, so the checks and the
	// reads are of the same file.
	root, err := localpath.Resolve(rec.LocalPath)
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	rec.LocalPath = root
	if err := e.protectedPath(root, false); err != nil {
		return err
	}
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	protected := e.protectedFiles()
	if !fi.IsDir() {
		if err := aliasOf(fi, protected, root); err != nil {
			return err
		}
		key := rec.Dest.Key
		if isPrefix(key) {
			key += filepath.Base(root)
		}
		rec.Items = []ItemRecord{{Src: root, Dst: key, Size: fi.Size(), SrcETag: fileVersion(fi)}}
		return nil
	}
	prefix := rec.Dest.Key
	if !isPrefix(prefix) {
		prefix += "/"
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are implied by keys; links and devices are skipped
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := aliasOf(info, protected, p); err != nil {
			return err // a hard link to the agent's key in the tree
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rec.Items = append(rec.Items, ItemRecord{Src: p, Dst: prefix + filepath.ToSlash(rel), Size: info.Size(), SrcETag: fileVersion(info)})
		return nil
	})
}

func (e *Engine) open(ctx context.Context, account string) (provider.Storage, error) {
	if e.opts.Open == nil {
		return nil, fmt.Errorf("%w: the engine has no Open function for account %q", provider.ErrInvalid, account)
	}
	return e.opts.Open(ctx, account)
}

// sourceItems lists the objects a download or copy reads: one object, or
// every object under a prefix with its name relative to the prefix.
func (e *Engine) sourceItems(ctx context.Context, src Location) (st provider.Storage, single bool, objs []provider.Object, err error) {
	if err := checkLocation(src, "source"); err != nil {
		return nil, false, nil, err
	}
	st, err = e.open(ctx, src.Account)
	if err != nil {
		return nil, false, nil, err
	}
	if !isPrefix(src.Key) {
		o, err := st.Stat(ctx, src.Bucket, src.Key)
		if err != nil {
			st.Close()
			return nil, false, nil, err
		}
		return st, true, []provider.Object{o}, nil
	}
	for o, err := range provider.Walk(ctx, st, src.Bucket, provider.ListOptions{Prefix: src.Key}) {
		if err != nil {
			st.Close()
			return nil, false, nil, err
		}
		if o.IsFolder {
			continue
		}
		objs = append(objs, o)
	}
	return st, false, objs, nil
}

// srcSum picks the source digest a download or copy checks: the cheapest
// to compute of those the provider reported (provider.Preference), among
// the algorithms this engine can compute.
func srcSum(o provider.Object) provider.Checksum {
	return o.Checksums.Best(provider.Hashable)
}

// partsSum is the check of an object whose only digest is an S3
// multipart ETag (provider.HashMD5Parts), and the part size that check
// needs: the object is fetched in ranges cut along its own parts
// (provider.PartLayouter, one HEAD), each range MD5-hashed as it streams,
// the ranges in parallel, and the MD5 of their MD5s compared with the
// ETag's. Zero when the source cannot tell its parts or they do not add up
// to the object: the download is then checked by length only.
func (e *Engine) partsSum(ctx context.Context, st provider.Storage, bucket string, o provider.Object) (provider.Checksum, int64) {
	want := o.Checksums.Get(provider.HashMD5Parts)
	pl, ok := provider.Capability[provider.PartLayouter](st)
	if want.IsZero() || !ok {
		return provider.Checksum{}, 0
	}
	ps, n, err := pl.PartLayout(ctx, bucket, o.Key)
	if err != nil || n < 1 || ps <= 0 || ps*int64(n-1) >= o.Size || ps*int64(n) < o.Size {
		return provider.Checksum{}, 0
	}
	return want, ps
}

// withChecksums fills in the checksums a listing left out: one Stat per
// large object (listings rarely carry digests, a HEAD often does), kept
// only if the object is still the listed version. A listing that gave
// only digests that do not fold across ranges (the MD5 of an S3 ETag) is
// completed too: a HEAD may name a CRC the ranges can be checked with as
// they land, where an MD5 must be read back in order.
func (e *Engine) withChecksums(ctx context.Context, st provider.Storage, bucket string, o provider.Object) provider.Object {
	if e.opts.NoDownloadChecksums || provider.Combinable(srcSum(o).Hash) || o.Size <= e.opts.PartSize {
		return o
	}
	if full, err := st.Stat(ctx, bucket, o.Key); err == nil && full.ETag == o.ETag && full.Size == o.Size {
		o.Checksums = full.Checksums
	}
	return o
}

func (e *Engine) planDownload(ctx context.Context, rec *JobRecord) error {
	if rec.LocalPath == "" {
		return fmt.Errorf("%w: empty download path", provider.ErrInvalid)
	}
	// A symlink as the last element is followed only to a folder (a
	// download into a linked folder); a link to a file is what a download
	// replaces (with Overwrite), never writes through.
	root, err := localpath.ResolveParent(rec.LocalPath)
	if fi, serr := os.Stat(rec.LocalPath); err == nil && serr == nil && fi.IsDir() {
		root, err = localpath.Resolve(rec.LocalPath)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	// A folder that holds protected paths (the home folder) may receive
	// downloads; the items that would land in one fail below.
	if err := e.protectedPath(root, true); err != nil {
		return err
	}
	src, single, objs, err := e.sourceItems(ctx, rec.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, statErr := os.Stat(root)
	isDir := statErr == nil && fi.IsDir() || strings.HasSuffix(rec.LocalPath, string(filepath.Separator)) || !single
	rec.LocalPath = root
	targets := targetCheck{protected: e.resolvedProtected(), folders: map[string]string{}}
	for _, o := range objs {
		if !single {
			o = e.withChecksums(ctx, src, rec.Source.Bucket, o)
		}
		it := ItemRecord{Src: o.Key, Size: o.Size, SrcETag: o.ETag}
		if !e.opts.NoDownloadChecksums {
			it.SrcSum = srcSum(o)
			if it.SrcSum.IsZero() {
				it.SrcSum, it.PartSize = e.partsSum(ctx, src, rec.Source.Bucket, o)
			}
		}
		switch {
		case single && !isDir:
			it.Dst = root
		case single:
			it.Dst = filepath.Join(root, path.Base(o.Key))
		default:
			rel := strings.TrimPrefix(o.Key, rec.Source.Key)
			// A key such as "../../.bashrc" must never write outside root.
			if !filepath.IsLocal(filepath.FromSlash(rel)) {
				it.Failed = fmt.Sprintf("key %q would be written outside %s", o.Key, root)
			} else {
				it.Dst = filepath.Join(root, filepath.FromSlash(rel))
			}
		}
		if it.Dst != "" {
			if err := targets.check(it.Dst, rec.Overwrite); err != nil {
				if single {
					return err
				}
				it.Failed, it.Dst = err.Error(), ""
			}
		}
		rec.Items = append(rec.Items, it)
	}
	return nil
}

// targetCheck refuses a download's file that would be, or be inside, a
// protected path, and an existing file unless overwrite. The write checks
// again (localfs.go); this check is for a clear answer at Start. The
// protected paths are resolved once per plan, and each folder once, not
// once per file of a download of thousands.
type targetCheck struct {
	protected []string
	folders   map[string]string // a folder and its resolved path
}

func (c targetCheck) check(dst string, overwrite bool) error {
	dir := filepath.Dir(dst)
	real, ok := c.folders[dir]
	if !ok {
		var err error
		if real, err = localpath.Resolve(dir); err != nil {
			return fmt.Errorf("%w: %w", provider.ErrInvalid, err)
		}
		c.folders[dir] = real
	}
	if err := protectedAt(filepath.Join(real, filepath.Base(dst)), c.protected, false); err != nil {
		return err
	}
	if fi, err := os.Lstat(dst); err == nil && !overwrite {
		if fi.IsDir() {
			return fmt.Errorf("%w: %s is a folder", ErrExists, dst)
		}
		return fmt.Errorf("%w: %s", ErrExists, dst)
	}
	return nil
}

func (e *Engine) planCopy(ctx context.Context, rec *JobRecord) error {
	if err := checkLocation(rec.Dest, "destination"); err != nil {
		return err
	}
	src, single, objs, err := e.sourceItems(ctx, rec.Source)
	if err != nil {
		return err
	}
	defer src.Close()
	for _, o := range objs {
		if !single {
			o = e.withChecksums(ctx, src, rec.Source.Bucket, o)
		}
		it := ItemRecord{Src: o.Key, Size: o.Size, SrcETag: o.ETag, SrcSum: srcSum(o)}
		switch {
		case single && !isPrefix(rec.Dest.Key):
			it.Dst = rec.Dest.Key
		case single:
			it.Dst = rec.Dest.Key + path.Base(o.Key)
		default:
			it.Dst = rec.Dest.Key + strings.TrimPrefix(o.Key, rec.Source.Key)
		}
		rec.Items = append(rec.Items, it)
	}
	return nil
}
