package amove

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/internal/jobs"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
	"github.com/amove/amove-go/transfer"
)

// Options configure a Client. New opens only what they name: a store (DSN
// or Store) and a key (SecretKey or KeyFile) are required, and nothing is
// read or written elsewhere. OpenDefault fills the two from the user's
// configuration directory.
type Options struct {
	// DSN selects the store through store.Open: "sqlite:<path>" needs
	// package store/sqlite imported, "postgres://..." (or
	// "postgresql://") store/postgres, so a program links only the store
	// it uses:
	//
	//	import _ "github.com/amove/amove-go/store/sqlite"
	//
	// Ignored when Store is set.
	DSN string
	// Store is used as is when set; the Client does not close it.
	Store store.Store
	// SecretKey, when set, is a 32-byte key that seals credentials, and
	// signs tokens through a key derived from it; no file is read or
	// written, and RotateKeys is refused. When nil the keys are in the
	// keyring file next to KeyFile (keys.go).
	SecretKey []byte
	// KeyFile names the key file when SecretKey is nil. The keyring file,
	// created on first run (mode 0600), is the same path with ".keyring"
	// in place of ".key"; a key file left by an earlier version is kept as
	// the legacy key, which still opens what it sealed.
	KeyFile string
	// Logger receives diagnostics; never secrets. Nil means slog.Default().
	Logger *slog.Logger
	// OpenStorage opens a driver for an account; nil means provider.Open.
	// Tests and embedders use it to supply drivers directly.
	OpenStorage func(ctx context.Context, cfg provider.Config) (provider.Storage, error)
	// Authenticator issues and verifies tokens; nil means HS256 JWTs signed
	// with the keyring's sign key, valid for TokenTTL.
	Authenticator Authenticator
	// TokenTTL is the lifetime of tokens the default Authenticator issues;
	// zero means 12 hours.
	TokenTTL time.Duration
	// ValidateTimeout bounds the credential check on InsertAccount; zero
	// means 15 seconds.
	ValidateTimeout time.Duration
	// Transfers configure the transfer engine.
	Transfers TransferOptions
	// HTTPClient is shared by every driver the client opens, so connections
	// to a provider are reused across calls and transfers. Nil means
	// provider.NewHTTPClient().
	HTTPClient *http.Client
	// Outbound bounds where the default HTTP client (HTTPClient nil) may
	// send requests (provider.OutboundPolicy). The zero value refuses
	// redirects to another host and link-local (cloud metadata) addresses;
	// AllowHosts pins the hosts. Ignored when HTTPClient is set.
	Outbound provider.OutboundPolicy
	// OAuth configures OAuth accounts (Dropbox, Box, OneDrive, Google
	// Drive): the apps of AuthorizationURL and CompleteAuthorization, and
	// the refreshing token sources of their drivers, whose new tokens are
	// sealed back into the store. The zero value configures none.
	OAuth OAuthOptions
	// LoginLockout backs a username off after failed sign-ins (Login);
	// the zero value is five attempts, then 1 s doubling to 15 min.
	LoginLockout LoginLockout
	// ProtectedPaths are local files and folders no transfer may read or
	// write (transfer.ErrProtected), beside those the Client protects on
	// its own: its key file and its SQLite database (with its WAL), and the
	// whole default configuration folder when OpenDefault chose it. An
	// agent adds its configuration and data folders.
	ProtectedPaths []string
	// Managed configures Amove-managed storage (managed.go): a backend per
	// family, the welcome mail and the usage sampler. The zero value
	// configures none.
	Managed ManagedOptions
}

// Client is safe for concurrent use.
type Client struct {
	store           store.Store
	ownStore        bool
	keys            *keyring // seal and sign keys (keys.go)
	log             *slog.Logger
	open            func(ctx context.Context, cfg provider.Config) (provider.Storage, error)
	auth            Authenticator
	validateTimeout time.Duration
	oauth           *oauthTokens // OAuth apps and token sources (oauth.go)
	now             func() time.Time
	engine          *transfer.Engine
	protected       []string    // Options.ProtectedPaths and the Client's own files
	revoked         revocations // OnUserDeactivated's functions (revoke.go)
	httpClient      *http.Client
	logins          *loginGuard // Login's failures per username (login.go)
	// queue carries the transfers when TransferOptions.AgentID is set
	// (queue.go); stopPublish and published end the forwarding of this
	// agent's events to the others.
	queue       *jobs.Queue
	stopPublish func()
	published   sync.WaitGroup
	managed     *managedState // backends and usage sampler (managed.go)
}

