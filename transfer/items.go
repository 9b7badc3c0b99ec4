package transfer

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/amove/amove-go/provider"
)

// assignPartSizes fixes each item's part size at plan time, so a resumed
// upload keeps the size its journaled parts were cut with (R2 and Azure
// resumes depend on it).
func (e *Engine) assignPartSizes(ctx context.Context, rec *JobRecord) error {
	requested := rec.Options.PartSize
	var lim provider.PartLimits
	var dst provider.Storage
	if rec.Kind != Download {
		var err error
		if dst, err = e.open(ctx, rec.Dest.Account); err != nil {
			return err
		}
		defer dst.Close()
		if mu, ok := provider.Capability[provider.MultipartUploader](dst); ok {
			lim = mu.PartLimits()
		}
	}
	for i := range rec.Items {
		it := &rec.Items[i]
		if it.SrcSum.Hash != provider.HashMD5Parts || it.PartSize <= 0 {
			// An S3 multipart ETag is checked along the object's own
			// parts: their size is planned (partsSum).
			it.PartSize = lim.PartSize(requested, e.opts.PartSize, it.Size)
		}
		// The parts' own digest: the one the source's folds from (a
		// download or copy then checks every byte it read), else one the
		// destination reports for whole objects.
		switch {
		case provider.RangeHash(it.SrcSum.Hash) != "":
			it.SumHash = provider.RangeHash(it.SrcSum.Hash)
		case rec.Kind != Download:
			it.SumHash = combinableHash(dst)
		}
	}
	return nil
}

// combinableHash is the first digest st reports for objects that can be
// folded from part digests; empty when there is none.
func combinableHash(st provider.Storage) provider.Hash {
	if h, ok := provider.Capability[provider.Hasher](st); ok {
		for _, alg := range h.Hashes() {
			if provider.Combinable(alg) {
				return alg
			}
		}
	}
	return ""
}

func partialPath(dst, jobID string) string {
	return dst + ".amove-" + jobID[:8] + ".partial"
}

// sumOf is the h digest of b; zero when h is empty.
func sumOf(h provider.Hash, b []byte) provider.Checksum {
	if h == "" {
		return provider.Checksum{}
	}
	return provider.SumBytes(h, b)
}

// mismatch is the error for bytes whose digest differs from the one a
// provider computed.
func mismatch(what string, got, want provider.Checksum) error {
	return fmt.Errorf("%w: %s has %s %s, %s expected", ErrChecksumMismatch, what, got.Hash, got.Value, want.Value)
}

// checkWritten compares what a write returned with the bytes sent: the
// driver's own verdict (Object.Verified) when it gave one, else the
// cheapest digest the provider reported, computed over b. verified is false
// when the provider reported nothing to compare.
func checkWritten(o provider.Object, b []byte, what string) (verified bool, err error) {
	if o.Verified != "" {
		return true, nil
	}
	want := o.Checksums.Best(nil)
	if want.IsZero() {
		return false, nil
	}
	if got := provider.SumBytes(want.Hash, b); !got.Equal(want) {
		return false, mismatch(what, got, want)
	}
	return true, nil
}

