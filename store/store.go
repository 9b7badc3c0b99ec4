// Package store holds the persistence contract of amove-go: the record types
// and the Store interface a Client keeps its tenants, users, cloud accounts,
// pending OAuth authorizations and transfer journal in, and the registry
// that opens a Store by DSN.
//
// Stores register themselves like database/sql drivers, so a program links
// only the ones it imports:
//
//	import _ "github.com/amove/amove-go/store/sqlite"   // "sqlite:<path>"
//	import _ "github.com/amove/amove-go/store/postgres" // "postgres://..."
//
//	st, err := store.Open(ctx, "sqlite:/var/lib/amove/amove.db")
//
// A Store may also be written outside this module: everything the interface
// names is exported here or in package transfer (the journal), Register
// makes it reachable by DSN, and package storetest is the conformance suite
// both shipped stores pass.
//
// It imports only provider and transfer (for the journal's record types;
// transfer itself imports only provider), so that amove can name it without
// an import cycle.
//
// A Store holds secrets only in sealed form: Account.AccessKey, SecretKey and
// CredentialsData are ciphertext produced by the caller. The store never sees
// the key.
package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/amove/amove-go/internal/migrate"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// Sentinel errors every Store returns; package amove maps them onto its own
// error model.
var (
	// ErrNotFound: no such row, or the row is outside the caller's tenant,
	// belongs to another owner (for owner-only updates) or is soft-deleted.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate: a unique field (id, username) is already taken.
	ErrDuplicate = errors.New("store: duplicate")
	// ErrSchemaTooNew: the database was migrated by a newer release, which
	// this one must not write to; Open refuses it.
	ErrSchemaTooNew = migrate.ErrTooNew
)

// Role is a user's UserType, with the Amove API's flag values.
type Role int

// The roles of the Amove API. ProviderAdmin, AccountAdmin and AccountUser
// values are inferred from the flag pattern (amove-api-notes.md section 4);
// the desktop values are documented.
const (
	RoleProviderAdmin Role = 1
	RoleAccountAdmin  Role = 2
	RoleAccountUser   Role = 4
	RoleDesktopAdmin  Role = 16
	RoleCreativeUser  Role = 32
	RoleStandardUser  Role = 64
)

var roleNames = map[Role]string{
	RoleProviderAdmin: "ProviderAdmin",
	RoleAccountAdmin:  "AccountAdmin",
	RoleAccountUser:   "AccountUser",
	RoleDesktopAdmin:  "DesktopAdmin",
	RoleCreativeUser:  "DesktopCreativeUser",
	RoleStandardUser:  "DesktopStandardUser",
}

// Valid reports whether r is one of the six roles.
func (r Role) Valid() bool {
	_, ok := roleNames[r]
	return ok
}

// IsAdmin reports whether r is one of the admin roles of the Amove API:
// ProviderAdmin, AccountAdmin and DesktopAdmin.
func (r Role) IsAdmin() bool {
	return r == RoleProviderAdmin || r == RoleAccountAdmin || r == RoleDesktopAdmin
}

