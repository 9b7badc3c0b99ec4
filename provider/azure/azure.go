// Package azure is the Azure Blob Storage driver. Containers are buckets and
// block blobs are objects. It implements provider.Storage and the optional
// MultipartUploader (block staging), Presigner (service SAS), BucketManager,
// Copier and Hasher (MD5) interfaces on top of the azblob SDK.
//
// Import it for its side effect of registering provider.Azure:
//
//	import _ "github.com/amove/amove-go/provider/azure"
//
// Where Azure differs from the contract's S3-shaped model:
//
//   - A multipart upload is a random token encoded in the block ids it
//     stages; Azure stores nothing else. ListUploads finds blobs that have
//     only uncommitted blocks (blocks staged over an existing committed blob
//     are invisible to it), and the WriteOptions of an upload are kept in
//     this process only, so an upload completed by another process gets the
//     default content type and no metadata.
//   - Azure cannot drop uncommitted blocks. AbortMultipart, and a failed
//     Write, discard them by committing and deleting an empty blob, but only
//     when no blob exists under the key and no other upload has blocks there;
//     otherwise the blocks expire after seven days. With blob versioning or
//     soft delete on, that empty blob leaves a version behind.
//   - CompleteMultipart, like any Put Block List, discards the uncommitted
//     blocks of other uploads to the same key.
//   - MinPartSize is the driver's 1 MiB, not a service rule; see minPartSize.
//   - A presigned PUT URL needs the request header "x-ms-blob-type: BlockBlob".
//   - DeleteBucket refuses a container that still lists objects.
package azure

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"github.com/amove/amove-go/provider"
)

// readRetries is how often a download resumes after a broken connection.
const readRetries = 3

func init() {
	provider.Register(provider.Azure.DriverName(), provider.OpenerOf(Open))
}

// Storage is an Azure Blob Storage account. It is safe for concurrent use.
type Storage struct {
	svc  *service.Client
	cred *service.SharedKeyCredential
	log  *slog.Logger
	meta *uploadMeta
}

var (
	_ provider.Storage           = (*Storage)(nil)
	_ provider.MultipartUploader = (*Storage)(nil)
	_ provider.Presigner         = (*Storage)(nil)
	_ provider.BucketManager     = (*Storage)(nil)
	_ provider.Copier            = (*Storage)(nil)
	_ provider.Hasher            = (*Storage)(nil)
)

