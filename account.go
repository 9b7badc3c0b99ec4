package amove

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

// StorageTier is the Amove API's StorageTier flag.
type StorageTier int

// Storage tiers. TierAll is a filter value; on an account zero means unset.
const (
	TierAll             StorageTier = 0
	TierPerform         StorageTier = 1
	TierGlobal          StorageTier = 2
	TierScale           StorageTier = 4
	TierArchive         StorageTier = 8
	TierAmoveConnection StorageTier = 16
)

func (t StorageTier) valid() bool {
	switch t {
	case TierAll, TierPerform, TierGlobal, TierScale, TierArchive, TierAmoveConnection:
		return true
	}
	return false
}

// CloudAccount is a cloud account as the Client returns it: AccessKey and
// SecretKey show at most their last four characters, CredentialsData shows
// only whether it is set ("****").
type CloudAccount struct {
	ID              string
	TenantID        string // the owning tenant (an Amove account; the API's "accountId")
	UserID          string // the owner
	CloudType       provider.CloudType
	Name            string
	Region          string
	Endpoint        string
	ServiceURL      string
	AccessKey       string
	SecretKey       string
	CredentialsData string
	Shared          bool
	Active          bool
	InternalStorage bool
	StorageTier     StorageTier
	// Driver is the registry name of a third-party driver (see
	// NewAccount.Driver); empty for the drivers of the 14 cloud types.
	Driver string
}

// NewAccount is the input of InsertAccount. It carries secrets in clear;
// its String, GoString and LogValue mask them.
type NewAccount struct {
	CloudType       provider.CloudType
	Name            string
	Region          string
	Endpoint        string
	ServiceURL      string
	AccessKey       string
	SecretKey       string
	CredentialsData string
	Shared          bool
	StorageTier     StorageTier
	// Driver names a driver registered with provider.Register outside this
	// module (CloudType is then zero, or the product the driver stands in
	// for); the account is opened by that name. Empty means CloudType's own
	// driver.
	Driver string
}

func (n NewAccount) config() provider.Config {
	return provider.Config{CloudType: n.CloudType, Driver: n.Driver, AccessKey: n.AccessKey, SecretKey: n.SecretKey,
		Region: n.Region, Endpoint: n.Endpoint, ServiceURL: n.ServiceURL, CredentialsData: n.CredentialsData}
}

// driverConfig is n's configuration with the client's shared HTTP client.
func (c *Client) driverConfig(n NewAccount) provider.Config {
	cfg := n.config()
	cfg.HTTPClient, cfg.Logger = c.httpClient, c.log
	return cfg
}

// String masks the secrets.
func (n NewAccount) String() string { return "NewAccount{" + n.Name + " " + n.config().String() + "}" }

// GoString masks the secrets for %#v too.
func (n NewAccount) GoString() string { return n.String() }

// keyPairTypes need an access key and secret key; tokenTypes need
// credentialsData (OAuth tokens, service-account JSON). The rest are checked
// by their drivers only.
var (
	keyPairTypes = map[provider.CloudType]bool{provider.AWS: true, provider.Wasabi: true, provider.Azure: true,
		provider.S3Generic: true, provider.Cloudflare: true, provider.Atomosphere: true}
	tokenTypes = map[provider.CloudType]bool{provider.Dropbox: true, provider.Box: true,
		provider.OneDrive: true, provider.GoogleDrive: true, provider.Frame: true}
)

func (n NewAccount) validate() error {
	name := strings.TrimSpace(n.Name)
	if n.Driver != "" {
		if _, err := provider.ResolveDriver(n.config()); err != nil {
			return invalid("%v", err)
		}
	}
	switch {
	case name == "":
		return invalid("name is empty")
	case utf8.RuneCountInString(name) > maxNameLen:
		return invalid("name is longer than %d characters", maxNameLen)
	case n.Driver == "" && !n.CloudType.Valid():
		return invalid("unknown cloudType %d", int(n.CloudType))
	case !n.StorageTier.valid():
		return invalid("unknown storageTier %d", int(n.StorageTier))
	case keyPairTypes[n.CloudType] && (n.AccessKey == "" || n.SecretKey == ""):
		return invalid("%s needs accessKey and secretKey", n.CloudType)
	case tokenTypes[n.CloudType] && n.CredentialsData == "":
		return invalid("%s needs credentialsData", n.CloudType)
	case (n.CloudType == provider.S3Generic || n.CloudType == provider.Atomosphere) && n.ServiceURL == "" && n.Endpoint == "":
		return invalid("%s needs serviceUrl or endpoint", n.CloudType)
	case (n.CloudType == provider.LocalHttp || n.CloudType == provider.FastrServer) && n.ServiceURL == "":
		return invalid("%s needs serviceUrl", n.CloudType)
	}
	return nil
}

// sealAD is the associated data of a "v1:" value, bound to its row and
// column only; values sealed now are bound to tenant and owner too (accountAD).
func sealAD(id, field string) string { return "cloud_accounts/" + id + "/" + field }

