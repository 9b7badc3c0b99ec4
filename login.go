package amove

import (
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LoginLockout shapes how Login backs off a username after wrong
// passwords. The zero value: five attempts, then a lock of one second
// that doubles with every further failure, up to fifteen minutes.
type LoginLockout struct {
	// Failures is how many failed attempts in a row a username is allowed
	// before it is locked; zero means 5, a negative value turns the
	// lockout off (for a Client behind a gateway that throttles itself).
	Failures int
	// Base is the first lock; each further failure doubles it. Zero means
	// one second.
	Base time.Duration
	// Max caps the lock; zero means 15 minutes.
	Max time.Duration
}

// CodeRateLimit is the code of an attempt refused because there were too
// many (HTTP 429 with Retry-After in httpapi). Not in the Amove API's list
// of codes, which has none for this.
const CodeRateLimit Code = "RATE_LIMIT"

// ErrRateLimited matches an attempt refused because there were too many:
// a sign-in while the username is locked out. RetryAfter says how long to
// wait. Like every application error it also matches ErrValidation.
var ErrRateLimited = errors.New("amove: too many attempts")

// RetryAfter is how long to wait before trying again after an error that
// matches ErrRateLimited; zero for any other error.
func RetryAfter(err error) time.Duration {
	var r retryAfter
	if errors.As(err, &r) {
		return time.Duration(r)
	}
	return 0
}

// retryAfter is the cause of a RATE_LIMIT error.
type retryAfter time.Duration

func (r retryAfter) Error() string {
	return "retry after " + strconv.FormatInt(int64((time.Duration(r)+time.Second-1)/time.Second), 10) + "s"
}

func (r retryAfter) Is(target error) bool { return target == ErrRateLimited }

func lockedOut(wait time.Duration) error {
	return &Error{Code: CodeRateLimit, Message: "too many failed sign-ins for this user; try again later", Err: retryAfter(wait)}
}

// Bounds of the lockout table: an attacker spraying usernames cannot make
// it grow without end. An entry idle for a day is forgotten.
const (
	maxLoginEntries = 10000
	loginForget     = 24 * time.Hour
)

// loginGuard counts failed sign-ins per username. Every attempt counts as
// a failure when it starts and a success clears the count, so attempts in
// flight at the same time cannot slip past the limit together.
type loginGuard struct {
	cfg   LoginLockout
	mu    sync.Mutex
	m     map[[32]byte]*loginRecord
	swept time.Time
}

type loginRecord struct {
	n     int       // attempts since the last success
	last  time.Time // of the last attempt
	until time.Time // locked until
}

func newLoginGuard(cfg LoginLockout) *loginGuard {
	if cfg.Failures == 0 {
		cfg.Failures = 5
	}
	if cfg.Base <= 0 {
		cfg.Base = time.Second
	}
	if cfg.Max <= 0 {
		cfg.Max = 15 * time.Minute
	}
	return &loginGuard{cfg: cfg, m: map[[32]byte]*loginRecord{}}
}

// loginKey: a username of any length costs the table 32 bytes.
func loginKey(username string) [32]byte { return sha256.Sum256([]byte(username)) }

// begin starts an attempt for username. While the username is locked it
// returns how long the lock lasts, and the attempt must be refused without
// checking the password.
func (g *loginGuard) begin(username string, now time.Time) time.Duration {
	if g.cfg.Failures < 0 {
		return 0
	}
	k := loginKey(username)
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.m[k]
	if r != nil && now.Before(r.until) {
		return r.until.Sub(now)
	}
	if r == nil {
		g.makeRoom(now)
		r = &loginRecord{}
		g.m[k] = r
	}
	r.n++
	r.last = now
	if r.n >= g.cfg.Failures {
		r.until = now.Add(g.backoff(r.n))
	}
	return 0
}

// backoff is the lock after n attempts: Base, doubled for every attempt
// past Failures, at most Max.
func (g *loginGuard) backoff(n int) time.Duration {
	d := g.cfg.Base
	for i := g.cfg.Failures; i < n && d < g.cfg.Max; i++ {
		d *= 2
	}
	return min(d, g.cfg.Max)
}

// succeeded clears username's count: the password was right.
func (g *loginGuard) succeeded(username string) {
	if g.cfg.Failures < 0 {
		return
	}
	k := loginKey(username)
	g.mu.Lock()
	delete(g.m, k)
	g.mu.Unlock()
}

// makeRoom forgets idle entries (at most once a minute) and, when the table
// is still full, the entry whose last attempt is oldest.
func (g *loginGuard) makeRoom(now time.Time) {
	if now.Sub(g.swept) > time.Minute || len(g.m) >= maxLoginEntries {
		g.swept = now
		for k, r := range g.m {
			if now.Sub(r.last) > loginForget && !now.Before(r.until) {
				delete(g.m, k)
			}
		}
	}
	if len(g.m) < maxLoginEntries {
		return
	}
	var oldest [32]byte
	var at time.Time
	for k, r := range g.m {
		if at.IsZero() || r.last.Before(at) {
			oldest, at = k, r.last
		}
	}
	delete(g.m, oldest)
}

// normalUsername is the form usernames are stored and locked in.
func normalUsername(username string) string { return strings.ToLower(strings.TrimSpace(username)) }
