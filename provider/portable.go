package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"reflect"
)

// Portable is the portable layer over one driver, as gocloud's blob.Bucket
// is over driver.Bucket: it checks input once, before any request, with
// the Check functions; it gives every error the operation and the object
// it concerns and maps the fs errors a third-party driver may return onto
// the package sentinels (so errors.Is works the same on every driver, and
// errors.As still reaches the driver's own error); it fills the gaps of
// drivers that lack an optional capability (Copy streams when the driver
// cannot copy, NewWriter streams an object of unknown size); and As reaches
// the driver underneath for what the portable API does not cover.
//
// It is named Portable because Bucket is the listing type and Storage the
// driver interface. A Portable is safe for concurrent use when its driver
// is; Close closes the driver.
type Portable struct {
	st Storage
}

// NewPortable returns the portable layer over st. The Portable owns st:
// its Close closes st.
func NewPortable(st Storage) *Portable { return &Portable{st: st} }

// Features reports what the driver supports (FeaturesOf).
func (p *Portable) Features() Features { return FeaturesOf(p.st) }

// As sets target, a non-nil pointer, to the driver (or a driver it wraps,
// through Unwrap) when the driver's type is assignable to *target, and
// reports whether it did; a driver that implements As(any) bool itself is
// asked first, so it can expose its SDK client. This is the escape hatch
// to provider features the portable API does not cover:
//
//	var s3st *s3.Storage
//	if p.As(&s3st) { ... }
func (p *Portable) As(target any) bool {
	rv := reflect.ValueOf(target)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	for s := p.st; s != nil; s = unwrap(s) {
		if a, ok := s.(interface{ As(any) bool }); ok && a.As(target) {
			return true
		}
		if reflect.TypeOf(s).AssignableTo(rv.Elem().Type()) {
			rv.Elem().Set(reflect.ValueOf(s))
			return true
		}
	}
	return false
}

// Close closes the driver.
func (p *Portable) Close() error { return p.st.Close() }

// ListBuckets returns every bucket the credentials can see.
func (p *Portable) ListBuckets(ctx context.Context) ([]Bucket, error) {
	b, err := p.st.ListBuckets(ctx)
	return b, portableErr(err, "list buckets", "")
}

// ListObjects returns one page of a listing.
func (p *Portable) ListObjects(ctx context.Context, bucket string, opts ListOptions) (Page, error) {
	if err := CheckBucket(bucket); err != nil {
		return Page{}, portableErr(err, "list", bucket)
	}
	page, err := p.st.ListObjects(ctx, bucket, opts)
	return page, portableErr(err, "list", bucket)
}

// Walk iterates over every object matching opts one page at a time (Walk).
func (p *Portable) Walk(ctx context.Context, bucket string, opts ListOptions) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		if err := CheckBucket(bucket); err != nil {
			yield(Object{}, portableErr(err, "list", bucket))
			return
		}
		for o, err := range Walk(ctx, p.st, bucket, opts) {
			if !yield(o, portableErr(err, "list", bucket)) {
				return
			}
		}
	}
}

// Stat returns an object's attributes; ErrNotFound when it is missing.
func (p *Portable) Stat(ctx context.Context, bucket, key string) (Object, error) {
	if err := CheckKey(bucket, key); err != nil {
		return Object{}, portableErr(err, "stat", bucket+"/"+key)
	}
	o, err := p.st.Stat(ctx, bucket, key)
	return o, portableErr(err, "stat", bucket+"/"+key)
}

// NewReader reads the whole object. The caller closes the reader.
func (p *Portable) NewReader(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	return p.NewRangeReader(ctx, bucket, key, 0, -1)
}

// NewRangeReader reads length bytes from offset (length < 0: to the end).
// Read errors carry the object's name and map like every other error. The
// caller closes the reader.
func (p *Portable) NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	what := bucket + "/" + key
	if err := CheckKey(bucket, key); err != nil {
		return nil, portableErr(err, "read", what)
	}
	if err := CheckRange(offset, length); err != nil {
		return nil, portableErr(err, "read", what)
	}
	rc, err := p.st.NewRangeReader(ctx, bucket, key, offset, length)
	if err != nil {
		return nil, portableErr(err, "read", what)
	}
	return &reader{rc: rc, what: what}, nil
}

// reader maps the errors of a driver's reader.
type reader struct {
	rc   io.ReadCloser
	what string
}

func (r *reader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if err == io.EOF {
		return n, err
	}
	return n, portableErr(err, "read", r.what)
}

func (r *reader) Close() error { return portableErr(r.rc.Close(), "read", r.what) }

// Checksum forwards VerifiedReader when the driver's reader is one.
func (r *reader) Checksum() Checksum {
	if v, ok := r.rc.(VerifiedReader); ok {
		return v.Checksum()
	}
	return Checksum{}
}

// Write stores r under key in one call; size is the exact length or -1.
func (p *Portable) Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts WriteOptions) (Object, error) {
	if err := CheckWrite(bucket, key, r, size); err != nil {
		return Object{}, portableErr(err, "write", bucket+"/"+key)
	}
	o, err := p.st.Write(ctx, bucket, key, r, size, opts)
	return o, portableErr(err, "write", bucket+"/"+key)
}

// Delete removes an object; a missing key is not an error.
func (p *Portable) Delete(ctx context.Context, bucket, key string) error {
	if err := CheckKey(bucket, key); err != nil {
		return portableErr(err, "delete", bucket+"/"+key)
	}
	return portableErr(p.st.Delete(ctx, bucket, key), "delete", bucket+"/"+key)
}

