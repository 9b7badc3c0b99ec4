// Package storetest is the suite every store.Store implementation runs, so
// the SQLite and PostgreSQL stores behave the same.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

// Run runs the suite. open returns a fresh, empty store for each subtest;
// Run closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"SetUserActive", testSetUserActive},
		{"DuplicateUsername", testDuplicateUsername},
		{"UnknownTenant", testUnknownTenant},
		{"AccountRoundTrip", testAccountRoundTrip},
		{"TenantIsolation", testTenantIsolation},
		{"ListVisibility", testListVisibility},
		{"SetSharedOwnerOnly", testSetSharedOwnerOnly},
		{"SoftDelete", testSoftDelete},
		{"Concurrent", testConcurrent},
		{"OAuthStateSingleUse", testOAuthStateSingleUse},
		{"OAuthStateRace", testOAuthStateRace},
		{"UpdateCredentials", testUpdateCredentials},
		{"Reseal", testReseal},                   // reseal.go
		{"ManagedAccounts", testManagedAccounts}, // managed.go
		{"UsageSamples", testUsageSamples},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func id() string { return uuid.NewString() }

// now is truncated to microseconds, the precision PostgreSQL keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func newTenant(t *testing.T, s store.Store) (store.Tenant, store.User) {
	t.Helper()
	tn := store.Tenant{ID: id(), Name: "tenant", Created: now()}
	owner := store.User{ID: id(), TenantID: tn.ID, Username: "owner-" + tn.ID, Role: store.RoleDesktopAdmin, Active: true, Created: now()}
	if err := s.CreateTenant(context.Background(), tn, owner); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	return tn, owner
}

