// Package provider is the driver contract of amove-go: the cloud types, the
// configuration a driver opens with, the object and bucket types, the required
// Storage interface and the optional capability interfaces, the driver
// registry and the sentinel errors.
//
// The shape follows database/sql/driver and gocloud.dev's blob/driver: a small
// required interface, optional capabilities discovered with a type assertion,
// and a portable layer above the drivers (Portable, Walk,
// ListBucketsWithRegion) that checks input once, with the Check functions, so
// drivers do not.
package provider

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"golang.org/x/oauth2"
)

// Config is everything a driver needs to open a connection to one account.
// Field names follow the CloudAccount fields of the Amove API.
type Config struct {
	// CloudType is the product of the account, one of the 14 of the Amove
	// API, or zero for an account of a third-party driver.
	CloudType CloudType
	// Driver is the registry name of the driver (see Register). Empty
	// means CloudType.DriverName(); a third-party driver's accounts set it
	// to the name the driver registered.
	Driver string
	// AccessKey and SecretKey are the provider's key pair (S3 access key id and
	// secret, Azure account name and key, GCS HMAC keys...).
	AccessKey string
	SecretKey string
	Region    string
	// Endpoint overrides the provider's API endpoint (MinIO, Azurite, an R2
	// account endpoint, a Wasabi region host...).
	Endpoint string
	// ServiceURL is the provider's service URL where it differs from the API
	// endpoint (Azure blob service URL, Fastr server URL).
	ServiceURL string
	// CredentialsData holds structured credentials: a GCS service-account
	// JSON, an OAuth token, an access grant.
	CredentialsData string
	// HTTPClient is used for every request when set; drivers fall back to a
	// client with sane timeouts otherwise.
	HTTPClient *http.Client
	// TokenSource authorizes OAuth providers (Dropbox, Box, OneDrive, Google
	// Drive). The amove client builds it from CredentialsData with the oauth
	// package, so a refreshed token is written back to the store; drivers
	// only wrap their HTTP transport with it (oauth2.Transport) and never
	// refresh or persist tokens themselves.
	TokenSource oauth2.TokenSource
	// Logger receives driver diagnostics. Nil means slog.Default().
	Logger *slog.Logger
}

// LogValue keeps secrets out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("cloudType", c.CloudType.String()),
		slog.String("driver", c.Driver),
		slog.String("accessKey", Mask(c.AccessKey)),
		slog.String("secretKey", Mask(c.SecretKey)),
		slog.String("region", c.Region),
		slog.String("endpoint", c.Endpoint),
		slog.String("serviceUrl", c.ServiceURL),
		slog.String("credentialsData", Mask(c.CredentialsData)),
	)
}

// String masks secrets so a Config printed with %v never leaks them.
func (c Config) String() string { return c.LogValue().String() }

// GoString masks secrets for %#v as well.
func (c Config) GoString() string { return "provider.Config" + c.String() }

// Mask hides a secret, keeping at most its last four characters (none when
// the secret is shorter than 12, so short secrets are not half revealed).
func Mask(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) < 12:
		return "****"
	default:
		return "****" + s[len(s)-4:]
	}
}

// Bucket is a top-level container: an S3 bucket, an Azure container, a GCS
// bucket, a drive root.
type Bucket struct {
	Name    string
	ID      string // provider id where it differs from Name
	Region  string // filled when the driver knows it or on request
	Created time.Time
}

// Checksums holds the whole-object digests a provider computed, as
// lowercase hex (see the Hash constants for each algorithm's form). Empty
// fields are unknown. Drivers fill only what the provider itself computed
// or verified, never a digest of their own of bytes the provider did not
// check.
type Checksums struct {
	MD5      string
	SHA1     string
	SHA256   string
	CRC32    string
	CRC32C   string
	CRC64    string
	Dropbox  string
	QuickXor string
	// MD5Parts is S3's multipart ETag without its "-N" (HashMD5Parts),
	// which only ranges cut along the object's parts can be checked with.
	MD5Parts string
}

