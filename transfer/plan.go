package transfer

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

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
	}
	var err error
	switch req.Kind {
	case Upload:
		err = e.planUpload(ctx, rec)
	case Download:
		err = e.planDownload(ctx, rec)
	case Copy:
		err = e.planCopy(ctx, rec)
	default:
		err = fmt.Errorf("%w: job kind %q", provider.ErrInvalid, req.Kind)
	}
	if err != nil {
		return nil, err
	}
	if err := e.assignPartSizes(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

func checkLocation(l Location, what string) error {
	if l.Account == "" {
		return fmt.Errorf("%w: %s account is empty", provider.ErrInvalid, what)
	}
	return provider.CheckBucket(l.Bucket)
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
	root, err := filepath.Abs(rec.LocalPath)
	if err != nil {
		return err
	}
	rec.LocalPath = root
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("%w: %w", provider.ErrInvalid, err)
	}
	if !fi.IsDir() {
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
			return nil, false, nil, err
		}
		return st, true, []provider.Object{o}, nil
	}
	for o, err := range provider.Walk(ctx, st, src.Bucket, provider.ListOptions{Prefix: src.Key}) {
		if err != nil {
			return nil, false, nil, err
		}
		if o.IsFolder {
			continue
		}
		objs = append(objs, o)
	}
	return st, false, objs, nil
}

// sourceLayout cuts a download of a multipart object along the source's
// own parts when the driver can tell them, so the per-range MD5s add up to
// the source's ETag and the download can be verified end to end.
func (e *Engine) sourceLayout(ctx context.Context, st provider.Storage, bucket string, it *ItemRecord) {
	pl, ok := st.(provider.PartLayouter)
	if !ok || !strings.Contains(it.SrcETag, "-") || it.SrcMD5 != "" {
		return
	}
	ps, n, err := pl.PartLayout(ctx, bucket, it.Src)
	if err != nil || n < 2 || ps < 1<<20 || ps*int64(n-1) >= it.Size || ps*int64(n) < it.Size {
		return // an odd layout: download unverified rather than guess
	}
	it.PartSize, it.SrcParts = ps, n
}

func srcMD5(o provider.Object) string {
	if o.Checksums.MD5 != "" {
		return o.Checksums.MD5
	}
	return ""
}

func (e *Engine) planDownload(ctx context.Context, rec *JobRecord) error {
	if rec.LocalPath == "" {
		return fmt.Errorf("%w: empty download path", provider.ErrInvalid)
	}
	root, err := filepath.Abs(rec.LocalPath)
	if err != nil {
		return err
	}
	src, single, objs, err := e.sourceItems(ctx, rec.Source)
	if err != nil {
		return err
	}
	fi, statErr := os.Stat(root)
	isDir := statErr == nil && fi.IsDir() || strings.HasSuffix(rec.LocalPath, string(filepath.Separator)) || !single
	rec.LocalPath = root
	for _, o := range objs {
		if !e.opts.NoDownloadChecksums && !single && o.Size > e.opts.PartSize && o.Checksums.CRC32C == "" {
			// Listings carry no checksums; one HEAD per large object may
			// give a full-object CRC32C, far cheaper to check than an MD5.
			if st, err := src.Stat(ctx, rec.Source.Bucket, o.Key); err == nil && st.ETag == o.ETag {
				o.Checksums = st.Checksums
			}
		}
		it := ItemRecord{Src: o.Key, Size: o.Size, SrcETag: o.ETag, SrcMD5: srcMD5(o), SrcCRC32C: o.Checksums.CRC32C}
		if e.opts.NoDownloadChecksums {
			it.SrcMD5, it.SrcCRC32C = "", ""
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
		if it.Size > e.opts.PartSize && !e.opts.NoDownloadChecksums && it.SrcCRC32C == "" {
			e.sourceLayout(ctx, src, rec.Source.Bucket, &it)
		}
		rec.Items = append(rec.Items, it)
	}
	return nil
}

func (e *Engine) planCopy(ctx context.Context, rec *JobRecord) error {
	if err := checkLocation(rec.Dest, "destination"); err != nil {
		return err
	}
	_, single, objs, err := e.sourceItems(ctx, rec.Source)
	if err != nil {
		return err
	}
	for _, o := range objs {
		it := ItemRecord{Src: o.Key, Size: o.Size, SrcETag: o.ETag, SrcMD5: srcMD5(o)}
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
