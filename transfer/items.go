package transfer

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/amove/amove-go/provider"
)

// assignPartSizes fixes each item's part size at plan time, so a resumed
// upload keeps the size its journaled parts were cut with (R2 and Azure
// resumes depend on it).
func (e *Engine) assignPartSizes(ctx context.Context, rec *JobRecord) error {
	requested := rec.Options.PartSize
	var lim provider.PartLimits
	if rec.Kind != Download {
		dst, err := e.open(ctx, rec.Dest.Account)
		if err != nil {
			return err
		}
		if mu, ok := dst.(provider.MultipartUploader); ok {
			lim = mu.PartLimits()
		}
	}
	for i := range rec.Items {
		if rec.Items[i].SrcParts > 0 {
			continue // cut along the source's parts
		}
		rec.Items[i].PartSize = lim.PartSize(requested, e.opts.PartSize, rec.Items[i].Size)
	}
	return nil
}

func partialPath(dst, jobID string) string {
	return dst + ".amove-" + jobID[:8] + ".partial"
}

// isMD5 reports whether an ETag is a plain MD5 (a single-part S3 object).
func plainETag(etag string) string {
	e := strings.ToLower(strings.Trim(etag, `"`))
	if len(e) == 32 && !strings.Contains(e, "-") {
		if _, err := hex.DecodeString(e); err == nil {
			return e
		}
	}
	return ""
}

// multipartETag is S3's ETag of a multipart object: the MD5 of the parts'
// binary MD5s, then "-" and the part count.
func multipartETag(parts []PartRecord) (string, bool) {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(p.MD5)
		if err != nil || len(b) != md5.Size {
			return "", false
		}
		h.Write(b)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts)), true
}

// objectMD5 is what a provider says the object's MD5 is, if anything.
func objectMD5(o provider.Object) string {
	if o.Checksums.MD5 != "" {
		return strings.ToLower(o.Checksums.MD5)
	}
	return plainETag(o.ETag)
}

func (j *job) startItem(ctx context.Context, g *errgroup.Group, i int, fail func(int, error)) error {
	j.mu.Lock()
	it := j.rec.Items[i]
	j.mu.Unlock()
	task := func(f func() error) {
		g.Go(func() error {
			if err := j.slot(ctx, f); err != nil {
				fail(i, err)
			}
			return nil
		})
	}
	switch j.rec.Kind {
	case Upload:
		fi, err := os.Stat(it.Src)
		if err != nil {
			return err
		}
		if fileVersion(fi) != it.SrcETag {
			return fmt.Errorf("%w: %s changed since the transfer was planned", provider.ErrInvalid, it.Src)
		}
	case Download, Copy:
		if len(it.Parts) > 0 || it.UploadID != "" {
			// Resuming: the source must still be the version planned.
			o, err := j.src.Stat(ctx, j.rec.Source.Bucket, it.Src)
			if err != nil {
				return err
			}
			if o.ETag != it.SrcETag || o.Size != it.Size {
				return fmt.Errorf("%w: source %s changed since the transfer was planned", provider.ErrInvalid, it.Src)
			}
		}
	}
	if j.rec.Kind == Copy && j.rec.Source.Account == j.rec.Dest.Account {
		if cp, ok := j.dst.(provider.Copier); ok {
			task(func() error { return j.serverCopy(ctx, cp, i, it) })
			return nil
		}
	}
	var mu provider.MultipartUploader
	if j.rec.Kind != Download {
		mu, _ = j.dst.(provider.MultipartUploader)
	}
	small := it.Size <= it.PartSize || (j.rec.Kind != Download && mu == nil)
	if small {
		task(func() error { return j.whole(ctx, i, it) })
		return nil
	}
	if j.rec.Kind == Download {
		return j.startDownloadParts(ctx, task, i, it, fail)
	}
	return j.startUploadParts(ctx, task, mu, i, it, fail)
}

