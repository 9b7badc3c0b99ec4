package amove_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// TestMain runs the suite, then checks every value and error message any
// test got back from the Client for a secret in clear.
func TestMain(m *testing.M) {
	code := m.Run()
	returned.mu.Lock()
	n := len(returned.vals)
	for _, v := range returned.vals {
		if found := leaks(renderAll(v)); len(found) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: a returned %T holds secrets in clear: %q\n", v, found)
			code = 1
		}
	}
	returned.mu.Unlock()
	if code == 0 && n < 50 && !testing.Short() && os.Getenv("AMOVE_SWEEP_MIN") != "0" {
		// Guard against the sweep silently checking nothing when run
		// with a -run filter: report, do not fail.
		fmt.Fprintf(os.Stderr, "note: secret sweep checked only %d returned values\n", n)
	}
	os.Exit(code)
}

type outcome int

const (
	ok        outcome = iota
	notFound          // NOT_FOUND: invisible
	forbidden         // ACCESS: visible, not the owner
)

func (o outcome) check(t *testing.T, op string, err error) {
	t.Helper()
	switch o {
	case ok:
		if err != nil {
			t.Errorf("%s: %v, want success", op, err)
		}
	case notFound:
		if !errors.Is(err, amove.ErrNotFound) || !errors.Is(err, amove.ErrValidation) || amove.ErrorCode(err) != amove.CodeNotFound {
			t.Errorf("%s: %v, want NOT_FOUND", op, err)
		}
	case forbidden:
		if !errors.Is(err, amove.ErrForbidden) || !errors.Is(err, amove.ErrValidation) || amove.ErrorCode(err) != amove.CodeAccess {
			t.Errorf("%s: %v, want ACCESS", op, err)
		}
	}
}

// TestVisibility encodes the rules of DESIGN.md and amove-api-notes.md
// section 4: owners see and manage their accounts; admins (ProviderAdmin,
// AccountAdmin, DesktopAdmin) and creative users also see accounts shared in
// their tenant but may not share or delete them; standard users and
// AccountUsers see only their own; nobody sees another tenant's accounts.
func TestVisibility(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		owner := e.newUser(e.admin, amove.RoleStandardUser)
		creativeOwner := e.newUser(e.admin, amove.RoleCreativeUser)
		viewers := map[string]amove.Principal{
			"owner":                owner.Principal(),
			"creative owner":       creativeOwner.Principal(),
			"standard user":        e.newUser(e.admin, amove.RoleStandardUser).Principal(),
			"account user":         e.newUser(e.admin, amove.RoleAccountUser).Principal(),
			"creative user":        e.newUser(e.admin, amove.RoleCreativeUser).Principal(),
			"desktop admin":        e.admin.Principal(),
			"account admin":        e.newUser(e.admin, amove.RoleAccountAdmin).Principal(),
			"provider admin":       e.newUser(e.admin, amove.RoleProviderAdmin).Principal(),
			"other tenant admin":   {},
			"other tenant creator": {},
			// A principal naming the owner but another tenant: the
			// tenant id, not the user id, scopes every lookup.
			"owner id, other tenant": {},
		}
		_, otherAdmin := e.newTenant("globex")
		viewers["other tenant admin"] = otherAdmin.Principal()
		viewers["other tenant creator"] = e.newUser(otherAdmin, amove.RoleCreativeUser).Principal()
		forged := owner.Principal()
		forged.TenantID = otherAdmin.TenantID
		forged.Role = amove.RoleDesktopAdmin
		viewers["owner id, other tenant"] = forged

		tests := []struct {
			viewer string
			owner  amove.User
			shared bool
			see    outcome // GetAccount, ListAccounts, storage ops
			manage outcome // SetShared, DeleteAccount
		}{
			{"owner", owner, false, ok, ok},
			{"owner", owner, true, ok, ok},
			{"creative owner", creativeOwner, false, ok, ok},
			{"creative owner", creativeOwner, true, ok, ok},
			{"standard user", owner, false, notFound, notFound},
			{"standard user", owner, true, notFound, notFound},
			{"standard user", creativeOwner, true, notFound, notFound},
			{"account user", owner, false, notFound, notFound},
			{"account user", owner, true, notFound, notFound},
			{"creative user", owner, false, notFound, notFound},
			{"creative user", owner, true, ok, forbidden},
			{"creative owner", owner, true, ok, forbidden},
			{"desktop admin", owner, false, notFound, notFound},
			{"desktop admin", owner, true, ok, forbidden},
			{"account admin", owner, false, notFound, notFound},
			{"account admin", owner, true, ok, forbidden},
			{"provider admin", owner, false, notFound, notFound},
			{"provider admin", owner, true, ok, forbidden},
			{"other tenant admin", owner, false, notFound, notFound},
			{"other tenant admin", owner, true, notFound, notFound},
			{"other tenant creator", owner, true, notFound, notFound},
			{"owner id, other tenant", owner, true, notFound, notFound},
		}
		ctx := context.Background()
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%s/shared=%v", tc.viewer, tc.owner.Role, tc.shared), func(t *testing.T) {
				p := viewers[tc.viewer]
				a := e.insert(tc.owner, "acct", tc.shared)

				_, err := keep(e.c.GetAccount(ctx, p, a.ID))
				tc.see.check(t, "GetAccount", err)
				list, err := keep(e.c.ListAccounts(ctx, p))
				if err != nil {
					t.Fatal(err)
				}
				listed := slices.ContainsFunc(list, func(x amove.CloudAccount) bool { return x.ID == a.ID })
				if listed != (tc.see == ok) {
					t.Errorf("ListAccounts lists it: %v, want %v", listed, tc.see == ok)
				}
				_, err = keep(e.c.ListBuckets(ctx, p, a.ID))
				tc.see.check(t, "ListBuckets", err)

				tc.manage.check(t, "SetShared", keepErr(e.c.SetShared(ctx, p, a.ID, !tc.shared)))
				tc.manage.check(t, "DeleteAccount", keepErr(e.c.DeleteAccount(ctx, p, a.ID)))

				// What the owner sees afterwards proves a refused change
				// changed nothing.
				got, err := keep(e.c.GetAccount(ctx, tc.owner.Principal(), a.ID))
				if tc.manage == ok {
					notFound.check(t, "GetAccount after delete", err)
				} else if err != nil || got.Shared != tc.shared {
					t.Errorf("after refused changes: shared=%v err=%v, want shared=%v", got.Shared, err, tc.shared)
				}
			})
		}
	})
}