func (c *Client) seal(a store.Account, plain map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(plain))
	for field, v := range plain {
		s, err := c.sealValue(v, accountAD(a, field))
		if err != nil {
			return nil, err
		}
		out[field] = s
	}
	return out, nil
}

// secrets opens the sealed fields of a stored account.
func (c *Client) secrets(a store.Account) (accessKey, secretKey, credentialsData string, err error) {
	var errs [3]error
	accessKey, errs[0] = c.openValue(a.AccessKey, accountAD(a, "access_key"), sealAD(a.ID, "access_key"))
	secretKey, errs[1] = c.openValue(a.SecretKey, accountAD(a, "secret_key"), sealAD(a.ID, "secret_key"))
	credentialsData, errs[2] = c.openValue(a.CredentialsData, accountAD(a, "credentials_data"), sealAD(a.ID, "credentials_data"))
	if err := errors.Join(errs[:]...); err != nil {
		// Matches ErrDecrypt. Nothing of the value is used or shown.
		return "", "", "", fmt.Errorf("amove: account %s: cannot decrypt the stored credentials "+
			"(sealed for another account, owner or tenant, or with a key this agent does not hold): %w", a.ID, err)
	}
	return accessKey, secretKey, credentialsData, nil
}

func (c *Client) accountOut(a store.Account) (CloudAccount, error) {
	ak, sk, cd, err := c.secrets(a)
	if err != nil {
		return CloudAccount{}, err
	}
	if cd != "" {
		cd = "****"
	}
	return CloudAccount{
		ID: a.ID, TenantID: a.TenantID, UserID: a.UserID, CloudType: a.CloudType, Driver: a.Driver, Name: a.Name,
		Region: a.Region, Endpoint: a.Endpoint, ServiceURL: a.ServiceURL,
		AccessKey: provider.Mask(ak), SecretKey: provider.Mask(sk), CredentialsData: cd,
		Shared: a.Shared, Active: a.Active, InternalStorage: a.InternalStorage, StorageTier: StorageTier(a.StorageTier),
	}, nil
}

// InsertAccount validates the input, checks the credentials against the
// provider (listing buckets) and stores the account, owned by the caller,
// with its secrets sealed. Any failure stores nothing.
func (c *Client) InsertAccount(ctx context.Context, p Principal, in NewAccount) (CloudAccount, error) {
	if err := p.check(); err != nil {
		return CloudAccount{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := in.validate(); err != nil {
		return CloudAccount{}, err
	}
	now := c.now().UTC()
	a := store.Account{
		ID: uuid.NewString(), TenantID: p.TenantID, UserID: p.UserID, CloudType: in.CloudType, Driver: in.Driver, Name: in.Name,
		Region: in.Region, Endpoint: in.Endpoint, ServiceURL: in.ServiceURL, Shared: in.Shared, Active: true,
		StorageTier: int(in.StorageTier), Created: now, Updated: now,
	}
	cfg := c.driverConfig(in)
	mem := &memoryCredentials{cd: in.CredentialsData}
	if err := c.withTokenSource(ctx, &cfg, a, mem.save); err != nil {
		return CloudAccount{}, err
	}
	if err := c.checkCredentials(ctx, cfg); err != nil {
		return CloudAccount{}, err
	}
	in.CredentialsData = mem.get() // refreshed during the check, perhaps
	if err := c.sealAndInsert(ctx, &a, in); err != nil {
		return CloudAccount{}, err
	}
	c.log.InfoContext(ctx, "cloud account added", "account", a.ID, "cloudType", a.CloudType.String(), "driver", a.Driver, "user", p.UserID)
	return c.accountOut(a)
}

// sealAndInsert seals in's secrets into a and stores it: the one way an
// account reaches the store (InsertAccount, AddStorage).
func (c *Client) sealAndInsert(ctx context.Context, a *store.Account, in NewAccount) error {
	sealed, err := c.seal(*a, map[string]string{
		"access_key": in.AccessKey, "secret_key": in.SecretKey, "credentials_data": in.CredentialsData})
	if err != nil {
		return err
	}
	a.AccessKey, a.SecretKey, a.CredentialsData = sealed["access_key"], sealed["secret_key"], sealed["credentials_data"]
	if err := c.store.InsertAccount(ctx, *a); err != nil {
		return storeErr(err, "cloud account")
	}
	return nil
}

// checkCredentials opens the driver and lists buckets. Rejected credentials,
// a missing driver or an unreachable provider are all validation errors:
// the caller must fix the input, and nothing is stored.
func (c *Client) checkCredentials(ctx context.Context, cfg provider.Config) error {
	ctx, cancel := context.WithTimeout(ctx, c.validateTimeout)
	defer cancel()
	cfg.Logger = c.log
	st, err := c.open(ctx, cfg)
	if err == nil {
		_, err = st.ListBuckets(ctx)
		st.Close()
	}
	err = redact(err, cfg.AccessKey, cfg.SecretKey, cfg.CredentialsData)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, provider.ErrOutboundRefused):
		return &Error{Code: CodeDefault, Message: "the agent's outbound policy does not allow this endpoint (see amove serve -allow-host)", Err: err}
	case errors.Is(err, provider.ErrUnauthenticated), errors.Is(err, provider.ErrPermission):
		return &Error{Code: CodeDefault, Message: "the provider rejected the credentials", Err: err}
	case errors.Is(err, provider.ErrUnsupported):
		return &Error{Code: CodeDefault, Message: "no driver for " + driverLabel(cfg.CloudType, cfg.Driver), Err: err}
	}
	return &Error{Code: CodeDefault, Message: "could not validate the credentials with the provider", Err: err}
}