// IsZero reports whether no checksum is known.
func (c Checksums) IsZero() bool { return c == Checksums{} }

// Object is a file, or a folder when IsFolder is set. Folder keys end in "/".
type Object struct {
	Key         string
	ID          string // provider id (Drive file id, Box id...); empty when the key is the id
	Size        int64
	ModTime     time.Time
	ETag        string
	ContentType string
	Checksums   Checksums
	IsFolder    bool
	// Metadata is the user metadata stored with the object
	// (WriteOptions.Metadata), as Stat returns it; nil when there is none,
	// from drivers that refuse metadata, and from listings that do not
	// carry it.
	Metadata map[string]string
	// Verified is set on the Object that a write returns (Write,
	// CompleteMultipart, Copy) when the driver compared the bytes it was
	// given with a digest the provider computed over the stored object: the
	// algorithm of that digest, which Checksums also holds. A mismatch is an
	// error matching ErrChecksum instead. Empty when the driver compared
	// nothing; the caller may still compare Checksums itself.
	Verified Hash
}

// ListOptions selects one page of a listing.
type ListOptions struct {
	Prefix string
	// Delimiter groups keys into folders (usually "/"); empty lists flat.
	Delimiter string
	// Token continues a previous listing; empty starts at the beginning.
	Token string
	// MaxKeys bounds the page size; zero means the driver's default (1,000
	// for S3). Drivers may return fewer.
	MaxKeys int
	// FolderID is the provider's id (Object.ID) of the folder Prefix names,
	// for providers that address folders by id (Box, Google Drive,
	// OneDrive, Frame.io, Dropbox): that folder is listed, its entries
	// keyed under Prefix, without resolving Prefix folder by folder. It
	// applies to a "/"-delimited listing; other drivers ignore it.
	FolderID string
}

// Page is one page of a listing: folders (IsFolder set) and objects merged in
// key order. NextToken is empty on the last page.
type Page struct {
	Objects   []Object
	NextToken string
}

// WriteOptions tune a write.
type WriteOptions struct {
	ContentType string
	// Metadata is user metadata (name/value pairs) to store with the
	// object. A driver either stores it, and Stat returns it in
	// Object.Metadata, or refuses a non-empty Metadata with ErrUnsupported
	// before writing anything: it never drops it silently. Portable names
	// are lower-case ASCII letters and digits, starting with a letter:
	// Azure takes only C# identifiers (no "-"), and S3 and Azure fold or
	// keep case differently.
	Metadata map[string]string
	// PartSize and Concurrency tune multipart writes; zero picks defaults.
	PartSize    int64
	Concurrency int
	// Size is the whole object's size when known, for CreateMultipart on
	// providers whose upload sessions must be told it up front (OneDrive,
	// Box); zero means unknown. Write takes the size as its own argument.
	Size int64
}

// NoMetadata is what a driver that cannot store user metadata calls first
// in Write and CreateMultipart: a non-empty opts.Metadata is ErrUnsupported
// (naming the driver), so metadata is refused before anything is written
// instead of being dropped.
func NoMetadata(driver string, opts WriteOptions) error {
	if len(opts.Metadata) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s cannot store user metadata", ErrUnsupported, driver)
}

// Storage is what every driver implements. Methods must honour ctx
// cancellation and return errors that match the package sentinels.
// Callers check buckets, keys, ranges and sizes with the Check functions
// first (Portable and the transfer engine do), so a driver, and the
// optional interfaces it implements, may assume valid input; only
// BucketManager checks its bucket names itself.
type Storage interface {
	// ListBuckets returns every bucket the credentials can see.
	ListBuckets(ctx context.Context) ([]Bucket, error)
	// ListObjects returns one page. A missing bucket is ErrNotFound.
	ListObjects(ctx context.Context, bucket string, opts ListOptions) (Page, error)
	// Stat returns the object's attributes; ErrNotFound when it is missing.
	Stat(ctx context.Context, bucket, key string) (Object, error)
	// NewRangeReader reads length bytes from offset; length < 0 reads to the
	// end. The caller closes the reader.
	NewRangeReader(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error)
	// Write stores r under key. size is the exact length, or -1 when unknown.
	// When ctx is cancelled or r fails, no complete object is left behind.
	// A driver cannot interrupt a Read that blocks forever; readers from the
	// network should honour ctx themselves.
	Write(ctx context.Context, bucket, key string, r io.Reader, size int64, opts WriteOptions) (Object, error)
	// Delete removes the object. Deleting a missing key is not an error
	// (S3 semantics); a missing bucket is ErrNotFound.
	Delete(ctx context.Context, bucket, key string) error
	// CreateFolder makes an empty folder marker; key ends in "/".
	CreateFolder(ctx context.Context, bucket, key string) error
	// Close releases the driver's resources.
	Close() error
}

