package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/amove/amove-go/provider"
)

// Server transfers: one object streamed from a source into a session on a
// destination that takes appended chunks (provider.Appender, Fastr's offset
// mode). The session's committed offset is the progress record: a paused,
// failed or restarted job asks it where to go on, so no chunk is sent twice
// and nothing but the session id needs journaling. The whole object's
// digest (the source's, or one computed over the bytes read in order) is
// checked by the destination when the session is completed. The same
// stream carries a P2P job whose source cannot reach its destination.

// defaultChunk is the spec's 8 MB chunk of a server transfer.
const defaultChunk = 8 << 20

// maxRelayChunk bounds the buffer of one chunk the agent relays itself
// (stream): a request may ask for chunks of up to 5 GiB, which the source
// server streams in a push, but the agent must not hold concurrency × that
// in memory. Appends are by offset, so smaller chunks change nothing else.
const maxRelayChunk = 64 << 20

// planRemote plans a ServerTransfer or P2P job: one object to one key.
func (e *Engine) planRemote(ctx context.Context, rec *JobRecord, req Request) error {
	if err := checkLocation(rec.Source, "source"); err != nil {
		return err
	}
	if err := checkLocation(rec.Dest, "destination"); err != nil {
		return err
	}
	if isPrefix(rec.Source.Key) || isPrefix(rec.Dest.Key) {
		return fmt.Errorf("%w: a %s moves one object: source and destination keys must name objects", provider.ErrInvalid, rec.Kind)
	}
	src, err := e.open(ctx, rec.Source.Account)
	if err != nil {
		return err
	}
	o, err := src.Stat(ctx, rec.Source.Bucket, rec.Source.Key)
	if err != nil {
		return err
	}
	if o.IsFolder {
		return fmt.Errorf("%w: %s/%s is a folder", provider.ErrInvalid, rec.Source.Bucket, rec.Source.Key)
	}
	dst, err := e.open(ctx, rec.Dest.Account)
	if err != nil {
		return err
	}
	switch rec.Kind {
	case ServerTransfer:
		if _, ok := provider.Capability[provider.Appender](dst); !ok {
			return fmt.Errorf("%w: the destination takes no appended chunks (server transfer)", provider.ErrUnsupported)
		}
	case P2P:
		rec.Push = PushRecord{Mode: PushMode, Overwrite: req.Overwrite}
		if !req.Overwrite {
			if err := noObject(ctx, dst, rec.Dest.Bucket, rec.Dest.Key); err != nil {
				return err
			}
		}
	}
	if rec.Options.PartSize == 0 {
		rec.Options.PartSize = defaultChunk
	}
	rec.Items = []ItemRecord{{Src: rec.Source.Key, Dst: rec.Dest.Key, Size: o.Size, SrcETag: o.ETag}}
	return nil
}

// noObject is ErrExists when bucket/key exists.
func noObject(ctx context.Context, st provider.Storage, bucket, key string) error {
	_, err := st.Stat(ctx, bucket, key)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s/%s exists and overwrite is false", provider.ErrExists, bucket, key)
	case errors.Is(err, provider.ErrNotFound):
		return nil
	}
	return err
}

// executeRemote runs a ServerTransfer or P2P job.
func (j *job) executeRemote(ctx context.Context) error {
	var err error
	if j.src, err = j.e.open(ctx, j.rec.Source.Account); err != nil {
		return err
	}
	if j.dst, err = j.e.open(ctx, j.rec.Dest.Account); err != nil {
		return err
	}
	if j.rec.Kind == P2P {
		return j.p2p(ctx)
	}
	return j.stream(ctx)
}

// chunkSize is the job's chunk: the item's part size as planned.
func (j *job) chunkSize() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if ps := j.rec.Items[0].PartSize; ps > 0 {
		return ps
	}
	if ps := j.rec.Options.PartSize; ps > 0 {
		return ps
	}
	return defaultChunk
}

func (j *job) item0() ItemRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.rec.Items[0]
}

