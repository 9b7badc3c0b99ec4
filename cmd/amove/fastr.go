package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
	"github.com/amove/amove-go/provider"
)

// cmdFastr runs `amove fastr serve`: the reference Fastr server on its own,
// with the flags of docs/fastr.md §7.
func cmdFastr(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		return errUsage
	}
	fs := flag.NewFlagSet("fastr serve", flag.ContinueOnError)
	root := fs.String("root", "", "directory that holds the buckets (required, must exist)")
	addr := fs.String("addr", "127.0.0.1:29124", "listen address")
	accessKey := fs.String("access-key", "", "access key (env FASTR_ACCESS_KEY)")
	secretKey := fs.String("secret-key", "", "secret key (env FASTR_SECRET_KEY)")
	keysFile := fs.String("keys", "", "file of 'accessKey secret' lines, for several keys")
	maxSkew := fs.Duration("max-skew", 5*time.Minute, "allowed clock skew of signed requests")
	uploadTTL := fs.Duration("upload-ttl", 7*24*time.Hour, "how long an upload session may stay open")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (with -tls-key: serve HTTPS)")
	tlsKey := fs.String("tls-key", "", "TLS key file")
	pushAllow := fs.String("push-allow", "", "comma-separated CIDRs push targets must resolve into (default: any)")
	var publicHosts stringList
	fs.Var(&publicHosts, "public-host", "host[:port] clients use to reach the server (repeatable; default: the listening IP and port only)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if *root == "" {
		return errors.New("fastr serve: -root is required")
	}
	fill(accessKey, os.Getenv("FASTR_ACCESS_KEY"))
	fill(secretKey, os.Getenv("FASTR_SECRET_KEY"))
	keys := map[string]string{}
	if *accessKey != "" || *secretKey != "" {
		if *accessKey == "" || *secretKey == "" {
			return errors.New("fastr serve: -access-key and -secret-key go together")
		}
		keys[*accessKey] = *secretKey
	}
	if *keysFile != "" {
		if err := readKeys(*keysFile, keys); err != nil {
			return err
		}
	}
	if len(keys) == 0 {
		return errors.New("fastr serve: no credentials: set -access-key/-secret-key, FASTR_ACCESS_KEY/FASTR_SECRET_KEY or -keys")
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("fastr serve: -tls-cert and -tls-key go together")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := fastr.Options{Root: *root, Credentials: fastr.StaticCredentials(keys), Logger: log,
		MaxClockSkew: *maxSkew, UploadTTL: *uploadTTL, PublicHosts: publicHosts}
	if *pushAllow != "" {
		allow, err := cidrPolicy(*pushAllow)
		if err != nil {
			return err
		}
		opts.AllowPushTarget = allow
	}
	srv, err := fastr.NewServer(opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	fmt.Printf("fastr server for %s listening on %s://%s (%d key(s))\n", *root, scheme, ln.Addr(), len(keys))
	errc := make(chan error, 1)
	go func() {
		if *tlsCert != "" {
			errc <- hs.ServeTLS(ln, *tlsCert, *tlsKey)
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// readKeys reads "accessKey secret" lines; blank lines and # comments are
// skipped.
func readKeys(path string, into map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			// Never echo the line: it holds a secret.
			return fmt.Errorf("%s:%d: want 'accessKey secret'", path, n)
		}
		into[fields[0]] = fields[1]
	}
	return sc.Err()
}

// cidrPolicy allows push targets whose host resolves only into the given
// networks. It checks at push start; a name that later resolves elsewhere
// (DNS rebinding) is not caught, so prefer IP literals for strict setups.
func cidrPolicy(list string) (func(*url.URL) error, error) {
	var nets []*net.IPNet
	for _, c := range strings.Split(list, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("-push-allow: %w", err)
		}
		nets = append(nets, n)
	}
	return func(u *url.URL) error {
		ips, err := net.DefaultResolver.LookupIPAddr(context.Background(), u.Hostname())
		if err != nil {
			return err
		}
		for _, ip := range ips {
			ok := false
			for _, n := range nets {
				ok = ok || n.Contains(ip.IP)
			}
			if !ok {
				return fmt.Errorf("%s is outside the allowed networks", ip.IP)
			}
		}
		return nil
	}, nil
}

// ---- the embedded local storage of `amove serve` ----

// localState is what the agent keeps, mode 0600 next to the key file, so
// the embedded server accepts the same keys on the next start and the
// account is made once.
type localState struct {
	Addr      string `json:"addr"`
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
	AccountID string `json:"accountId,omitempty"`
}

// localBucket is the bucket a newcomer finds in "Local storage".
const localBucket = "files"

// startLocalStorage serves <dir>/local-storage with an embedded Fastr server
// on loopback and registers it once as the LocalHttp account "Local
// storage" of u. It returns a function that stops the server.
func (s *settings) startLocalStorage(ctx context.Context, c *amove.Client, u amove.User, log *slog.Logger) (func(), error) {
	dir := s.dataDir()
	if dir == "" {
		return nil, errors.New("local storage: no configuration directory")
	}
	root := filepath.Join(dir, "local-storage")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	statePath := filepath.Join(dir, "local-storage.json")
	var st localState
	b, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		ak, sk := make([]byte, 10), make([]byte, 30)
		_, _ = rand.Read(ak)
		_, _ = rand.Read(sk)
		st = localState{AccessKey: "AKLOCAL" + strings.ToUpper(hex.EncodeToString(ak)), SecretKey: base64.RawURLEncoding.EncodeToString(sk)}
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &st); err != nil || st.AccessKey == "" || st.SecretKey == "" {
			return nil, fmt.Errorf("local storage: %s is damaged; remove it to start over", statePath)
		}
	}
	ln, err := s.localListener(st.Addr)
	if err != nil {
		return nil, fmt.Errorf("local storage: %w", err)
	}
	st.Addr = ln.Addr().String()
	srv, err := fastr.NewServer(fastr.Options{Root: root, Logger: log,
		Credentials: fastr.StaticCredentials(map[string]string{st.AccessKey: st.SecretKey})})
	if err != nil {
		ln.Close()
		return nil, err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		srv.Close()
	}
	// Keep the keys before the account exists: an account whose keys
	// were lost could never be served again.
	if err := writeState(statePath, st); err != nil {
		stop()
		return nil, err
	}
	serviceURL := "http://" + st.Addr
	if err := s.ensureLocalAccount(ctx, c, u, &st, serviceURL); err != nil {
		stop()
		return nil, err
	}
	if err := writeState(statePath, st); err != nil {
		stop()
		return nil, err
	}
	log.Info("local storage served", "root", root, "url", serviceURL, "account", st.AccountID)
	return stop, nil
}