func newUser(t *testing.T, s store.Store, tenantID string, role store.Role) store.User {
	t.Helper()
	u := store.User{ID: id(), TenantID: tenantID, Username: "u-" + id(), Email: "x@example.com", Role: role,
		PasswordHash: "$2a$hash", Active: true, Created: now()}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func newAccount(t *testing.T, s store.Store, u store.User, name string, shared bool) store.Account {
	t.Helper()
	a := store.Account{ID: id(), TenantID: u.TenantID, UserID: u.ID, CloudType: provider.AWS, Name: name,
		Region: "eu-west-1", Endpoint: "https://s3.example", ServiceURL: "https://svc.example",
		AccessKey: "sealed-ak", SecretKey: "sealed-sk", CredentialsData: "sealed-cd",
		Shared: shared, Active: true, StorageTier: 2, Created: now(), Updated: now()}
	if err := s.InsertAccount(context.Background(), a); err != nil {
		t.Fatalf("InsertAccount: %v", err)
	}
	return a
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn, owner := newTenant(t, s)
	got, err := s.GetUser(ctx, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(owner.Created) {
		t.Errorf("created %v, want %v", got.Created, owner.Created)
	}
	got.Created = owner.Created
	if got != owner {
		t.Errorf("GetUser = %+v, want %+v", got, owner)
	}
	u := newUser(t, s, tn.ID, store.RoleCreativeUser)
	got, err = s.GetUserByUsername(ctx, u.Username)
	if err != nil || got.ID != u.ID || got.Role != store.RoleCreativeUser || got.PasswordHash != u.PasswordHash {
		t.Errorf("GetUserByUsername = %+v, %v", got, err)
	}
	if _, err := s.GetUser(ctx, id()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUserByUsername(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUserByUsername(unknown) = %v, want ErrNotFound", err)
	}
}

func testSetUserActive(t *testing.T, s store.Store) {
	ctx := context.Background()
	tn, _ := newTenant(t, s)
	u := newUser(t, s, tn.ID, store.RoleStandardUser)
	if err := s.SetUserActive(ctx, tn.ID, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetUser(ctx, u.ID); err != nil || got.Active {
		t.Errorf("after deactivation GetUser = %+v, %v; want inactive", got, err)
	}
	// Another tenant cannot touch the user.
	other, _ := newTenant(t, s)
	if err := s.SetUserActive(ctx, other.ID, u.ID, true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetUserActive(other tenant) = %v, want ErrNotFound", err)
	}
	if got, _ := s.GetUser(ctx, u.ID); got.Active {
		t.Error("another tenant reactivated the user")
	}
	if err := s.SetUserActive(ctx, tn.ID, id(), false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetUserActive(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.SetUserActive(ctx, tn.ID, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetUser(ctx, u.ID); !got.Active {
		t.Error("reactivation did not stick")
	}
}

func testDuplicateUsername(t *testing.T, s store.Store) {
	tn, owner := newTenant(t, s)
	dup := store.User{ID: id(), TenantID: tn.ID, Username: owner.Username, Role: store.RoleStandardUser, Active: true, Created: now()}
	if err := s.CreateUser(context.Background(), dup); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("CreateUser(dup username) = %v, want ErrDuplicate", err)
	}
	// A second tenant whose owner's username is taken leaves nothing behind.
	tn2 := store.Tenant{ID: id(), Name: "t2", Created: now()}
	dup.ID, dup.TenantID = id(), tn2.ID
	if err := s.CreateTenant(context.Background(), tn2, dup); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("CreateTenant(dup owner) = %v, want ErrDuplicate", err)
	}
	u := store.User{ID: id(), TenantID: tn2.ID, Username: "fresh-" + id(), Role: store.RoleStandardUser, Active: true, Created: now()}
	if err := s.CreateUser(context.Background(), u); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant of failed CreateTenant exists: CreateUser = %v, want ErrNotFound", err)
	}
}

func testUnknownTenant(t *testing.T, s store.Store) {
	u := store.User{ID: id(), TenantID: id(), Username: "orphan", Role: store.RoleStandardUser, Active: true, Created: now()}
	if err := s.CreateUser(context.Background(), u); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateUser(unknown tenant) = %v, want ErrNotFound", err)
	}
	_, owner := newTenant(t, s)
	a := store.Account{ID: id(), TenantID: owner.TenantID, UserID: id(), CloudType: provider.AWS, Name: "x", Active: true, Created: now(), Updated: now()}
	if err := s.InsertAccount(context.Background(), a); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("InsertAccount(unknown user) = %v, want ErrNotFound", err)
	}
}

func testAccountRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	a := newAccount(t, s, owner, "photos", true)
	got, err := s.GetAccount(ctx, owner.TenantID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Created.Equal(a.Created) || !got.Updated.Equal(a.Updated) {
		t.Errorf("times %v %v, want %v %v", got.Created, got.Updated, a.Created, a.Updated)
	}
	got.Created, got.Updated = a.Created, a.Updated
	if got != a {
		t.Errorf("GetAccount = %+v\nwant %+v", got, a)
	}
	if err := s.InsertAccount(ctx, a); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("InsertAccount(same id) = %v, want ErrDuplicate", err)
	}
	// An account of a third-party driver: no cloud type, its driver's name.
	tp := store.Account{ID: id(), TenantID: owner.TenantID, UserID: owner.ID, Driver: "example-driver",
		Name: "third party", Active: true, Created: now(), Updated: now()}
	if err := s.InsertAccount(ctx, tp); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAccount(ctx, owner.TenantID, tp.ID); err != nil || got.Driver != tp.Driver || got.CloudType != 0 {
		t.Errorf("GetAccount(third party) = driver %q, cloud type %d, %v; want %q, 0", got.Driver, got.CloudType, err, tp.Driver)
	}
	if _, err := s.GetAccount(ctx, owner.TenantID, id()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccount(unknown) = %v, want ErrNotFound", err)
	}
}

func testTenantIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, o1 := newTenant(t, s)
	_, o2 := newTenant(t, s)
	a := newAccount(t, s, o1, "mine", true)
	if _, err := s.GetAccount(ctx, o2.TenantID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccount from other tenant = %v, want ErrNotFound", err)
	}
	list, err := s.ListAccounts(ctx, store.AccountQuery{TenantID: o2.TenantID, UserID: o2.ID, IncludeShared: true})
	if err != nil || len(list) != 0 {
		t.Errorf("other tenant lists %d accounts, %v", len(list), err)
	}
	// Even with the owner's user id, another tenant id matches nothing.
	if err := s.SetShared(ctx, o2.TenantID, o1.ID, a.ID, false, now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetShared across tenants = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, o2.TenantID, o1.ID, a.ID, now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAccount across tenants = %v, want ErrNotFound", err)
	}
}

func names(as []store.Account) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

