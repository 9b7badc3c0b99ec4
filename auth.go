package amove

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Authenticator issues and verifies access tokens. Verify only checks the
// token itself; Client.Authenticate then checks the user against the store.
// Errors should be *Error with code TOKEN so callers answer 401.
type Authenticator interface {
	// Issue returns a token for u and when it expires.
	Issue(ctx context.Context, u User) (token string, expires time.Time, err error)
	// Verify checks the token's signature and expiry and returns the
	// Principal it names.
	Verify(ctx context.Context, token string) (Principal, error)
}

const jwtIssuer = "amove-go"

// JWTAuthenticator issues and verifies HS256 JWTs.
type JWTAuthenticator struct {
	key []byte
	ttl time.Duration
	now func() time.Time
	kid string // the "kid" header of the tokens it issues; "" for none
}

// NewJWTAuthenticator returns an Authenticator signing with key; tokens live
// for ttl (12 hours when zero). The Client's default Authenticator signs
// with the sign key of its keyring instead, naming it in a "kid" header
// (keys.go), so every agent sharing the keyring verifies the others' tokens.
func NewJWTAuthenticator(key []byte, ttl time.Duration) *JWTAuthenticator {
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	return &JWTAuthenticator{key: append([]byte(nil), key...), ttl: ttl, now: time.Now}
}

type claims struct {
	TenantID string `json:"tid"`
	Role     Role   `json:"role"`
	jwt.RegisteredClaims
}

// Issue signs a token for u.
func (a *JWTAuthenticator) Issue(_ context.Context, u User) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(a.ttl).Truncate(time.Second)
	c := claims{
		TenantID: u.TenantID,
		Role:     u.Role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    jwtIssuer,
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	if a.kid != "" {
		t.Header["kid"] = a.kid
	}
	tok, err := t.SignedString(a.key)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok, exp, nil
}

// Verify checks the signature, algorithm, issuer and expiry.
func (a *JWTAuthenticator) Verify(_ context.Context, token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(jwtIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now),
	)
	if err != nil {
		msg := "invalid token"
		if errors.Is(err, jwt.ErrTokenExpired) {
			msg = "token expired"
		}
		// The jwt error says which check failed; it never holds the key.
		return Principal{}, &Error{Code: CodeToken, Message: msg, Err: err}
	}
	return Principal{UserID: c.Subject, TenantID: c.TenantID, Role: c.Role, Expires: c.ExpiresAt.Time}, nil
}
