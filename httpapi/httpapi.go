// Package httpapi serves the documented Amove endpoints over net/http: the
// agent's /cloud/... API (token in the query), the hosted
// /api/v1/cloudaccount/... API (bearer token), the /notification WebSocket,
// a login endpoint and an OpenAPI document. It only translates HTTP to
// amove.Client calls and back; the rules live in the client.
//
// Mount it on any mux, under a prefix if you like:
//
//	mux.Handle("/amove/", http.StripPrefix("/amove", httpapi.New(client)))
package httpapi

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go"
)

// maxJSONBody caps every JSON request body.
const maxJSONBody = 1 << 20

// Options configure the handler. The zero Options is the secure default:
// a token on every route, loopback Host names only, no foreign Origin,
// local paths under the user's home directory.
type Options struct {
	// Roots are the local folders localFilePath and downloadPath must lie
	// in (after resolving symlinks). Nil means the user's home directory.
	Roots []string
	// SignedInUser is who the agent acts for when a request that allows it
	// comes without a token (see TokenlessLocalRoutes); the zero Principal
	// is nobody. A successful /authentication/login replaces it.
	SignedInUser amove.Principal
	// TokenlessLocalRoutes lets the four routes the spec marks tokenless
	// (list_buckets, upload_object, download_object,
	// upload_object_from_form) act for the signed-in user when a request
	// carries no token. Off by default: every route then needs a token
	// (?token= or Authorization: Bearer), because any local process could
	// otherwise read or write files through the agent. Turn it on only for
	// a client that cannot send one.
	TokenlessLocalRoutes bool
	// Mailer is how send_download_url sends mail; nil refuses the route.
	Mailer Mailer
	// MailLimit bounds the send_download_url messages of one user; the zero
	// Limit is a burst of 3, then one every 6 minutes.
	MailLimit Limit
	// MaxFormBytes caps upload_object_from_form bodies; zero means 5 GiB.
	MaxFormBytes int64
	// StallTimeout is how long an upload_object_from_form body may send
	// nothing before the agent answers 408 and discards what it staged;
	// zero means one minute.
	StallTimeout time.Duration
	// TempDir is where upload_object_from_form stages files, under
	// tmp/{cloudAccountId}/{storageName}/; empty means amove/staging in
	// the user's cache directory. The folder must be private to the agent:
	// New creates it with mode 0700 when it does not exist, and refuses
	// one that is a symlink, belongs to another user or is open to others
	// (see Server.Err).
	TempDir string
	// AllowedOrigins (scheme://host[:port]) are the web pages that may
	// write to the agent and open the /notification socket; pages from
	// elsewhere are refused.
	AllowedOrigins []string
	// AnyHost turns off the loopback Host check, for an agent deliberately
	// served behind a proxy. Leave it off for a local agent: it is the
	// defence against DNS rebinding.
	AnyHost bool
	// LoginRate bounds how often one client address may try to sign in;
	// the zero Limit is a burst of 10, then one every 6 seconds. Addresses
	// are the connection's: X-Forwarded-For is not trusted, and IPv6
	// addresses count per /64. Use Unlimited for an agent behind a proxy
	// that limits, where every request comes from the proxy's address.
	LoginRate Limit
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// Limit is a token-bucket rate: Burst at once, then one more every Every.
// The zero Limit means the option's default.
type Limit struct {
	Burst int
	Every time.Duration
}

// Unlimited turns a limit off.
var Unlimited = Limit{Burst: -1}

// or returns l, or def when l is the zero Limit.
func (l Limit) or(def Limit) Limit {
	if l == (Limit{}) {
		return def
	}
	return l
}

// Server is the handler New returns.
type Server struct {
	c        *amove.Client
	mux      *http.ServeMux
	log      *slog.Logger
	roots    []string
	mailer   Mailer
	mailRate mailLimiter // send_download_url per user (mail.go)
	maxForm  int64
	tempDir  string
	origins  []string
	anyHost  bool
	signedIn signedIn
	// tokenless lets authOptional and authNone routes act for signedIn
	// without a token (Options.TokenlessLocalRoutes).
	tokenless bool
	hub       *hub
	routes    []route

	// stagingErr is why tempDir was refused (ErrStagingDir): form uploads
	// are refused then.
	stagingErr   error
	stallTimeout time.Duration
	loginRate    *addrLimiter // sign-ins per client address (loginlimit.go)
}

// New returns the handler for every documented endpoint.
func New(c *amove.Client, opts Options) *Server {
	login := opts.LoginRate.or(Limit{defaultLoginBurst, defaultLoginEvery})
	mail := opts.MailLimit.or(Limit{defaultMailBurst, defaultMailEvery})
	s := &Server{c: c, mux: http.NewServeMux(), log: cmp.Or(opts.Logger, slog.Default()),
		roots: opts.Roots, mailer: opts.Mailer, mailRate: mailLimiter{burst: mail.Burst, every: mail.Every},
		maxForm: cmp.Or(opts.MaxFormBytes, 5<<30), tempDir: opts.TempDir, origins: opts.AllowedOrigins,
		anyHost: opts.AnyHost, tokenless: opts.TokenlessLocalRoutes,
		stallTimeout: cmp.Or(opts.StallTimeout, defaultStallTimeout),
		loginRate:    newAddrLimiter(login.Burst, login.Every)}
	if opts.SignedInUser != (amove.Principal{}) {
		s.signedIn.set(opts.SignedInUser)
	}
	if s.roots == nil {
		if home, err := os.UserHomeDir(); err == nil {
			s.roots = []string{home}
		}
	}
	if s.tempDir == "" {
		s.tempDir = defaultStagingDir()
	}
	if s.stagingErr = prepareStaging(s.tempDir); s.stagingErr != nil {
		s.log.Error("httpapi: form uploads are refused", "err", s.stagingErr)
	}
	s.hub = newHub(s)
	s.register()
	return s
}

// Err reports a setting New refused: a staging folder that is not private
// to the agent (ErrStagingDir). The handler still serves every other route;
// upload_object_from_form answers 503. A program that serves the agent
// should stop when Err is not nil.
func (s *Server) Err() error { return s.stagingErr }

// Close stops the notification hub; open sockets are closed with 1000.
// Transfers belong to the client, which Close leaves running.
func (s *Server) Close() {
	s.hub.close()
}

// ServeHTTP implements http.Handler. Before routing it refuses a Host that
// is not a loopback name (DNS rebinding) and a write from a foreign Origin
// (CSRF), unless options loosened those checks; a panic in a handler becomes
// a 500 without internals.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.anyHost && !loopbackHost(r.Host) {
		writeError(w, &httpError{status: http.StatusForbidden, code: "SECURITY", msg: "the agent answers only to localhost"})
		return
	}
	if o := r.Header.Get("Origin"); o != "" && r.Method != http.MethodGet && r.Method != http.MethodHead && !s.originAllowed(o) {
		// A page on another site cannot make the agent act for its user
		// (CSRF): browsers always send Origin on cross-site writes.
		writeError(w, &httpError{status: http.StatusForbidden, code: "SECURITY", msg: "requests from this origin are not allowed"})
		return
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("httpapi: panic", "path", r.URL.Path, "panic", v)
			w.WriteHeader(http.StatusInternalServerError)
		}
	}()
	s.setDeadlines(w, r)
	s.mux.ServeHTTP(w, r)
}

// loopbackHost reports whether a Host header names this machine: a DNS
// rebinding page has its own name in Host even when it reaches 127.0.0.1.
func loopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// signedIn is the agent's signed-in user, for endpoints that may be called
// without a token.
type signedIn struct {
	mu sync.Mutex
	p  *amove.Principal
}

func (s *signedIn) set(p amove.Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p = &p
}

// get is the signed-in user, until the token of their sign-in expires.
func (s *signedIn) get() (amove.Principal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil || !s.p.Expires.IsZero() && time.Now().After(s.p.Expires) {
		return amove.Principal{}, false
	}
	return *s.p, true
}

type ctxKey struct{}

func principalFrom(ctx context.Context) amove.Principal {
	p, _ := ctx.Value(ctxKey{}).(amove.Principal)
	return p
}

// originAllowed accepts pages served from this machine and the configured
// origins.
func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.origins {
		if strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && loopbackHost(u.Host)
}
