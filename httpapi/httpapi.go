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

// Option configures the handler.
type Option func(*Server)

// WithRoots sets the local folders localFilePath and downloadPath must lie
// in (after resolving symlinks). The default is the user's home directory.
func WithRoots(roots ...string) Option { return func(s *Server) { s.roots = roots } }

// WithSignedInUser sets who the agent acts for when a request that allows
// it comes without a token (see WithTokenlessLocalRoutes). A successful
// /authentication/login replaces it.
func WithSignedInUser(p amove.Principal) Option {
	return func(s *Server) { s.signedIn.set(p) }
}

// WithTokenlessLocalRoutes lets the four routes the spec marks tokenless
// (list_buckets, upload_object, download_object, upload_object_from_form)
// act for the signed-in user when a request carries no token. Off by
// default: every route then needs a token (?token= or Authorization:
// Bearer), because any local process could otherwise read or write files
// through the agent. Turn it on only for a client that cannot send one.
func WithTokenlessLocalRoutes() Option { return func(s *Server) { s.tokenless = true } }

// WithMailer sets how send_download_url sends mail.
func WithMailer(m Mailer) Option { return func(s *Server) { s.mailer = m } }

// WithMaxFormBytes caps upload_object_from_form bodies (default 5 GiB).
func WithMaxFormBytes(n int64) Option { return func(s *Server) { s.maxForm = n } }

// WithTempDir sets where upload_object_from_form stages files, under
// tmp/{cloudAccountId}/{storageName}/ (default: amove/staging in the user's
// cache directory). The folder must be private to the agent: New creates it
// with mode 0700 when it does not exist, and refuses one that is a symlink,
// belongs to another user or is open to others (see Err).
func WithTempDir(dir string) Option { return func(s *Server) { s.tempDir = dir } }

// WithAllowedOrigins lets web pages from these origins (scheme://host[:port])
// open the /notification socket; pages from elsewhere are refused.
func WithAllowedOrigins(origins ...string) Option { return func(s *Server) { s.origins = origins } }

// WithAnyHost turns off the loopback Host check, for an agent deliberately
// served behind a proxy. Keep it on for a local agent: it is the defence
// against DNS rebinding.
func WithAnyHost() Option { return func(s *Server) { s.anyHost = true } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

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
	// without a token (WithTokenlessLocalRoutes).
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
func New(c *amove.Client, opts ...Option) *Server {
	s := &Server{c: c, mux: http.NewServeMux(), log: slog.Default(), maxForm: 5 << 30, stallTimeout: defaultStallTimeout,
		loginRate: newAddrLimiter(defaultLoginBurst, defaultLoginEvery)}
	for _, o := range opts {
		o(s)
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
