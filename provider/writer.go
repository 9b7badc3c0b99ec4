package provider

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// DefaultWriterPartSize is the part size of a Writer on a multipart driver
// when WriteOptions.PartSize is zero (raised to the provider's minimum).
const DefaultWriterPartSize = 8 << 20

// ErrAborted is what a Writer returns after Abort.
var ErrAborted = errors.New("write aborted")

// Writer streams an object of any size, known or not, into a driver. On a
// MultipartUploader it holds at most one part in memory: an object that
// fits in one part is written with a single Write, a larger one part by
// part and completed by Close. On other drivers it streams through the
// driver's Write with an unknown size. Nothing appears under the key
// before Close returns nil.
//
// Checks: every part's checksum the provider reports is compared with the
// bytes sent, and every whole-object digest the provider reports in an
// algorithm the driver declares (Features.Checksums) or Track names is
// compared with the bytes written; a mismatch is ErrChecksum, and an
// object that Close completed but did not match is deleted.
//
// A Writer is not safe for concurrent use. Cancelling the context given to
// NewWriter, or calling Abort, discards the upload.
type Writer struct {
	ctx         context.Context
	cancel      context.CancelFunc
	p           *Portable
	bucket, key string
	what        string
	opts        WriteOptions

	mu       MultipartUploader // nil: stream through Write
	partSize int64
	buf      []byte
	upload   *Upload
	parts    []Part

	// Streaming mode: the driver's Write reads pr in a goroutine.
	pw   *io.PipeWriter
	done chan struct{}
	wobj Object
	werr error

	sums  map[Hash]Digest
	final map[Hash]Checksum // the sums once the Writer is done; nil before
	n     int64
	err   error // sticky: the first failure
	obj   Object
	once  sync.Once
}

// NewWriter starts writing bucket/key. opts.Size, when known, helps
// providers whose upload sessions want it up front; zero means unknown.
// The caller must Close (to complete) or Abort the Writer.
func (p *Portable) NewWriter(ctx context.Context, bucket, key string, opts WriteOptions) (*Writer, error) {
	what := bucket + "/" + key
	if err := CheckKey(bucket, key); err != nil {
		return nil, portableErr(err, "write", what)
	}
	if opts.Size < 0 || opts.PartSize < 0 {
		return nil, portableErr(fmt.Errorf("%w: size %d, part size %d", ErrInvalid, opts.Size, opts.PartSize), "write", what)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Writer{ctx: ctx, cancel: cancel, p: p, bucket: bucket, key: key, what: what, opts: opts,
		sums: map[Hash]Digest{}}
	f := p.Features()
	for _, h := range f.Checksums {
		w.Track(h)
	}
	if mu, ok := Capability[MultipartUploader](p.st); ok {
		size := int64(-1)
		if opts.Size > 0 {
			size = opts.Size
		}
		w.mu = mu
		w.partSize = mu.PartLimits().PartSize(opts.PartSize, DefaultWriterPartSize, size)
		w.opts.PartSize = w.partSize
		return w, nil
	}
	size := int64(-1)
	if opts.Size > 0 {
		size = opts.Size
	}
	pr, pw := io.Pipe()
	w.pw, w.done = pw, make(chan struct{})
	go func() {
		defer close(w.done)
		w.wobj, w.werr = p.st.Write(ctx, bucket, key, pr, size, opts)
		// Unblock a Write waiting on a driver that stopped reading.
		pr.CloseWithError(cmpErr(w.werr, ErrAborted))
	}()
	return w, nil
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// Track adds h to the digests the Writer computes over the bytes written,
// for Sum and the whole-object check; unknown and empty algorithms are
// ignored. Call it before the first Write.
func (w *Writer) Track(h Hash) {
	if _, ok := w.sums[h]; ok || h == "" {
		return
	}
	if hh, ok := NewHash(h); ok {
		w.sums[h] = hh
	}
}

// Sum returns the h digest of the bytes written so far, or a zero Checksum
// when h is not tracked.
func (w *Writer) Sum(h Hash) Checksum {
	if w.final != nil {
		return w.final[h]
	}
	hh, ok := w.sums[h]
	if !ok {
		return Checksum{}
	}
	return Checksum{Hash: h, Value: hex.EncodeToString(hh.Sum(nil))}
}

// release keeps the digests' values for Sum and closes them, once the
// Writer takes no more bytes.
func (w *Writer) release() {
	if w.final != nil {
		return
	}
	final := make(map[Hash]Checksum, len(w.sums))
	for h, hh := range w.sums {
		final[h] = Checksum{Hash: h, Value: hex.EncodeToString(hh.Sum(nil))}
		hh.Close()
	}
	w.final = final
}

// Write buffers or sends b. An error is final: the upload is aborted.
func (w *Writer) Write(b []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.fail(err)
		return 0, w.err
	}
	for _, hh := range w.sums {
		hh.Write(b)
	}
	w.n += int64(len(b))
	if w.mu == nil {
		n, err := w.pw.Write(b)
		if err != nil {
			w.fail(err)
			return n, w.err
		}
		return n, nil
	}
	total := len(b)
	for len(b) > 0 {
		// A full buffer is sent only once more bytes arrive, so an
		// object of exactly one part still goes in one Write.
		if int64(len(w.buf)) == w.partSize {
			if err := w.sendPart(); err != nil {
				w.fail(err)
				return total - len(b), w.err
			}
		}
		k := min(int64(len(b)), w.partSize-int64(len(w.buf)))
		if w.buf == nil {
			w.buf = make([]byte, 0, min(w.partSize, max(k, 64<<10)))
		}
		w.buf = append(w.buf, b[:k]...)
		b = b[k:]
	}
	return total, nil
}

// sendPart uploads the buffer as the next part and checks the checksum the
// provider reports for it.
func (w *Writer) sendPart() error {
	if w.upload == nil {
		u, err := w.mu.CreateMultipart(w.ctx, w.bucket, w.key, w.opts)
		if err != nil {
			return err
		}
		w.upload = &u
	}
	n := len(w.parts) + 1
	part, err := w.mu.UploadPart(w.ctx, *w.upload, n, bytes.NewReader(w.buf), int64(len(w.buf)))
	if err != nil {
		return err
	}
	if c := part.Checksum; !c.IsZero() {
		if mine := SumBytes(c.Hash, w.buf); !mine.IsZero() && !mine.Equal(c) {
			return fmt.Errorf("%w: part %d: the provider has %s %s, the bytes sent %s", ErrChecksum, n, c.Hash, c.Value, mine.Value)
		}
	}
	w.parts = append(w.parts, part)
	w.buf = w.buf[:0]
	return nil
}

// fail records the first error and discards the upload.
func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = portableErr(err, "write", w.what)
	}
	w.abort()
}