// account returns the live account id if p may see it: its owner, or any
// admin or creative user of the same tenant when it is shared. Anything else
// is NOT_FOUND, so other tenants' ids and private accounts are not revealed.
func (c *Client) account(ctx context.Context, p Principal, id string) (store.Account, error) {
	if err := p.check(); err != nil {
		return store.Account{}, err
	}
	canon, ok := canonicalID(id)
	if !ok {
		return store.Account{}, invalid("cloud account id %q is not a uuid", truncate(id, 40))
	}
	a, err := c.store.GetAccount(ctx, p.TenantID, canon)
	if err != nil {
		return store.Account{}, storeErr(err, "cloud account")
	}
	visible := a.UserID == p.UserID || (a.Shared && seesShared(p.Role))
	if !visible || !a.Active {
		return store.Account{}, notFound("cloud account")
	}
	return a, nil
}

// canonicalID accepts a uuid in any form uuid.Parse knows and returns its
// lower-case hyphenated form, the only one stored, so SQLite (text) and
// PostgreSQL (uuid) match the same ids.
func canonicalID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// GetAccount returns one visible account.
func (c *Client) GetAccount(ctx context.Context, p Principal, id string) (CloudAccount, error) {
	a, err := c.account(ctx, p, id)
	if err != nil {
		return CloudAccount{}, err
	}
	return c.accountOut(a)
}

// ListAccounts returns the caller's own active accounts and, for admins and
// creative users, those shared within the tenant, ordered by name.
func (c *Client) ListAccounts(ctx context.Context, p Principal) ([]CloudAccount, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	list, err := c.store.ListAccounts(ctx, store.AccountQuery{TenantID: p.TenantID, UserID: p.UserID, IncludeShared: seesShared(p.Role)})
	if err != nil {
		return nil, storeErr(err, "cloud accounts")
	}
	out := make([]CloudAccount, 0, len(list))
	for _, a := range list {
		ca, err := c.accountOut(a)
		if err != nil {
			return nil, err
		}
		out = append(out, ca)
	}
	return out, nil
}

// ownerOnly loads an account for a change only its owner may make: ACCESS
// when the caller sees it but does not own it.
func (c *Client) ownerOnly(ctx context.Context, p Principal, id, what string) (string, error) {
	a, err := c.account(ctx, p, id)
	if err != nil {
		return "", err
	}
	if a.UserID != p.UserID {
		return "", &Error{Code: CodeAccess, Message: "only the owner may " + what}
	}
	return a.ID, nil
}

// SetShared shares or unshares an account within the tenant (manage_share).
// Only the owner may. Unsharing pauses the other users' transfers on it
// (revoke.go).
func (c *Client) SetShared(ctx context.Context, p Principal, id string, shared bool) error {
	id, err := c.ownerOnly(ctx, p, id, "change sharing")
	if err != nil {
		return err
	}
	// The store re-checks ownership in the same statement, so a concurrent
	// delete cannot be undone by this update.
	if err := c.store.SetShared(ctx, p.TenantID, p.UserID, id, shared, c.now().UTC()); err != nil {
		return storeErr(err, "cloud account")
	}
	c.log.InfoContext(ctx, "cloud account sharing changed", "account", id, "shared", shared)
	if !shared {
		c.accountRevoked(ctx, p.TenantID, id, p.UserID, "account unshared")
	}
	return nil
}

// DeleteAccount soft-deletes an account: it disappears from Get and List and
// its row is kept. Only the owner may. Every transfer on it is paused
// (revoke.go). The storage of a managed account is decommissioned with its
// last account (managed.go), so none is left behind on the backend.
func (c *Client) DeleteAccount(ctx context.Context, p Principal, id string) error {
	id, err := c.ownerOnly(ctx, p, id, "delete the account")
	if err != nil {
		return err
	}
	if err := c.releaseManaged(ctx, p.TenantID, id); err != nil {
		return err
	}
	if err := c.store.DeleteAccount(ctx, p.TenantID, p.UserID, id, c.now().UTC()); err != nil {
		return storeErr(err, "cloud account")
	}
	c.log.InfoContext(ctx, "cloud account deleted", "account", id)
	c.accountRevoked(ctx, p.TenantID, id, "", "account deleted")
	return nil
}

// driverLabel names an account's driver in messages: the cloud type, or the
// third-party driver's name.
func driverLabel(t provider.CloudType, driver string) string {
	if driver != "" {
		return driver
	}
	return t.String()
}