func TestAccountLifecycle(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		p := e.admin.Principal()
		a := e.insert(e.admin, "  studio  ", false)
		want := amove.CloudAccount{ID: a.ID, TenantID: e.tenant.ID, UserID: e.admin.ID, CloudType: provider.Wasabi,
			Name: "studio", Region: "us-east-1", AccessKey: "****MPLE", SecretKey: "****EKEY", CredentialsData: "****",
			Active: true, StorageTier: amove.TierGlobal}
		if a != want {
			t.Errorf("InsertAccount = %+v\nwant %+v", a, want)
		}
		got, err := keep(e.c.GetAccount(ctx, p, a.ID))
		if err != nil || got != want {
			t.Errorf("GetAccount = %+v, %v", got, err)
		}
		// Other spellings of the same uuid find the same account on both
		// stores.
		for _, id := range []string{strings.ToUpper(a.ID), "{" + a.ID + "}", "urn:uuid:" + a.ID} {
			if got, err := keep(e.c.GetAccount(ctx, p, id)); err != nil || got.ID != a.ID {
				t.Errorf("GetAccount(%s) = %+v, %v", id, got, err)
			}
		}
		e.insert(e.admin, "archive", true)
		list, err := keep(e.c.ListAccounts(ctx, p))
		if err != nil || len(list) != 2 || list[0].Name != "archive" || list[1].Name != "studio" {
			t.Errorf("ListAccounts = %+v, %v", list, err)
		}
		if err := keepErr(e.c.SetShared(ctx, p, a.ID, true)); err != nil {
			t.Fatal(err)
		}
		if got, _ := keep(e.c.GetAccount(ctx, p, a.ID)); !got.Shared {
			t.Error("SetShared(true) did not stick")
		}
		if err := keepErr(e.c.DeleteAccount(ctx, p, a.ID)); err != nil {
			t.Fatal(err)
		}
		notFound.check(t, "GetAccount(deleted)", keepErr(second(e.c.GetAccount(ctx, p, a.ID))))
		notFound.check(t, "DeleteAccount(deleted)", keepErr(e.c.DeleteAccount(ctx, p, a.ID)))
		if list, _ := keep(e.c.ListAccounts(ctx, p)); len(list) != 1 {
			t.Errorf("ListAccounts after delete = %d accounts", len(list))
		}
		// Soft delete: the row is still there, with deleted_at set.
		raw := b.raw(t)
		if !strings.Contains(raw, a.ID) {
			t.Error("deleted row is gone from the store")
		}
	})
}

