// Package idrive is a managed-storage backend (managed.Provisioner) on
// IDrive e2 through its Reseller API: each tenant's storage in one region
// and tier is an IDrive reseller user with that region enabled, an S3
// access key, and buckets. The tenant's account is an ordinary S3Generic
// account on the region's endpoint with that key.
//
// What of the Reseller API is documented and what this package assumes is
// written down in docs/managed-storage-idrive.md.
package idrive

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/provider"
	_ "github.com/amove/amove-go/provider/s3" // the S3Generic driver that empties buckets
)

// Config configures a Provisioner.
type Config struct {
	// BaseURL is the Reseller API; empty means DefaultBaseURL.
	BaseURL string
	// APIKey is the reseller's API key (the "token" header).
	APIKey string
	// HTTPClient carries the API calls and the S3 requests; nil means
	// provider.NewHTTPClient().
	HTTPClient *http.Client
	// EmailDomain names the reseller users: IDrive identifies users by
	// email. Empty means DefaultEmailDomain; an operator sets a domain it
	// owns.
	EmailDomain string
	// QuotaGB is each new user's storage limit in GB; 0 sets none.
	QuotaGB int64
	// DefaultRegion is the region of a request that names none; empty
	// means the first region the API lists.
	DefaultRegion string
}

// DefaultEmailDomain is the domain of reseller users' emails when
// Config.EmailDomain is empty: reserved, so no mail reaches anyone.
const DefaultEmailDomain = "amove-managed.invalid"

// Provisioner provisions tenants' storage through the Reseller API. It is
// safe for concurrent use.
type Provisioner struct {
	cfg Config
	api *Client
}

var _ managed.Provisioner = (*Provisioner)(nil)

// New returns a Provisioner of the Reseller API at baseURL (empty:
// DefaultBaseURL) with the reseller's API key; hc nil means
// provider.NewHTTPClient(). It does not contact the API.
func New(baseURL, apiKey string, hc *http.Client) (*Provisioner, error) {
	return NewWithConfig(Config{BaseURL: baseURL, APIKey: apiKey, HTTPClient: hc})
}

// NewWithConfig is New with every setting.
func NewWithConfig(cfg Config) (*Provisioner, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = provider.NewHTTPClient()
	}
	if cfg.EmailDomain == "" {
		cfg.EmailDomain = DefaultEmailDomain
	}
	api, err := NewClient(cfg.BaseURL, cfg.APIKey, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	return &Provisioner{cfg: cfg, api: api}, nil
}

// Client returns the Reseller API client the Provisioner uses.
func (p *Provisioner) Client() *Client { return p.api }

// Regions implements managed.Provisioner with the API's region list.
func (p *Provisioner) Regions(ctx context.Context) ([]managed.Region, error) {
	regions, err := p.api.Regions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]managed.Region, len(regions))
	for i, r := range regions {
		out[i] = managed.Region{Name: r.Name, Code: r.Key}
	}
	return out, nil
}

// UserEmail is the reseller user of a tenant's storage in one region and
// tier: one user per storage, so Decommission can remove the user without
// touching the tenant's other storages, and a second Provision of the same
// storage finds the user taken.
func UserEmail(tenant, region string, tier int, domain string) string {
	h := sha256.Sum256([]byte(tenant))
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(region))
	return "amove-" + hex.EncodeToString(h[:8]) + "-" + clean + "-t" + strconv.Itoa(tier) + "@" + domain
}

// ID is what Storage.ID holds: the user's email and the storage_dn of its
// region, which every later call names.
func storageID(email, dn string) string { return email + " " + dn }

func parseID(s managed.Storage) (email, dn string, err error) {
	email, dn, ok := strings.Cut(s.ID, " ")
	if !ok || email == "" || dn == "" {
		return "", "", fmt.Errorf("%w: idrive: storage id %q is not one this backend made", provider.ErrInvalid, s.ID)
	}
	return email, dn, nil
}