// whole moves one item in one request.
func (j *job) whole(ctx context.Context, i int, it ItemRecord) error {
	switch j.rec.Kind {
	case Download:
		return j.downloadWhole(ctx, i, it)
	}
	if it.Size > it.PartSize {
		// A destination without multipart support: stream it.
		return j.streamCopy(ctx, i, it)
	}
	bufp := j.e.bufs.get(sizeClass(it.Size))
	defer j.e.bufs.put(bufp)
	buf := (*bufp)[:it.Size]
	var verified bool
	err := j.e.retry(ctx, func() error {
		if err := j.readSource(ctx, it, 0, buf); err != nil {
			return err
		}
		sum := md5.Sum(buf)
		local := hex.EncodeToString(sum[:])
		if it.SrcMD5 != "" && it.SrcMD5 != local {
			return fmt.Errorf("%w: read %s with MD5 %s, source says %s", ErrChecksumMismatch, it.Src, local, it.SrcMD5)
		}
		if err := waitBandwidth(ctx, j.limiter, it.Size); err != nil {
			return err
		}
		o, err := j.dst.Write(ctx, j.rec.Dest.Bucket, it.Dst, bytes.NewReader(buf), it.Size, provider.WriteOptions{})
		if err != nil {
			return err
		}
		remote := objectMD5(o)
		if remote != "" && remote != local {
			return fmt.Errorf("%w: wrote %s with MD5 %s, destination says %s", ErrChecksumMismatch, it.Dst, local, remote)
		}
		verified = remote != ""
		return nil
	})
	if err != nil {
		return err
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: verified})
	return nil
}

// readSource fills buf with the item's bytes from offset off.
func (j *job) readSource(ctx context.Context, it ItemRecord, off int64, buf []byte) error {
	if j.rec.Kind == Upload {
		f, err := os.Open(it.Src)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.ReadAt(buf, off)
		if err == io.EOF && len(buf) == 0 {
			err = nil
		}
		return err
	}
	rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, off, int64(len(buf)))
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		return fmt.Errorf("reading %s at %d: %w", it.Src, off, err)
	}
	return nil
}

// streamCopy pipes a source object into a destination without multipart
// support: no buffer, no disk.
func (j *job) streamCopy(ctx context.Context, i int, it ItemRecord) error {
	err := j.e.retry(ctx, func() error {
		rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		h := md5.New()
		_, err = j.dst.Write(ctx, j.rec.Dest.Bucket, it.Dst, io.TeeReader(rc, h), it.Size, provider.WriteOptions{})
		if err != nil {
			return err
		}
		if it.SrcMD5 != "" && hex.EncodeToString(h.Sum(nil)) != it.SrcMD5 {
			return fmt.Errorf("%w: copied %s differs from its source MD5", ErrChecksumMismatch, it.Src)
		}
		return nil
	})
	if err != nil {
		return err
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: it.SrcMD5 != ""})
	return nil
}

func (j *job) serverCopy(ctx context.Context, cp provider.Copier, i int, it ItemRecord) error {
	var o provider.Object
	err := j.e.retry(ctx, func() error {
		var err error
		o, err = cp.Copy(ctx, j.rec.Dest.Bucket, it.Dst, j.rec.Source.Bucket, it.Src)
		return err
	})
	if err != nil {
		return err
	}
	remote := objectMD5(o)
	if it.SrcMD5 != "" && remote != "" && remote != it.SrcMD5 {
		return fmt.Errorf("%w: server-side copy of %s", ErrChecksumMismatch, it.Src)
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: it.SrcMD5 != "" && remote == it.SrcMD5})
	return nil
}

