// Package managed is the contract between the Client and a backend that
// provisions Amove-managed storage: a tenant's storage (credentials scoped to
// its own buckets) on a server the agent operator runs or resells (MinIO,
// Storj, IDrive e2).
//
// A backend only provisions. The storage it creates is stored by the Client
// as an ordinary cloud account of the tenant (InternalStorage true,
// StorageTier set, credentials sealed) and opened through its driver like
// any other account, so every storage and transfer route works on it.
//
// Backends live in the sub-packages; the agent configuration chooses one per
// family: the Storj family behind /cloud/add_storage and the IDrive family
// behind the idrive_* routes.
package managed

import (
	"context"
	"errors"
	"time"

	"github.com/amove/amove-go/provider"
)

// ErrNotConfigured is returned by the Client when no backend is configured
// for a family.
var ErrNotConfigured = errors.New("managed storage is not configured on this agent")

// ErrExists is returned by Provision when the tenant already has storage in
// the same region and tier.
var ErrExists = errors.New("managed storage already exists")

// Region is a place a backend can provision storage in.
type Region struct {
	Name string // "Oregon"
	Code string // "OR"
}

// Request asks a backend for a tenant's storage.
type Request struct {
	// Tenant identifies the tenant (the Amove account id); a backend names
	// its users and policies after it, so the same tenant asking twice in
	// one region and tier gets ErrExists.
	Tenant string
	// Region is a Region.Code; empty means the backend's default.
	Region string
	// Tier is the amove.StorageTier value (1 Perform, 2 Global, 4 Scale,
	// 8 Archive); 0 means the backend's default.
	Tier int
	// Bucket, when set, is created in the new storage.
	Bucket string
	// Password is the tenant user's console password where the backend has
	// one (IDrive's defaultPassword); empty means the backend generates one.
	Password string
}

// Storage is one tenant's provisioned storage: what the Client stores as a
// cloud account and hands back to the backend to manage it later.
type Storage struct {
	// ID is the backend's own name for this storage (user, access grant
	// or reseller user id); opaque to the Client.
	ID string
	// CloudType and the fields after it become the account's driver
	// configuration: S3Generic for MinIO and IDrive e2.
	CloudType  provider.CloudType
	Driver     string // a registered driver name when CloudType has no driver of its own
	Region     string
	ServiceURL string
	AccessKey  string
	SecretKey  string
	// CredentialsData becomes the account's CredentialsData: the Storj
	// family's access grant (Driver "storj"), which has no key pair.
	CredentialsData string
	// Password is the console password (IDrive), for the welcome mail only;
	// never stored.
	Password string
	// Bucket is the bucket created with the storage, if any.
	Bucket string
	Tier   int
}

// BucketInfo describes one bucket of a tenant's storage.
type BucketInfo struct {
	Name    string
	Region  string
	Created time.Time
	Bytes   int64
	Objects int64
}

// Usage is what a storage holds now.
type Usage struct {
	Bytes   int64
	Objects int64
	Buckets []BucketInfo
	// Quota is the storage's limit in bytes; 0 means none.
	Quota int64
}

// Provisioner is a backend for managed storage. Every method is safe for
// concurrent use and honours ctx.
type Provisioner interface {
	// Regions lists where Provision can create storage.
	Regions(ctx context.Context) ([]Region, error)
	// Provision creates a tenant's storage: credentials that reach only its
	// buckets, and the first bucket when the request names one.
	Provision(ctx context.Context, req Request) (Storage, error)
	// Decommission removes the storage's credentials and every bucket it
	// owns, with their objects.
	Decommission(ctx context.Context, s Storage) error
	// CreateBucket and DeleteBucket manage buckets inside the storage; the
	// storage's credentials reach a new bucket at once.
	CreateBucket(ctx context.Context, s Storage, bucket string) error
	// DeleteBucket deletes one of the storage's buckets with its objects;
	// a bucket the storage does not own is provider.ErrNotFound, never
	// another tenant's bucket deleted.
	DeleteBucket(ctx context.Context, s Storage, bucket string) error
	// Usage reports what the storage holds now.
	Usage(ctx context.Context, s Storage) (Usage, error)
}