// Open connects to the account cfg.AccessKey with the shared key
// cfg.SecretKey. cfg.ServiceURL, or else cfg.Endpoint, overrides the blob
// service URL (Azurite: http://127.0.0.1:10000/devstoreaccount1). No request
// is made: a bad key shows up as ErrUnauthenticated on first use.
func Open(_ context.Context, cfg provider.Config) (*Storage, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, fmt.Errorf("%w: azure needs the account name (AccessKey) and account key (SecretKey)", provider.ErrInvalid)
	}
	// NewSharedKeyCredential also decodes the key, but its error would
	// quote nothing useful; check here to return ErrInvalid.
	if _, err := base64.StdEncoding.DecodeString(cfg.SecretKey); err != nil {
		return nil, fmt.Errorf("%w: azure account key is not base64", provider.ErrInvalid)
	}
	cred, err := service.NewSharedKeyCredential(cfg.AccessKey, cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("%w: azure shared key: %v", provider.ErrInvalid, err)
	}
	serviceURL, err := serviceURL(cfg)
	if err != nil {
		return nil, err
	}
	var opts service.ClientOptions
	opts.PerCallPolicies = []policy.Policy{retryGate{}}
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}
	svc, err := service.NewClientWithSharedKeyCredential(serviceURL, cred, &opts)
	if err != nil {
		return nil, fmt.Errorf("%w: azure client: %v", provider.ErrInvalid, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Storage{svc: svc, cred: cred, log: log, meta: newUploadMeta()}, nil
}

func serviceURL(cfg provider.Config) (string, error) {
	raw := cfg.ServiceURL
	if raw == "" {
		raw = cfg.Endpoint
	}
	if raw == "" {
		return "https://" + url.PathEscape(cfg.AccessKey) + ".blob.core.windows.net/", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: azure service URL %q must be an http(s) URL", provider.ErrInvalid, raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}

// Close has nothing to release: the HTTP transport belongs to the caller or
// to the SDK's shared default.
func (s *Storage) Close() error { return nil }

// Hashes is MD5 only: Put Blob stores the MD5 we send (and the service
// checks), and Write sets the MD5 it computed while staging blocks on
// commit. Objects assembled by CompleteMultipart have none, since their
// parts are hashed separately and MD5s do not combine. Azure keeps no CRC64
// of a block blob: Azurite 3.35 answers HEAD and GET of a committed block
// blob without x-ms-content-crc64, and ignores a transactional CRC64.
// Reads need no stored digest: NewRangeReader checks every span it returns
// against the MD5 the service computes for that range.
func (s *Storage) Hashes() []provider.Hash { return []provider.Hash{provider.HashMD5} }

func (s *Storage) container(name string) *container.Client {
	return s.svc.NewContainerClient(name)
}

func (s *Storage) blockBlob(bucket, key string) *blockblob.Client {
	return s.svc.NewContainerClient(bucket).NewBlockBlobClient(key)
}

// CreateBucket creates a private container. The region is ignored: an Azure
// account lives in one region.
func (s *Storage) CreateBucket(ctx context.Context, name, _ string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	_, err := s.container(name).Create(ctx, nil)
	return mapErr(err, name)
}

// DeleteBucket removes an empty container. Azure would delete a full one
// with everything in it, so the driver refuses unless a listing is empty.
func (s *Storage) DeleteBucket(ctx context.Context, name string) error {
	// BucketManager is outside the portable layer: no caller checked name.
	if err := provider.CheckBucket(name); err != nil {
		return err
	}
	page, err := s.ListObjects(ctx, name, provider.ListOptions{MaxKeys: 1})
	if err != nil {
		return err
	}
	if len(page.Objects) > 0 {
		return fmt.Errorf("%w: container %q is not empty", provider.ErrInvalid, name)
	}
	_, err = s.container(name).Delete(ctx, nil)
	return mapErr(err, name)
}

// ListBuckets lists every container. Azure keeps no creation time for a
// container, so Created is its last-modified time.
func (s *Storage) ListBuckets(ctx context.Context) ([]provider.Bucket, error) {
	var out []provider.Bucket
	pager := s.svc.NewListContainersPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, mapErr(err, "")
		}
		for _, c := range page.ContainerItems {
			if c == nil || c.Name == nil {
				continue
			}
			b := provider.Bucket{Name: *c.Name}
			if c.Properties != nil && c.Properties.LastModified != nil {
				b.Created = c.Properties.LastModified.UTC()
			}
			out = append(out, b)
		}
	}
	return out, nil
}

// Stat returns the blob's properties. A blob that has only uncommitted
// blocks does not exist yet and is ErrNotFound.
func (s *Storage) Stat(ctx context.Context, bucket, key string) (provider.Object, error) {
	p, err := s.blockBlob(bucket, key).GetProperties(ctx, nil)
	if err != nil {
		return provider.Object{}, mapErr(err, bucket+"/"+key)
	}
	o := provider.Object{Key: key, IsFolder: strings.HasSuffix(key, "/")}
	if p.ContentLength != nil {
		o.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		o.ModTime = p.LastModified.UTC()
	}
	if p.ETag != nil {
		o.ETag = string(*p.ETag)
	}
	if p.ContentType != nil {
		o.ContentType = *p.ContentType
	}
	o.Checksums.MD5 = hexMD5(p.ContentMD5)
	// Azure metadata names are case-insensitive and arrive in the HTTP
	// header's canonical case ("Color"); WriteOptions names are lower case.
	for k, v := range p.Metadata {
		if v == nil {
			continue
		}
		if o.Metadata == nil {
			o.Metadata = map[string]string{}
		}
		o.Metadata[strings.ToLower(k)] = *v
	}
	return o, nil
}

// Delete removes the blob and its snapshots. A missing blob is not an error;
// a missing container is ErrNotFound.
func (s *Storage) Delete(ctx context.Context, bucket, key string) error {
	_, err := s.blockBlob(bucket, key).Delete(ctx, &blob.DeleteOptions{
		DeleteSnapshots: to(blob.DeleteSnapshotsOptionTypeInclude),
	})
	if err != nil && isBlobNotFound(err) {
		return nil
	}
	return mapErr(err, bucket+"/"+key)
}

// CreateFolder writes an empty blob whose name ends in "/", the convention
// the Azure portal and other tools use for folders in a flat namespace.
func (s *Storage) CreateFolder(ctx context.Context, bucket, key string) error {
	_, err := s.putSingle(ctx, bucket, key, nil, provider.WriteOptions{ContentType: "application/x-directory"})
	return err
}

func to[T any](v T) *T { return &v }
