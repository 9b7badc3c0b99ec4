package amove

import "github.com/amove/amove-go/internal/store"

// Store persists tenants, users and cloud accounts, and, through Journal,
// the transfer engine's jobs, so a transfer survives an agent restart. The
// SQLite and PostgreSQL stores are opened by Options.DSN; a custom
// implementation can be passed as Options.Store, naming only the aliases
// below and package transfer (for Journal). Sealed fields hold ciphertext:
// the Client encrypts before it stores and decrypts after it loads, so a
// Store never sees a secret or the key.
type Store = store.Store

// Record types of the Store interface.
type (
	// StoredTenant is a tenant as the Store keeps it.
	StoredTenant = store.Tenant
	// StoredUser is a user as the Store keeps it, password hashed.
	StoredUser = store.User
	// StoredAccount is a cloud account as the Store keeps it, secrets
	// sealed.
	StoredAccount = store.Account
	// AccountQuery selects the live accounts of one tenant a user may see.
	AccountQuery = store.AccountQuery
)

// Store sentinels a custom Store returns so the Client maps them onto
// ErrNotFound and the DUPLICATE code.
var (
	ErrStoreNotFound  = store.ErrNotFound
	ErrStoreDuplicate = store.ErrDuplicate
)
