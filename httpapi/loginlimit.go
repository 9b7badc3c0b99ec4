package httpapi

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/amove/amove-go"
)

// Sign-ins are limited twice: per username by the Client (a lockout that
// backs off, amove.Options.LoginLockout), so an embedder gets it too, and
// per client address here, so one machine cannot try passwords for many
// usernames at the rate it likes.

// Default per-address limit: ten attempts at once, then one every six
// seconds (ten a minute).
const (
	defaultLoginBurst = 10
	defaultLoginEvery = 6 * time.Second
	// maxLoginAddrs bounds the table; a full bucket is forgotten.
	maxLoginAddrs = 10000
)

// addrLimiter is a token bucket per client address.
type addrLimiter struct {
	burst float64
	every time.Duration
	mu    sync.Mutex
	m     map[string]*tokenBucket
	swept time.Time
}

type tokenBucket struct {
	tokens float64
	at     time.Time
}

func newAddrLimiter(n int, every time.Duration) *addrLimiter {
	if every <= 0 {
		every = defaultLoginEvery
	}
	return &addrLimiter{burst: float64(n), every: every, m: map[string]*tokenBucket{}}
}

// take spends one attempt of addr; when none is left it returns how long
// until one is.
func (l *addrLimiter) take(addr string, now time.Time) time.Duration {
	if l == nil || l.burst <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[addr]
	if b == nil {
		l.makeRoom(now)
		b = &tokenBucket{tokens: l.burst, at: now}
		l.m[addr] = b
	}
	if now.After(b.at) {
		b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.every))
}

// makeRoom forgets buckets that have refilled (a new one is the same), at
// most once a minute or when the table is full, and when it is still full
// the one idle longest.
func (l *addrLimiter) makeRoom(now time.Time) {
	full := time.Duration(l.burst * float64(l.every))
	if now.Sub(l.swept) > time.Minute || len(l.m) >= maxLoginAddrs {
		l.swept = now
		for k, b := range l.m {
			if now.Sub(b.at) >= full {
				delete(l.m, k)
			}
		}
	}
	if len(l.m) < maxLoginAddrs {
		return
	}
	var oldest string
	var at time.Time
	for k, b := range l.m {
		if at.IsZero() || b.at.Before(at) {
			oldest, at = k, b.at
		}
	}
	delete(l.m, oldest)
}

// clientAddr is the address a request's connection comes from; IPv6
// addresses are cut to their /64, which one machine usually has whole.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// rateLimited is the answer to an address over its limit: 429 with
// Retry-After, code RATE_LIMIT (as the Client's lockout).
func rateLimited(wait time.Duration) error {
	return &httpError{status: http.StatusTooManyRequests, code: string(amove.CodeRateLimit),
		msg: "too many sign-in attempts from this address; try again later", retryAfter: wait}
}