func (j *job) startItem(ctx context.Context, g *workers, i int, fail func(int, error)) error {
	j.mu.Lock()
	it := j.rec.Items[i]
	j.mu.Unlock()
	task := func(f func() error) {
		g.Go(func() {
			if err := j.slot(ctx, f); err != nil && !errors.Is(err, errYield) {
				fail(i, err)
			}
		})
	}
	switch j.rec.Kind {
	case Upload:
		// A file sent in one request is checked on its open descriptor
		// once read (readSource): no stat by name here.
		if it.Size > it.PartSize {
			if err := unchanged(it); err != nil {
				return err
			}
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
		if cp, ok := provider.Capability[provider.Copier](j.dst); ok {
			task(func() error { return j.serverCopy(ctx, cp, i, it) })
			return nil
		}
	}
	var mu provider.MultipartUploader
	if j.rec.Kind != Download {
		mu, _ = provider.Capability[provider.MultipartUploader](j.dst)
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
	var verified, vouched bool
	err := j.e.retry(ctx, func() error {
		var err error
		if vouched, err = j.readSource(ctx, it, 0, buf); err != nil {
			return err
		}
		if !it.SrcSum.IsZero() {
			if got := provider.SumBytes(it.SrcSum.Hash, buf); !got.Equal(it.SrcSum) {
				return mismatch("read "+it.Src, got, it.SrcSum)
			}
		}
		if err := waitBandwidth(ctx, j.limiter, it.Size); err != nil {
			return err
		}
		o, err := j.dst.Write(ctx, j.rec.Dest.Bucket, it.Dst, bytes.NewReader(buf), it.Size, provider.WriteOptions{})
		if err != nil {
			return err
		}
		verified, err = checkWritten(o, buf, it.Dst)
		return err
	})
	if err != nil {
		return err
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: verified && (vouched || j.sourceChecked(it))})
	return nil
}

// sourceChecked reports whether the bytes read for it were compared with
// the source's own digest: always for a local file (an upload), for a copy
// only when the source has a digest.
func (j *job) sourceChecked(it ItemRecord) bool {
	return j.rec.Kind == Upload || !it.SrcSum.IsZero()
}

// readSource fills buf with the item's bytes from offset off. vouched
// reports that the source's reader compared them with the provider's own
// range digests (provider.VerifiedReader).
func (j *job) readSource(ctx context.Context, it ItemRecord, off int64, buf []byte) (vouched bool, err error) {
	if j.rec.Kind == Upload {
		f, err := j.openSource(it.Src)
		if err != nil {
			return false, err
		}
		defer f.Close()
		_, err = f.ReadAt(buf, off)
		if err == io.EOF && len(buf) == 0 {
			err = nil
		}
		if err == nil {
			// A file changed since it was planned, or written to while it
			// was read, gives a buffer of neither version: refuse it
			// rather than store it as verified. The open file's fstat
			// answers that, without a lookup by name.
			err = sameVersion(f, it)
		}
		return false, err
	}
	rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, off, int64(len(buf)))
	if err != nil {
		return false, err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, buf); err != nil {
		return false, fmt.Errorf("reading %s at %d: %w", it.Src, off, err)
	}
	return !readerChecksum(rc).IsZero(), nil
}

// streamCopy pipes a source object, or an upload's local file, into a
// destination without multipart support: no buffer, no disk. The stream is
// hashed for the source's digest and for the first one the destination
// reports.
func (j *job) streamCopy(ctx context.Context, i int, it ItemRecord) error {
	var verified, vouched bool
	err := j.e.retry(ctx, func() error {
		rc, err := j.openStream(ctx, it)
		if err != nil {
			return err
		}
		defer rc.Close()
		var body io.Reader = rc
		srcHash, _ := provider.NewHash(it.SrcSum.Hash)
		if srcHash != nil {
			defer srcHash.Close()
			body = io.TeeReader(body, srcHash)
		}
		dstAlg := firstHash(j.dst)
		dstHash, _ := provider.NewHash(dstAlg)
		if dstHash != nil {
			defer dstHash.Close()
			body = io.TeeReader(body, dstHash)
		}
		o, err := j.dst.Write(ctx, j.rec.Dest.Bucket, it.Dst, body, it.Size, provider.WriteOptions{})
		if err != nil {
			return err
		}
		if j.rec.Kind == Upload {
			// A file written to while it was read gave neither version.
			if err := unchanged(it); err != nil {
				return err
			}
		}
		if srcHash != nil {
			if got := (provider.Checksum{Hash: it.SrcSum.Hash, Value: hex.EncodeToString(srcHash.Sum(nil))}); !got.Equal(it.SrcSum) {
				return mismatch("read "+it.Src, got, it.SrcSum)
			}
		}
		vouched = !readerChecksum(rc).IsZero()
		verified = o.Verified != ""
		if want := o.Checksums.Get(dstAlg); !verified && dstHash != nil && !want.IsZero() {
			if got := (provider.Checksum{Hash: dstAlg, Value: hex.EncodeToString(dstHash.Sum(nil))}); !got.Equal(want) {
				return mismatch(it.Dst, got, want)
			}
			verified = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: verified && (vouched || j.sourceChecked(it))})
	return nil
}

// openStream opens the whole source of it for streamCopy: the local file
// of an upload (there is no source Storage then), else the source object.
func (j *job) openStream(ctx context.Context, it ItemRecord) (io.ReadCloser, error) {
	if j.rec.Kind != Upload {
		return j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, 0, -1)
	}
	f, err := j.openSource(it.Src)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, it.Size), f}, nil
}