// String returns the UserType name of the Amove API.
func (r Role) String() string {
	if s, ok := roleNames[r]; ok {
		return s
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// Tenant is an Amove account: the unit of sharing and isolation.
type Tenant struct {
	ID      string
	Name    string
	Created time.Time
}

// User belongs to exactly one tenant.
type User struct {
	ID       string
	TenantID string
	// Username is unique across the store, stored lower-case.
	Username string
	Email    string
	Role     Role
	// PasswordHash is a bcrypt hash; empty means the user cannot log in
	// with a password (token-only users).
	PasswordHash string
	Active       bool
	Created      time.Time
}

// Account is a stored cloud account. AccessKey, SecretKey and
// CredentialsData are sealed by the caller; the store keeps them opaque.
type Account struct {
	ID              string
	TenantID        string
	UserID          string
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
	StorageTier     int
	Created         time.Time
	Updated         time.Time
	// Driver is the registry name of the account's driver when it is not
	// CloudType's own (a third-party driver); empty otherwise.
	Driver string
	// ManagedFamily and ManagedID are set on Amove-managed storage
	// (InternalStorage): the family that provisioned it ("storj" or
	// "idrive") and the backend's own id of the storage (managed.Storage.ID),
	// so it can be measured and decommissioned later. Empty otherwise.
	ManagedFamily string
	ManagedID     string
}

// AccountQuery selects the live (not deleted, active) accounts of one tenant
// that a user may see: their own, plus the tenant's shared accounts when
// IncludeShared is set.
type AccountQuery struct {
	TenantID      string
	UserID        string
	IncludeShared bool
}

// Store persists tenants, users, cloud accounts and (through Journal)
// transfer jobs. Implementations are safe
// for concurrent use by many goroutines (and, for shared stores, by several
// processes).
type Store interface {
	// CreateTenant stores a tenant and its first user in one transaction.
	CreateTenant(ctx context.Context, t Tenant, owner User) error
	// CreateUser stores a user of an existing tenant. A taken username or id
	// is ErrDuplicate; an unknown tenant is ErrNotFound.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns a user by id; no such user is ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByUsername returns a user by (lower-case) username; no such
	// user is ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// SetUserActive activates or deactivates a user of the tenant; no such
	// user is ErrNotFound.
	SetUserActive(ctx context.Context, tenantID, id string, active bool) error

	// InsertAccount stores a new account. A taken id is ErrDuplicate; an
	// unknown tenant or user is ErrNotFound.
	InsertAccount(ctx context.Context, a Account) error
	// GetAccount returns a live account of the tenant; anything else
	// (another tenant's, deleted, missing) is ErrNotFound.
	GetAccount(ctx context.Context, tenantID, id string) (Account, error)
	// ListAccounts returns the matching live, active accounts ordered by
	// name, then id.
	ListAccounts(ctx context.Context, q AccountQuery) ([]Account, error)
	// SetShared changes the shared flag of a live account owned by ownerID
	// in tenantID, atomically; no such account is ErrNotFound.
	SetShared(ctx context.Context, tenantID, ownerID, id string, shared bool, at time.Time) error
	// DeleteAccount soft-deletes a live account owned by ownerID: the row
	// stays with its deletion time. No such account is ErrNotFound.
	DeleteAccount(ctx context.Context, tenantID, ownerID, id string, at time.Time) error

	OAuthStore
	ManagedStore

	// Journal returns the store as the transfer engine's journal, so jobs
	// survive an agent restart. It is a view on the store, valid until
	// Close.
	Journal() transfer.Journal

	// Close releases the store's connections; the Client that opened a
	// store by DSN closes it, one given as Options.Store is left open.
	Close() error
}

// OAuthState is a pending OAuth authorization: what the user asked for when
// the authorization URL was made, kept until the provider redirects back.
// Key is a digest of the state parameter (the state itself is a bearer
// secret and is never stored). Verifier is the sealed PKCE code verifier.
type OAuthState struct {
	Key         string
	TenantID    string
	UserID      string
	CloudType   provider.CloudType
	RedirectURL string
	CloudName   string
	Shared      bool
	Verifier    string
	Created     time.Time
	Expires     time.Time
}

// OAuthStore keeps pending OAuth authorizations and writes back refreshed
// OAuth tokens. It is part of Store; it is a separate interface only to keep
// the OAuth additions in one place.
type OAuthStore interface {
	// PutOAuthState stores a pending authorization; a taken key is
	// ErrDuplicate. Implementations may drop states that expired before
	// s.Created while they are at it.
	PutOAuthState(ctx context.Context, s OAuthState) error
	// TakeOAuthState removes and returns the state stored under key in one
	// atomic step, so a state is used at most once even when two callbacks
	// race. A missing key is ErrNotFound. The caller checks Expires.
	TakeOAuthState(ctx context.Context, key string) (OAuthState, error)
	// UpdateCredentials replaces the sealed credentials_data of a live
	// account of the tenant (a refreshed OAuth token). It does not check
	// the owner: whoever may use a shared account refreshes its token.
	// No such account is ErrNotFound.
	UpdateCredentials(ctx context.Context, tenantID, id, credentialsData string, at time.Time) error
}

// UsageSample is what one managed storage held at one time.
type UsageSample struct {
	TenantID  string
	AccountID string
	Tier      int
	Bytes     int64
	Objects   int64
	At        time.Time
}

// ManagedStore finds the managed-storage accounts and keeps their usage
// samples. It is part of Store; a separate interface only to keep the
// managed-storage additions in one place.
type ManagedStore interface {
	// ManagedAccounts returns the live accounts with a ManagedID, of one
	// tenant or, when tenantID is empty, of every tenant, ordered by id.
	ManagedAccounts(ctx context.Context, tenantID string) ([]Account, error)
	// PutUsageSample stores a sample.
	PutUsageSample(ctx context.Context, s UsageSample) error
	// UsageSamples returns the tenant's samples taken at or after since,
	// deleted accounts' included, oldest first.
	UsageSamples(ctx context.Context, tenantID string, since time.Time) ([]UsageSample, error)
	// LatestUsage returns the newest sample of each live account of the
	// tenant, ordered by account id.
	LatestUsage(ctx context.Context, tenantID string) ([]UsageSample, error)
	// DeleteUsageSamples drops every sample taken before before.
	DeleteUsageSamples(ctx context.Context, before time.Time) error
}