// stream sends the job's object into an Appender session on the
// destination from the session's committed offset and completes it.
func (j *job) stream(ctx context.Context) error {
	e, rec := j.e, j.rec
	ap, ok := provider.Capability[provider.Appender](j.dst)
	if !ok {
		return fmt.Errorf("%w: the destination takes no appended chunks", provider.ErrUnsupported)
	}
	it := j.item0()
	var o provider.Object
	if err := e.retry(ctx, func() (err error) {
		o, err = j.src.Stat(ctx, rec.Source.Bucket, it.Src)
		return err
	}); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if o.ETag != it.SrcETag || o.Size != it.Size {
		return fmt.Errorf("%w: source %s changed since the transfer was planned", provider.ErrInvalid, it.Src)
	}
	alg := ap.AppendHash()
	sum := o.Checksums.Get(alg) // zero when the source has none: computed below

	u := provider.Upload{Bucket: rec.Dest.Bucket, Key: it.Dst, ID: it.UploadID}
	var off int64
	if u.ID != "" {
		err := e.retry(ctx, func() (err error) {
			off, err = ap.AppendOffset(ctx, u)
			return err
		})
		switch {
		case errors.Is(err, provider.ErrNotFound):
			u.ID = "" // the session is gone: start over
		case err != nil:
			return fmt.Errorf("destination session: %w", err)
		}
	}
	if u.ID == "" {
		if rec.Kind == P2P && !j.pushRec().Overwrite {
			if err := noObject(ctx, j.dst, u.Bucket, u.Key); err != nil {
				return err
			}
		}
		// Not retried: a session whose answer was lost would be orphaned.
		created, err := ap.CreateAppend(ctx, u.Bucket, u.Key, provider.WriteOptions{Size: it.Size, ContentType: o.ContentType,
			Metadata: j.rec.Metadata})
		if err != nil {
			return fmt.Errorf("creating the destination session: %w", err)
		}
		u, off = created, 0
		j.setSession(ctx, u.ID)
	}
	j.progress(ctx, off)

	// Without the source's digest, hash the bytes in order: those an
	// earlier run sent first, read again.
	var h provider.Digest
	var hashed int64
	if sum.IsZero() && alg != "" {
		h, _ = provider.NewHash(alg)
	}
	if h != nil {
		defer h.Close()
	}
	catchUp := func(to int64) error {
		if h == nil || to == hashed {
			return nil
		}
		if to < hashed {
			h.Reset()
			hashed = 0
		}
		err := e.retry(ctx, func() error { return j.readRange(ctx, it.Src, hashed, to-hashed, h) })
		if err == nil {
			hashed = to
		}
		return err
	}
	if err := catchUp(off); err != nil {
		return err
	}

	// Each chunk holds one place in the engine's pool, and a buffer only
	// while it does.
	chunk := min(j.chunkSize(), maxRelayChunk)
	for off < it.Size {
		n := min(chunk, it.Size-off)
		var next int64
		err := j.slot(ctx, func() error {
			bufp := e.bufs.get(chunk)
			defer e.bufs.put(bufp)
			b := (*bufp)[:n]
			err := e.retry(ctx, func() error {
				if _, err := j.readSource(ctx, it, off, b); err != nil {
					return err
				}
				if err := waitBandwidth(ctx, j.limiter, n); err != nil {
					return err
				}
				var err error
				next, err = ap.Append(ctx, u, off, b)
				var oe *provider.OffsetError
				if errors.As(err, &oe) {
					// A chunk we thought lost did land, or the
					// session is elsewhere: go on from where it is.
					next, err = oe.Committed, nil
				}
				return err
			})
			if err == nil && h != nil && next == off+n && hashed == off {
				h.Write(b)
				hashed = next
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("chunk at %d: %w", off, err)
		}
		if err := catchUp(next); err != nil {
			return err
		}
		off = next
		j.progress(ctx, off)
	}
	if h != nil {
		sum = provider.Checksum{Hash: alg, Value: hex.EncodeToString(h.Sum(nil))}
	}
	var obj provider.Object
	attempt := 0
	err := e.policy.Do(ctx, func(err error) bool { return retryable(err) && !errors.Is(err, provider.ErrChecksum) }, func() (err error) {
		attempt++
		obj, err = ap.CompleteAppend(ctx, u, sum)
		if errors.Is(err, provider.ErrNotFound) && attempt > 1 {
			// An earlier attempt may have committed before its answer
			// was lost: the object with our digest proves it.
			if st, serr := j.dst.Stat(ctx, u.Bucket, u.Key); serr == nil && !sum.IsZero() && st.Checksums.Get(sum.Hash).Equal(sum) {
				st.Verified = sum.Hash
				obj, err = st, nil
			}
		}
		return err
	})
	if errors.Is(err, provider.ErrChecksum) {
		// The session holds other bytes than the source: start over.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		_ = ap.AbortAppend(actx, u)
		cancel()
		j.setSession(ctx, "")
	}
	if err != nil {
		return fmt.Errorf("completing the destination session: %w", err)
	}
	j.finish(ctx, u.ID, !sum.IsZero() && obj.Verified == sum.Hash)
	return nil
}

// cleanupTimeout bounds the requests that clean up after a stopped job.
const cleanupTimeout = 30 * time.Second

// readRange copies n bytes of the source object from off into w.
func (j *job) readRange(ctx context.Context, key string, off, n int64, w io.Writer) error {
	if n == 0 {
		return nil
	}
	rc, err := j.src.NewRangeReader(ctx, j.rec.Source.Bucket, key, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	m, err := io.Copy(w, io.LimitReader(rc, n))
	if err == nil && m != n {
		err = fmt.Errorf("%w: read %d of %d bytes of %s at %d", io.ErrUnexpectedEOF, m, n, key, off)
	}
	return err
}

// cleanupRemote discards what a cancelled ServerTransfer or P2P job left:
// the push on the source, then the session on the destination.
func (j *job) cleanupRemote(ctx context.Context) {
	rec := j.rec
	if rec.Kind == P2P {
		j.cancelPush(ctx)
	}
	it := j.item0()
	if it.Done || it.UploadID == "" {
		return
	}
	dst := j.cleanupDest(ctx)
	if dst == nil {
		return
	}
	ap, ok := provider.Capability[provider.Appender](dst)
	if !ok {
		return
	}
	u := provider.Upload{Bucket: rec.Dest.Bucket, Key: it.Dst, ID: it.UploadID}
	if err := ap.AbortAppend(ctx, u); err != nil {
		j.e.log.Warn("transfer: discarding the destination session", "job", rec.ID, "key", it.Dst, "err", err)
		return
	}
	j.setSession(ctx, "")
}

// Progress of a ServerTransfer or P2P job lives in its destination
// session. The journal keeps the session id with the item and the bytes the
// session holds as the size of part 1 (so a job at rest or run by another
// process shows them); a P2P job also keeps the session in Push.Session,
// which a cancel reads to tell that the destination is clean.

// setSession records item 0's session; "" forgets it (and its progress).
func (j *job) setSession(ctx context.Context, id string) {
	j.markItem(ctx, 0, ItemUpdate{UploadID: id})
	if id == "" {
		j.bytesDone.Store(0)
	}
	if j.rec.Kind == P2P {
		j.savePush(ctx, func(p *PushRecord) { p.Session = id })
	}
}

// progress records that the session holds off bytes.
func (j *job) progress(ctx context.Context, off int64) {
	j.bytesDone.Store(off)
	j.mu.Lock()
	it := j.rec.Items[0]
	j.mu.Unlock()
	if it.Done || (len(it.Parts) == 1 && it.Parts[0].Size == off) || (len(it.Parts) == 0 && off == 0) {
		return
	}
	j.addPart(ctx, 0, PartRecord{Number: 1, Size: off})
}

// finish records that item 0 is committed from session id.
func (j *job) finish(ctx context.Context, id string, verified bool) {
	j.bytesDone.Store(j.item0().Size)
	j.markItem(ctx, 0, ItemUpdate{UploadID: id, Done: true, Verified: verified})
	if j.rec.Kind == P2P {
		j.savePush(ctx, func(p *PushRecord) { p.Session = "" })
	}
}
