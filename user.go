package amove

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/amove/amove-go/store"
)

// Role is a user's UserType in the Amove API.
type Role = store.Role

// The roles. Admins are ProviderAdmin, AccountAdmin and DesktopAdmin.
const (
	RoleProviderAdmin = store.RoleProviderAdmin
	RoleAccountAdmin  = store.RoleAccountAdmin
	RoleAccountUser   = store.RoleAccountUser
	RoleDesktopAdmin  = store.RoleDesktopAdmin
	RoleCreativeUser  = store.RoleCreativeUser
	RoleStandardUser  = store.RoleStandardUser
)

// seesShared reports whether a role sees the accounts other users of its
// tenant have shared: admins and creative users do, AccountUser and
// DesktopStandardUser see only their own (amove-api-notes.md section 4).
func seesShared(r Role) bool { return r.IsAdmin() || r == RoleCreativeUser }

// Principal is the authenticated caller every Client method acts for. Get
// one from Authenticate (or Login); a Principal built by hand is trusted as
// is, so only do that for callers authenticated some other way.
type Principal struct {
	UserID   string
	TenantID string
	Role     Role
	// Expires is when the token the principal came from expires (sessions
	// opened with it, such as the agent's WebSockets, end then); zero when
	// it came from no token or the Authenticator does not say.
	Expires time.Time
}

// check rejects a principal that cannot be one. Ids must be canonical: the
// Client only ever hands out canonical ones.
func (p Principal) check() error {
	u, uok := canonicalID(p.UserID)
	t, tok := canonicalID(p.TenantID)
	if !uok || !tok || u != p.UserID || t != p.TenantID || !p.Role.Valid() {
		return &Error{Code: CodeAuth, Message: "no valid principal"}
	}
	return nil
}

// Tenant is an Amove account: its users share cloud accounts with each
// other and never see another tenant's.
type Tenant struct {
	ID      string
	Name    string
	Created time.Time
}

// User is a user as returned by the Client: never with the password hash.
type User struct {
	ID       string
	TenantID string
	Username string
	Email    string
	Role     Role
	Active   bool
	Created  time.Time
}

// Principal returns the principal acting as u.
func (u User) Principal() Principal {
	return Principal{UserID: u.ID, TenantID: u.TenantID, Role: u.Role}
}

func userOut(u store.User) User {
	return User{ID: u.ID, TenantID: u.TenantID, Username: u.Username, Email: u.Email, Role: u.Role,
		Active: u.Active, Created: u.Created}
}

// NewUser describes a user to create. An empty Password makes a user that
// can only get tokens through IssueToken.
type NewUser struct {
	Username string
	Email    string
	Password string
	Role     Role
}

// String keeps the password out of logs and %v.
func (n NewUser) String() string {
	return "NewUser{Username:" + n.Username + " Email:" + n.Email + " Role:" + n.Role.String() + " Password:****}"
}

// GoString masks the password for %#v too.
func (n NewUser) GoString() string { return n.String() }

const maxNameLen = 50

func (c *Client) newUser(tenantID string, in NewUser) (store.User, error) {
	name := strings.ToLower(strings.TrimSpace(in.Username))
	switch {
	case name == "":
		return store.User{}, invalid("username is empty")
	case utf8.RuneCountInString(name) > maxNameLen:
		return store.User{}, invalid("username is longer than %d characters", maxNameLen)
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return store.User{}, invalid("username contains spaces or control characters")
	case utf8.RuneCountInString(in.Email) > maxNameLen:
		return store.User{}, invalid("email is longer than %d characters", maxNameLen)
	case !in.Role.Valid():
		return store.User{}, invalid("unknown role %d", int(in.Role))
	}
	u := store.User{ID: uuid.NewString(), TenantID: tenantID, Username: name, Email: strings.TrimSpace(in.Email),
		Role: in.Role, Active: true, Created: c.now().UTC()}
	if in.Password != "" {
		// bcrypt ignores bytes past 72; refuse rather than silently
		// accept a password that is not fully checked.
		if len(in.Password) < 8 || len(in.Password) > 72 {
			return store.User{}, invalid("password must be 8 to 72 bytes long")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(in.Password), bcrypt.DefaultCost)
		if err != nil {
			return store.User{}, err
		}
		u.PasswordHash = string(h)
	}
	return u, nil
}

// CreateTenant creates an Amove account and its first user. It is an
// operator action (first run, the CLI): it takes no principal, so an HTTP
// layer must not expose it to anonymous callers.
func (c *Client) CreateTenant(ctx context.Context, name string, owner NewUser) (Tenant, User, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxNameLen {
		return Tenant{}, User{}, invalid("tenant name must be 1 to %d characters", maxNameLen)
	}
	t := store.Tenant{ID: uuid.NewString(), Name: name, Created: c.now().UTC()}
	u, err := c.newUser(t.ID, owner)
	if err != nil {
		return Tenant{}, User{}, err
	}
	if err := c.store.CreateTenant(ctx, t, u); err != nil {
		return Tenant{}, User{}, storeErr(err, "user "+u.Username)
	}
	c.log.InfoContext(ctx, "tenant created", "tenant", t.ID, "owner", u.ID)
	return Tenant{ID: t.ID, Name: t.Name, Created: t.Created}, userOut(u), nil
}

