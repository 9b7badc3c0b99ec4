package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/store"
)

func newOAuthState(u store.User, key string, at time.Time) store.OAuthState {
	return store.OAuthState{Key: key, TenantID: u.TenantID, UserID: u.ID, CloudType: provider.Dropbox,
		RedirectURL: "http://localhost:3000/oauth/dropbox", CloudName: "My Dropbox", Shared: true,
		Verifier: "sealed-verifier", Created: at, Expires: at.Add(10 * time.Minute)}
}

func testOAuthStateSingleUse(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	want := newOAuthState(owner, "k1", now())
	if err := s.PutOAuthState(ctx, want); err != nil {
		t.Fatalf("PutOAuthState: %v", err)
	}
	if err := s.PutOAuthState(ctx, want); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("PutOAuthState twice: %v, want ErrDuplicate", err)
	}
	got, err := s.TakeOAuthState(ctx, "k1")
	if err != nil {
		t.Fatalf("TakeOAuthState: %v", err)
	}
	if !got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) {
		t.Errorf("times %v %v, want %v %v", got.Created, got.Expires, want.Created, want.Expires)
	}
	got.Created, got.Expires = want.Created, want.Expires
	if got != want {
		t.Errorf("TakeOAuthState = %+v, want %+v", got, want)
	}
	if _, err := s.TakeOAuthState(ctx, "k1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second TakeOAuthState: %v, want ErrNotFound", err)
	}
	if _, err := s.TakeOAuthState(ctx, "never"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TakeOAuthState of unknown key: %v, want ErrNotFound", err)
	}

	// Storing a state drops those that expired before it was made.
	old := newOAuthState(owner, "old", now().Add(-time.Hour))
	if err := s.PutOAuthState(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOAuthState(ctx, newOAuthState(owner, "new", now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeOAuthState(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired state still stored: %v", err)
	}
	if _, err := s.TakeOAuthState(ctx, "new"); err != nil {
		t.Errorf("fresh state: %v", err)
	}
}

// testOAuthStateRace takes one state from many goroutines: exactly one wins.
func testOAuthStateRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	if err := s.PutOAuthState(ctx, newOAuthState(owner, "race", now())); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.TakeOAuthState(ctx, "race")
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("TakeOAuthState: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d takers got the state, want 1", wins.Load())
	}
}

func testUpdateCredentials(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, owner := newTenant(t, s)
	a := newAccount(t, s, owner, "oauth", true)
	at := now().Add(time.Minute)
	if err := s.UpdateCredentials(ctx, a.TenantID, a.ID, "sealed-new-token", at); err != nil {
		t.Fatalf("UpdateCredentials: %v", err)
	}
	got, err := s.GetAccount(ctx, a.TenantID, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.CredentialsData != "sealed-new-token" || !got.Updated.Equal(at) {
		t.Errorf("after update: credentials %q updated %v", got.CredentialsData, got.Updated)
	}
	other, _ := newTenant(t, s)
	if err := s.UpdateCredentials(ctx, other.ID, a.ID, "x", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update from another tenant: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, a.TenantID, owner.ID, a.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateCredentials(ctx, a.TenantID, a.ID, "x", at); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a deleted account: %v, want ErrNotFound", err)
	}
}
