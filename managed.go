package amove

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/amove/amove-go/managed"
	"github.com/amove/amove-go/store"
)

// Family is a family of managed-storage routes, each served by its own
// backend (ManagedOptions).
type Family string

// The two families of the Amove API.
const (
	// FamilyStorj is /cloud/add_storage, delete_storage, create_bucket,
	// delete_bucket, get_bucket_info and get_cloud_info.
	FamilyStorj Family = "storj"
	// FamilyIDrive is the idrive_* routes ("Amove storage"), agent and
	// hosted, and the hosted get_amove_storage.
	FamilyIDrive Family = "idrive"
)

// CodeGlobal is the code of the hosted API's errors not tied to one field,
// spelt as its spec spells it: a second storage in one region and tier, and
// deleting an account that is not internal storage.
const CodeGlobal Code = "Global"

// Mailer sends one plain-text message (httpapi.SMTPMailer is one).
type Mailer interface {
	// Send delivers a message with subject and body to the address to.
	Send(ctx context.Context, to, subject, body string) error
}

// ManagedOptions configure Amove-managed storage. The zero value
// configures none: every managed-storage call then fails with an error
// matching managed.ErrNotConfigured.
type ManagedOptions struct {
	// Storj is the backend of FamilyStorj, IDrive of FamilyIDrive; nil
	// means the family is not configured. The Client does not close them.
	Storj  managed.Provisioner
	IDrive managed.Provisioner
	// Mailer sends the welcome mail of new storage to the user's e-mail
	// address; nil sends none. A mail that cannot be sent is logged and
	// never fails the provisioning.
	Mailer Mailer
	// SampleInterval is how often the usage of every managed storage is
	// sampled for Usage and DailyUsage; zero means one hour, negative
	// never (SampleUsage only).
	SampleInterval time.Duration
}

// sampleKeep is how long usage samples are kept: DailyUsage reads one day.
const sampleKeep = 7 * 24 * time.Hour

// managedState is the Client's managed-storage configuration and sampler.
type managedState struct {
	opts ManagedOptions
	stop context.CancelFunc
	done sync.WaitGroup
}