// firstHash is the first digest st reports for objects; empty when none.
func firstHash(st provider.Storage) provider.Hash {
	if h, ok := provider.Capability[provider.Hasher](st); ok {
		for _, alg := range h.Hashes() {
			if provider.Hashable(alg) {
				return alg
			}
		}
	}
	return ""
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
	verified := o.Verified != ""
	if got := o.Checksums.Get(it.SrcSum.Hash); !verified && !it.SrcSum.IsZero() && !got.IsZero() {
		if !got.Equal(it.SrcSum) {
			return mismatch("server-side copy "+it.Dst, got, it.SrcSum)
		}
		verified = true
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: verified})
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
	// A copy whose source digest does not fold checks what it read by
	// hashing the parts in order, one without a digest by its readers'
	// word; only when this run sends every part.
	var rc *readCheck
	if j.rec.Kind == Copy && len(done) == 0 {
		switch {
		case it.SrcSum.IsZero():
			rc = newReadCheck("")
		case !provider.Combinable(it.SrcSum.Hash):
			rc = newReadCheck(it.SrcSum.Hash)
		}
	}
	if remaining.Load() == 0 {
		task(func() error { return j.complete(ctx, mu, u, i, it, rc) })
		return nil
	}
	for num := 1; num <= n; num++ {
		if _, ok := done[num]; ok {
			continue
		}
		off := int64(num-1) * it.PartSize
		size := min(it.PartSize, it.Size-off)
		task(func() error {
			if err := j.uploadPart(ctx, mu, u, i, it, num, off, size, rc); err != nil {
				if rc != nil {
					rc.fail()
				}
				return err
			}
			if remaining.Add(-1) == 0 {
				return j.complete(ctx, mu, u, i, it, rc)
			}
			return nil
		})
	}
	return nil
}

// uploadPart sends one part and compares the digest the provider checked
// (Part.Checksum) with the bytes sent; Sum keeps the part's digest for the
// whole-object check.
func (j *job) uploadPart(ctx context.Context, mu provider.MultipartUploader, u provider.Upload, i int, it ItemRecord, num int, off, size int64, rc *readCheck) error {
	if j.rec.Kind == Upload {
		return j.uploadFilePart(ctx, mu, u, i, it, num, off, size)
	}
	bufp := j.e.bufs.get(it.PartSize)
	defer j.e.bufs.put(bufp)
	buf := (*bufp)[:size]
	var rec PartRecord
	var vouched bool
	err := j.e.retry(ctx, func() error {
		var err error
		if vouched, err = j.readSource(ctx, it, off, buf); err != nil {
			return err
		}
		sum := sumOf(it.SumHash, buf)
		if err := waitBandwidth(ctx, j.limiter, size); err != nil {
			return err
		}
		p, err := mu.UploadPart(ctx, u, num, bytes.NewReader(buf), size)
		if err != nil {
			return err
		}
		if !p.Checksum.IsZero() {
			local := sum
			if p.Checksum.Hash != it.SumHash {
				local = provider.SumBytes(p.Checksum.Hash, buf)
			}
			if !local.Equal(p.Checksum) {
				return mismatch(fmt.Sprintf("part %d of %s", num, it.Dst), local, p.Checksum)
			}
		}
		rec = PartRecord{Number: num, Size: size, ETag: p.ETag, Checksum: p.Checksum, Sum: sum}
		return nil
	})
	if err != nil {
		return err
	}
	if rc != nil {
		if vouched {
			rc.vouched.Add(1)
		}
		if err := j.addInOrder(ctx, rc, num, buf); err != nil {
			return err
		}
	}
	j.addPart(ctx, i, rec)
	j.bytesDone.Add(size)
	return nil
}