// abort discards what was sent, once. The cleanup runs on a context that
// outlives a cancelled one, so a cancel still aborts the remote upload.
func (w *Writer) abort() {
	defer w.release()
	w.once.Do(func() {
		w.cancel()
		if w.mu == nil {
			w.pw.CloseWithError(ErrAborted)
			<-w.done
			return
		}
		if w.upload != nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), time.Minute)
			defer cancel()
			_ = w.mu.AbortMultipart(ctx, *w.upload)
		}
	})
}

// Abort discards the upload; nothing is written under the key. Abort after
// a successful Close does nothing.
func (w *Writer) Abort() {
	if w.err == nil {
		w.err = portableErr(ErrAborted, "write", w.what)
		w.abort()
	}
}

// Close completes the object and checks it; Object then returns it. After
// a failed Write, an Abort or a cancelled context, Close returns that
// error and nothing is written.
func (w *Writer) Close() error {
	if w.err != nil {
		w.abort()
		return w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.fail(err)
		return w.err
	}
	var err error
	switch {
	case w.mu == nil:
		w.pw.Close()
		<-w.done
		w.obj, err = w.wobj, w.werr
	case w.upload == nil:
		w.obj, err = w.p.st.Write(w.ctx, w.bucket, w.key, bytes.NewReader(w.buf), int64(len(w.buf)), w.opts)
	default:
		if err = w.sendPart(); err == nil {
			w.obj, err = w.mu.CompleteMultipart(w.ctx, *w.upload, w.parts)
		}
	}
	if err != nil {
		w.fail(err)
		return w.err
	}
	if err := w.check(); err != nil {
		w.err = portableErr(err, "write", w.what)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), time.Minute)
		defer cancel()
		_ = w.p.st.Delete(ctx, w.bucket, w.key)
		w.once.Do(w.cancel)
		w.release()
		return w.err
	}
	w.err = fmt.Errorf("%w: writer closed", ErrInvalid)
	w.once.Do(w.cancel)
	w.release()
	return nil
}

// check compares the digests the provider reports for the stored object
// with the bytes written.
func (w *Writer) check() error {
	if w.obj.Size != w.n && w.obj.Size != 0 {
		return fmt.Errorf("%w: the provider stored %d bytes, %d were written", ErrChecksum, w.obj.Size, w.n)
	}
	hs := make([]Hash, 0, len(w.sums))
	for h := range w.sums {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	for _, h := range hs {
		got := w.obj.Checksums.Get(h)
		if got.IsZero() {
			continue
		}
		if mine := w.Sum(h); !mine.Equal(got) {
			return fmt.Errorf("%w: the provider has %s %s, the bytes written %s", ErrChecksum, h, got.Value, mine.Value)
		}
		if w.obj.Verified == "" {
			w.obj.Verified = h
		}
	}
	return nil
}

// Object is the stored object after a successful Close: its Verified names
// a digest the provider computed and the Writer compared (or the driver
// did), empty when neither could compare.
func (w *Writer) Object() Object { return w.obj }

// Written is the number of bytes accepted so far.
func (w *Writer) Written() int64 { return w.n }