func second[T any](_ T, err error) error { return err }

// TestBadInput: each bad input is a validation error with a clear message
// and stores nothing.
func TestBadInput(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		p := e.admin.Principal()
		_, otherAdmin := e.newTenant("globex")
		theirs := e.insert(otherAdmin, "theirs", true)
		before := strings.Count(b.raw(t), "\ncloud_accounts ")

		mod := func(f func(*amove.NewAccount)) amove.NewAccount {
			n := goodAccount("ok", false)
			f(&n)
			return n
		}
		inserts := []struct {
			name string
			in   amove.NewAccount
			want string // in the message
			code amove.Code
		}{
			{"name 51 chars", mod(func(n *amove.NewAccount) { n.Name = strings.Repeat("n", 51) }), "longer than 50", amove.CodeDefault},
			{"name 51 runes", mod(func(n *amove.NewAccount) { n.Name = strings.Repeat("é", 51) }), "longer than 50", amove.CodeDefault},
			{"empty name", mod(func(n *amove.NewAccount) { n.Name = "  " }), "name is empty", amove.CodeDefault},
			{"unknown cloudType", mod(func(n *amove.NewAccount) { n.CloudType = 3 }), "unknown cloudType 3", amove.CodeDefault},
			{"zero cloudType", mod(func(n *amove.NewAccount) { n.CloudType = 0 }), "unknown cloudType 0", amove.CodeDefault},
			{"driver of another type", mod(func(n *amove.NewAccount) { n.Driver = "s3" }), `driver "s3" serves AWS, not Wasabi`, amove.CodeDefault},
			{"unknown tier", mod(func(n *amove.NewAccount) { n.StorageTier = 3 }), "unknown storageTier", amove.CodeDefault},
			{"missing secret", mod(func(n *amove.NewAccount) { n.SecretKey = "" }), "needs accessKey and secretKey", amove.CodeDefault},
			{"S3Generic without endpoint", mod(func(n *amove.NewAccount) { n.CloudType = provider.S3Generic }), "needs serviceUrl or endpoint", amove.CodeDefault},
			{"rejected secret", mod(func(n *amove.NewAccount) { n.SecretKey = "wrong-secret-but-long-enough" }), "rejected the credentials", amove.CodeDefault},
			{"rejected access key", mod(func(n *amove.NewAccount) { n.AccessKey = "AKIAWRONGWRONGWRONG" }), "rejected the credentials", amove.CodeDefault},
		}
		for _, tc := range inserts {
			_, err := keep(e.c.InsertAccount(ctx, p, tc.in))
			if !errors.Is(err, amove.ErrValidation) || amove.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want %s %q", tc.name, err, tc.code, tc.want)
			}
		}
		// The 50-rune limit counts characters, not bytes.
		if _, err := keep(e.c.InsertAccount(ctx, p, mod(func(n *amove.NewAccount) { n.Name = strings.Repeat("é", 50) }))); err != nil {
			t.Errorf("name of 50 runes: %v", err)
		}
		if _, err := keep(e.c.InsertAccount(ctx, p, goodAccount("x", false))); err != nil {
			t.Errorf("good insert after bad ones: %v", err)
		}
		if err := second(keep(e.c.InsertAccount(ctx, p, mod(func(n *amove.NewAccount) { n.SecretKey = "nope-nope-nope" })))); !errors.Is(err, provider.ErrUnauthenticated) {
			t.Errorf("rejected credentials do not wrap the provider error: %v", err)
		}

		ids := []struct {
			name string
			id   string
			want outcome
		}{
			{"non-uuid", "not-a-uuid", -1},
			{"sql-ish", "1' OR '1'='1", -1},
			{"empty", "", -1},
			{"unknown uuid", "5b0e2a8e-8a8e-4c55-9b8f-03c1f2b07e51", notFound},
			{"other tenant's id", theirs.ID, notFound},
		}
		for _, tc := range ids {
			errs := map[string]error{
				"GetAccount":    second(keep(e.c.GetAccount(ctx, p, tc.id))),
				"SetShared":     keepErr(e.c.SetShared(ctx, p, tc.id, true)),
				"DeleteAccount": keepErr(e.c.DeleteAccount(ctx, p, tc.id)),
				"ListBuckets":   second(keep(e.c.ListBuckets(ctx, p, tc.id))),
			}
			for op, err := range errs {
				if tc.want == -1 {
					if !errors.Is(err, amove.ErrValidation) || amove.ErrorCode(err) != amove.CodeDefault || !strings.Contains(err.Error(), "not a uuid") {
						t.Errorf("%s(%s): %v, want DEFAULT not a uuid", op, tc.name, err)
					}
					continue
				}
				tc.want.check(t, op+"("+tc.name+")", err)
			}
		}
		// A principal that is not one is refused before anything else.
		if _, err := keep(e.c.ListAccounts(ctx, amove.Principal{UserID: "x"})); !errors.Is(err, amove.ErrUnauthorized) {
			t.Errorf("ListAccounts(bad principal) = %v, want ErrUnauthorized", err)
		}

		after := strings.Count(b.raw(t), "\ncloud_accounts ")
		if after != before+2 {
			t.Errorf("%d rows stored by bad input (before %d, after %d, 2 good inserts)", after-before-2, before, after)
		}
		if got, err := keep(e.c.GetAccount(ctx, otherAdmin.Principal(), theirs.ID)); err != nil || !got.Shared {
			t.Errorf("other tenant's account changed: %+v %v", got, err)
		}
	})
}

