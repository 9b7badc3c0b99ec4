package amove

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

// Storage operations on a cloud account. The caller must see the account
// (see GetAccount); sharing an account shares its use. Driver errors map onto
// the error model (NOT_FOUND, ACCESS, DUPLICATE, DEFAULT) while errors.Is
// still matches the provider sentinels.

// withStorage opens the driver of a visible account for one operation that
// takes no bucket or key from the caller (the bucket listings); every other
// operation goes through withPortable, which checks its input.
func (c *Client) withStorage(ctx context.Context, p Principal, id string, fn func(provider.Storage) error) error {
	a, err := c.account(ctx, p, id)
	if err != nil {
		return err
	}
	st, clean, err := c.openStored(ctx, a)
	if err != nil {
		return err
	}
	defer st.Close()
	return clean(fn(st))
}

// openStored opens the driver of a stored account. clean masks the
// account's secrets in any error the driver returns.
func (c *Client) openStored(ctx context.Context, a store.Account) (provider.Storage, func(error) error, error) {
	ak, sk, cd, err := c.secrets(a)
	if err != nil {
		return nil, nil, err
	}
	cfg := provider.Config{CloudType: a.CloudType, Driver: a.Driver, AccessKey: ak, SecretKey: sk, Region: a.Region,
		Endpoint: a.Endpoint, ServiceURL: a.ServiceURL, CredentialsData: cd, Logger: c.log, HTTPClient: c.httpClient}
	if err := c.withTokenSource(ctx, &cfg, a, c.saveCredentials(a)); err != nil {
		return nil, nil, err
	}
	st, err := c.open(ctx, cfg)
	if err != nil {
		return nil, nil, providerErr(redact(err, ak, sk, cd), "open "+driverLabel(a.CloudType, a.Driver)+" account")
	}
	return st, func(err error) error { return redact(err, ak, sk, cd) }, nil
}

// ListBuckets lists the buckets of an account.
func (c *Client) ListBuckets(ctx context.Context, p Principal, accountID string) ([]provider.Bucket, error) {
	var out []provider.Bucket
	err := c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		var err error
		out, err = st.ListBuckets(ctx)
		return providerErr(err, "list buckets")
	})
	return out, err
}

// ListObjects returns one page of a bucket listing.
func (c *Client) ListObjects(ctx context.Context, p Principal, accountID, bucket string, opts provider.ListOptions) (provider.Page, error) {
	var out provider.Page
	err := c.withPortable(ctx, p, accountID, func(pt *provider.Portable) error {
		var err error
		out, err = pt.ListObjects(ctx, bucket, opts)
		return providerErr(err, "list objects in "+bucket)
	})
	return out, err
}

// PresignURL is SignedURL under the Amove API's name.
//
// Deprecated: use SignedURL.
func (c *Client) PresignURL(ctx context.Context, p Principal, accountID, bucket, key string, opts provider.PresignOptions) (string, error) {
	return c.SignedURL(ctx, p, accountID, bucket, key, opts)
}

// DeleteObject is Delete under the Amove API's name.
//
// Deprecated: use Delete.
func (c *Client) DeleteObject(ctx context.Context, p Principal, accountID, bucket, key string) error {
	return c.Delete(ctx, p, accountID, bucket, key)
}

// CreateFolder makes an empty folder; a missing trailing "/" is added.
func (c *Client) CreateFolder(ctx context.Context, p Principal, accountID, bucket, key string) error {
	if key == "" {
		return invalid("folder name is empty")
	}
	if key[len(key)-1] != '/' {
		key += "/"
	}
	return c.withPortable(ctx, p, accountID, func(pt *provider.Portable) error {
		return providerErr(pt.CreateFolder(ctx, bucket, key), "create folder "+bucket+"/"+key)
	})
}

// ListBucketsWithRegion lists the buckets of an account with each bucket's
// region (one lookup per bucket on providers that need it).
func (c *Client) ListBucketsWithRegion(ctx context.Context, p Principal, accountID string) ([]provider.Bucket, error) {
	var out []provider.Bucket
	err := c.withStorage(ctx, p, accountID, func(st provider.Storage) error {
		var err error
		out, err = provider.ListBucketsWithRegion(ctx, st)
		return providerErr(err, "list buckets")
	})
	return out, err
}