// startUploadParts schedules the missing parts of a multipart upload or
// copy; the task that finishes the last part completes the upload.
func (j *job) startUploadParts(ctx context.Context, task func(func() error), mu provider.MultipartUploader, i int, it ItemRecord, fail func(int, error)) error {
	u := provider.Upload{Bucket: j.rec.Dest.Bucket, Key: it.Dst, ID: it.UploadID}
	done := map[int]PartRecord{}
	if u.ID != "" {
		// Trust a journaled part only if the provider still holds it.
		listed, err := mu.ListParts(ctx, u)
		switch {
		case errors.Is(err, provider.ErrNotFound):
			u.ID = ""
		case err != nil:
			return err
		default:
			have := map[int]provider.Part{}
			for _, p := range listed {
				have[p.Number] = p
			}
			for _, p := range it.Parts {
				if lp, ok := have[p.Number]; ok && lp.ETag == p.ETag && lp.Size == p.Size {
					done[p.Number] = p
				} else {
					j.bytesDone.Add(-p.Size)
				}
			}
		}
	}
	if u.ID == "" {
		for _, p := range it.Parts {
			j.bytesDone.Add(-p.Size)
		}
		created, err := mu.CreateMultipart(ctx, u.Bucket, u.Key, provider.WriteOptions{Size: it.Size, PartSize: it.PartSize})
		if err != nil {
			return err
		}
		u = created
		j.markItem(ctx, i, ItemUpdate{UploadID: u.ID})
	}
	n := int((it.Size + it.PartSize - 1) / it.PartSize)
	var remaining atomic.Int64
	remaining.Store(int64(n - len(done)))
	if remaining.Load() == 0 {
		task(func() error { return j.complete(ctx, mu, u, i) })
		return nil
	}
	for num := 1; num <= n; num++ {
		if _, ok := done[num]; ok {
			continue
		}
		off := int64(num-1) * it.PartSize
		size := min(it.PartSize, it.Size-off)
		task(func() error {
			if err := j.uploadPart(ctx, mu, u, i, it, num, off, size); err != nil {
				return err
			}
			if remaining.Add(-1) == 0 {
				return j.complete(ctx, mu, u, i)
			}
			return nil
		})
	}
	return nil
}

func (j *job) uploadPart(ctx context.Context, mu provider.MultipartUploader, u provider.Upload, i int, it ItemRecord, num int, off, size int64) error {
	bufp := j.e.bufs.get(it.PartSize)
	defer j.e.bufs.put(bufp)
	buf := (*bufp)[:size]
	var rec PartRecord
	err := j.e.retry(ctx, func() error {
		if err := j.readSource(ctx, it, off, buf); err != nil {
			return err
		}
		sum := md5.Sum(buf)
		local := hex.EncodeToString(sum[:])
		if err := waitBandwidth(ctx, j.limiter, size); err != nil {
			return err
		}
		p, err := mu.UploadPart(ctx, u, num, bytes.NewReader(buf), size)
		if err != nil {
			return err
		}
		// A part's ETag is its MD5 on S3-style providers: check the part
		// arrived as sent.
		if remote := plainETag(p.ETag); remote != "" && remote != local {
			return fmt.Errorf("%w: part %d of %s", ErrChecksumMismatch, num, it.Dst)
		}
		rec = PartRecord{Number: num, Size: size, ETag: p.ETag, MD5: local}
		return nil
	})
	if err != nil {
		return err
	}
	j.addPart(ctx, i, rec)
	j.bytesDone.Add(size)
	return nil
}

