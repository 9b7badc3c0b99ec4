package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/amove/amove-go/store"
)

// testReseal: Reseal visits every sealed value (soft-deleted accounts and
// pending OAuth states too, empty values never) with its row's tenant and
// owner, stores what fn returns, and stores nothing when fn fails.
func testReseal(t *testing.T, s store.Store) {
	r, ok := s.(store.Resealer)
	if !ok {
		t.Fatal("the store does not implement store.Resealer")
	}
	ctx := context.Background()
	tn, owner := newTenant(t, s)
	otherTn, otherOwner := newTenant(t, s)
	a := newAccount(t, s, owner, "a", false)
	b := newAccount(t, s, otherOwner, "b", true)
	gone := newAccount(t, s, owner, "gone", false)
	if err := s.DeleteAccount(ctx, tn.ID, owner.ID, gone.ID, now()); err != nil {
		t.Fatal(err)
	}
	keyOnly := store.Account{ID: id(), TenantID: tn.ID, UserID: owner.ID, Name: "k", AccessKey: "sealed-ak2",
		SecretKey: "sealed-sk2", Active: true, Created: now(), Updated: now()}
	if err := s.InsertAccount(ctx, keyOnly); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOAuthState(ctx, newOAuthState(otherOwner, "state1", now())); err != nil {
		t.Fatal(err)
	}
	mark := func(v store.Sealed) string {
		return fmt.Sprintf("R|%s|%s|%s|%s|%s|%s", v.Table, v.ID, v.Column, v.TenantID, v.UserID, v.Value)
	}

	// A failing fn changes nothing.
	boom := errors.New("boom")
	calls := 0
	err := r.Reseal(ctx, func(v store.Sealed) (string, error) {
		calls++
		if calls == 5 {
			return "", boom
		}
		return mark(v), nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Reseal with a failing fn = %v, want its error", err)
	}
	if got, _ := s.GetAccount(ctx, tn.ID, a.ID); got.AccessKey != a.AccessKey || got.SecretKey != a.SecretKey {
		t.Errorf("a failed Reseal changed %+v", got)
	}

	seen := map[string]int{}
	if err := r.Reseal(ctx, func(v store.Sealed) (string, error) {
		if v.Value == "" {
			t.Errorf("fn called for an empty value: %+v", v)
		}
		seen[v.Table]++
		return mark(v), nil
	}); err != nil {
		t.Fatal(err)
	}
	// 3 accounts with 3 values, one with 2, one OAuth state.
	if seen["cloud_accounts"] != 11 || seen["oauth_states"] != 1 || len(seen) != 2 {
		t.Errorf("Reseal visited %v, want 11 account values and 1 OAuth state", seen)
	}
	for _, acc := range []store.Account{a, b, keyOnly} {
		got, err := s.GetAccount(ctx, acc.TenantID, acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := func(col, old string) string {
			if old == "" {
				return ""
			}
			return mark(store.Sealed{Table: "cloud_accounts", ID: acc.ID, Column: col, TenantID: acc.TenantID, UserID: acc.UserID, Value: old})
		}
		if got.AccessKey != want("access_key", acc.AccessKey) || got.SecretKey != want("secret_key", acc.SecretKey) ||
			got.CredentialsData != want("credentials_data", acc.CredentialsData) {
			t.Errorf("after Reseal: %q %q %q", got.AccessKey, got.SecretKey, got.CredentialsData)
		}
		if !got.Updated.Equal(acc.Updated) {
			t.Errorf("Reseal changed updated_at: %v, want %v", got.Updated, acc.Updated)
		}
	}
	st, err := s.TakeOAuthState(ctx, "state1")
	if err != nil {
		t.Fatal(err)
	}
	if want := mark(store.Sealed{Table: "oauth_states", ID: "state1", Column: "verifier", TenantID: otherTn.ID,
		UserID: otherOwner.ID, Value: "sealed-verifier"}); st.Verifier != want {
		t.Errorf("verifier after Reseal = %q, want %q", st.Verifier, want)
	}
}
