package amove

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// TestLoginGuardBackoff: five attempts, then locks of 1 s, 2 s, 4 s... up
// to the cap; a lock refuses without counting; a success starts over.
func TestLoginGuardBackoff(t *testing.T) {
	g := newLoginGuard(LoginLockout{})
	now := time.Unix(1_700_000_000, 0)
	for i := 1; i <= 4; i++ {
		if wait := g.begin("alice", now); wait != 0 {
			t.Fatalf("attempt %d locked for %v", i, wait)
		}
	}
	// The fifth attempt is let through and locks the name for 1 s from
	// its start: a sixth at once is refused.
	if wait := g.begin("alice", now); wait != 0 {
		t.Fatalf("attempt 5 locked for %v", wait)
	}
	if wait := g.begin("alice", now.Add(500*time.Millisecond)); wait != 500*time.Millisecond {
		t.Fatalf("attempt 6 during the lock: wait %v, want 500ms", wait)
	}
	// Each attempt after a lock doubles the next one, up to 15 min.
	want := 2 * time.Second
	for i := 6; i < 30; i++ {
		now = now.Add(time.Hour) // past any lock
		if wait := g.begin("alice", now); wait != 0 {
			t.Fatalf("attempt %d after the lock: %v", i, wait)
		}
		if wait := g.begin("alice", now); wait != want {
			t.Fatalf("lock after %d attempts: %v, want %v", i, wait, want)
		}
		want = min(2*want, 15*time.Minute)
	}
	// Other names are not affected; a success clears the count.
	if wait := g.begin("bob", now); wait != 0 {
		t.Fatalf("bob locked: %v", wait)
	}
	g.succeeded("alice")
	if wait := g.begin("alice", now); wait != 0 {
		t.Fatalf("alice still locked after a success: %v", wait)
	}
}

// TestLoginGuardBounded: a spray of usernames keeps the table at its cap,
// and entries idle for a day are forgotten.
func TestLoginGuardBounded(t *testing.T) {
	g := newLoginGuard(LoginLockout{})
	now := time.Unix(1_700_000_000, 0)
	for i := range maxLoginEntries + 500 {
		g.begin("user"+strconv.Itoa(i), now.Add(time.Duration(i)))
	}
	if n := len(g.m); n != maxLoginEntries {
		t.Fatalf("%d entries, want the cap %d", n, maxLoginEntries)
	}
	// The oldest went first.
	if _, ok := g.m[loginKey("user0")]; ok {
		t.Fatal("the oldest entry was kept")
	}
	g.begin("late", now.Add(loginForget+time.Hour))
	if n := len(g.m); n != 1 {
		t.Fatalf("%d entries after a day idle, want 1", n)
	}
}

// TestLoginGuardOff: a negative Failures turns the lockout off.
func TestLoginGuardOff(t *testing.T) {
	g := newLoginGuard(LoginLockout{Failures: -1})
	now := time.Now()
	for i := range 100 {
		if wait := g.begin("alice", now); wait != 0 {
			t.Fatalf("attempt %d locked", i)
		}
	}
	if len(g.m) != 0 {
		t.Fatal("the table grew with the lockout off")
	}
}

func TestRetryAfter(t *testing.T) {
	err := lockedOut(1500 * time.Millisecond)
	if !errors.Is(err, ErrRateLimited) || RetryAfter(err) != 1500*time.Millisecond || ErrorCode(err) != CodeRateLimit {
		t.Fatalf("%v: Is %v, RetryAfter %v, code %q", err, errors.Is(err, ErrRateLimited), RetryAfter(err), ErrorCode(err))
	}
	if errors.Is(err, ErrUnauthorized) || RetryAfter(errors.New("x")) != 0 {
		t.Fatal("a lockout matched ErrUnauthorized, or another error had a RetryAfter")
	}
}