// ensureLocalAccount makes the account unless it was made before (by this
// state file, or a LocalHttp account on the same URL the state lost track
// of). An account the user deleted is not made again.
func (s *settings) ensureLocalAccount(ctx context.Context, c *amove.Client, u amove.User, st *localState, serviceURL string) error {
	if st.AccountID != "" {
		return nil
	}
	list, err := c.ListAccounts(ctx, u.Principal())
	if err != nil {
		return err
	}
	for _, a := range list {
		if a.CloudType == provider.LocalHttp && a.ServiceURL == serviceURL {
			st.AccountID = a.ID
			return nil
		}
	}
	fc, err := fastr.NewClient(serviceURL, st.AccessKey, st.SecretKey, nil)
	if err != nil {
		return err
	}
	var fe *fastr.Error
	if err := fc.CreateBucket(ctx, localBucket); err != nil && !(errors.As(err, &fe) && fe.Code == fastr.CodeBucketExists) {
		return fmt.Errorf("local storage: creating bucket: %w", err)
	}
	a, err := c.InsertAccount(ctx, u.Principal(), amove.NewAccount{CloudType: provider.LocalHttp, Name: "Local storage",
		ServiceURL: serviceURL, AccessKey: st.AccessKey, SecretKey: st.SecretKey})
	if err != nil {
		return fmt.Errorf("local storage: registering the account: %w", err)
	}
	st.AccountID = a.ID
	fmt.Fprintf(os.Stderr, "created the cloud account \"Local storage\" (%s, bucket %q)\n", serviceURL, localBucket)
	return nil
}

// localListener listens where the local storage listened before (its URL
// is in the account), or first on the agent's port + 2, else on any free
// loopback port.
func (s *settings) localListener(saved string) (net.Listener, error) {
	if saved != "" {
		return net.Listen("tcp", saved)
	}
	if _, port, err := net.SplitHostPort(s.Addr); err == nil {
		if p, err := strconv.Atoi(port); err == nil && p > 0 && p < 65534 {
			if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+2))); err == nil {
				return ln, nil
			}
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func writeState(path string, st localState) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// dataDir is where the key file lives (the config dir by default).
func (s *settings) dataDir() string {
	if s.KeyFile != "" {
		return filepath.Dir(s.KeyFile)
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "amove")
}