// TestSecretsAtRest reads the raw rows (and, for SQLite, the raw database
// and WAL bytes) and finds no secret in clear.
func TestSecretsAtRest(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		if _, err := keep(e.c.CreateUser(ctx, e.admin.Principal(), amove.NewUser{Username: uniqueName("pw"), Password: password, Role: amove.RoleStandardUser})); err != nil {
			t.Fatal(err)
		}
		a := e.insert(e.admin, "secret-holder", true)
		raw := b.raw(t) + b.files(t)
		if !strings.Contains(raw, a.ID) || !strings.Contains(raw, "secret-holder") {
			t.Fatal("raw dump does not contain the account: the check would prove nothing")
		}
		if found := leaks(raw); len(found) > 0 {
			t.Errorf("secrets in clear at rest: %q", found)
		}
		if !strings.Contains(raw, "v2:") {
			t.Error("no sealed values at rest")
		}
	})
}

// TestConcurrent: 50 goroutines insert, share, list and delete through the
// Client at once; nothing fails and nothing is lost.
func TestConcurrent(t *testing.T) {
	run(t, func(t *testing.T, b backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		users := []amove.User{e.admin, e.newUser(e.admin, amove.RoleCreativeUser), e.newUser(e.admin, amove.RoleStandardUser)}
		const workers = 50
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		kept := make(chan string, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := users[i%len(users)]
				p := u.Principal()
				a, err := keep(e.c.InsertAccount(ctx, p, goodAccount(fmt.Sprintf("c-%02d", i), false)))
				if err != nil {
					errs <- fmt.Errorf("insert %d: %w", i, err)
					return
				}
				for _, shared := range []bool{true, false, true} {
					if err := keepErr(e.c.SetShared(ctx, p, a.ID, shared)); err != nil {
						errs <- fmt.Errorf("share %d: %w", i, err)
						return
					}
					if _, err := keep(e.c.ListAccounts(ctx, p)); err != nil {
						errs <- fmt.Errorf("list %d: %w", i, err)
						return
					}
				}
				if i%3 == 0 {
					if err := keepErr(e.c.DeleteAccount(ctx, p, a.ID)); err != nil {
						errs <- fmt.Errorf("delete %d: %w", i, err)
					}
					return
				}
				kept <- a.ID
			}()
		}
		wg.Wait()
		close(errs)
		close(kept)
		for err := range errs {
			t.Error(err)
		}
		want := map[string]bool{}
		for id := range kept {
			want[id] = true
		}
		// The admin sees every account: its own and all the shared ones.
		list, err := keep(e.c.ListAccounts(ctx, e.admin.Principal()))
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(want) {
			t.Errorf("admin lists %d accounts, want %d", len(list), len(want))
		}
		for _, a := range list {
			if !want[a.ID] || !a.Shared {
				t.Errorf("unexpected or unshared account %s shared=%v", a.Name, a.Shared)
			}
		}
	})
}
