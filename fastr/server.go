package fastr

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go/provider"
)

// CredentialsFunc returns the secret of an access key, or ok false when the
// key is unknown. It lets the server look keys up in a store that changes
// while it runs.
type CredentialsFunc func(accessKey string) (secret string, ok bool)

// StaticCredentials serves a fixed access key -> secret map.
func StaticCredentials(m map[string]string) CredentialsFunc {
	return func(ak string) (string, bool) {
		s, ok := m[ak]
		return s, ok
	}
}

// Options configure a Server. `amove fastr serve` maps its flags onto them:
// --root DIR, --access-key/--secret-key (or a key file), --addr, --max-skew.
type Options struct {
	// Root is the directory that holds the buckets; it must exist.
	Root string
	// Credentials authorizes requests. Every known key may use every bucket.
	Credentials CredentialsFunc
	// Logger receives request failures; nil means slog.Default().
	Logger *slog.Logger
	// MaxClockSkew is how far X-Fastr-Date may be from the server clock;
	// zero means 5 minutes. A nonce is remembered, in Root/.fastr-nonces
	// so that a restart remembers it too, until its date is this far past.
	MaxClockSkew time.Duration
	// MaxNonces bounds the nonces remembered at once; zero means
	// DefaultMaxNonces. When it is reached, signed requests are refused
	// with 503 SlowDown until nonces expire.
	MaxNonces int
	// PushClient carries the requests of pushes to target servers; nil
	// means provider.NewHTTPClient(): sane timeouts and the default
	// outbound policy (no redirect to another host, no link-local address),
	// so a push never follows a target's redirect elsewhere with a chunk.
	PushClient *http.Client
	// AllowPushTarget vets a push target URL before the server connects to
	// it (an SSRF guard for servers reachable by untrusted users); nil
	// allows every http and https URL.
	AllowPushTarget func(*url.URL) error
	// UploadTTL is how long an upload session may stay open before the
	// server discards it; zero means 7 days. Sweeps run when a session is
	// created, at most once an hour.
	UploadTTL time.Duration
	// MaxUploadsPerKey bounds the upload sessions one access key may have
	// open at once; zero means DefaultMaxUploadsPerKey. Over it, creating
	// a session is refused with 429 SlowDown.
	MaxUploadsPerKey int
	// MaxPushes bounds the pushes that may be unfinished (running, pending
	// or paused) at once; zero means DefaultMaxPushes. Over it, starting a
	// push is refused with 429 SlowDown.
	MaxPushes int
	// PublicHosts are the host[:port] names clients use to reach the
	// server. Signatures are bound to the host (docs/fastr.md §1), and the
	// Host header is the client's to choose, so the server must know its
	// own names: when set, a request verifies only if it was signed for
	// one of these hosts, and the received Host header is not consulted
	// (behind a reverse proxy that rewrites Host, list the proxy's public
	// name). Empty means the server answers only to the address the
	// connection came in on: an IP literal (or "localhost" on a loopback
	// connection) with the listener's port; any other Host is refused with
	// 421 MisdirectedRequest.
	PublicHosts []string
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

// Server is the reference Fastr server, an http.Handler that keeps buckets
// and objects in a directory. Close it to stop its pushes.
type Server struct {
	opts    Options
	root    *os.Root
	log     *slog.Logger
	mux     *http.ServeMux
	nonces  *nonceCache
	locks   sessionLocks
	uploads uploadCounts
	tails   chunkTails
	pushes  pushRegistry
}

// NewServer opens opts.Root and returns the server. It creates the reserved
// directories (.fastr-tmp, .fastr-meta, .fastr-uploads) and removes temp
// files a crash left behind.
func NewServer(opts Options) (*Server, error) {
	if opts.Root == "" {
		return nil, errors.New("fastr: Options.Root is required")
	}
	if opts.Credentials == nil {
		return nil, errors.New("fastr: Options.Credentials is required")
	}
	if opts.MaxClockSkew <= 0 {
		opts.MaxClockSkew = 5 * time.Minute
	}
	if opts.UploadTTL <= 0 {
		opts.UploadTTL = 7 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PushClient == nil {
		opts.PushClient = provider.NewHTTPClient()
	}
	root, err := os.OpenRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("fastr: opening root: %w", err)
	}
	// A temp file is never part of an object, so whatever a crash left in
	// .fastr-tmp is garbage.
	_ = root.RemoveAll(tmpDir)
	for _, d := range []string{tmpDir, metaDir, uploadsDir} {
		if err := root.MkdirAll(d, 0o755); err != nil {
			root.Close()
			return nil, fmt.Errorf("fastr: creating %s: %w", d, err)
		}
	}
	nonces, err := newNonceCache(root, opts.MaxClockSkew, opts.MaxNonces, opts.Now())
	if err != nil {
		root.Close()
		return nil, err
	}
	s := &Server{opts: opts, root: root, log: opts.Logger, nonces: nonces}
	s.pushes.init()
	s.routes()
	return s, nil
}

// Close stops running pushes (they stay resumable on the target), waits
// until the offset-mode chunks already answered are recorded, and closes
// the root. Stop serving requests first (http.Server.Shutdown): a chunk
// still arriving holds Close until it ends.
func (s *Server) Close() error {
	s.pushes.stopAll()
	s.tails.wg.Wait() // chunks being recorded
	s.nonces.close()
	return s.root.Close()
}

func (s *Server) now() time.Time { return s.opts.Now() }

func (s *Server) routes() {
	m := http.NewServeMux()
	p := APIPrefix
	m.HandleFunc("GET "+p+"/b", s.handleListBuckets)
	m.HandleFunc("PUT "+p+"/b/{bucket}", s.handleCreateBucket)
	m.HandleFunc("DELETE "+p+"/b/{bucket}", s.handleDeleteBucket)
	m.HandleFunc("GET "+p+"/b/{bucket}", s.handleListObjects)
	m.HandleFunc("HEAD "+p+"/o/{bucket}/{key...}", s.handleHead)
	m.HandleFunc("GET "+p+"/o/{bucket}/{key...}", s.handleGet)
	m.HandleFunc("PUT "+p+"/o/{bucket}/{key...}", s.handlePut)
	m.HandleFunc("DELETE "+p+"/o/{bucket}/{key...}", s.handleDelete)
	m.HandleFunc("POST "+p+"/copy", s.handleCopy)
	m.HandleFunc("POST "+p+"/uploads", s.handleCreateUpload)
	m.HandleFunc("GET "+p+"/uploads", s.handleListUploads)
	m.HandleFunc("GET "+p+"/uploads/{id}", s.handleGetUpload)
	m.HandleFunc("PATCH "+p+"/uploads/{id}", s.handleAppend)
	m.HandleFunc("DELETE "+p+"/uploads/{id}", s.handleAbort)
	m.HandleFunc("PUT "+p+"/uploads/{id}/parts/{n}", s.handleUploadPart)
	m.HandleFunc("POST "+p+"/uploads/{id}/complete", s.handleComplete)
	m.HandleFunc("POST "+p+"/push", s.handleStartPush)
	m.HandleFunc("GET "+p+"/push", s.handleListPushes)
	m.HandleFunc("GET "+p+"/push/{id}", s.handlePushStatus)
	m.HandleFunc("POST "+p+"/push/{id}/{action}", s.handlePushAction)
	s.mux = m
}

// ServeHTTP refuses unsafe paths before anything else looks at them, then
// authenticates, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e := checkPath(r.URL.Path); e != nil {
		s.writeErr(w, r, e)
		return
	}
	if err := s.authenticate(r); err != nil {
		s.writeErr(w, r, err)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// checkPath refuses dot segments (also when sent as %2e%2e), empty segments,
// backslashes and NUL in the decoded path. ServeMux would otherwise clean
// them into a redirect to some other object.
func checkPath(p string) *Error {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return errf(http.StatusBadRequest, CodeInvalidArgument, "invalid path")
	}
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		if seg == "." || seg == ".." || (seg == "" && i != len(segs)-1) {
			return errf(http.StatusBadRequest, CodeInvalidArgument, "invalid path")
		}
	}
	return nil
}

