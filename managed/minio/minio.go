// Package minio is a managed-storage backend (managed.Provisioner) on a
// MinIO server the agent operator runs: each tenant's storage is a MinIO
// user whose canned policy reaches only that storage's buckets.
//
// The admin API is spoken through github.com/minio/madmin-go v1.7.5, the
// last Apache-2.0 release (later ones, madmin-go/v3, are AGPL-3.0 and are
// not linked); buckets and objects go through this module's own S3 driver
// with the root credentials.
package minio

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/madmin-go"

	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/s3" // the S3Generic driver for bucket work
)

// Config configures a Provisioner.
type Config struct {
	// Endpoint is the MinIO server's URL ("http://127.0.0.1:9000"), for
	// its admin API and S3 alike.
	Endpoint string
	// AccessKey and SecretKey are credentials allowed to manage users,
	// policies and every bucket (the root user, or an admin user).
	AccessKey string
	SecretKey string
	// ServiceURL is the URL tenants' accounts reach the server at; empty
	// means Endpoint.
	ServiceURL string
	// Regions lists the regions offered; empty means one, named after
	// Region. Provision refuses a code not listed.
	Regions []managed.Region
	// Region is the server's S3 region; empty means "us-east-1".
	Region string
	// HTTPClient carries the admin and S3 requests; nil means
	// provider.NewHTTPClient().
	HTTPClient *http.Client
}

// Provisioner provisions tenants' storage on one MinIO server. It is safe
// for concurrent use.
type Provisioner struct {
	cfg  Config
	adm  *madmin.AdminClient
	root provider.Storage // the S3 driver with the admin credentials

	// mu serialises changes of a storage's bucket list, kept in its
	// policy (read, change and write back must not interleave), and
	// Provision's look-up and creation of a user.
	mu sync.Mutex
}

var _ managed.Provisioner = (*Provisioner)(nil)

// New checks cfg and returns a Provisioner; Close releases it. It does not
// contact the server.
func New(ctx context.Context, cfg Config) (*Provisioner, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("minio: endpoint %q: want http(s)://host:port", cfg.Endpoint)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("minio: the admin access key and secret key are required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.ServiceURL == "" {
		cfg.ServiceURL = cfg.Endpoint
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = []managed.Region{{Name: cfg.Region, Code: cfg.Region}}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = provider.NewHTTPClient()
	}
	adm, err := madmin.New(u.Host, cfg.AccessKey, cfg.SecretKey, u.Scheme == "https")
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	if cfg.HTTPClient.Transport != nil {
		adm.SetCustomTransport(cfg.HTTPClient.Transport)
	}
	root, err := provider.Open(ctx, provider.Config{CloudType: provider.S3Generic, Endpoint: cfg.Endpoint,
		Region: cfg.Region, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, HTTPClient: cfg.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	return &Provisioner{cfg: cfg, adm: adm, root: root}, nil
}

// Close releases the S3 driver.
func (p *Provisioner) Close() error { return p.root.Close() }

// Regions implements managed.Provisioner.
func (p *Provisioner) Regions(context.Context) ([]managed.Region, error) {
	return slices.Clone(p.cfg.Regions), nil
}

// storageID names a tenant's storage in one region and tier: the MinIO
// user (its access key) and, prefixed, its policy. It is derived, not
// random, so a second request for the same tenant, region and tier finds
// the first. 19 characters: MinIO's access keys may be as short as 3.
func storageID(tenant, region string, tier int) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + region + "\x00" + strconv.Itoa(tier)))
	return "amv" + hex.EncodeToString(sum[:8])
}

func policyName(id string) string { return "amove-" + id }