// DeleteID removes the object with provider id id (Object.ID) when the
// driver addresses objects by id (IDDeleter), and the object at key
// otherwise or when id is empty; a missing object is not an error.
func (p *Portable) DeleteID(ctx context.Context, bucket, key, id string) error {
	d, ok := Capability[IDDeleter](p.st)
	if !ok || id == "" {
		return p.Delete(ctx, bucket, key)
	}
	if err := CheckKey(bucket, key); err != nil {
		return portableErr(err, "delete", bucket+"/"+key)
	}
	return portableErr(d.DeleteID(ctx, bucket, key, id), "delete", bucket+"/"+key)
}

// CreateFolder makes an empty folder; a missing trailing "/" is added.
func (p *Portable) CreateFolder(ctx context.Context, bucket, key string) error {
	key, err := CheckFolder(bucket, key)
	if err != nil {
		return portableErr(err, "create folder", bucket+"/"+key)
	}
	return portableErr(p.st.CreateFolder(ctx, bucket, key), "create folder", bucket+"/"+key)
}

// SignedURL returns a URL a plain HTTP client can use without credentials;
// ErrUnsupported when the driver is no Presigner.
func (p *Portable) SignedURL(ctx context.Context, bucket, key string, opts PresignOptions) (string, error) {
	what := bucket + "/" + key
	if err := CheckKey(bucket, key); err != nil {
		return "", portableErr(err, "sign URL", what)
	}
	ps, ok := Capability[Presigner](p.st)
	if !ok {
		return "", portableErr(fmt.Errorf("%w: presigned URLs", ErrUnsupported), "sign URL", what)
	}
	u, err := ps.PresignURL(ctx, bucket, key, opts)
	return u, portableErr(err, "sign URL", what)
}

// Copy copies srcBucket/srcKey to dstBucket/dstKey: on the server when the
// driver is a Copier, else by streaming the object through a Writer, whose
// checks (part and whole-object checksums) apply.
func (p *Portable) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (Object, error) {
	what := srcBucket + "/" + srcKey + " to " + dstBucket + "/" + dstKey
	if err := errors.Join(CheckKey(srcBucket, srcKey), CheckKey(dstBucket, dstKey)); err != nil {
		return Object{}, portableErr(err, "copy", what)
	}
	if cp, ok := Capability[Copier](p.st); ok {
		o, err := cp.Copy(ctx, dstBucket, dstKey, srcBucket, srcKey)
		return o, portableErr(err, "copy", what)
	}
	return CopyStream(ctx, p, dstBucket, dstKey, p, srcBucket, srcKey)
}

// CopyStream copies an object from src to dst (two drivers, or one that
// cannot copy on the server) through dst's Writer. When both ends report a
// digest of the same algorithm, they must agree (ErrChecksum otherwise,
// and the copy is deleted).
func CopyStream(ctx context.Context, dst *Portable, dstBucket, dstKey string, src *Portable, srcBucket, srcKey string) (Object, error) {
	what := srcBucket + "/" + srcKey + " to " + dstBucket + "/" + dstKey
	info, err := src.Stat(ctx, srcBucket, srcKey)
	if err != nil {
		return Object{}, err
	}
	rc, err := src.NewReader(ctx, srcBucket, srcKey)
	if err != nil {
		return Object{}, err
	}
	defer rc.Close()
	w, err := dst.NewWriter(ctx, dstBucket, dstKey, WriteOptions{ContentType: info.ContentType, Size: info.Size})
	if err != nil {
		return Object{}, err
	}
	w.Track(info.Checksums.Best(nil).Hash)
	if _, err := io.Copy(w, rc); err != nil {
		w.Abort()
		return Object{}, err
	}
	if err := w.Close(); err != nil {
		return Object{}, err
	}
	o := w.Object()
	if want := info.Checksums.Best(nil); !want.IsZero() {
		if got := w.Sum(want.Hash); !got.IsZero() && !got.Equal(want) {
			_ = dst.Delete(context.WithoutCancel(ctx), dstBucket, dstKey)
			return Object{}, portableErr(fmt.Errorf("%w: source %s is %s, the copied bytes %s",
				ErrChecksum, want.Hash, want.Value, got.Value), "copy", what)
		}
	}
	return o, nil
}

// portableErr gives err the operation and object it concerns, and maps the
// fs errors a driver outside this module may return onto the sentinels.
// Errors that already match a sentinel, and context errors, keep it.
func portableErr(err error, op, what string) error {
	if err == nil {
		return nil
	}
	msg := op
	if what != "" {
		msg += " " + what
	}
	for _, m := range []struct{ from, to error }{
		{fs.ErrNotExist, ErrNotFound}, {fs.ErrExist, ErrExists},
		{fs.ErrPermission, ErrPermission}, {fs.ErrInvalid, ErrInvalid},
	} {
		if errors.Is(err, m.from) && !errors.Is(err, m.to) {
			return Wrap(m.to, err, msg)
		}
	}
	var pe *portableError
	if errors.As(err, &pe) {
		return err // already named by an inner call (Copy through Writer)
	}
	return &portableError{msg: msg, err: err}
}

// portableError names the operation in front of a driver's error.
type portableError struct {
	msg string
	err error
}

func (e *portableError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *portableError) Unwrap() error { return e.err }
