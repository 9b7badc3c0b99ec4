// Package amove is the amove-go SDK: a Client that keeps users and cloud
// accounts in a Store (SQLite embedded, PostgreSQL shared), encrypts their
// credentials at rest, authenticates users, and runs storage operations and
// transfers on an account through the provider drivers. The amove command
// (the agent and the CLI) and package httpapi are thin layers over it; a Go
// program embeds the same Client.
//
// # Opening a Client
//
// New opens a Client on what its Options name, and nothing else: a store
// (Options.DSN or Options.Store) and a key (Options.KeyFile or
// Options.SecretKey). Stores register by name like database/sql drivers, so
// a program imports the one its DSN names:
//
//	import _ "github.com/amove/amove-go/store/sqlite"
//
//	c, err := amove.New(ctx, amove.Options{
//		DSN:     "sqlite:/var/lib/myapp/amove.db", // or "postgres://..." with store/postgres
//		KeyFile: "/var/lib/myapp/secret.key",       // created with mode 0600 on first run
//	})
//	if err != nil { ... }
//	defer c.Close()
//
// OpenDefault does the same with the files of the user's configuration
// directory, as the amove command does. Several processes may share one
// PostgreSQL store (and one key): the CLI and the agent share one SQLite
// store on a desktop. Drivers are linked in by import too:
// provider/all links every driver of this module, or import only those
// you use (provider/s3, provider/dropbox, ...).
//
// # Principals, tenants and users
//
// Every method that acts for someone takes the context first and a
// Principal second: the authenticated caller, whose visibility and
// ownership every call checks. Get one from Authenticate (a token from
// Login, IssueToken or the configured Authenticator) or from User.Principal
// right after CreateTenant or CreateUser. A Principal built by hand is
// trusted as is; build one only for a caller authenticated some other way.
//
// A Tenant is an Amove account, an organisation: CreateTenant makes one with
// its first user; admins add users with CreateUser and switch them off with
// SetUserActive. A Role (RoleAccountAdmin, RoleCreativeUser, ...) decides
// what a user sees: users see their own cloud accounts; admins and creative
// users also see the accounts shared within their tenant; only the owner
// changes sharing or deletes.
//
// # Cloud accounts
//
// InsertAccount stores a cloud account (a NewAccount: the CloudType, one of
// the 14 of the Amove API, and its keys) after checking the credentials with
// the provider; ProbeBuckets checks them without storing anything. Accounts
// come back as CloudAccount with their secrets masked; ListAccounts,
// GetAccount, SetShared and DeleteAccount manage them. OAuth accounts
// (Dropbox, Box, OneDrive, Google Drive) are connected through
// AuthorizationURL and CompleteAuthorization (see OAuth below).
//
// # Storage
//
// The portable storage API works the same on every account, like
// gocloud.dev's blob.Bucket over its drivers: input is checked once,
// driver errors are wrapped, and what a driver cannot do is ErrUnsupported
// with its reason.
//
//   - ListBuckets, ListObjects (one page) and Walk (every object, an
//     iter.Seq2 that fetches pages as the loop needs them)
//   - CreateBucket and DeleteBucket, where the driver manages buckets
//     (provider.BucketManager)
//   - Stat, NewReader and NewRangeReader
//   - NewWriter, a Writer that streams an object of unknown size, in parts
//     where the driver has multipart uploads, and checks it against the
//     provider's checksums; Close completes it, Abort discards it
//   - CopyObject (server-side when the driver is a provider.Copier),
//     DeleteObject, CreateFolder
//   - SignedURL, a URL a plain HTTP client can use without credentials
//   - Features, what the account's driver supports, as data
//     (provider.Features)
//
// # Transfers
//
// Transfers are background jobs run by the transfer engine: Upload,
// Download, Copy (cloud to cloud), StartServerTransfer and
// StartP2PTransfer start one and return its id at once (BytesPerSecond on
// a request caps its bandwidth). TransferStatus,
// ListTransfers and WaitTransfer report on them; PauseTransfer,
// ResumeTransfer and CancelTransfer control them; Subscribe delivers their
// progress and state events (what the agent forwards to /notification).
// Each transfer is journaled in the store part by part, so a transfer an
// earlier process left running continues from its last part when one
// process on the store calls RestoreTransfers (the agent does; short-lived
// clients such as the CLI do not). Options.Transfers sets concurrency,
// part size and retention.
//
// # Drivers
//
// A driver implements provider.Storage and registers under a name in its
// init, like a database/sql driver: provider.Register(name, opener). The
// drivers of this module register the names of CloudType.DriverName, so an
// account of cloud type Wasabi opens the driver registered as
// provider.Wasabi.DriverName(). A driver outside this module registers a
// name of its own, and its accounts set NewAccount.Driver to that name;
// examples/thirdparty is a complete one. Options.OpenStorage replaces the
// registry altogether (tests hand every account an in-memory
// provider/memory store that way).
//
// # OAuth
//
// Options.OAuth names the application of each OAuth cloud type
// (oauth.Dropbox, oauth.Box, oauth.OneDrive, oauth.GoogleDrive,
// oauth.FrameIO; the agent's API has no Frame.io callback route, so Frame.io
// accounts are inserted with their token JSON in credentialsData).
// AuthorizationURL returns the provider's consent URL with a one-time
// state; CompleteAuthorization takes the callback, exchanges the code and
// creates the account. The Client then gives each of these accounts'
// drivers a refreshing token source (oauth.NewTokenSource) that seals every
// new token back into the store. Package oauth depends only on provider, so
// a program that opens drivers without a Client uses it directly.
//
// # Errors
//
// Errors the Client returns for a caller's mistake are *Error values with a
// Code of the Amove API (ErrorCode reads it from any error); errors.Is
// matches them against ErrValidation, ErrNotFound, ErrForbidden and
// ErrUnauthorized. Storage errors also match the driver sentinels of
// package provider (provider.ErrNotFound, provider.ErrPermission,
// provider.ErrRateLimited, provider.ErrUnsupported, ...) through the
// wrapping, and errors.As reaches the provider's own error. ErrRateLimited
// and RetryAfter report a throttled sign-in. See docs/errors.md.
//
// # Concurrency and security
//
// A Client is safe for concurrent use, and so are the drivers; one Client
// per process is the intended use, closed (Close) when the process ends.
// Credentials are sealed with AES-GCM before they reach the Store, which
// never sees a key or a secret; every key and token names its key id, and
// RotateKeys replaces the keys. Secrets are masked in CloudAccount and in
// every String, GoString and LogValue. Unless Options.HTTPClient replaces
// it, the drivers' HTTP client sends requests only where Options.Outbound
// allows (by default no link-local addresses and no redirects to another
// host), and no transfer reads or writes the Client's own files or
// Options.ProtectedPaths. See docs/security.md.
package amove