// Provision implements managed.Provisioner: a MinIO user with a random
// secret, the request's bucket, and a policy reaching only that bucket.
// Anything that fails is undone. MinIO's console signs in with the access
// and secret key, so there is no separate password: req.Password is not
// used and Storage.Password stays empty.
func (p *Provisioner) Provision(ctx context.Context, req managed.Request) (managed.Storage, error) {
	if req.Tenant == "" {
		return managed.Storage{}, fmt.Errorf("minio: no tenant: %w", provider.ErrInvalid)
	}
	region := req.Region
	if region == "" {
		region = p.cfg.Regions[0].Code
	}
	if !slices.ContainsFunc(p.cfg.Regions, func(r managed.Region) bool { return r.Code == region }) {
		return managed.Storage{}, fmt.Errorf("minio: unknown region %q: %w", region, provider.ErrInvalid)
	}
	id := storageID(req.Tenant, region, req.Tier)
	// The look-up and the creation are one step: MinIO's AddUser on an
	// existing user replaces its secret, which would cut off the storage a
	// concurrent Provision just made.
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.adm.GetUserInfo(ctx, id); err == nil {
		return managed.Storage{}, managed.ErrExists
	} else if !noSuch(err) {
		return managed.Storage{}, fmt.Errorf("minio: looking up user: %w", err)
	}
	secret, err := randomSecret()
	if err != nil {
		return managed.Storage{}, err
	}
	s := managed.Storage{ID: id, CloudType: provider.S3Generic, Region: p.cfg.Region, ServiceURL: p.cfg.ServiceURL,
		AccessKey: id, SecretKey: secret, Bucket: req.Bucket, Tier: req.Tier}
	if err := p.adm.AddUser(ctx, id, secret); err != nil {
		return managed.Storage{}, fmt.Errorf("minio: adding user: %w", err)
	}
	var buckets []string
	if req.Bucket != "" {
		if err := p.root.(provider.BucketManager).CreateBucket(ctx, req.Bucket, p.cfg.Region); err != nil {
			p.undo(s, nil)
			return managed.Storage{}, fmt.Errorf("minio: creating bucket %q: %w", req.Bucket, err)
		}
		buckets = []string{req.Bucket}
	}
	if err := p.setPolicy(ctx, id, buckets); err != nil {
		p.undo(s, buckets)
		return managed.Storage{}, err
	}
	return s, nil
}

// undo removes what a failed Provision made, on a context of its own: the
// caller's may be what failed.
func (p *Provisioner) undo(s managed.Storage, buckets []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = p.adm.RemoveUser(ctx, s.ID)
	for _, b := range buckets {
		_ = p.removeBucket(ctx, b)
	}
	_ = p.adm.RemoveCannedPolicy(ctx, policyName(s.ID))
}

// Decommission implements managed.Provisioner: the user goes first, so the
// credentials stop working at once; then the buckets with their objects;
// the policy, which lists them, last, so a failure half-way can be retried.
func (p *Provisioner) Decommission(ctx context.Context, s managed.Storage) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.adm.RemoveUser(ctx, s.ID); err != nil && !noSuch(err) {
		return fmt.Errorf("minio: removing user: %w", err)
	}
	buckets, err := p.buckets(ctx, s.ID)
	if err != nil {
		return err
	}
	for _, b := range buckets {
		if err := p.removeBucket(ctx, b); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return err
		}
	}
	if err := p.adm.RemoveCannedPolicy(ctx, policyName(s.ID)); err != nil && !noSuch(err) {
		return fmt.Errorf("minio: removing policy: %w", err)
	}
	return nil
}

// CreateBucket implements managed.Provisioner. A bucket name taken on the
// server, by this storage or another, is provider.ErrExists: an existing
// bucket is never added to a policy, or one tenant could reach another's.
func (p *Provisioner) CreateBucket(ctx context.Context, s managed.Storage, bucket string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	buckets, err := p.buckets(ctx, s.ID)
	if err != nil {
		return err
	}
	if err := p.root.(provider.BucketManager).CreateBucket(ctx, bucket, p.cfg.Region); err != nil {
		return fmt.Errorf("minio: creating bucket %q: %w", bucket, err)
	}
	if err := p.setPolicy(ctx, s.ID, append(buckets, bucket)); err != nil {
		_ = p.removeBucket(context.WithoutCancel(ctx), bucket)
		return err
	}
	return nil
}

// DeleteBucket implements managed.Provisioner: a bucket the storage does
// not own is provider.ErrNotFound; one it owns is emptied, then removed.
func (p *Provisioner) DeleteBucket(ctx context.Context, s managed.Storage, bucket string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	buckets, err := p.buckets(ctx, s.ID)
	if err != nil {
		return err
	}
	i := slices.Index(buckets, bucket)
	if i < 0 {
		return fmt.Errorf("minio: bucket %q: %w", bucket, provider.ErrNotFound)
	}
	if err := p.removeBucket(ctx, bucket); err != nil && !errors.Is(err, provider.ErrNotFound) {
		return err
	}
	return p.setPolicy(ctx, s.ID, slices.Delete(buckets, i, i+1))
}