func testListVisibility(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	other := newUser(t, s, owner.TenantID, store.RoleStandardUser)
	newAccount(t, s, owner, "b-own-private", false)
	newAccount(t, s, owner, "a-own-shared", true)
	newAccount(t, s, other, "c-other-shared", true)
	newAccount(t, s, other, "d-other-private", false)

	for _, tc := range []struct {
		user   store.User
		shared bool
		want   string
	}{
		{owner, false, "[a-own-shared b-own-private]"},
		{owner, true, "[a-own-shared b-own-private c-other-shared]"},
		{other, false, "[c-other-shared d-other-private]"},
		{other, true, "[a-own-shared c-other-shared d-other-private]"},
	} {
		list, err := s.ListAccounts(ctx, store.AccountQuery{TenantID: tc.user.TenantID, UserID: tc.user.ID, IncludeShared: tc.shared})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(names(list)); got != tc.want {
			t.Errorf("ListAccounts(%s, shared=%v) = %s, want %s", tc.user.Username, tc.shared, got, tc.want)
		}
	}
}

func testSetSharedOwnerOnly(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	other := newUser(t, s, owner.TenantID, store.RoleDesktopAdmin)
	a := newAccount(t, s, owner, "x", false)
	if err := s.SetShared(ctx, owner.TenantID, other.ID, a.ID, true, now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetShared by non-owner = %v, want ErrNotFound", err)
	}
	later := now().Add(time.Second)
	if err := s.SetShared(ctx, owner.TenantID, owner.ID, a.ID, true, later); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccount(ctx, owner.TenantID, a.ID)
	if err != nil || !got.Shared || !got.Updated.Equal(later) {
		t.Errorf("after SetShared: shared=%v updated=%v err=%v", got.Shared, got.Updated, err)
	}
	if err := s.SetShared(ctx, owner.TenantID, owner.ID, id(), true, now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetShared(unknown) = %v, want ErrNotFound", err)
	}
}

func testSoftDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	other := newUser(t, s, owner.TenantID, store.RoleDesktopAdmin)
	a := newAccount(t, s, owner, "x", true)
	if err := s.DeleteAccount(ctx, owner.TenantID, other.ID, a.ID, now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAccount by non-owner = %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, owner.TenantID, owner.ID, a.ID, now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccount(ctx, owner.TenantID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAccount(deleted) = %v, want ErrNotFound", err)
	}
	list, err := s.ListAccounts(ctx, store.AccountQuery{TenantID: owner.TenantID, UserID: owner.ID, IncludeShared: true})
	if err != nil || len(list) != 0 {
		t.Errorf("ListAccounts after delete: %d, %v", len(list), err)
	}
	if err := s.DeleteAccount(ctx, owner.TenantID, owner.ID, a.ID, now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteAccount = %v, want ErrNotFound", err)
	}
	if err := s.SetShared(ctx, owner.TenantID, owner.ID, a.ID, false, now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetShared(deleted) = %v, want ErrNotFound", err)
	}
	// The id stays taken: soft-deleted rows are kept.
	if err := s.InsertAccount(ctx, a); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("InsertAccount(deleted id) = %v, want ErrDuplicate", err)
	}
}

// testConcurrent has 50 goroutines insert, toggle sharing and delete at once.
// Every operation must succeed (no "database is locked", no serialization
// failure leaking out) and the final state must account for every one.
func testConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	const workers = 50
	var wg sync.WaitGroup
	var kept atomic.Int64
	errs := make(chan error, workers*4)
	ids := make([]string, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := store.Account{ID: id(), TenantID: owner.TenantID, UserID: owner.ID, CloudType: provider.Wasabi,
				Name: fmt.Sprintf("acct-%02d", i), AccessKey: "sealed", Active: true, Created: now(), Updated: now()}
			ids[i] = a.ID
			if err := s.InsertAccount(ctx, a); err != nil {
				errs <- fmt.Errorf("insert %d: %w", i, err)
				return
			}
			for range 3 {
				if err := s.SetShared(ctx, owner.TenantID, owner.ID, a.ID, true, now()); err != nil {
					errs <- fmt.Errorf("share %d: %w", i, err)
					return
				}
				if _, err := s.ListAccounts(ctx, store.AccountQuery{TenantID: owner.TenantID, UserID: owner.ID}); err != nil {
					errs <- fmt.Errorf("list %d: %w", i, err)
					return
				}
			}
			if i%2 == 0 {
				if err := s.DeleteAccount(ctx, owner.TenantID, owner.ID, a.ID, now()); err != nil {
					errs <- fmt.Errorf("delete %d: %w", i, err)
				}
				return
			}
			kept.Add(1)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.ListAccounts(ctx, store.AccountQuery{TenantID: owner.TenantID, UserID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(list)) != kept.Load() {
		t.Fatalf("%d accounts left, want %d", len(list), kept.Load())
	}
	for _, a := range list {
		if !a.Shared {
			t.Errorf("%s lost its shared flag", a.Name)
		}
	}
}