// New opens the store and the key opts name and returns a Client; Close
// releases them. It has no other effect: transfers that an earlier Client
// left unfinished in the store stay at rest until RestoreTransfers.
func New(ctx context.Context, opts Options) (*Client, error) {
	if opts.Store == nil && opts.DSN == "" {
		return nil, errors.New("amove: no store: set Options.DSN (sqlite:<path> or postgres://...) or Options.Store, or use amove.OpenDefault")
	}
	if opts.SecretKey == nil && opts.KeyFile == "" {
		return nil, errors.New("amove: no key: set Options.KeyFile or Options.SecretKey, or use amove.OpenDefault")
	}
	c := &Client{
		log:             opts.Logger,
		open:            opts.OpenStorage,
		validateTimeout: opts.ValidateTimeout,
		oauth:           newOAuthTokens(opts.OAuth),
		now:             time.Now,
		logins:          newLoginGuard(opts.LoginLockout),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.httpClient = opts.HTTPClient
	if c.httpClient == nil {
		hc, err := opts.Outbound.NewHTTPClient()
		if err != nil {
			return nil, fmt.Errorf("amove: Options.Outbound: %w", err)
		}
		c.httpClient = hc
	}
	if c.open == nil {
		c.open = provider.Open
	}
	if c.validateTimeout <= 0 {
		c.validateTimeout = 15 * time.Second
	}

	c.protected = append(ownFiles(opts), opts.ProtectedPaths...)
	ttl := opts.TokenTTL
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	keys, err := openKeyring(opts, ttl, c.now())
	if err != nil {
		return nil, err
	}
	c.keys = keys
	c.auth = opts.Authenticator
	if c.auth == nil {
		c.auth = &keyringAuthenticator{keys: keys, ttl: ttl, now: func() time.Time { return c.now() }}
	}

	if opts.Store != nil {
		c.store = opts.Store
	} else {
		s, err := store.Open(ctx, opts.DSN)
		if err != nil {
			return nil, err
		}
		c.store, c.ownStore = s, true
	}
	if err := c.startEngine(ctx, opts.Transfers); err != nil {
		if c.ownStore {
			c.store.Close()
		}
		return nil, err
	}
	c.startManaged(opts.Managed)
	return c, nil
}

// OpenDefault opens a Client on the files of the user's configuration
// directory (<os.UserConfigDir>/amove) for what opts leave unset: the
// SQLite store amove.db when neither DSN nor Store is set, the key file
// secret.key when neither SecretKey nor KeyFile is. Both are created on
// first use, and the whole folder is then protected from transfers
// (Options.ProtectedPaths). The amove command opens its Client so; an
// embedder that keeps its data elsewhere calls New. Like New, it leaves
// unfinished transfers alone until RestoreTransfers. The default store
// needs package store/sqlite imported.
func OpenDefault(ctx context.Context, opts Options) (*Client, error) {
	noStore := opts.Store == nil && opts.DSN == ""
	noKey := opts.SecretKey == nil && opts.KeyFile == ""
	if noStore || noKey {
		dir, err := configDir()
		if err != nil {
			return nil, err
		}
		if noStore {
			opts.DSN = "sqlite:" + filepath.Join(dir, "amove.db")
		}
		if noKey {
			opts.KeyFile = filepath.Join(dir, "secret.key")
		}
		// A copy: the caller's slice is not written to.
		opts.ProtectedPaths = append(slices.Clip(opts.ProtectedPaths), dir)
	}
	return New(ctx, opts)
}

// ownFiles are the local paths of the Client's secrets and store, which no
// transfer may read or write (Options.ProtectedPaths).
func ownFiles(opts Options) []string {
	var own []string
	if opts.SecretKey == nil && opts.KeyFile != "" {
		own = append(own, opts.KeyFile, keyringPath(opts.KeyFile), keyringPath(opts.KeyFile)+".lock")
	}
	if db, ok := strings.CutPrefix(opts.DSN, "sqlite:"); ok && opts.Store == nil {
		// SQLite keeps the database's recent writes beside it.
		own = append(own, db, db+"-wal", db+"-shm", db+"-journal")
	}
	return own
}

func configDir() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("amove: no configuration directory (call New with Options.DSN and Options.KeyFile): %w", err)
	}
	return filepath.Join(dir, "amove"), nil
}

// Close stops the usage sampler (ManagedOptions) and the transfers this
// Client runs (StopTransfers), and closes the store when the Client opened
// it.
func (c *Client) Close() error {
	c.stopManaged()
	// Running transfers stop first and stay "running" in the journal, so the
	// next Client on the same store continues them (RestoreTransfers).
	if c.engine != nil {
		c.StopTransfers()
	}
	if c.ownStore {
		return c.store.Close()
	}
	return nil
}
