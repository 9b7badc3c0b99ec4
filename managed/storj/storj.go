// Package storj is a managed-storage backend (managed.Provisioner) on a
// Storj project the agent operator owns: each tenant's storage is one or
// more buckets of that project and an access grant derived from the
// operator's with Access.Share, whose caveats reach only those buckets.
//
// The tenant's account opens with the native Storj driver (provider/storj,
// Driver "storj") and the derived grant in its CredentialsData; the
// operator's grant never leaves the agent.
//
// A Storj caveat names its buckets exactly, so a grant cannot reach a
// bucket created after it: CreateBucket refuses, and AddBucket creates the
// bucket and returns the storage with a fresh grant covering all of its
// buckets, which the caller stores in place of the old one.
package storj

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/provider"
	storjdriver "github.com/amove/amove-go/provider/storj"
	"storj.io/common/grant"
	"storj.io/common/macaroon"
	"storj.io/uplink"
)

// Region is the one region of Storj, whose nodes are spread worldwide.
var Region = managed.Region{Name: "Global", Code: "global"}

// Project is what the Provisioner uses of the operator's Storj project;
// storjdriver.Adapt of an *uplink.Project and the fake in
// internal/fakes/storj both have it.
type Project interface {
	// CreateBucket makes a bucket; a taken name is
	// uplink.ErrBucketAlreadyExists.
	CreateBucket(ctx context.Context, bucket string) (*uplink.Bucket, error)
	// StatBucket describes a bucket; a missing one is
	// uplink.ErrBucketNotFound.
	StatBucket(ctx context.Context, bucket string) (*uplink.Bucket, error)
	// DeleteBucketWithObjects removes a bucket and everything in it.
	DeleteBucketWithObjects(ctx context.Context, bucket string) (*uplink.Bucket, error)
	// Objects lists a bucket's objects (see storjdriver.Project).
	Objects(ctx context.Context, bucket string, opts *uplink.ListObjectsOptions) iter.Seq2[*uplink.Object, error]
	// RevokeAccess revokes a grant derived from the project's.
	RevokeAccess(ctx context.Context, access *uplink.Access) error
	// Close releases the project.
	Close() error
}

// Provisioner provisions tenants' storage in one Storj project. It is safe
// for concurrent use.
type Provisioner struct {
	access  *uplink.Access // the operator's grant
	project Project

	// mu serialises the bucket changes of AddBucket and Provision, so two
	// grants are not cut from a half-made bucket list.
	mu sync.Mutex
}

var _ managed.Provisioner = (*Provisioner)(nil)

// New parses the operator's access grant, which must reach the whole
// project (create and delete buckets, list and delete objects), and opens
// its project. It does not dial: the first request does. Close releases
// it.
func New(ctx context.Context, accessGrant string) (*Provisioner, error) {
	access, err := storjdriver.ParseAccess(accessGrant)
	if err != nil {
		return nil, err
	}
	p, err := uplink.Config{UserAgent: "amove"}.OpenProject(ctx, access)
	if err != nil {
		return nil, fmt.Errorf("storj: open project: %w", err)
	}
	return NewWithProject(access, storjdriver.Adapt(p)), nil
}

// NewWithProject returns a Provisioner that derives grants from access
// and manages buckets through project: the operator's project in
// production, a fake in tests.
func NewWithProject(access *uplink.Access, project Project) *Provisioner {
	return &Provisioner{access: access, project: project}
}

// Close closes the project.
func (p *Provisioner) Close() error { return p.project.Close() }

// Regions implements managed.Provisioner: Storj has one, Global.
func (p *Provisioner) Regions(ctx context.Context) ([]managed.Region, error) {
	return []managed.Region{Region}, ctx.Err()
}

// DefaultBucket is the bucket a tenant's storage gets when the request
// names none: "amove-" and 16 hex digits of the tenant's SHA-256, so the
// same tenant asking twice gets ErrExists.
func DefaultBucket(tenant string) string {
	h := sha256.Sum256([]byte(tenant))
	return "amove-" + hex.EncodeToString(h[:8])
}