// startManaged keeps opts and starts the sampler when a backend is set.
func (c *Client) startManaged(opts ManagedOptions) {
	c.managed = &managedState{opts: opts, stop: func() {}}
	if (opts.Storj == nil && opts.IDrive == nil) || opts.SampleInterval < 0 {
		return
	}
	every := opts.SampleInterval
	if every == 0 {
		every = time.Hour
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.managed.stop = cancel
	c.managed.done.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if err := c.SampleUsage(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("managed storage: sampling usage", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// stopManaged cancels the sampler and waits for it (Close).
func (c *Client) stopManaged() {
	if c.managed != nil {
		c.managed.stop()
		c.managed.done.Wait()
	}
}

func (c *Client) provisioner(f Family) (managed.Provisioner, error) {
	var p managed.Provisioner
	switch f {
	case FamilyStorj:
		p = c.managed.opts.Storj
	case FamilyIDrive:
		p = c.managed.opts.IDrive
	default:
		return nil, invalid("unknown managed-storage family %q", string(f))
	}
	if p == nil {
		return nil, fmt.Errorf("%w (%s family)", managed.ErrNotConfigured, f)
	}
	return p, nil
}

// NewStorage is the input of AddStorage.
type NewStorage struct {
	// Name is the cloud account's name; empty means "Amove Storage".
	Name string
	// Bucket, when set, is created in the storage.
	Bucket string
	// Region is a ManagedRegions code; empty means the backend's default.
	Region string
	// Tier is the storage tier; TierAll means the backend's default.
	Tier   StorageTier
	Shared bool
	// Password is the console password where the backend has one
	// (IDrive's defaultPassword); empty means the backend makes one, which
	// the welcome mail carries. It is never stored.
	Password string
}

// String masks the password.
func (n NewStorage) String() string {
	return fmt.Sprintf("NewStorage{Name:%s Bucket:%s Region:%s Tier:%d Shared:%v Password:****}",
		n.Name, n.Bucket, n.Region, n.Tier, n.Shared)
}

// AddStorage provisions managed storage for the caller through the
// family's backend and stores it as an ordinary cloud account of the
// caller (InternalStorage set, credentials sealed), which every storage
// and transfer call then works on.
//
// FamilyIDrive refuses a second storage in one region and tier (CodeGlobal).
// FamilyStorj makes a storage per request where the backend does (Storj:
// one grant per bucket); where the backend keeps one storage per tenant
// and tier (MinIO: ErrExists), the bucket goes into the existing storage
// and another account is stored on it.
func (c *Client) AddStorage(ctx context.Context, p Principal, f Family, in NewStorage) (CloudAccount, error) {
	if err := p.check(); err != nil {
		return CloudAccount{}, err
	}
	prov, err := c.provisioner(f)
	if err != nil {
		return CloudAccount{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		in.Name = "Amove Storage"
	}
	if !in.Tier.valid() || in.Tier == TierAmoveConnection {
		return CloudAccount{}, invalid("unknown storageTier %d", int(in.Tier))
	}
	if f == FamilyStorj || in.Bucket != "" {
		if err := validBucket(in.Bucket); err != nil {
			return CloudAccount{}, err
		}
	}
	existing, err := c.managedAccounts(ctx, p.TenantID, f)
	if err != nil {
		return CloudAccount{}, err
	}
	var sameTier *store.Account
	for i, a := range existing {
		if StorageTier(a.StorageTier) == in.Tier && (in.Region == "" || a.Region == in.Region) && sameTier == nil {
			sameTier = &existing[i]
		}
	}
	// Without a region the backend's default applies, which only the
	// backend knows: its ErrExists decides then.
	if f == FamilyIDrive && sameTier != nil && in.Region != "" {
		return CloudAccount{}, errStorageExists
	}

	s, err := prov.Provision(ctx, managed.Request{Tenant: p.TenantID, Region: in.Region, Tier: int(in.Tier),
		Bucket: in.Bucket, Password: in.Password})
	switch {
	case errors.Is(err, managed.ErrExists) && f == FamilyStorj && sameTier != nil:
		// A backend with one storage per tenant and tier (MinIO): the
		// bucket goes into it, and another account is stored on it.
		return c.addToStorage(ctx, p, prov, *sameTier, in)
	case errors.Is(err, managed.ErrExists) && f == FamilyIDrive:
		return CloudAccount{}, errStorageExists
	case errors.Is(err, managed.ErrExists):
		return CloudAccount{}, &Error{Code: CodeDuplicate, Message: "the storage or its bucket already exists", Err: err}
	case err != nil:
		return CloudAccount{}, providerErr(redact(err, in.Password), "provisioning storage")
	}
	if s.Tier == 0 {
		s.Tier = int(in.Tier)
	}
	out, err := c.storeManaged(ctx, p, f, in, s)
	if err != nil {
		// Nothing of the storage may outlive a failed call.
		if derr := prov.Decommission(context.WithoutCancel(ctx), s); derr != nil {
			c.log.ErrorContext(ctx, "managed storage: undoing a provisioning whose account was not stored", "storage", s.ID, "err", derr)
		}
		return CloudAccount{}, err
	}
	c.welcome(ctx, p, out, s)
	return out, nil
}

var errStorageExists = &Error{Code: CodeGlobal, Message: "Amove storage already exists in this region and tier"}

// addToStorage creates in.Bucket in the storage of account a and stores
// another account on the same storage and credentials.
func (c *Client) addToStorage(ctx context.Context, p Principal, prov managed.Provisioner, a store.Account, in NewStorage) (CloudAccount, error) {
	s, err := c.storageOf(a)
	if err != nil {
		return CloudAccount{}, err
	}
	if s, err = c.addBucket(ctx, prov, a, s, in.Bucket); err != nil {
		return CloudAccount{}, err
	}
	s.Bucket = in.Bucket
	out, err := c.storeManaged(ctx, p, Family(a.ManagedFamily), in, s)
	if err != nil {
		return CloudAccount{}, err
	}
	c.welcome(ctx, p, out, s)
	return out, nil
}

// storeManaged stores storage s as a cloud account of the caller.
func (c *Client) storeManaged(ctx context.Context, p Principal, f Family, in NewStorage, s managed.Storage) (CloudAccount, error) {
	n := NewAccount{CloudType: s.CloudType, Driver: s.Driver, Name: in.Name, Region: s.Region, Endpoint: s.ServiceURL,
		ServiceURL: s.ServiceURL, AccessKey: s.AccessKey, SecretKey: s.SecretKey, CredentialsData: s.CredentialsData,
		Shared: in.Shared, StorageTier: StorageTier(s.Tier)}
	if err := n.validate(); err != nil {
		return CloudAccount{}, err
	}
	now := c.now().UTC()
	a := store.Account{ID: uuid.NewString(), TenantID: p.TenantID, UserID: p.UserID, CloudType: n.CloudType, Driver: n.Driver,
		Name: n.Name, Region: n.Region, Endpoint: n.Endpoint, ServiceURL: n.ServiceURL, Shared: n.Shared, Active: true,
		InternalStorage: true, StorageTier: s.Tier, ManagedFamily: string(f), ManagedID: s.ID, Created: now, Updated: now}
	if err := c.sealAndInsert(ctx, &a, n); err != nil {
		return CloudAccount{}, err
	}
	c.log.InfoContext(ctx, "managed storage added", "account", a.ID, "family", string(f), "storage", s.ID, "user", p.UserID)
	return c.accountOut(a)
}

// welcome mails the new storage's details to the user. It never fails the
// call: no mailer, no address or a refusing server is only logged.
func (c *Client) welcome(ctx context.Context, p Principal, a CloudAccount, s managed.Storage) {
	if c.managed.opts.Mailer == nil {
		return
	}
	u, err := c.store.GetUser(ctx, p.UserID)
	if err != nil || u.Email == "" {
		c.log.InfoContext(ctx, "managed storage: no welcome mail: the user has no e-mail address", "user", p.UserID)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Your Amove storage %q is ready.\n\n", a.Name)
	fmt.Fprintf(&b, "Service URL: %s\nRegion: %s\nAccess key: %s\n", s.ServiceURL, s.Region, s.AccessKey)
	if s.Bucket != "" {
		fmt.Fprintf(&b, "Bucket: %s\n", s.Bucket)
	}
	if s.Password != "" {
		fmt.Fprintf(&b, "Password: %s\n", s.Password)
	}
	b.WriteString("\nThe secret key is shown by your Amove agent (get_amove_storage); it is not sent by mail.\n")
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.managed.opts.Mailer.Send(mctx, u.Email, "Your Amove storage is ready", b.String()); err != nil {
		c.log.WarnContext(ctx, "managed storage: welcome mail not sent", "user", p.UserID, "account", a.ID,
			"err", redact(err, s.SecretKey, s.Password))
	}
}

// managedAccounts returns the tenant's live managed accounts of family f.
func (c *Client) managedAccounts(ctx context.Context, tenantID string, f Family) ([]store.Account, error) {
	all, err := c.store.ManagedAccounts(ctx, tenantID)
	if err != nil {
		return nil, storeErr(err, "managed storage")
	}
	var out []store.Account
	for _, a := range all {
		if Family(a.ManagedFamily) == f {
			out = append(out, a)
		}
	}
	return out, nil
}

// storageOf is what a backend needs of a stored account.
func (c *Client) storageOf(a store.Account) (managed.Storage, error) {
	ak, sk, cd, err := c.secrets(a)
	if err != nil {
		return managed.Storage{}, err
	}
	return managed.Storage{ID: a.ManagedID, CloudType: a.CloudType, Driver: a.Driver, Region: a.Region,
		ServiceURL: a.ServiceURL, AccessKey: ak, SecretKey: sk, CredentialsData: cd, Tier: a.StorageTier}, nil
}

// ownStorage loads the caller's managed account id of family f: only its
// owner manages a storage. An account that is not internal storage is
// refused with CodeGlobal, "Only internal storage can be deleted" as the
// hosted spec words it for deletion.
func (c *Client) ownStorage(ctx context.Context, p Principal, f Family, id, what string) (store.Account, error) {
	a, err := c.account(ctx, p, id)
	if err != nil {
		return store.Account{}, err
	}
	if !a.InternalStorage || a.ManagedID == "" {
		return store.Account{}, &Error{Code: CodeGlobal, Message: "Only internal storage can be " + what}
	}
	if Family(a.ManagedFamily) != f {
		return store.Account{}, &Error{Code: CodeGlobal, Message: "this account is not " + familyLabel(f) + " storage"}
	}
	if a.UserID != p.UserID {
		return store.Account{}, &Error{Code: CodeAccess, Message: "only the owner may manage this storage"}
	}
	return a, nil
}

func familyLabel(f Family) string {
	if f == FamilyStorj {
		return "Amove (Storj)"
	}
	return "Amove"
}

// callerStorage resolves the storage a bucket call is about: the account
// id when given, else the caller's first (oldest) storage of the family,
// as the Storj family's routes name none.
func (c *Client) callerStorage(ctx context.Context, p Principal, f Family, id string) (store.Account, error) {
	if err := p.check(); err != nil {
		return store.Account{}, err
	}
	if id != "" {
		return c.ownStorage(ctx, p, f, id, "managed")
	}
	list, err := c.managedAccounts(ctx, p.TenantID, f)
	if err != nil {
		return store.Account{}, err
	}
	var found *store.Account
	for i, a := range list {
		if a.UserID == p.UserID && (found == nil || a.Created.Before(found.Created)) {
			found = &list[i]
		}
	}
	if found == nil {
		return store.Account{}, &Error{Code: CodeNotFound, Message: "you have no " + familyLabel(f) + " storage"}
	}
	return *found, nil
}

// DeleteStorage deletes the caller's managed-storage account id
// (DeleteAccount, after checking it is the family's internal storage). The
// backend storage (credentials, buckets and objects) is decommissioned when
// no other live account of the tenant uses it. An account that is not
// internal storage is refused with CodeGlobal.
func (c *Client) DeleteStorage(ctx context.Context, p Principal, f Family, id string) error {
	if _, err := c.provisioner(f); err != nil {
		return err
	}
	a, err := c.ownStorage(ctx, p, f, id, "deleted")
	if err != nil {
		return err
	}
	return c.DeleteAccount(ctx, p, a.ID)
}

// releaseManaged decommissions the backend storage of account id when it
// is managed and no other live account of the tenant uses it. It runs
// before the account is deleted: a storage that cannot be removed keeps
// its account, so the call can be retried.
func (c *Client) releaseManaged(ctx context.Context, tenantID, id string) error {
	a, err := c.store.GetAccount(ctx, tenantID, id)
	if err != nil {
		return storeErr(err, "cloud account")
	}
	if a.ManagedID == "" {
		return nil
	}
	prov, err := c.provisioner(Family(a.ManagedFamily))
	if err != nil {
		return err
	}
	others, err := c.managedAccounts(ctx, tenantID, Family(a.ManagedFamily))
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != a.ID && o.ManagedID == a.ManagedID {
			return nil // still in use
		}
	}
	s, err := c.storageOf(a)
	if err != nil {
		return err
	}
	if err := prov.Decommission(ctx, s); err != nil {
		return providerErr(err, "decommissioning storage")
	}
	c.log.InfoContext(ctx, "managed storage decommissioned", "account", a.ID, "storage", a.ManagedID)
	return nil
}

// CreateManagedBucket creates bucket in the caller's storage of family f:
// the account id, or the caller's oldest storage when id is empty.
func (c *Client) CreateManagedBucket(ctx context.Context, p Principal, f Family, id, bucket string) error {
	prov, a, s, err := c.bucketTarget(ctx, p, f, id, bucket)
	if err != nil {
		return err
	}
	_, err = c.addBucket(ctx, prov, a, s, bucket)
	return err
}

// bucketAdder is the capability of a backend whose credentials cannot
// reach a bucket made after them (Storj: a grant names its buckets):
// AddBucket creates the bucket and returns the storage with new
// credentials, which replace the stored ones.
type bucketAdder interface {
	AddBucket(ctx context.Context, s managed.Storage, bucket string) (managed.Storage, error)
}

// addBucket creates bucket in storage s of account a and returns the
// storage as it is now. New credentials from a bucketAdder are sealed into
// every live account of the tenant on that storage.
func (c *Client) addBucket(ctx context.Context, prov managed.Provisioner, a store.Account, s managed.Storage, bucket string) (managed.Storage, error) {
	adder, ok := prov.(bucketAdder)
	if !ok {
		if err := prov.CreateBucket(ctx, s, bucket); err != nil {
			return s, providerErr(err, "creating bucket "+bucket)
		}
		c.log.InfoContext(ctx, "managed bucket created", "account", a.ID, "bucket", bucket)
		return s, nil
	}
	ns, err := adder.AddBucket(ctx, s, bucket)
	if err != nil {
		return s, providerErr(err, "creating bucket "+bucket)
	}
	if ns.AccessKey != s.AccessKey || ns.SecretKey != s.SecretKey {
		// The store replaces only credentialsData; no backend changes keys.
		return s, fmt.Errorf("amove: managed storage %s: the backend changed the key pair on AddBucket", s.ID)
	}
	all, err := c.managedAccounts(ctx, a.TenantID, Family(a.ManagedFamily))
	if err != nil {
		return s, err
	}
	for _, o := range all {
		if o.ManagedID != a.ManagedID {
			continue
		}
		sealed, err := c.sealValue(ns.CredentialsData, accountAD(o, "credentials_data"))
		if err != nil {
			return s, err
		}
		if err := c.store.UpdateCredentials(ctx, o.TenantID, o.ID, sealed, c.now().UTC()); err != nil {
			return s, storeErr(err, "cloud account")
		}
	}
	c.log.InfoContext(ctx, "managed bucket created; credentials renewed", "account", a.ID, "bucket", bucket)
	return ns, nil
}

// DeleteManagedBucket deletes bucket, with its objects, from the caller's
// storage of family f (id as for CreateManagedBucket).
func (c *Client) DeleteManagedBucket(ctx context.Context, p Principal, f Family, id, bucket string) error {
	prov, a, s, err := c.bucketTarget(ctx, p, f, id, bucket)
	if err != nil {
		return err
	}
	if err := prov.DeleteBucket(ctx, s, bucket); err != nil {
		return providerErr(err, "deleting bucket "+bucket)
	}
	c.log.InfoContext(ctx, "managed bucket deleted", "account", a.ID, "bucket", bucket)
	return nil
}

func (c *Client) bucketTarget(ctx context.Context, p Principal, f Family, id, bucket string) (managed.Provisioner, store.Account, managed.Storage, error) {
	prov, err := c.provisioner(f)
	if err != nil {
		return nil, store.Account{}, managed.Storage{}, err
	}
	if err := validBucket(bucket); err != nil {
		return nil, store.Account{}, managed.Storage{}, err
	}
	a, err := c.callerStorage(ctx, p, f, id)
	if err != nil {
		return nil, store.Account{}, managed.Storage{}, err
	}
	s, err := c.storageOf(a)
	return prov, a, s, err
}

// validBucket checks a bucket name of managed storage against the S3
// rules every backend (MinIO, Storj's gateway, IDrive e2) shares: 3 to 63
// lower-case letters, digits, dots and hyphens, starting and ending with a
// letter or digit. The backend would refuse others less clearly.
func validBucket(name string) error {
	if name == "" {
		return invalid("bucketName is required")
	}
	ok := len(name) >= 3 && len(name) <= 63 && isAlnum(name[0]) && isAlnum(name[len(name)-1]) && !strings.Contains(name, "..")
	for i := 0; ok && i < len(name); i++ {
		ok = isAlnum(name[i]) || name[i] == '-' || name[i] == '.'
	}
	if !ok {
		return invalid("bucketName %q is not a valid bucket name (3-63 lower-case letters, digits, '.' and '-')", truncate(name, 70))
	}
	return nil
}

func isAlnum(b byte) bool { return ('a' <= b && b <= 'z') || ('0' <= b && b <= '9') }

// ManagedBucketInfo describes bucket of the caller's storage of family f
// (id as for CreateManagedBucket), measured now.
func (c *Client) ManagedBucketInfo(ctx context.Context, p Principal, f Family, id, bucket string) (managed.BucketInfo, error) {
	prov, _, s, err := c.bucketTarget(ctx, p, f, id, bucket)
	if err != nil {
		return managed.BucketInfo{}, err
	}
	u, err := prov.Usage(ctx, s)
	if err != nil {
		return managed.BucketInfo{}, providerErr(err, "measuring storage")
	}
	for _, b := range u.Buckets {
		if b.Name == bucket {
			return b, nil
		}
	}
	return managed.BucketInfo{}, notFound("bucket")
}

// ManagedCloudInfo measures the caller's storage of family f (id as for
// CreateManagedBucket) now: bytes, objects, buckets and quota.
func (c *Client) ManagedCloudInfo(ctx context.Context, p Principal, f Family, id string) (managed.Usage, error) {
	prov, err := c.provisioner(f)
	if err != nil {
		return managed.Usage{}, err
	}
	a, err := c.callerStorage(ctx, p, f, id)
	if err != nil {
		return managed.Usage{}, err
	}
	s, err := c.storageOf(a)
	if err != nil {
		return managed.Usage{}, err
	}
	u, err := prov.Usage(ctx, s)
	if err != nil {
		return managed.Usage{}, providerErr(err, "measuring storage")
	}
	return u, nil
}

// ManagedRegions lists where the family's backend provisions storage.
func (c *Client) ManagedRegions(ctx context.Context, p Principal, f Family) ([]managed.Region, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	prov, err := c.provisioner(f)
	if err != nil {
		return nil, err
	}
	r, err := prov.Regions(ctx)
	if err != nil {
		return nil, providerErr(err, "listing regions")
	}
	return r, nil
}

// ManagedCredentials are the clear credentials of one of the caller's
// managed storages (the hosted get_amove_storage).
type ManagedCredentials struct {
	AccountID  string
	AccessKey  string
	SecretKey  string
	ServiceURL string
}

// String masks the secret key.
func (m ManagedCredentials) String() string {
	return "ManagedCredentials{" + m.AccountID + " " + m.ServiceURL + " " + m.AccessKey + " ****}"
}

// StorageCredentials returns the S3 credentials of the caller's own
// managed storage, in clear: the one call that does, so a client can reach
// its storage directly. Storage opened with an access grant (Storj) has no
// key pair and is not listed. Accounts shared with the caller are not included: only
// their owner receives their keys.
func (c *Client) StorageCredentials(ctx context.Context, p Principal) ([]ManagedCredentials, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	all, err := c.store.ManagedAccounts(ctx, p.TenantID)
	if err != nil {
		return nil, storeErr(err, "managed storage")
	}
	out := []ManagedCredentials{}
	for _, a := range all {
		if a.UserID != p.UserID || !a.InternalStorage || !a.Active {
			continue
		}
		ak, sk, _, err := c.secrets(a)
		if err != nil {
			return nil, err
		}
		if ak == "" {
			continue // an access grant (Storj): no S3 keys to hand out
		}
		out = append(out, ManagedCredentials{AccountID: a.ID, AccessKey: ak, SecretKey: sk, ServiceURL: a.ServiceURL})
	}
	c.log.InfoContext(ctx, "managed storage credentials read", "user", p.UserID, "accounts", len(out))
	return out, nil
}

// SampleUsage measures every managed storage of every tenant now and
// stores the samples Usage and DailyUsage read; the agent calls it on
// ManagedOptions.SampleInterval. A storage whose family is not configured
// is skipped; the others are all tried, and their errors joined.
func (c *Client) SampleUsage(ctx context.Context) error {
	all, err := c.store.ManagedAccounts(ctx, "")
	if err != nil {
		return storeErr(err, "managed storage")
	}
	var errs []error
	for _, a := range all {
		prov, err := c.provisioner(Family(a.ManagedFamily))
		if err != nil {
			continue
		}
		s, err := c.storageOf(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u, err := prov.Usage(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", a.ID, err))
			continue
		}
		err = c.store.PutUsageSample(ctx, store.UsageSample{TenantID: a.TenantID, AccountID: a.ID, Tier: a.StorageTier,
			Bytes: u.Bytes, Objects: u.Objects, At: c.now().UTC()})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.store.DeleteUsageSamples(ctx, c.now().UTC().Add(-sampleKeep)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Usage returns the bytes the caller's tenant holds in managed storage of
// tier (TierAll: every tier), from the latest sample of each storage; 0
// when it has none.
func (c *Client) Usage(ctx context.Context, p Principal, tier StorageTier) (int64, error) {
	if err := usageArgs(p, tier); err != nil {
		return 0, err
	}
	latest, err := c.store.LatestUsage(ctx, p.TenantID)
	if err != nil {
		return 0, storeErr(err, "usage")
	}
	var sum int64
	for _, s := range latest {
		if tier == TierAll || StorageTier(s.Tier) == tier {
			sum += s.Bytes
		}
	}
	return sum, nil
}

// DailyUsage returns the most the caller's tenant held in managed storage
// of tier over the last 24 hours (TierAll: the per-tier maxima summed); 0
// when it has none. Within a tier, each storage's maximum counts: the
// storages of one tier are sampled one after the other, not at one instant.
func (c *Client) DailyUsage(ctx context.Context, p Principal, tier StorageTier) (int64, error) {
	if err := usageArgs(p, tier); err != nil {
		return 0, err
	}
	samples, err := c.store.UsageSamples(ctx, p.TenantID, c.now().UTC().Add(-24*time.Hour))
	if err != nil {
		return 0, storeErr(err, "usage")
	}
	return dailyMax(samples, tier), nil
}

// dailyMax is the maximum of each storage's samples, summed over the
// storages of tier (all of them for TierAll).
func dailyMax(samples []store.UsageSample, tier StorageTier) int64 {
	peak := map[string]int64{}
	for _, s := range samples {
		if tier != TierAll && StorageTier(s.Tier) != tier {
			continue
		}
		peak[s.AccountID] = max(peak[s.AccountID], s.Bytes)
	}
	var sum int64
	for _, b := range peak {
		sum += b
	}
	return sum
}

func usageArgs(p Principal, tier StorageTier) error {
	if err := p.check(); err != nil {
		return err
	}
	if !tier.valid() {
		return invalid("unknown storageTier %d", int(tier))
	}
	return nil
}
