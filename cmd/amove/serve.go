package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/amove/amove-go/httpapi"
)

func cmdServe(ctx context.Context, args []string) error {
	var s settings
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	s.flags(fs)
	fs.StringVar(&s.Addr, "addr", "", "listen address (default 127.0.0.1:29123; env AMOVE_ADDR)")
	fs.Var(&s.roots, "root", "local folder uploads and downloads may use (repeatable; default: your home directory)")
	fs.StringVar(&s.TempDir, "temp-dir", "", "where form uploads are staged: a folder of yours with mode 0700 (default: <user cache dir>/amove/staging, created so)")
	fs.StringVar(&s.SMTP.Addr, "smtp", "", "SMTP server host:port for send_download_url")
	fs.StringVar(&s.SMTP.From, "smtp-from", "amove@localhost", "sender address of mails")
	fs.BoolVar(&s.NoLocalStorage, "no-local-storage", false, "do not serve the embedded \"Local storage\" Fastr server (env AMOVE_NO_LOCAL_STORAGE=1)")
	fs.StringVar(&s.AgentID, "agent-id", "", "this agent's id among the agents sharing the store (lower-case letters, digits, '-'; env AMOVE_AGENT_ID; default: kept in <data dir>/agent-id, made from the host name)")
	fs.IntVar(&s.Concurrency, "concurrency", 0, "parts or small files in flight at once across this agent's transfers (default 16)")
	fs.IntVar(&s.PartSizeMiB, "part-size", 0, "part size of multipart transfers in MiB (default 16)")
	tokenless := fs.Bool("tokenless", false, "let list_buckets, upload_object, download_object and upload_object_from_form act for the signed-in user without a token (unsafe: any local process may then read and write files through the agent)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := s.load(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	agentID, err := s.agentID()
	if err != nil {
		return err
	}
	log.Info("agent", "id", agentID)
	managedOpts, closeManaged, err := s.managedOptions(ctx) // managed.go
	if err != nil {
		return err
	}
	defer closeManaged() // after the Client's Close, below
	s.managed = managedOpts
	c, err := s.open(ctx, log, agentID)
	if err != nil {
		return err
	}
	// The order of the stop (issue 13 item 9): HTTP first (below: no new
	// requests or transfers), then the engine, whose running transfers
	// stop and stay "running" in the journal for the next agent to resume,
	// then the embedded local storage, which those transfers may still be
	// reading or writing until the engine has stopped them (stopped first,
	// their requests would fail and the transfers with them), and the store
	// last, which the engine writes to while it stops.
	var stopLocal func()
	defer func() {
		c.StopTransfers()
		if stopLocal != nil {
			stopLocal()
		}
		c.Close()
	}()
	admin, err := s.localAdmin(ctx, c)
	if err != nil {
		return err
	}
	if !s.NoLocalStorage && len(s.AllowHosts) > 0 && !slices.Contains(s.AllowHosts, "127.0.0.1") {
		// Not added silently: that would open every loopback port.
		log.Warn("the outbound allow-list does not name 127.0.0.1, where the embedded local storage listens: add -allow-host 127.0.0.1 to use it")
	}
	if !s.NoLocalStorage {
		// A newcomer gets a storage to list, upload to and download from
		// at once: an embedded Fastr server on a folder next to the key.
		stop, err := s.startLocalStorage(ctx, c, admin, log)
		if err != nil {
			log.Warn("local storage not started", "err", err)
		} else {
			stopLocal = stop
		}
	}
	// The transfers the last agent left running continue, now that the
	// local storage some of them use is up.
	if err := c.RestoreTransfers(ctx); err != nil {
		return fmt.Errorf("restoring transfers: %w", err)
	}
	opts := httpapi.Options{Logger: log, SignedInUser: admin.Principal(), AllowedOrigins: s.AllowedOrigins,
		TokenlessLocalRoutes: *tokenless, Roots: s.Roots, TempDir: s.TempDir}
	if *tokenless {
		log.Warn("tokenless mode: list_buckets, upload_object, download_object and upload_object_from_form act for the signed-in user without a token; any local process can use them")
	}
	opts.Mailer = s.mailer()
	api := httpapi.New(c, opts)
	if err := api.Err(); err != nil {
		api.Close()
		return err // a staging folder others could read or plant files in
	}
	// Runs before the stop above: the hub closes the WebSockets, which
	// srv.Shutdown does not wait for.
	defer api.Close()

	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("bad -addr %q: %w", s.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Warn("listening on a non-loopback address: anyone who can reach it can try tokens", "addr", s.Addr)
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// No ReadTimeout or WriteTimeout: they bound a whole request or
		// response, and the agent rightly serves long ones (form uploads
		// of gigabytes, objects streamed to a browser, the /notification
		// WebSocket kept open for a session, whose connection keeps the
		// deadlines the server set before the upgrade). httpapi sets
		// per-request deadlines instead: a bound on JSON bodies and on a
		// body or response that stalls.
	}
	fmt.Printf("amove agent listening on http://%s (signed in as %s)\n", ln.Addr(), admin.Username)
	fmt.Printf("try: TOKEN=$(amove token create) && curl \"http://%s/cloud/accounts?token=$TOKEN\"\n", ln.Addr())
	fmt.Printf("API description: http://%s/openapi.json\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	// Stop taking requests and let those under way finish for a while;
	// the deferred stops follow (sockets, engine, local storage, store).
	log.Info("stopping: no new requests; running transfers are paused into the journal and resume at the next start")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still under way after 10 s were cut off", "err", err)
		srv.Close()
	}
	return nil
}