// Upload identifies a multipart upload in progress.
type Upload struct {
	Bucket string
	Key    string
	ID     string
}

// Part is one uploaded part of a multipart upload.
type Part struct {
	Number int // 1-based
	Size   int64
	ETag   string
	// Checksum is the digest of the part's bytes that the provider computed
	// or checked on receipt (S3 CRC32C or MD5, Azure block MD5, Box SHA-1,
	// Fastr SHA-256...); zero when the provider checked nothing. The caller
	// compares it with its own digest of the bytes it sent.
	Checksum Checksum
}

// SortedParts returns a copy of parts ordered by part number.
// CompleteMultipart takes its parts in any order (the numbers give the
// order), so drivers sort them once before checking or sending them.
func SortedParts(parts []Part) []Part {
	out := slices.Clone(parts)
	slices.SortStableFunc(out, func(a, b Part) int { return cmp.Compare(a.Number, b.Number) })
	return out
}

// PartLimits describe how a provider wants large objects split.
type PartLimits struct {
	MinPartSize int64 // every part but the last is at least this big
	MaxPartSize int64
	MaxParts    int
	// PartMultiple, when set, requires every part but the last to be a
	// multiple of it (GCS: 256 KiB).
	PartMultiple int64
	// EqualParts requires every part but the last to have the same size and
	// the last to be no larger (Cloudflare R2).
	EqualParts bool
	// MaxSinglePut is the largest object a single request may write.
	MaxSinglePut int64
}

// MultipartUploader is implemented by drivers that can write an object in
// independently uploaded parts, so the transfer engine can run parts
// concurrently and resume a half-written object.
type MultipartUploader interface {
	// PartLimits reports how the provider wants the object split; callers
	// size parts with PartLimits.PartSize.
	PartLimits() PartLimits
	// CreateMultipart starts an upload of bucket/key. Nothing is visible
	// at key until CompleteMultipart.
	CreateMultipart(ctx context.Context, bucket, key string, opts WriteOptions) (Upload, error)
	// UploadPart sends size bytes from r as part number n. r is seekable so
	// the driver can checksum and retry it.
	UploadPart(ctx context.Context, u Upload, n int, r io.ReadSeeker, size int64) (Part, error)
	// CompleteMultipart assembles the parts, in ascending number order.
	CompleteMultipart(ctx context.Context, u Upload, parts []Part) (Object, error)
	// AbortMultipart discards the upload and its parts.
	AbortMultipart(ctx context.Context, u Upload) error
	// ListParts reports the parts the provider holds for u.
	ListParts(ctx context.Context, u Upload) ([]Part, error)
	// ListUploads reports unfinished uploads under prefix. Portable callers
	// pass a whole key: some servers (MinIO) match only exact object names.
	ListUploads(ctx context.Context, bucket, prefix string) ([]Upload, error)
}

// PresignOptions tune a presigned URL.
type PresignOptions struct {
	// Method is http.MethodGet or http.MethodPut.
	Method string
	// Expiry is how long the URL stays valid; zero means 1 hour.
	Expiry time.Duration
	// ContentType is what a PUT must send, or what a GET answers with.
	ContentType string
	// ForceDownload makes a GET answer with Content-Disposition: attachment.
	ForceDownload bool
	// FileName names the download when ForceDownload is set; defaults to the
	// key's last element.
	FileName string
	// ObjectID is the provider's id (Object.ID) of the object to download,
	// for providers that address files by id: that file is signed, whatever
	// the key. Drivers without ids ignore it.
	ObjectID string
}