// serviceURL is the S3 endpoint of a storage_dn, which is a host name;
// a URL (a test's S3 server) is taken as it is.
func serviceURL(dn string) string {
	if strings.Contains(dn, "://") {
		return dn
	}
	return "https://" + dn
}

// Provision implements managed.Provisioner: it creates the reseller user
// (with req.Password, or a generated one returned in Storage.Password),
// enables the region, creates a read/write access key and, when asked,
// the first bucket. A failure after the user exists removes the user
// again. A storage that exists (the user is taken) is managed.ErrExists.
func (p *Provisioner) Provision(ctx context.Context, req managed.Request) (managed.Storage, error) {
	if strings.TrimSpace(req.Tenant) == "" {
		return managed.Storage{}, fmt.Errorf("%w: idrive: no tenant", provider.ErrInvalid)
	}
	if req.Bucket != "" {
		if err := provider.CheckBucket(req.Bucket); err != nil {
			return managed.Storage{}, err
		}
	}
	region, err := p.region(ctx, req.Region)
	if err != nil {
		return managed.Storage{}, err
	}
	password := req.Password
	if password == "" {
		// Upper case and digits from rand.Text, and a lower-case letter and
		// a symbol for password rules that want every class.
		password = rand.Text() + "a!"
	}
	email := UserEmail(req.Tenant, region, req.Tier, p.cfg.EmailDomain)
	err = p.api.CreateUser(ctx, NewUser{Email: email, Password: password, FirstName: "Amove", LastName: email[:strings.IndexByte(email, '@')], QuotaGB: p.cfg.QuotaGB})
	if errors.Is(err, provider.ErrExists) {
		return managed.Storage{}, fmt.Errorf("%w: idrive: region %s tier %d", managed.ErrExists, region, req.Tier)
	}
	if err != nil {
		return managed.Storage{}, err
	}
	s, err := p.equip(ctx, email, region, req)
	if err != nil {
		// Leave nothing half made: the user owns whatever was created.
		if rmErr := p.api.RemoveUser(context.WithoutCancel(ctx), email); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("idrive: remove the half-made user: %w", rmErr))
		}
		return managed.Storage{}, err
	}
	s.Password = password
	return s, nil
}

// equip gives a new user its region, key and first bucket.
func (p *Provisioner) equip(ctx context.Context, email, region string, req managed.Request) (managed.Storage, error) {
	dn, err := p.api.EnableUserRegion(ctx, email, region)
	if err != nil {
		return managed.Storage{}, err
	}
	key, err := p.api.CreateAccessKey(ctx, email, dn, "amove", PermissionReadWrite)
	if err != nil {
		return managed.Storage{}, err
	}
	s := managed.Storage{
		ID:         storageID(email, dn),
		CloudType:  provider.S3Generic,
		Region:     region,
		ServiceURL: serviceURL(dn),
		AccessKey:  key.ID,
		SecretKey:  key.Secret,
		Bucket:     req.Bucket,
		Tier:       req.Tier,
	}
	if req.Bucket != "" {
		if err := p.api.CreateBucket(ctx, email, dn, req.Bucket); err != nil {
			return managed.Storage{}, err
		}
	}
	return s, nil
}

// region returns the region code to use: code when the API lists it, the
// default when code is empty.
func (p *Provisioner) region(ctx context.Context, code string) (string, error) {
	if code == "" {
		code = p.cfg.DefaultRegion
	}
	regions, err := p.api.Regions(ctx)
	if err != nil {
		return "", err
	}
	if len(regions) == 0 {
		return "", fmt.Errorf("idrive: the reseller account has no regions")
	}
	if code == "" {
		return regions[0].Key, nil
	}
	for _, r := range regions {
		if strings.EqualFold(r.Key, code) {
			return r.Key, nil
		}
	}
	return "", fmt.Errorf("%w: idrive: unknown region %q", provider.ErrInvalid, code)
}

