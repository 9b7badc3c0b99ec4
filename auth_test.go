package amove_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/amove/amove-go"
)

func TestLoginAndAuthenticate(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		name := uniqueName("Login")
		u, err := keep(e.c.CreateUser(ctx, e.admin.Principal(), amove.NewUser{Username: "  " + name + " ", Email: "a@b.c", Password: password, Role: amove.RoleCreativeUser}))
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != strings.ToLower(name) {
			t.Errorf("username stored as %q", u.Username)
		}
		tok, err := keep(e.c.Login(ctx, strings.ToUpper(name), password))
		if err != nil {
			t.Fatal(err)
		}
		want := u.Principal()
		want.Expires = tok.Expires
		if tok.Principal != want || time.Until(tok.Expires) < 11*time.Hour {
			t.Errorf("Login = %+v", tok)
		}
		// The principal carries the token's expiry, so sessions opened
		// with it (WebSockets) end with the token.
		p, err := keep(e.c.Authenticate(ctx, tok.Token))
		if err != nil || !p.Expires.Equal(tok.Expires) {
			t.Errorf("Authenticate = %+v, %v; want expiry %v", p, err, tok.Expires)
		}
		if p.Expires = (time.Time{}); p != u.Principal() {
			t.Errorf("Authenticate = %+v; want %+v", p, u.Principal())
		}

		// Every login failure looks the same, so usernames cannot be probed.
		for _, tc := range []struct{ user, pass string }{
			{name, "wrong password!"},
			{"nobody-" + name, password},
			{e.admin.Username, ""}, // a user without a password
			{e.admin.Username, "anything at all"},
		} {
			_, err := keep(e.c.Login(ctx, tc.user, tc.pass))
			if !errors.Is(err, amove.ErrUnauthorized) || errors.Is(err, amove.ErrValidation) || amove.ErrorCode(err) != amove.CodeAuth ||
				err.Error() != "amove: AUTH: wrong username or password" {
				t.Errorf("Login(%q, %q) = %v, want AUTH", tc.user, tc.pass, err)
			}
		}

		// Tokens from the operator path work the same.
		it, err := keep(e.c.IssueToken(ctx, e.admin.ID))
		if err != nil {
			t.Fatal(err)
		}
		if p, err := keep(e.c.Authenticate(ctx, it.Token)); err != nil || p.UserID != e.admin.ID || p.Role != e.admin.Role || !p.Expires.Equal(it.Expires) {
			t.Errorf("Authenticate(IssueToken) = %+v, %v", p, err)
		}
		if _, err := keep(e.c.IssueToken(ctx, "nope")); !errors.Is(err, amove.ErrValidation) {
			t.Errorf("IssueToken(non-uuid) = %v", err)
		}

		// Bad tokens: tampered, wrong key, wrong algorithm, expired, garbage.
		parts := strings.Split(tok.Token, ".")
		tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		other, err := amove.New(ctx, amove.Options{DSN: "sqlite:" + filepath.Join(t.TempDir(), "o.db"), SecretKey: make([]byte, 32),
			TokenTTL: time.Nanosecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		_, foreignUser, err := other.CreateTenant(ctx, "o", amove.NewUser{Username: "x", Role: amove.RoleDesktopAdmin})
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := other.IssueToken(ctx, foreignUser.ID)
		if err != nil {
			t.Fatal(err)
		}
		none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": u.ID, "tid": u.TenantID, "role": 16,
			"iss": "amove-go", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		for name, token := range map[string]string{
			"tampered":  tampered,
			"other key": foreign.Token,
			"alg none":  none,
			"garbage":   "not.a.jwt",
			"empty":     "",
		} {
			_, err := keep(e.c.Authenticate(ctx, token))
			if !errors.Is(err, amove.ErrUnauthorized) || amove.ErrorCode(err) != amove.CodeToken {
				t.Errorf("Authenticate(%s) = %v, want TOKEN", name, err)
			}
		}
		// other issues tokens that expire at once.
		_, err = other.Authenticate(ctx, foreign.Token)
		if !errors.Is(err, amove.ErrUnauthorized) || !strings.Contains(err.Error(), "token expired") {
			t.Errorf("Authenticate(expired) = %v, want TOKEN expired", err)
		}
	})
}

func TestCreateUserRules(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		creative := e.newUser(e.admin, amove.RoleCreativeUser)
		_, err := keep(e.c.CreateUser(ctx, creative.Principal(), amove.NewUser{Username: uniqueName("n"), Role: amove.RoleStandardUser}))
		if !errors.Is(err, amove.ErrForbidden) {
			t.Errorf("CreateUser by creative user = %v, want ACCESS", err)
		}
		for name, in := range map[string]amove.NewUser{
			"duplicate":      {Username: strings.ToUpper(creative.Username), Role: amove.RoleStandardUser},
			"empty":          {Username: " ", Role: amove.RoleStandardUser},
			"space":          {Username: "a b", Role: amove.RoleStandardUser},
			"long":           {Username: strings.Repeat("u", 51), Role: amove.RoleStandardUser},
			"bad role":       {Username: uniqueName("r"), Role: 8},
			"short password": {Username: uniqueName("p"), Password: "short", Role: amove.RoleStandardUser},
			"long password":  {Username: uniqueName("p"), Password: strings.Repeat("p", 73), Role: amove.RoleStandardUser},
		} {
			_, err := keep(e.c.CreateUser(ctx, e.admin.Principal(), in))
			if !errors.Is(err, amove.ErrValidation) {
				t.Errorf("CreateUser(%s) = %v, want a validation error", name, err)
			}
			if name == "duplicate" && amove.ErrorCode(err) != amove.CodeDuplicate {
				t.Errorf("CreateUser(duplicate) code %q, want DUPLICATE", amove.ErrorCode(err))
			}
		}
		// The user lands in the admin's tenant whatever the input says.
		u := e.newUser(e.admin, amove.RoleStandardUser)
		if u.TenantID != e.admin.TenantID {
			t.Errorf("user in tenant %s, want %s", u.TenantID, e.admin.TenantID)
		}
		if s := (amove.NewUser{Username: "x", Password: password}).String(); strings.Contains(s, password) {
			t.Errorf("NewUser.String shows the password: %s", s)
		}
	})
}