// Usage implements managed.Provisioner by listing the storage's buckets:
// exact at once, where MinIO's own data-usage figures wait for its scanner.
func (p *Provisioner) Usage(ctx context.Context, s managed.Storage) (managed.Usage, error) {
	buckets, err := p.buckets(ctx, s.ID)
	if err != nil {
		return managed.Usage{}, err
	}
	all, err := p.root.ListBuckets(ctx)
	if err != nil {
		return managed.Usage{}, fmt.Errorf("minio: listing buckets: %w", err)
	}
	var u managed.Usage
	for _, name := range buckets {
		info := managed.BucketInfo{Name: name, Region: p.cfg.Region}
		if i := slices.IndexFunc(all, func(b provider.Bucket) bool { return b.Name == name }); i >= 0 {
			info.Created = all[i].Created
		}
		for o, err := range provider.Walk(ctx, p.root, name, provider.ListOptions{}) {
			if err != nil {
				return managed.Usage{}, fmt.Errorf("minio: listing %q: %w", name, err)
			}
			info.Bytes += o.Size
			info.Objects++
		}
		u.Bytes += info.Bytes
		u.Objects += info.Objects
		u.Buckets = append(u.Buckets, info)
	}
	return u, nil
}

// removeBucket deletes every object of bucket, then the bucket.
func (p *Provisioner) removeBucket(ctx context.Context, bucket string) error {
	for o, err := range provider.Walk(ctx, p.root, bucket, provider.ListOptions{}) {
		if err != nil {
			return fmt.Errorf("minio: emptying %q: %w", bucket, err)
		}
		if err := p.root.Delete(ctx, bucket, o.Key); err != nil && !errors.Is(err, provider.ErrNotFound) {
			return fmt.Errorf("minio: emptying %q: %w", bucket, err)
		}
	}
	if err := p.root.(provider.BucketManager).DeleteBucket(ctx, bucket); err != nil {
		return fmt.Errorf("minio: deleting bucket %q: %w", bucket, err)
	}
	return nil
}

// noBucket is a resource no bucket can match (bucket names are lower
// case): the policy of a storage without buckets, as a policy needs one
// statement.
const noBucket = "arn:aws:s3:::NO-BUCKET"

type policy struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

// setPolicy writes the storage's policy for buckets and attaches it to
// its user (again: harmless when attached already).
func (p *Provisioner) setPolicy(ctx context.Context, id string, buckets []string) error {
	res := []string{noBucket}
	if len(buckets) > 0 {
		res = nil
		for _, b := range buckets {
			res = append(res, "arn:aws:s3:::"+b, "arn:aws:s3:::"+b+"/*")
		}
	}
	doc, err := json.Marshal(policy{Version: "2012-10-17",
		Statement: []statement{{Effect: "Allow", Action: []string{"s3:*"}, Resource: res}}})
	if err != nil {
		return err
	}
	if err := p.adm.AddCannedPolicy(ctx, policyName(id), doc); err != nil {
		return fmt.Errorf("minio: writing policy: %w", err)
	}
	if err := p.adm.SetPolicy(ctx, policyName(id), id, false); err != nil {
		return fmt.Errorf("minio: attaching policy: %w", err)
	}
	return nil
}

// buckets reads the storage's buckets back from its policy, the one place
// they are kept. No policy is no buckets.
func (p *Provisioner) buckets(ctx context.Context, id string) ([]string, error) {
	doc, err := p.adm.InfoCannedPolicy(ctx, policyName(id))
	if noSuch(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("minio: reading policy: %w", err)
	}
	var pol policy
	if err := json.Unmarshal(doc, &pol); err != nil {
		return nil, fmt.Errorf("minio: policy %s: %w", policyName(id), err)
	}
	var out []string
	for _, st := range pol.Statement {
		for _, r := range st.Resource {
			b, ok := strings.CutPrefix(r, "arn:aws:s3:::")
			if ok && r != noBucket && !strings.Contains(b, "/") && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	return out, nil
}

// noSuch reports MinIO's "no such user/policy" admin errors.
func noSuch(err error) bool {
	return err != nil && strings.HasPrefix(madmin.ToErrorResponse(err).Code, "XMinioAdminNoSuch")
}

func randomSecret() (string, error) {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil // 40 characters
}