// IDDeleter is implemented by drivers whose provider addresses files and
// folders by id: the id reaches the very object a listing showed, even
// where a name is ambiguous (Google Drive lets two files share one).
type IDDeleter interface {
	// DeleteID removes the file with provider id id, or the empty folder
	// when key ends in "/"; key names the object in errors. A missing id
	// is not an error, as for Delete.
	DeleteID(ctx context.Context, bucket, key, id string) error
}

// Presigner is implemented by drivers that can hand out URLs a plain HTTP
// client can use without credentials.
type Presigner interface {
	// PresignURL returns a URL that lets a plain HTTP client GET or PUT
	// bucket/key without credentials until opts.Expiry.
	PresignURL(ctx context.Context, bucket, key string, opts PresignOptions) (string, error)
}

// BucketManager is implemented by drivers that can create and delete buckets.
type BucketManager interface {
	// CreateBucket makes a bucket; region may be empty for the default.
	// An existing bucket is ErrExists.
	CreateBucket(ctx context.Context, name, region string) error
	// DeleteBucket removes an empty bucket.
	DeleteBucket(ctx context.Context, name string) error
}

// Copier is implemented by drivers that copy objects inside the provider
// without moving bytes through the client.
type Copier interface {
	// Copy writes srcBucket/srcKey to dstBucket/dstKey inside the provider
	// and returns the new object; a missing source is ErrNotFound.
	Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (Object, error)
}

// Regioner is implemented by drivers whose buckets live in regions.
type Regioner interface {
	// BucketRegion returns the region bucket lives in, so requests can be
	// sent to it directly.
	BucketRegion(ctx context.Context, bucket string) (string, error)
}

// Hasher is implemented by drivers that report checksums in Object.Checksums.
// Hashes lists the algorithms that Stat fills for objects written in a single
// request; multipart objects may carry fewer (an S3 multipart ETag is not an
// MD5). A writer that hashes parts with a Combinable algorithm of this list
// can check the whole object a multipart upload returns.
type Hasher interface {
	// Hashes lists the algorithms Stat reports for single-request objects.
	Hashes() []Hash
}

// PartSize picks the part size for an object of size bytes (-1: unknown):
// the requested size (defaultSize when zero), raised to the provider's
// minimum and to what keeps the object within MaxParts, rounded up to a
// whole MiB and to PartMultiple, capped at MaxPartSize. Parts of one upload
// all get this size except the last, which satisfies EqualParts too.
func (lim PartLimits) PartSize(requested, defaultSize, size int64) int64 {
	ps := requested
	if ps <= 0 {
		ps = defaultSize
	}
	ps = max(ps, lim.MinPartSize, 1)
	if size > 0 && lim.MaxParts > 0 {
		need := (size + int64(lim.MaxParts) - 1) / int64(lim.MaxParts)
		ps = max(ps, need)
	}
	const mib = 1 << 20
	ps = (ps + mib - 1) / mib * mib
	if lim.PartMultiple > 0 && ps%lim.PartMultiple != 0 {
		ps += lim.PartMultiple - ps%lim.PartMultiple
	}
	if lim.MaxPartSize > 0 {
		ps = min(ps, lim.MaxPartSize)
	}
	return ps
}

// PartLayouter is implemented by drivers that can tell how a multipart
// object was split. A reader that fetches the object in the same ranges can
// then check the provider's composite checksum (S3's MD5-of-MD5s ETag)
// instead of trusting the bytes unchecked.
type PartLayouter interface {
	// PartLayout returns the size of every part but the last and the number
	// of parts; a single-part object reports (size, 1).
	PartLayout(ctx context.Context, bucket, key string) (partSize int64, parts int, err error)
}