// uploadFilePart sends one part of a local file straight from the file
// (filePart): no buffer. The part's digests are of the bytes the driver
// read to send it; as in uploadPart, the one the provider checked is
// compared with them and Sum keeps the item's SumHash digest.
func (j *job) uploadFilePart(ctx context.Context, mu provider.MultipartUploader, u provider.Upload, i int, it ItemRecord, num int, off, size int64) error {
	var rec PartRecord
	err := j.e.retry(ctx, func() error {
		f, err := j.openSource(it.Src)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := waitBandwidth(ctx, j.limiter, size); err != nil {
			return err
		}
		body := newFilePart(f, off, size, it.SumHash, j.partHash.get())
		defer body.close()
		p, err := mu.UploadPart(ctx, u, num, body, size)
		if err != nil {
			return err
		}
		sum, err := body.sum(it.SumHash)
		if err != nil {
			return err
		}
		if !p.Checksum.IsZero() {
			j.partHash.set(p.Checksum.Hash)
			local, err := body.sum(p.Checksum.Hash)
			if err != nil {
				return err
			}
			if !local.Equal(p.Checksum) {
				return mismatch(fmt.Sprintf("part %d of %s", num, it.Dst), local, p.Checksum)
			}
		}
		rec = PartRecord{Number: num, Size: size, ETag: p.ETag, Checksum: p.Checksum, Sum: sum}
		return nil
	})
	if err != nil {
		return err
	}
	j.addPart(ctx, i, rec)
	j.bytesDone.Add(size)
	return nil
}

// foldParts folds the parts' Sums, in order, into the digest of the whole.
func foldParts(h provider.Hash, parts []PartRecord) (provider.Checksum, bool) {
	ranges := make([]provider.Range, len(parts))
	for k, p := range parts {
		ranges[k] = provider.Range{Size: p.Size, Sum: p.Sum}
	}
	return provider.CombineChecksums(h, ranges)
}