func (j *job) complete(ctx context.Context, mu provider.MultipartUploader, u provider.Upload, i int) error {
	j.mu.Lock()
	parts := slices.Clone(j.rec.Items[i].Parts)
	j.mu.Unlock()
	slices.SortFunc(parts, func(a, b PartRecord) int { return a.Number - b.Number })
	pp := make([]provider.Part, len(parts))
	for k, p := range parts {
		pp[k] = provider.Part{Number: p.Number, Size: p.Size, ETag: p.ETag}
	}
	want, haveWant := multipartETag(parts)
	var o provider.Object
	attempt := 0
	err := j.e.retry(ctx, func() error {
		attempt++
		var err error
		o, err = mu.CompleteMultipart(ctx, u, pp)
		if errors.Is(err, provider.ErrNotFound) && attempt > 1 {
			// An earlier attempt may have completed before its answer was
			// lost: the object with the expected ETag proves it.
			st, serr := j.dst.Stat(ctx, u.Bucket, u.Key)
			if serr == nil && haveWant && strings.Trim(st.ETag, `"`) == want {
				o, err = st, nil
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	verified := false
	if etag := strings.ToLower(strings.Trim(o.ETag, `"`)); haveWant && strings.Contains(etag, "-") {
		if etag != want {
			return fmt.Errorf("%w: %s has ETag %s, parts give %s", ErrChecksumMismatch, u.Key, etag, want)
		}
		verified = true
	}
	j.markItem(ctx, i, ItemUpdate{UploadID: u.ID, Done: true, Verified: verified})
	return nil
}

// downloadWhole fetches a small object into a partial file, checks it and
// renames it into place.
func (j *job) downloadWhole(ctx context.Context, i int, it ItemRecord) error {
	if err := os.MkdirAll(filepath.Dir(it.Dst), 0o755); err != nil {
		return err
	}
	tmp := partialPath(it.Dst, j.rec.ID)
	var local string
	err := j.e.retry(ctx, func() error {
		rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		var h hash.Hash = md5.New()
		want := it.SrcMD5
		if it.SrcCRC32C != "" {
			h, want = crc32.New(provider.CRC32C), it.SrcCRC32C
		}
		var body io.Reader = rc
		if want != "" {
			body = io.TeeReader(rc, h)
		}
		n, err := io.Copy(f, j.limited(ctx, body))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if n != it.Size {
			return fmt.Errorf("%w: got %d bytes of %s, expected %d", ErrChecksumMismatch, n, it.Src, it.Size)
		}
		if want == "" {
			return nil // nothing to check against
		}
		local = hex.EncodeToString(h.Sum(nil))
		if local != want {
			return fmt.Errorf("%w: %s has checksum %s, source says %s", ErrChecksumMismatch, it.Src, local, want)
		}
		return nil
	})
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, it.Dst); err != nil {
		return err
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: it.SrcMD5 != "" || it.SrcCRC32C != ""})
	return nil
}

// limited applies the job's bandwidth cap to a stream.
func (j *job) limited(ctx context.Context, r io.Reader) io.Reader {
	if j.limiter == nil {
		return r
	}
	return &limitedReader{ctx: ctx, r: r, j: j}
}

type limitedReader struct {
	ctx context.Context
	r   io.Reader
	j   *job
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if len(p) > l.j.limiter.Burst() {
		p = p[:l.j.limiter.Burst()]
	}
	n, err := l.r.Read(p)
	if n > 0 {
		if werr := l.j.limiter.WaitN(l.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// startDownloadParts fetches the missing ranges of a large object into a
// partial file with concurrent ranged reads.
func (j *job) startDownloadParts(ctx context.Context, task func(func() error), i int, it ItemRecord, fail func(int, error)) error {
	if err := os.MkdirAll(filepath.Dir(it.Dst), 0o755); err != nil {
		return err
	}
	tmp := partialPath(it.Dst, j.rec.ID)
	fi, err := os.Stat(tmp)
	if err != nil || fi.Size() != it.Size {
		// No usable partial file: journaled ranges are worthless.
		for _, p := range it.Parts {
			j.bytesDone.Add(-p.Size)
		}
		it.Parts = nil
		j.markItem(ctx, i, ItemUpdate{})
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		err = f.Truncate(it.Size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	done := map[int]bool{}
	for _, p := range it.Parts {
		done[p.Number] = true
	}
	n := int((it.Size + it.PartSize - 1) / it.PartSize)
	var remaining atomic.Int64
	remaining.Store(int64(n - len(done)))
	if remaining.Load() == 0 {
		task(func() error { return j.finishDownload(ctx, i, it, tmp) })
		return nil
	}
	for num := 1; num <= n; num++ {
		if done[num] {
			continue
		}
		off := int64(num-1) * it.PartSize
		size := min(it.PartSize, it.Size-off)
		task(func() error {
			if err := j.downloadPart(ctx, i, it, tmp, num, off, size); err != nil {
				return err
			}
			if remaining.Add(-1) == 0 {
				return j.finishDownload(ctx, i, it, tmp)
			}
			return nil
		})
	}
	return nil
}

func (j *job) downloadPart(ctx context.Context, i int, it ItemRecord, tmp string, num int, off, size int64) error {
	var sum string
	err := j.e.retry(ctx, func() error {
		rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, off, size)
		if err != nil {
			return err
		}
		defer rc.Close()
		f, err := os.OpenFile(tmp, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		// Hash a range only when the sum can be checked against the source's
		// multipart ETag: MD5 costs more CPU than the copy itself.
		var h hash.Hash = md5.New()
		if it.SrcCRC32C != "" {
			h = crc32.New(provider.CRC32C)
		}
		var body io.Reader = io.LimitReader(rc, size)
		if it.SrcParts > 0 || it.SrcCRC32C != "" {
			body = io.TeeReader(body, h)
		}
		w := io.NewOffsetWriter(f, off)
		bufp := j.e.bufs.get(256 << 10)
		n, err := io.CopyBuffer(w, j.limited(ctx, body), *bufp)
		j.e.bufs.put(bufp)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("%w: range %d of %s gave %d bytes, want %d", ErrChecksumMismatch, num, it.Src, n, size)
		}
		if it.SrcParts > 0 || it.SrcCRC32C != "" {
			sum = hex.EncodeToString(h.Sum(nil))
		}
		return nil
	})
	if err != nil {
		return err
	}
	rec := PartRecord{Number: num, Size: size, MD5: sum}
	if it.SrcCRC32C != "" {
		rec.MD5, rec.ETag = "", sum
	}
	j.addPart(ctx, i, rec)
	j.bytesDone.Add(size)
	return nil
}

// finishDownload verifies the whole file where the source's checksum allows
// it, then renames it into place.
func (j *job) finishDownload(ctx context.Context, i int, it ItemRecord, tmp string) error {
	j.mu.Lock()
	parts := slices.Clone(j.rec.Items[i].Parts)
	j.mu.Unlock()
	slices.SortFunc(parts, func(a, b PartRecord) int { return a.Number - b.Number })
	var got, want string
	switch {
	case it.SrcCRC32C != "":
		// Fold the ranges' CRCs in order into the whole file's.
		var whole uint32
		for _, p := range parts {
			crc, ok := provider.ParseCRC32C(p.ETag)
			if !ok {
				whole, got = 0, "a range without its CRC"
				break
			}
			whole = provider.CombineCRC32C(whole, crc, p.Size)
		}
		if got == "" {
			got = provider.FormatCRC32C(whole)
		}
		want = it.SrcCRC32C
	case it.SrcMD5 != "":
		var err error
		if got, err = fileMD5(tmp); err != nil {
			return err
		}
		want = it.SrcMD5
	case it.SrcParts > 0:
		// Cut along the source's parts: the range MD5s give its ETag.
		got, _ = multipartETag(parts)
		want = strings.Trim(strings.ToLower(it.SrcETag), `"`)
	}
	if got != want {
		// Start the item over: a damaged range cannot be told from the rest.
		for _, p := range parts {
			j.bytesDone.Add(-p.Size)
		}
		_ = os.Remove(tmp)
		j.markItem(ctx, i, ItemUpdate{})
		return fmt.Errorf("%w: %s has checksum %s, source says %s", ErrChecksumMismatch, it.Dst, got, want)
	}
	verified := want != ""
	if err := os.Rename(tmp, it.Dst); err != nil {
		return err
	}
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: verified})
	return nil
}

func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var h hash.Hash = md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