// ProbeBuckets lists the buckets reachable with credentials that are not
// stored: the agent's list_buckets accepts a full CloudAccount without a
// token, to try credentials before inserting them. Nothing is stored.
func (c *Client) ProbeBuckets(ctx context.Context, n NewAccount, withRegion bool) ([]provider.Bucket, error) {
	if n.Name == "" {
		n.Name = "probe"
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	cfg := c.driverConfig(n)
	st, err := c.open(ctx, cfg)
	if err != nil {
		return nil, providerErr(redact(err, n.AccessKey, n.SecretKey, n.CredentialsData), "open "+driverLabel(n.CloudType, n.Driver)+" account")
	}
	defer st.Close()
	var out []provider.Bucket
	if withRegion {
		out, err = provider.ListBucketsWithRegion(ctx, st)
	} else {
		out, err = st.ListBuckets(ctx)
	}
	return out, redact(providerErr(err, "list buckets"), n.AccessKey, n.SecretKey, n.CredentialsData)
}

// The portable storage API: the Client's counterpart of gocloud's
// blob.Bucket, on any account the Principal may see. Each call opens the
// account's driver through the vault (the credentials are unsealed only
// inside the Client) behind a provider.Portable, which checks the input
// once and maps errors; an account the caller may not see, another
// tenant's or an unshared one, is ErrNotFound, exactly like a missing one.

// ObjectRef names an object on a cloud account.
type ObjectRef struct {
	CloudAccountID string
	Bucket         string
	Key            string
}

// portable opens the driver of a visible account behind the portable
// layer. clean masks the account's secrets in any error.
func (c *Client) portable(ctx context.Context, p Principal, accountID string) (*provider.Portable, func(error) error, error) {
	a, err := c.account(ctx, p, accountID)
	if err != nil {
		return nil, nil, err
	}
	st, clean, err := c.openStored(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	return provider.NewPortable(st), clean, nil
}

// withPortable runs fn on the portable layer of a visible account and
// closes the driver.
func (c *Client) withPortable(ctx context.Context, p Principal, accountID string, fn func(*provider.Portable) error) error {
	pt, clean, err := c.portable(ctx, p, accountID)
	if err != nil {
		return err
	}
	defer pt.Close()
	return clean(fn(pt))
}

// Features reports what the account's driver supports, so a caller can
// plan (server-side copy, signed URLs, checksums) before it asks.
func (c *Client) Features(ctx context.Context, p Principal, accountID string) (provider.Features, error) {
	var out provider.Features
	err := c.withPortable(ctx, p, accountID, func(pt *provider.Portable) error {
		out = pt.Features()
		return nil
	})
	return out, err
}

// Stat returns an object's attributes, checksums included where the
// provider reports them.
func (c *Client) Stat(ctx context.Context, p Principal, accountID, bucket, key string) (provider.Object, error) {
	var out provider.Object
	err := c.withPortable(ctx, p, accountID, func(pt *provider.Portable) error {
		var err error
		out, err = pt.Stat(ctx, bucket, key)
		return providerErr(err, "stat "+bucket+"/"+key)
	})
	return out, err
}

// NewReader reads a whole object. Closing the reader closes the driver.
func (c *Client) NewReader(ctx context.Context, p Principal, accountID, bucket, key string) (io.ReadCloser, error) {
	return c.NewRangeReader(ctx, p, accountID, bucket, key, 0, -1)
}

// NewRangeReader reads length bytes of an object from offset (length < 0:
// to the end). Closing the reader closes the driver.
func (c *Client) NewRangeReader(ctx context.Context, p Principal, accountID, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	pt, clean, err := c.portable(ctx, p, accountID)
	if err != nil {
		return nil, err
	}
	op := "read " + bucket + "/" + key
	rc, err := pt.NewRangeReader(ctx, bucket, key, offset, length)
	if err != nil {
		pt.Close()
		return nil, clean(providerErr(err, op))
	}
	return &objectReader{rc: rc, pt: pt, clean: clean, op: op}, nil
}

// objectReader is a driver's reader that closes the driver with it.
type objectReader struct {
	rc    io.ReadCloser
	pt    *provider.Portable
	clean func(error) error
	op    string
}

func (r *objectReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if err != nil && err != io.EOF {
		err = r.clean(providerErr(err, r.op))
	}
	return n, err
}

// Close closes the reader and the driver.
func (r *objectReader) Close() error {
	return r.clean(providerErr(errors.Join(r.rc.Close(), r.pt.Close()), r.op))
}

// Writer streams an object into a cloud account (Client.NewWriter): Close
// completes it, Abort or a cancelled context discards it; either closes the
// driver. See provider.Writer for how it splits and checks the object.
type Writer struct {
	w     *provider.Writer
	pt    *provider.Portable
	clean func(error) error
	op    string
	once  sync.Once
}

// NewWriter starts writing an object whose size may be unknown (opts.Size
// zero): on a driver with multipart uploads at most one part is held in
// memory. Part and whole-object checksums the provider reports are
// compared with the bytes written. The caller must Close or Abort it.
func (c *Client) NewWriter(ctx context.Context, p Principal, accountID, bucket, key string, opts provider.WriteOptions) (*Writer, error) {
	pt, clean, err := c.portable(ctx, p, accountID)
	if err != nil {
		return nil, err
	}
	op := "write " + bucket + "/" + key
	w, err := pt.NewWriter(ctx, bucket, key, opts)
	if err != nil {
		pt.Close()
		return nil, clean(providerErr(err, op))
	}
	return &Writer{w: w, pt: pt, clean: clean, op: op}, nil
}

// Write sends or buffers b; an error is final and discards the upload.
func (w *Writer) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	if err != nil {
		w.release()
		return n, w.clean(providerErr(err, w.op))
	}
	return n, nil
}

// Close completes the object and closes the driver. A nil error means the
// object is stored, with every checksum the provider reported matching.
func (w *Writer) Close() error {
	err := w.w.Close()
	w.release()
	return w.clean(providerErr(err, w.op))
}

// Abort discards the upload and closes the driver; nothing is written.
func (w *Writer) Abort() {
	w.w.Abort()
	w.release()
}

// Object is the stored object after a successful Close.
func (w *Writer) Object() provider.Object { return w.w.Object() }

func (w *Writer) release() { w.once.Do(func() { w.pt.Close() }) }

// CopyObject copies src to dst and returns when the copy is stored (Copy
// starts a background transfer instead). Within one account the copy stays on the server
// when the driver can copy (provider.Copier); otherwise, and between two
// accounts (of any providers), the bytes stream through the Client and
// are checked against the checksums both ends report. The caller must see
// both accounts.
func (c *Client) CopyObject(ctx context.Context, p Principal, dst, src ObjectRef) (provider.Object, error) {
	op := "copy " + src.Bucket + "/" + src.Key + " to " + dst.Bucket + "/" + dst.Key
	da, err := c.account(ctx, p, dst.CloudAccountID)
	if err != nil {
		return provider.Object{}, err
	}
	sa, err := c.account(ctx, p, src.CloudAccountID)
	if err != nil {
		return provider.Object{}, err
	}
	dst.CloudAccountID, src.CloudAccountID = da.ID, sa.ID
	var out provider.Object
	if da.ID == sa.ID {
		err = c.withPortable(ctx, p, da.ID, func(pt *provider.Portable) error {
			var err error
			out, err = pt.Copy(ctx, dst.Bucket, dst.Key, src.Bucket, src.Key)
			return providerErr(err, op)
		})
		return out, err
	}
	err = c.withPortable(ctx, p, sa.ID, func(from *provider.Portable) error {
		return c.withPortable(ctx, p, da.ID, func(to *provider.Portable) error {
			var err error
			out, err = provider.CopyStream(ctx, to, dst.Bucket, dst.Key, from, src.Bucket, src.Key)
			return providerErr(err, op)
		})
	})
	return out, err
}

// Delete deletes an object; a missing key is not an error.
func (c *Client) Delete(ctx context.Context, p Principal, accountID, bucket, key string) error {
	return c.withPortable(ctx, p, accountID, func(pt *provider.Portable) error {
		return providerErr(pt.Delete(ctx, bucket, key), "delete "+bucket+"/"+key)
	})
}

// DeleteID deletes the object with the provider id id (provider.Object.ID,
// as a listing shows it) where the account's provider addresses objects by
// id (Box, Google Drive, OneDrive, Frame.io), so an ambiguous name cannot
// pick another object; elsewhere, or without an id, it is Delete of key.
func (c *Client) DeleteID(ctx context.Context, p Principal, accountID, bucket, key, id string) error {
	return c.withPortable(ctx, p, accountID, func(pt *provider.Portable) error {
		return providerErr(pt.DeleteID(ctx, bucket, key, id), "delete "+bucket+"/"+key)
	})
}

// Walk iterates over every object of a bucket matching opts, one page at
// a time, so memory stays bounded however long the listing is. The driver
// is opened when the iteration starts and closed when it ends; the first
// error (an account the caller may not see included) ends it.
func (c *Client) Walk(ctx context.Context, p Principal, accountID, bucket string, opts provider.ListOptions) iter.Seq2[provider.Object, error] {
	return func(yield func(provider.Object, error) bool) {
		pt, clean, err := c.portable(ctx, p, accountID)
		if err != nil {
			yield(provider.Object{}, err)
			return
		}
		defer pt.Close()
		for o, err := range pt.Walk(ctx, bucket, opts) {
			if err != nil {
				yield(provider.Object{}, clean(providerErr(err, "list objects in "+bucket)))
				return
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}

// SignedURL returns a URL a plain HTTP client can use without credentials
// (a presigned URL); ErrUnsupported, with the driver's reason, when the
// account cannot sign.
func (c *Client) SignedURL(ctx context.Context, p Principal, accountID, bucket, key string, opts provider.PresignOptions) (string, error) {
	var out string
	err := c.withPortable(ctx, p, accountID, func(pt *provider.Portable) error {
		var err error
		out, err = pt.SignedURL(ctx, bucket, key, opts)
		return providerErr(err, "presign "+bucket+"/"+key)
	})
	return out, err
}