func (j *job) complete(ctx context.Context, mu provider.MultipartUploader, u provider.Upload, i int, it ItemRecord, rc *readCheck) error {
	j.mu.Lock()
	parts := slices.Clone(j.rec.Items[i].Parts)
	j.mu.Unlock()
	slices.SortFunc(parts, func(a, b PartRecord) int { return a.Number - b.Number })
	pp := make([]provider.Part, len(parts))
	partsChecked := len(parts) > 0
	var size int64
	for k, p := range parts {
		pp[k] = provider.Part{Number: p.Number, Size: p.Size, ETag: p.ETag, Checksum: p.Checksum}
		partsChecked = partsChecked && !p.Checksum.IsZero()
		size += p.Size
	}
	if size != it.Size {
		return fmt.Errorf("%w: parts of %s add up to %d bytes, want %d", ErrChecksumMismatch, it.Dst, size, it.Size)
	}
	whole, haveWhole := foldParts(it.SumHash, parts)
	read, haveRead := whole, haveWhole && it.SumHash == it.SrcSum.Hash
	if rc != nil && rc.alg != "" {
		read, haveRead = rc.sum(len(parts))
	}
	if haveRead && !read.Equal(it.SrcSum) {
		// The bytes read from the source were damaged: start the item over
		// rather than complete a wrong object.
		_ = mu.AbortMultipart(ctx, u)
		j.markItem(ctx, i, ItemUpdate{})
		return mismatch("read "+it.Src, read, it.SrcSum)
	}
	if j.rec.Kind == Upload {
		// The parts were read over time: a file changed meanwhile would
		// make an object of two versions. Fail before it exists; the
		// uploaded parts stay for a resume once the file is planned again.
		if err := unchanged(it); err != nil {
			return err
		}
	}
	var o provider.Object
	attempt := 0
	err := j.e.retry(ctx, func() error {
		attempt++
		var err error
		o, err = mu.CompleteMultipart(ctx, u, pp)
		if errors.Is(err, provider.ErrNotFound) && attempt > 1 && haveWhole {
			// An earlier attempt may have completed before its answer was
			// lost: an object with the parts' digest proves it.
			st, serr := j.dst.Stat(ctx, u.Bucket, u.Key)
			if serr == nil && st.Size == it.Size && st.Checksums.Get(whole.Hash).Equal(whole) {
				o, err = st, nil
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	verified := o.Verified != "" || partsChecked
	if got := o.Checksums.Get(it.SumHash); haveWhole && !got.IsZero() {
		if !got.Equal(whole) {
			return mismatch(it.Dst, got, whole)
		}
		verified = true
	}
	srcChecked := j.rec.Kind == Upload || haveRead ||
		rc != nil && rc.alg == "" && rc.vouched.Load() == int64(len(parts))
	j.markItem(ctx, i, ItemUpdate{UploadID: u.ID, Done: true, Verified: verified && srcChecked})
	return nil
}

// downloadWhole fetches a small object into a partial file, checks it and
// renames it into place.
func (j *job) downloadWhole(ctx context.Context, i int, it ItemRecord) error {
	lf, err := j.target(it)
	if err != nil {
		return err
	}
	var rangeChecked bool
	var want provider.Checksum
	var f *os.File // the checked file, still open for its commit
	anon := !j.noAnon.Load()
	err = j.e.retry(ctx, func() error {
		rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		var tf *os.File
		if anon {
			if tf, err = lf.createAnon(); err != nil {
				// No unnamed files on this system or file system: the
				// partial file, for the rest of the job too.
				anon = false
				j.noAnon.Store(true)
			}
		}
		if !anon {
			if tf, err = lf.create(); err != nil {
				return err
			}
		}
		if err := j.fetchWhole(ctx, tf, rc, it, &want); err != nil {
			tf.Close()
			return err
		}
		f, rangeChecked = tf, !readerChecksum(rc).IsZero()
		return nil
	})
	if err != nil {
		_ = lf.root.Remove(lf.tmp)
		return err
	}
	verified := !want.IsZero() || rangeChecked
	if anon && lf.d.barrier != nil && j.pending != nil {
		j.deferCommit(ctx, i, it, lf, f, verified)
		return nil
	}
	if anon {
		err = lf.commitAnon(ctx, f, j.rec.Overwrite, false)
	} else {
		err = lf.commitFile(f, j.rec.Overwrite)
	}
	if errors.Is(err, errNoAnonLink) {
		j.noAnon.Store(true)
		return j.downloadWhole(ctx, i, it) // again, through a partial file
	}
	if err != nil {
		return err
	}
	j.bytesDone.Add(it.Size)
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: verified})
	return nil
}

// fetchWhole copies a whole-object read into f and checks it: its length,
// and the digest it is checked with (cheapestSum, stored in want), of the
// bytes the file took, each buffer hashed once written (io.MultiWriter
// stops at the first failed write).
func (j *job) fetchWhole(ctx context.Context, f *os.File, rc io.Reader, it ItemRecord, want *provider.Checksum) error {
	*want = j.cheapestSum(rc, it)
	// A digest no stream computes (an S3 multipart ETag of an object in
	// one part) folds from the one digest of its single range.
	alg := want.Hash
	if !provider.Hashable(alg) {
		alg = provider.RangeHash(alg)
	}
	var w io.Writer = f
	h, _ := provider.NewHash(alg)
	if h != nil {
		defer h.Close()
		w = io.MultiWriter(f, h)
	}
	// A pooled buffer a little larger than the object: one Read sees EOF,
	// and thousands of small files allocate no 32 KiB copy buffer each.
	bufp := j.e.bufs.get(sizeClass(min(it.Size+1, 256<<10)))
	n, err := io.CopyBuffer(w, j.limited(ctx, rc), *bufp)
	j.e.bufs.put(bufp)
	if err != nil {
		return err
	}
	if n != it.Size {
		return fmt.Errorf("%w: got %d bytes of %s, expected %d", ErrChecksumMismatch, n, it.Src, it.Size)
	}
	if h == nil {
		return nil // nothing to check against
	}
	got := provider.Checksum{Hash: alg, Value: hex.EncodeToString(h.Sum(nil))}
	if alg != want.Hash {
		got, _ = provider.CombineChecksums(want.Hash, []provider.Range{{Size: n, Sum: got}})
	}
	if !got.Equal(*want) {
		return mismatch(it.Src, got, *want)
	}
	return nil
}

// cheapestSum is the digest a whole-object read of it is checked with: the
// planned one (it.SrcSum), or a cheaper one (provider.Preference) that the
// response carrying the bytes reported for the same version of the object
// (provider.ObjectReader), such as the CRC32C S3 holds for an object whose
// listing gave only the MD5 of its ETag. Zero when the job checks nothing.
func (j *job) cheapestSum(rc io.Reader, it ItemRecord) provider.Checksum {
	or, ok := rc.(provider.ObjectReader)
	if !ok || j.e.opts.NoDownloadChecksums {
		return it.SrcSum
	}
	o := or.Object()
	if o.ETag != it.SrcETag || o.Size != it.Size {
		return it.SrcSum // another version: the planned digest tells
	}
	if c := srcSum(o); !c.IsZero() && (it.SrcSum.IsZero() || cost(c.Hash) < cost(it.SrcSum.Hash)) {
		return c
	}
	return it.SrcSum
}

// cost is h's place in provider.Preference: lower is cheaper to compute.
func cost(h provider.Hash) int {
	if k := slices.Index(provider.Preference, h); k >= 0 {
		return k
	}
	return len(provider.Preference)
}

// readerChecksum is what a driver's reader vouches for: the digest of the
// bytes it returned, compared range by range with the provider's
// (provider.VerifiedReader); zero when it compared nothing.
func readerChecksum(r io.Reader) provider.Checksum {
	if vr, ok := r.(provider.VerifiedReader); ok {
		return vr.Checksum()
	}
	return provider.Checksum{}
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
	lf, err := j.target(it)
	if err != nil {
		return err
	}
	if lf.size() != it.Size || !j.partsOnDisk(lf, it) {
		// No usable partial file: journaled ranges are worthless.
		for _, p := range it.Parts {
			j.bytesDone.Add(-p.Size)
		}
		it.Parts = nil
		j.markItem(ctx, i, ItemUpdate{})
		f, err := lf.create()
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
	var order *orderSum
	if !it.SrcSum.IsZero() && provider.RangeHash(it.SrcSum.Hash) == "" {
		// The source's digest does not fold across ranges: hash the
		// ranges in order as they land (ordersum.go), those of an
		// earlier run first.
		order = newOrderSum(lf, it.SrcSum.Hash, it.Size, it.PartSize)
		if order != nil && len(done) > 0 {
			task(func() error {
				for num := range done {
					order.land(num)
				}
				return nil
			})
		}
	}
	n := int((it.Size + it.PartSize - 1) / it.PartSize)
	var remaining atomic.Int64
	remaining.Store(int64(n - len(done)))
	if remaining.Load() == 0 {
		task(func() error { return j.finishDownload(ctx, i, it, lf, order) })
		return nil
	}
	for num := 1; num <= n; num++ {
		if done[num] {
			continue
		}
		off := int64(num-1) * it.PartSize
		size := min(it.PartSize, it.Size-off)
		task(func() error {
			if err := j.downloadPart(ctx, i, it, lf, num, off, size); err != nil {
				return err
			}
			if order != nil {
				order.land(num)
			}
			if remaining.Add(-1) == 0 {
				return j.finishDownload(ctx, i, it, lf, order)
			}
			return nil
		})
	}
	return nil
}

// downloadPart writes one range into the partial file, hashed with the
// item's SumHash (a digest that folds across ranges) when it has one.
func (j *job) downloadPart(ctx context.Context, i int, it ItemRecord, lf localFile, num int, off, size int64) error {
	var sum, checked provider.Checksum
	err := j.e.retry(ctx, func() error {
		rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, it.Src, off, size)
		if err != nil {
			return err
		}
		defer rc.Close()
		f, err := lf.open()
		if err != nil {
			return err
		}
		var w io.Writer = io.NewOffsetWriter(f, off)
		h, _ := provider.NewHash(it.SumHash)
		if h != nil {
			defer h.Close()
			w = io.MultiWriter(w, h) // hashed once written, as in downloadWhole
		}
		bufp := j.e.bufs.get(256 << 10)
		n, err := io.CopyBuffer(w, j.limited(ctx, io.LimitReader(rc, size)), *bufp)
		j.e.bufs.put(bufp)
		if err == nil {
			startWriteback(f, off, n)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("%w: range %d of %s gave %d bytes, want %d", ErrChecksumMismatch, num, it.Src, n, size)
		}
		if h != nil {
			sum = provider.Checksum{Hash: it.SumHash, Value: hex.EncodeToString(h.Sum(nil))}
		}
		checked = readerChecksum(rc)
		return nil
	})
	if err != nil {
		return err
	}
	j.addPart(ctx, i, PartRecord{Number: num, Size: size, Checksum: checked, Sum: sum})
	j.bytesDone.Add(size)
	return nil
}

// finishDownload verifies the whole file against the source's digest, by
// folding the ranges' digests or, for a digest that does not fold, with
// the digest order computed as the ranges landed, then puts it in place.
func (j *job) finishDownload(ctx context.Context, i int, it ItemRecord, lf localFile, order *orderSum) error {
	j.mu.Lock()
	parts := slices.Clone(j.rec.Items[i].Parts)
	j.mu.Unlock()
	slices.SortFunc(parts, func(a, b PartRecord) int { return a.Number - b.Number })
	if !it.SrcSum.IsZero() {
		got, ok := foldParts(it.SrcSum.Hash, parts)
		if !ok && order != nil {
			var err error
			if got, err = order.sum(ctx); err != nil {
				return err
			}
		} else if !ok {
			// Ranges journaled without their digest (an older journal):
			// one read of the file.
			var err error
			if got, err = lf.sum(it.SrcSum.Hash, 0, it.Size); err != nil {
				return err
			}
		}
		if !got.Equal(it.SrcSum) {
			// Start the item over: a damaged range cannot be told from the rest.
			for _, p := range parts {
				j.bytesDone.Add(-p.Size)
			}
			_ = lf.root.Remove(lf.tmp)
			j.markItem(ctx, i, ItemUpdate{})
			return mismatch(it.Dst, got, it.SrcSum)
		}
	}
	// Without a whole-object digest, ranges the source's reader checked
	// against the provider's own range digests still cover every byte.
	rangesChecked := len(parts) > 0
	for _, p := range parts {
		rangesChecked = rangesChecked && !p.Checksum.IsZero()
	}
	if err := lf.commit(j.rec.Overwrite); err != nil {
		return err
	}
	j.markItem(ctx, i, ItemUpdate{Done: true, Verified: !it.SrcSum.IsZero() || rangesChecked})
	return nil
}