// CreateUser adds a user to the caller's tenant. Only admins may.
func (c *Client) CreateUser(ctx context.Context, p Principal, in NewUser) (User, error) {
	if err := p.check(); err != nil {
		return User{}, err
	}
	if !p.Role.IsAdmin() {
		return User{}, &Error{Code: CodeAccess, Message: "only admins create users"}
	}
	u, err := c.newUser(p.TenantID, in)
	if err != nil {
		return User{}, err
	}
	if err := c.store.CreateUser(ctx, u); err != nil {
		return User{}, storeErr(err, "user "+u.Username)
	}
	c.log.InfoContext(ctx, "user created", "tenant", u.TenantID, "user", u.ID, "by", p.UserID)
	return userOut(u), nil
}

// Token is an issued access token.
type Token struct {
	Token     string
	Expires   time.Time
	Principal Principal
}

// String keeps the token out of logs.
func (t Token) String() string { return "Token{****, expires " + t.Expires.Format(time.RFC3339) + "}" }

// GoString masks the token for %#v too.
func (t Token) GoString() string { return t.String() }

// dummyHash is compared against when the user does not exist, so a failed
// login takes as long for an unknown username as for a wrong password.
// It is made on first use to keep bcrypt off the start-up path.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("amove-go dummy password"), bcrypt.DefaultCost)
	return h
})

// Login checks a username and password and issues a token. Every failure
// (unknown user, wrong password, no password set) is the same AUTH error so
// usernames cannot be probed; an inactive user is INACTIVE_USER. After
// Options.LoginLockout's failures in a row a username is locked, known or
// not: Login then answers ErrRateLimited (RetryAfter says how long) without
// looking at the password, so a right guess during the lock learns nothing.
func (c *Client) Login(ctx context.Context, username, password string) (Token, error) {
	name := normalUsername(username)
	if wait := c.logins.begin(name, c.now()); wait > 0 {
		return Token{}, lockedOut(wait)
	}
	bad := &Error{Code: CodeAuth, Message: "wrong username or password"}
	u, err := c.store.GetUserByUsername(ctx, name)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return Token{}, storeErr(err, "user")
		}
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return Token{}, bad
	}
	if u.PasswordHash == "" {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return Token{}, bad
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
		return Token{}, bad
	}
	c.logins.succeeded(name)
	if !u.Active {
		return Token{}, &Error{Code: CodeInactiveUser, Message: "user is not active"}
	}
	return c.issue(ctx, userOut(u))
}

// IssueToken issues a token for a user without a password, for the
// `amove token` command. Like CreateTenant it is an operator action.
func (c *Client) IssueToken(ctx context.Context, userID string) (Token, error) {
	userID, ok := canonicalID(userID)
	if !ok {
		return Token{}, invalid("user id is not a uuid")
	}
	u, err := c.store.GetUser(ctx, userID)
	if err != nil {
		return Token{}, storeErr(err, "user")
	}
	if !u.Active {
		return Token{}, &Error{Code: CodeInactiveUser, Message: "user is not active"}
	}
	return c.issue(ctx, userOut(u))
}

func (c *Client) issue(ctx context.Context, u User) (Token, error) {
	tok, exp, err := c.auth.Issue(ctx, u)
	if err != nil {
		return Token{}, err
	}
	p := u.Principal()
	p.Expires = exp
	return Token{Token: tok, Expires: exp, Principal: p}, nil
}

// Authenticate verifies a token and returns the principal it stands for.
// The user is re-read from the store, so a deactivated user is refused and
// a changed role applies at once, before the token expires.
func (c *Client) Authenticate(ctx context.Context, token string) (Principal, error) {
	p, err := c.auth.Verify(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if id, ok := canonicalID(p.UserID); !ok || id != p.UserID {
		return Principal{}, &Error{Code: CodeToken, Message: "token names no valid user"}
	}
	u, err := c.store.GetUser(ctx, p.UserID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Principal{}, &Error{Code: CodeToken, Message: "token names an unknown user"}
		}
		return Principal{}, storeErr(err, "user")
	}
	if u.TenantID != p.TenantID {
		return Principal{}, &Error{Code: CodeToken, Message: "token does not match the user's account"}
	}
	if !u.Active {
		return Principal{}, &Error{Code: CodeInactiveUser, Message: "user is not active"}
	}
	out := userOut(u).Principal()
	out.Expires = p.Expires
	return out, nil
}

// LookupUser returns a user by username. Like CreateTenant and IssueToken it
// is an operator action (the agent's command line), not for HTTP callers.
func (c *Client) LookupUser(ctx context.Context, username string) (User, error) {
	u, err := c.store.GetUserByUsername(ctx, strings.ToLower(strings.TrimSpace(username)))
	if err != nil {
		return User{}, storeErr(err, "user")
	}
	return userOut(u), nil
}