func errf(status int, code, format string, args ...any) *Error {
	return &Error{StatusCode: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if r.Context().Err() != nil {
			return // the client went away; nobody reads an answer
		}
		s.log.ErrorContext(r.Context(), "fastr: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = errf(http.StatusInternalServerError, CodeInternal, "internal error")
	}
	w.Header().Set(HeaderErrorCode, e.Code)
	if e.ExpectedOffset != nil {
		w.Header().Set(HeaderOffset, itoa(*e.ExpectedOffset))
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", itoa(int64(e.RetryAfter/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.StatusCode)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(e)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxJSONBody bounds request bodies that are JSON.
const maxJSONBody = 1 << 20

// readJSON reads a JSON body and checks it against the signed body hash.
func readJSON(r *http.Request, v any) error {
	if err := declaredTooLarge(r, maxJSONBody); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxJSONBody+1))
	if err != nil {
		return errf(http.StatusBadRequest, CodeInvalidArgument, "reading body: %v", err)
	}
	if len(b) > maxJSONBody {
		return errf(http.StatusRequestEntityTooLarge, CodeEntityTooLarge, "JSON body too large")
	}
	if want := r.Header.Get(HeaderContentSHA256); want != UnsignedPayload {
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != want {
			return errf(http.StatusBadRequest, CodeBadDigest, "body does not match %s", HeaderContentSHA256)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errf(http.StatusBadRequest, CodeInvalidArgument, "invalid JSON: %v", err)
	}
	return nil
}

// ---- authentication ----

func unauth(code, format string, args ...any) *Error {
	return errf(http.StatusUnauthorized, code, format, args...)
}

// authenticate verifies a header-signed or presigned request.
func (s *Server) authenticate(r *http.Request) error {
	q := r.URL.Query()
	if q.Has(QuerySignature) {
		return s.verifyPresigned(r, q)
	}
	ak, sig, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return unauth(CodeMissingAuth, "missing or malformed Authorization header")
	}
	lookup := ak
	scope, scoped := parseScope(ak)
	if scoped {
		lookup = scope.accessKey
	}
	secret, ok := s.opts.Credentials(lookup)
	if !ok {
		return unauth(CodeUnknownAccessKey, "unknown access key")
	}
	date, err := time.Parse(DateFormat, r.Header.Get(HeaderDate))
	if err != nil {
		return unauth(CodeRequestExpired, "missing or malformed %s", HeaderDate)
	}
	now := s.now()
	if d := now.Sub(date); d > s.opts.MaxClockSkew || d < -s.opts.MaxClockSkew {
		return unauth(CodeRequestExpired, "request date %s is too far from server time %s", date.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	nonce := r.Header.Get(HeaderNonce)
	if len(nonce) < 16 || len(nonce) > 128 {
		return unauth(CodeSignatureMismatch, "missing or malformed %s", HeaderNonce)
	}
	payload := r.Header.Get(HeaderContentSHA256)
	if payload == "" {
		return unauth(CodeSignatureMismatch, "missing %s", HeaderContentSHA256)
	}
	if scoped {
		if now.Unix() > scope.expires {
			return unauth(CodeCredentialExpired, "upload credential expired")
		}
		secret = scopedSecret(secret, scope.uploadID, scope.expires)
	}
	if err := s.verify(secret, sig, func(host string) string {
		return StringToSign(r.Method, host, r.URL.Path, q, r.Header, payload)
	}, r); err != nil {
		return err
	}
	// Only a verified request may spend a nonce, so forged requests cannot
	// fill the cache or block a legitimate one. The nonce is on disk
	// before the request runs, so a restart does not forget it.
	if err := s.nonces.spend(ak, nonce, date.Add(s.opts.MaxClockSkew), now); err != nil {
		if errors.Is(err, errReplayed) {
			return unauth(CodeReplayedRequest, "nonce already used")
		}
		return err
	}
	if scoped && !scope.allows(r) {
		return errf(http.StatusForbidden, CodeAccessDenied, "an upload credential reaches only its own upload session")
	}
	return nil
}

func (s *Server) verifyPresigned(r *http.Request, q url.Values) error {
	if !strings.HasPrefix(r.URL.Path, APIPrefix+"/o/") {
		return errf(http.StatusForbidden, CodeAccessDenied, "presigned URLs only address objects")
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet // a GET URL may be HEADed
	}
	if method != http.MethodGet && method != http.MethodPut {
		return errf(http.StatusForbidden, CodeAccessDenied, "presigned URLs allow GET and PUT only")
	}
	secret, ok := s.opts.Credentials(q.Get(QueryCredential))
	if !ok {
		return unauth(CodeUnknownAccessKey, "unknown access key")
	}
	date, err := time.Parse(DateFormat, q.Get(QueryDate))
	if err != nil {
		return unauth(CodeURLExpired, "malformed %s", QueryDate)
	}
	exp, err := strconv.ParseInt(q.Get(QueryExpires), 10, 64)
	if err != nil || exp <= 0 || time.Duration(exp)*time.Second > MaxPresignExpiry {
		return unauth(CodeURLExpired, "malformed %s", QueryExpires)
	}
	if err := s.verify(secret, q.Get(QuerySignature), func(host string) string {
		return StringToSign(method, host, r.URL.Path, q, nil, UnsignedPayload)
	}, r); err != nil {
		return err
	}
	now := s.now()
	if now.After(date.Add(time.Duration(exp)*time.Second)) || date.After(now.Add(s.opts.MaxClockSkew)) {
		return unauth(CodeURLExpired, "presigned URL expired")
	}
	if ct := q.Get(QueryContentType); ct != "" && r.Method == http.MethodPut && r.Header.Get("Content-Type") != ct {
		return errf(http.StatusForbidden, CodeAccessDenied, "this URL requires Content-Type %q", ct)
	}
	return nil
}

// verify reports whether sig is the signature of the string to sign for
// one of the hosts this server answers to: Options.PublicHosts when set,
// else the request's Host if it names the address the connection came in
// on (a replay to another server that shares the key pair names the
// first server).
func (s *Server) verify(secret, sig string, sts func(host string) string, r *http.Request) error {
	hosts := s.opts.PublicHosts
	if len(hosts) == 0 {
		if !connectedTo(r) {
			return errf(http.StatusMisdirectedRequest, CodeMisdirected,
				"this server does not answer to host %q: list the names clients use in Options.PublicHosts (amove fastr serve -public-host)", r.Host)
		}
		hosts = []string{r.Host}
	}
	for _, h := range hosts {
		if hmac.Equal([]byte(Signature(secret, sts(h))), []byte(sig)) {
			return nil
		}
	}
	return unauth(CodeSignatureMismatch, "signature does not match")
}

// connectedTo reports whether r's Host names the local end of its
// connection: the same IP (or "localhost" over loopback) and port.
func connectedTo(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	if !ok {
		return false
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = strings.Trim(r.Host, "[]"), "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	if port != strconv.Itoa(local.Port) {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return local.IP.IsLoopback()
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.Equal(local.IP)
}

// ---- handlers ----

func (s *Server) handleListBuckets(w http.ResponseWriter, r *http.Request) {
	bs, err := s.listBuckets()
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, BucketList{Buckets: bs})
}

func (s *Server) handleCreateBucket(w http.ResponseWriter, r *http.Request) {
	if err := s.createBucket(r.PathValue("bucket")); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) handleDeleteBucket(w http.ResponseWriter, r *http.Request) {
	if err := s.deleteBucket(r.PathValue("bucket")); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleListObjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	maxKeys := 0
	if v := q.Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.writeErr(w, r, errf(http.StatusBadRequest, CodeInvalidArgument, "invalid max %q", v))
			return
		}
		maxKeys = n
	}
	page, err := s.list(r.PathValue("bucket"), q.Get("prefix"), q.Get("delimiter"), q.Get("token"), maxKeys)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func setObjectHeaders(h http.Header, o ObjectInfo) {
	h.Set("Content-Type", o.ContentType)
	h.Set("ETag", `"`+strings.TrimPrefix(o.ETag, "W/")+`"`)
	h.Set(HeaderModTime, o.ModTime.Format(time.RFC3339Nano))
	if o.SHA256 != "" {
		h.Set(HeaderSHA256, o.SHA256)
	}
	if o.MD5 != "" {
		h.Set(HeaderMD5, o.MD5)
	}
	if o.IsFolder {
		h.Set(HeaderFolder, "true")
	}
	if len(o.Metadata) > 0 {
		v := url.Values{}
		for k, m := range o.Metadata {
			v.Set(k, m)
		}
		h.Set(HeaderMetadata, v.Encode())
	}
}

func (s *Server) handleHead(w http.ResponseWriter, r *http.Request) {
	o, err := s.stat(r.PathValue("bucket"), r.PathValue("key"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	setObjectHeaders(w.Header(), o)
	w.Header().Set("Content-Length", itoa(o.Size))
	w.Header().Set("Last-Modified", o.ModTime.Format(http.TimeFormat))
	w.Header().Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	f, o, err := s.open(r.PathValue("bucket"), r.PathValue("key"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	setObjectHeaders(w.Header(), o)
	if q := r.URL.Query(); q.Has(QuerySignature) {
		// Signed into the URL by the owner, so safe to echo.
		if ct := q.Get(QueryContentType); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		if cd := q.Get(QueryDisposition); cd != "" {
			w.Header().Set("Content-Disposition", cd)
		}
	}
	if f == nil { // folder marker
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, "", o.ModTime, f)
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) {
	if err := declaredTooLarge(r, MaxObjectPut); err != nil {
		s.writeErr(w, r, err)
		return
	}
	ct := r.Header.Get("Content-Type")
	o, err := s.put(r.PathValue("bucket"), r.PathValue("key"), r.Body, ct, r.Header.Get(HeaderContentSHA256), MaxObjectPut)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.remove(r.PathValue("bucket"), r.PathValue("key")); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleCopy(w http.ResponseWriter, r *http.Request) {
	var req CopyRequest
	if err := readJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	o, err := s.copyObject(req)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) handleCreateUpload(w http.ResponseWriter, r *http.Request) {
	var req CreateUploadRequest
	if err := readJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	// authenticate verified the request, and an upload credential may not
	// create sessions, so this is the key that signed it.
	ak, _, _ := parseAuthorization(r.Header.Get("Authorization"))
	u, err := s.createUpload(req, ak)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *Server) handleListUploads(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	us, err := s.listUploads(q.Get("bucket"), q.Get("prefix"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, UploadList{Uploads: us})
}

func (s *Server) handleGetUpload(w http.ResponseWriter, r *http.Request) {
	u, err := s.getUpload(r.PathValue("id"))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) handleUploadPart(w http.ResponseWriter, r *http.Request) {
	if err := declaredTooLarge(r, MaxPartSize); err != nil {
		s.writeErr(w, r, err)
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil {
		s.writeErr(w, r, errf(http.StatusBadRequest, CodeInvalidPart, "invalid part number"))
		return
	}
	p, err := s.uploadPart(r.PathValue("id"), n, r.Body, r.Header.Get(HeaderContentSHA256), r.Header.Get(HeaderChunkSHA256))
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleAppend(w http.ResponseWriter, r *http.Request) {
	if err := declaredTooLarge(r, MaxPartSize); err != nil {
		s.writeErr(w, r, err)
		return
	}
	off, err := strconv.ParseInt(r.Header.Get(HeaderOffset), 10, 64)
	if err != nil || off < 0 {
		s.writeErr(w, r, errf(http.StatusBadRequest, CodeInvalidArgument, "missing or invalid %s", HeaderOffset))
		return
	}
	want := chunkSums{crc32c: r.Header.Get(HeaderChunkCRC32C), sha256: []string{r.Header.Get(HeaderContentSHA256), r.Header.Get(HeaderChunkSHA256)}}
	p, next, err := s.appendChunk(r.PathValue("id"), off, r.Body, want)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.Header().Set(HeaderOffset, itoa(next))
	if want.crc32c != "" {
		w.Header().Set(HeaderChunkCRC32C, want.crc32c) // checked: say so
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleComplete(w http.ResponseWriter, r *http.Request) {
	var req CompleteRequest
	if err := readJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	o, err := s.completeUpload(r.PathValue("id"), req)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) handleAbort(w http.ResponseWriter, r *http.Request) {
	if err := s.abortUpload(r.PathValue("id")); err != nil {
		s.writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
