package amove_test

import (
	"context"
	"errors"
	"testing"

	"github.com/amove/amove-go"
)

// TestSetUserActive: only an admin of the user's tenant deactivates a
// user, never themselves; a deactivated user's tokens are refused at once
// and the OnUserDeactivated functions hear of it; reactivation restores
// the token. (The transfers it pauses are rows of httpapi's TestAttacks.)
func TestSetUserActive(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		e := newEnv(t, b)
		u := e.newUser(e.admin, amove.RoleStandardUser)
		tok, err := e.c.IssueToken(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var told []string
		stop := e.c.OnUserDeactivated(func(id string) { told = append(told, id) })
		defer stop()

		_, otherAdmin := e.newTenant("other")
		for _, tc := range []struct {
			name string
			p    amove.Principal
			id   string
			want error
		}{
			{"a standard user", u.Principal(), e.admin.ID, amove.ErrForbidden},
			{"an admin of another tenant", otherAdmin.Principal(), u.ID, amove.ErrNotFound},
			{"an admin on themselves", e.admin.Principal(), e.admin.ID, amove.ErrValidation},
			{"not an id", e.admin.Principal(), "nope", amove.ErrValidation},
		} {
			if err := e.c.SetUserActive(ctx, tc.p, tc.id, false); !errors.Is(err, tc.want) {
				t.Errorf("%s: SetUserActive = %v, want %v", tc.name, err, tc.want)
			}
		}
		if len(told) != 0 {
			t.Fatalf("refused deactivations were reported: %v", told)
		}
		if _, err := e.c.Authenticate(ctx, tok.Token); err != nil {
			t.Fatalf("refused deactivations changed the user: %v", err)
		}

		if err := e.c.SetUserActive(ctx, e.admin.Principal(), u.ID, false); err != nil {
			t.Fatal(err)
		}
		if len(told) != 1 || told[0] != u.ID {
			t.Errorf("OnUserDeactivated heard %v, want [%s]", told, u.ID)
		}
		if _, err := e.c.Authenticate(ctx, tok.Token); amove.ErrorCode(err) != amove.CodeInactiveUser {
			t.Errorf("Authenticate after deactivation = %v, want INACTIVE_USER", err)
		}
		stop()
		if err := e.c.SetUserActive(ctx, e.admin.Principal(), u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.Authenticate(ctx, tok.Token); err != nil {
			t.Errorf("Authenticate after reactivation = %v", err)
		}
		if len(told) != 1 {
			t.Errorf("reactivation (or a stopped hook) reported %v", told)
		}
	})
}