// Provision implements managed.Provisioner: it creates the bucket (the
// request's, or DefaultBucket) and returns a grant that reaches only it.
// A bucket that exists already is managed.ErrExists: a Storj project has
// no owners of buckets to tell the tenant's own from another's.
func (p *Provisioner) Provision(ctx context.Context, req managed.Request) (managed.Storage, error) {
	if strings.TrimSpace(req.Tenant) == "" {
		return managed.Storage{}, fmt.Errorf("%w: storj: no tenant", provider.ErrInvalid)
	}
	if req.Region != "" && !strings.EqualFold(req.Region, Region.Code) {
		return managed.Storage{}, fmt.Errorf("%w: storj: unknown region %q (Storj has one: %q)", provider.ErrInvalid, req.Region, Region.Code)
	}
	bucket := req.Bucket
	if bucket == "" {
		bucket = DefaultBucket(req.Tenant)
	}
	if err := provider.CheckBucket(bucket); err != nil {
		return managed.Storage{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.project.CreateBucket(ctx, bucket); err != nil {
		if errors.Is(err, uplink.ErrBucketAlreadyExists) {
			return managed.Storage{}, fmt.Errorf("%w: storj: bucket %q exists", managed.ErrExists, bucket)
		}
		return managed.Storage{}, bucketErr(err, bucket)
	}
	grant, err := p.share([]string{bucket})
	if err != nil {
		// The bucket is empty and nobody holds a grant for it.
		_, _ = p.project.DeleteBucketWithObjects(context.WithoutCancel(ctx), bucket)
		return managed.Storage{}, err
	}
	return managed.Storage{
		ID:              bucket,
		Driver:          storjdriver.DriverName,
		Region:          Region.Code,
		CredentialsData: grant,
		Bucket:          bucket,
		Tier:            req.Tier,
	}, nil
}

// share derives a serialized grant with full access to buckets and to
// nothing else.
func (p *Provisioner) share(buckets []string) (string, error) {
	prefixes := make([]uplink.SharePrefix, len(buckets))
	for i, b := range buckets {
		prefixes[i] = uplink.SharePrefix{Bucket: b}
	}
	access, err := p.access.Share(uplink.FullPermission(), prefixes...)
	if err != nil {
		return "", fmt.Errorf("storj: share access: %w", err)
	}
	s, err := access.Serialize()
	if err != nil {
		return "", fmt.Errorf("storj: serialize access: %w", err)
	}
	return s, nil
}

// Buckets returns the buckets the storage's grant reaches, sorted. A
// grant that reaches every bucket is refused: it is not one this package
// made, and acting on it would touch other tenants' buckets.
func (p *Provisioner) Buckets(ctx context.Context, s managed.Storage) ([]string, error) {
	// The action a satellite checks when it lists buckets: a read with
	// neither bucket nor path.
	g, err := grant.ParseAccess(s.CredentialsData)
	if err != nil {
		return nil, fmt.Errorf("%w: storj: storage %q has no valid access grant", provider.ErrInvalid, s.ID)
	}
	allowed, err := g.APIKey.GetAllowedBuckets(ctx, macaroon.Action{Op: macaroon.ActionRead, Time: time.Now()})
	if err != nil {
		return nil, fmt.Errorf("%w: storj: storage %q: %v", provider.ErrPermission, s.ID, err)
	}
	if allowed.All {
		return nil, fmt.Errorf("%w: storj: storage %q has a grant for the whole project", provider.ErrPermission, s.ID)
	}
	var out []string
	for b := range allowed.Buckets {
		out = append(out, b)
	}
	slices.Sort(out)
	return out, nil
}

// CreateBucket implements managed.Provisioner by refusing: a Storj grant
// cannot reach a bucket made after it (caveats name buckets exactly), so
// the storage's credentials would not reach the new bucket. Use AddBucket,
// which returns new credentials.
func (p *Provisioner) CreateBucket(ctx context.Context, s managed.Storage, bucket string) error {
	return fmt.Errorf("%w: storj: a grant cannot reach a bucket created after it; AddBucket returns the storage with a new grant", provider.ErrUnsupported)
}

// AddBucket creates bucket in the storage and returns the storage with a
// new grant that reaches it and every bucket the old grant reached. The
// old grant keeps working for the old buckets; the caller replaces the
// stored credentials with the new ones. A bucket that exists is
// provider.ErrExists.
func (p *Provisioner) AddBucket(ctx context.Context, s managed.Storage, bucket string) (managed.Storage, error) {
	if err := provider.CheckBucket(bucket); err != nil {
		return s, err
	}
	buckets, err := p.Buckets(ctx, s)
	if err != nil {
		return s, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.project.CreateBucket(ctx, bucket); err != nil {
		return s, bucketErr(err, bucket)
	}
	g, err := p.share(append(buckets, bucket))
	if err != nil {
		_, _ = p.project.DeleteBucketWithObjects(context.WithoutCancel(ctx), bucket)
		return s, err
	}
	s.CredentialsData = g
	return s, nil
}

// DeleteBucket implements managed.Provisioner: it deletes one of the
// storage's buckets with its objects. A bucket the grant does not reach
// is ErrPermission; the grant keeps naming the deleted bucket, so a bucket
// of that name made later is reachable with it again.
func (p *Provisioner) DeleteBucket(ctx context.Context, s managed.Storage, bucket string) error {
	buckets, err := p.Buckets(ctx, s)
	if err != nil {
		return err
	}
	if !slices.Contains(buckets, bucket) {
		return fmt.Errorf("%w: storj: bucket %q is not in storage %q", provider.ErrPermission, bucket, s.ID)
	}
	_, err = p.project.DeleteBucketWithObjects(ctx, bucket)
	return bucketErr(err, bucket)
}

// Usage implements managed.Provisioner by listing every object of the
// storage's buckets: Storj reports no per-bucket totals through uplink.
// A bucket the grant names but that is gone is left out.
func (p *Provisioner) Usage(ctx context.Context, s managed.Storage) (managed.Usage, error) {
	buckets, err := p.Buckets(ctx, s)
	if err != nil {
		return managed.Usage{}, err
	}
	var u managed.Usage
	for _, name := range buckets {
		b, err := p.project.StatBucket(ctx, name)
		if errors.Is(err, uplink.ErrBucketNotFound) {
			continue
		}
		if err != nil {
			return managed.Usage{}, bucketErr(err, name)
		}
		info := managed.BucketInfo{Name: name, Region: Region.Code, Created: b.Created}
		for o, err := range p.project.Objects(ctx, name, &uplink.ListObjectsOptions{Recursive: true, System: true}) {
			if err != nil {
				return managed.Usage{}, bucketErr(err, name)
			}
			info.Bytes += o.System.ContentLength
			info.Objects++
		}
		u.Bytes += info.Bytes
		u.Objects += info.Objects
		u.Buckets = append(u.Buckets, info)
	}
	return u, nil
}

// Decommission implements managed.Provisioner: it revokes the storage's
// grant on the satellite, so a bucket of the same name made later is not
// reachable with it, and deletes every bucket the grant reached, with its
// objects.
func (p *Provisioner) Decommission(ctx context.Context, s managed.Storage) error {
	buckets, err := p.Buckets(ctx, s)
	if err != nil {
		return err
	}
	access, err := uplink.ParseAccess(s.CredentialsData)
	if err != nil {
		return fmt.Errorf("%w: storj: storage %q has no valid access grant", provider.ErrInvalid, s.ID)
	}
	if err := p.project.RevokeAccess(ctx, access); err != nil {
		return fmt.Errorf("storj: revoke the grant of storage %q: %w", s.ID, err)
	}
	for _, b := range buckets {
		if _, err := p.project.DeleteBucketWithObjects(ctx, b); err != nil && !errors.Is(err, uplink.ErrBucketNotFound) {
			return bucketErr(err, b)
		}
	}
	return nil
}

// bucketErr marks uplink's bucket errors with the provider sentinels.
func bucketErr(err error, bucket string) error {
	msg := "storj: bucket " + bucket
	switch {
	case err == nil:
		return nil
	case errors.Is(err, uplink.ErrBucketNotFound):
		return provider.Wrap(provider.ErrNotFound, err, msg)
	case errors.Is(err, uplink.ErrBucketAlreadyExists):
		return provider.Wrap(provider.ErrExists, err, msg)
	case errors.Is(err, uplink.ErrBucketNameInvalid):
		return provider.Wrap(provider.ErrInvalid, err, msg)
	case errors.Is(err, uplink.ErrPermissionDenied):
		return provider.Wrap(provider.ErrPermission, err, msg)
	}
	return fmt.Errorf("%s: %w", msg, err)
}
