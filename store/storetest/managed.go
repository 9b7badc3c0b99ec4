package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/amove/amove-go/store"
)

func newManaged(t *testing.T, s store.Store, u store.User, family, managedID string, tier int) store.Account {
	t.Helper()
	a := store.Account{ID: id(), TenantID: u.TenantID, UserID: u.ID, CloudType: 8, Name: "Amove " + managedID,
		ServiceURL: "http://minio.example", AccessKey: "sealed-ak", SecretKey: "sealed-sk", Active: true,
		InternalStorage: true, StorageTier: tier, ManagedFamily: family, ManagedID: managedID,
		Created: now(), Updated: now()}
	if err := s.InsertAccount(context.Background(), a); err != nil {
		t.Fatalf("InsertAccount: %v", err)
	}
	return a
}

func accountIDs(list []store.Account) []string {
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	slices.Sort(ids)
	return ids
}

func testManagedAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, a := newTenant(t, s)
	_, b := newTenant(t, s)
	newAccount(t, s, a, "plain", false) // not managed: never listed
	m1 := newManaged(t, s, a, "idrive", "user-1", 2)
	m2 := newManaged(t, s, b, "storj", "user-2", 1)
	gone := newManaged(t, s, a, "idrive", "user-3", 4)
	if err := s.DeleteAccount(ctx, a.TenantID, a.ID, gone.ID, now()); err != nil {
		t.Fatal(err)
	}

	got, err := s.ManagedAccounts(ctx, a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != m1.ID {
		t.Fatalf("tenant a: %v, want only %s", accountIDs(got), m1.ID)
	}
	if got[0].ManagedFamily != "idrive" || got[0].ManagedID != "user-1" || !got[0].InternalStorage || got[0].StorageTier != 2 {
		t.Errorf("round trip: family %q id %q internal %v tier %d", got[0].ManagedFamily, got[0].ManagedID,
			got[0].InternalStorage, got[0].StorageTier)
	}
	all, err := s.ManagedAccounts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{m1.ID, m2.ID}
	slices.Sort(want)
	// Other subtests' stores are fresh, so "every tenant" is exactly these.
	if ids := accountIDs(all); !slices.Equal(ids, want) {
		t.Errorf("every tenant: %v, want %v", ids, want)
	}
}

func testUsageSamples(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, a := newTenant(t, s)
	_, b := newTenant(t, s)
	m1 := newManaged(t, s, a, "idrive", "u1", 1)
	m2 := newManaged(t, s, a, "idrive", "u2", 2)
	other := newManaged(t, s, b, "idrive", "u3", 1)
	t0 := now().Add(-30 * time.Hour)
	put := func(acc store.Account, at time.Time, bytes int64) {
		t.Helper()
		err := s.PutUsageSample(ctx, store.UsageSample{TenantID: acc.TenantID, AccountID: acc.ID, Tier: acc.StorageTier,
			Bytes: bytes, Objects: bytes / 10, At: at})
		if err != nil {
			t.Fatalf("PutUsageSample: %v", err)
		}
	}
	put(m1, t0, 100)                   // older than a day
	put(m1, t0.Add(10*time.Hour), 500) // the day's max of m1
	put(m1, t0.Add(20*time.Hour), 300) // m1's latest
	put(m2, t0.Add(15*time.Hour), 70)
	put(other, t0.Add(20*time.Hour), 9999) // another tenant's

	day, err := s.UsageSamples(ctx, a.TenantID, t0.Add(6*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, u := range day {
		got = append(got, u.Bytes)
		if u.TenantID != a.TenantID {
			t.Errorf("sample of tenant %s in tenant %s's", u.TenantID, a.TenantID)
		}
	}
	if want := []int64{500, 70, 300}; !slices.Equal(got, want) {
		t.Errorf("samples since: %v, want %v (oldest first)", got, want)
	}
	if len(day) > 0 && (!day[0].At.Equal(t0.Add(10*time.Hour)) || day[0].Objects != 50 || day[0].Tier != 1 || day[0].AccountID != m1.ID) {
		t.Errorf("round trip: %+v", day[0])
	}

	latest, err := s.LatestUsage(ctx, a.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	byAccount := map[string]int64{}
	for _, u := range latest {
		byAccount[u.AccountID] = u.Bytes
	}
	if len(latest) != 2 || byAccount[m1.ID] != 300 || byAccount[m2.ID] != 70 {
		t.Errorf("latest: %+v, want m1 300 and m2 70", latest)
	}

	// A deleted storage no longer counts as held now.
	if err := s.DeleteAccount(ctx, a.TenantID, a.ID, m2.ID, now()); err != nil {
		t.Fatal(err)
	}
	if latest, err = s.LatestUsage(ctx, a.TenantID); err != nil || len(latest) != 1 || latest[0].AccountID != m1.ID {
		t.Errorf("latest after deleting m2: %+v, %v", latest, err)
	}

	if err := s.DeleteUsageSamples(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, err := s.UsageSamples(ctx, a.TenantID, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("%d samples after pruning the oldest, want 3", len(all))
	}
}