// CreateBucket implements managed.Provisioner. The storage's access key
// reaches every bucket of its user, so it reaches the new one at once.
func (p *Provisioner) CreateBucket(ctx context.Context, s managed.Storage, bucket string) error {
	if err := provider.CheckBucket(bucket); err != nil {
		return err
	}
	email, dn, err := parseID(s)
	if err != nil {
		return err
	}
	return p.api.CreateBucket(ctx, email, dn, bucket)
}

// DeleteBucket implements managed.Provisioner: it deletes every object of
// one of the storage's buckets through S3 with the storage's own key, then
// the bucket. A bucket the storage does not have is ErrNotFound and is
// not touched.
func (p *Provisioner) DeleteBucket(ctx context.Context, s managed.Storage, bucket string) error {
	email, dn, err := parseID(s)
	if err != nil {
		return err
	}
	u, err := p.api.Usage(ctx, email, dn)
	if err != nil {
		return err
	}
	for _, b := range u.Buckets {
		if b.Name == bucket {
			return p.deleteBucket(ctx, s, email, dn, b)
		}
	}
	return fmt.Errorf("%w: idrive: bucket %q is not in this storage", provider.ErrNotFound, bucket)
}

// deleteBucket empties b through S3, when the usage figures say it holds
// anything, and deletes it.
func (p *Provisioner) deleteBucket(ctx context.Context, s managed.Storage, email, dn string, b BucketUsage) error {
	if b.Objects > 0 {
		if err := p.empty(ctx, s, b.Name); err != nil {
			return err
		}
	}
	return p.api.DeleteBucket(ctx, email, dn, b.Name)
}

func (p *Provisioner) empty(ctx context.Context, s managed.Storage, bucket string) error {
	st, err := provider.Open(ctx, provider.Config{
		CloudType: provider.S3Generic, Endpoint: s.ServiceURL, Region: s.Region,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey, HTTPClient: p.cfg.HTTPClient,
	})
	if err != nil {
		return err
	}
	defer st.Close()
	for o, err := range provider.Walk(ctx, st, bucket, provider.ListOptions{}) {
		if err != nil {
			return fmt.Errorf("idrive: empty bucket %q: %w", bucket, err)
		}
		if err := st.Delete(ctx, bucket, o.Key); err != nil {
			return fmt.Errorf("idrive: empty bucket %q: %w", bucket, err)
		}
	}
	return nil
}

// Usage implements managed.Provisioner with the API's usage figures.
func (p *Provisioner) Usage(ctx context.Context, s managed.Storage) (managed.Usage, error) {
	email, dn, err := parseID(s)
	if err != nil {
		return managed.Usage{}, err
	}
	u, err := p.api.Usage(ctx, email, dn)
	if err != nil {
		return managed.Usage{}, err
	}
	out := managed.Usage{Bytes: u.Bytes, Objects: u.Objects, Quota: u.Quota}
	for _, b := range u.Buckets {
		created, _ := time.Parse(time.RFC3339, b.Created)
		out.Buckets = append(out.Buckets, managed.BucketInfo{Name: b.Name, Region: s.Region, Created: created, Bytes: b.Bytes, Objects: b.Objects})
	}
	return out, nil
}

// Decommission implements managed.Provisioner: it empties and deletes the
// storage's buckets, then removes its access key, its region and its
// user. What is already gone is skipped, so a failed Decommission can be
// run again.
func (p *Provisioner) Decommission(ctx context.Context, s managed.Storage) error {
	email, dn, err := parseID(s)
	if err != nil {
		return err
	}
	gone := func(err error) bool { return err == nil || errors.Is(err, provider.ErrNotFound) }
	u, err := p.api.Usage(ctx, email, dn)
	if !gone(err) {
		return err
	}
	for _, b := range u.Buckets {
		if err := p.deleteBucket(ctx, s, email, dn, b); !gone(err) {
			return err
		}
	}
	if err := p.api.RemoveAccessKey(ctx, email, dn, s.AccessKey); !gone(err) {
		return err
	}
	if err := p.api.RemoveUserRegion(ctx, email, dn); !gone(err) {
		return err
	}
	if err := p.api.RemoveUser(ctx, email); !gone(err) {
		return err
	}
	return nil
}
