package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
)

// session is an opened client acting as the configured user.
type session struct {
	c *amove.Client
	p amove.Principal
	u amove.User
}

func openSession(ctx context.Context, s *settings) (*session, error) {
	if err := s.load(); err != nil {
		return nil, err
	}
	c, err := s.open(ctx, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), "")
	if err != nil {
		return nil, err
	}
	u, err := s.localAdmin(ctx, c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &session{c: c, p: u.Principal(), u: u}, nil
}

// withSession opens a session for one command and closes it after fn.
func (a *app) withSession(cmd *cobra.Command, fn func(ctx context.Context, se *session) error) error {
	ctx := cmd.Context()
	se, err := openSession(ctx, &a.s)
	var ae *amove.Error
	switch {
	case errors.As(err, &ae) && errors.Is(err, amove.ErrNotFound):
		return fmt.Errorf("user %q does not exist in the store: check --user (default admin)", a.s.User)
	case err != nil:
		dsn := a.s.DSN
		if dsn == "" {
			dsn = "(default)"
		}
		return &storeError{dsn: dsn, err: err}
	}
	defer se.c.Close()
	return fn(ctx, se)
}

func (a *app) table() *tabwriter.Writer { return tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0) }

func (a *app) tokenCmd() *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Issue tokens for the agent's HTTP API", Args: subcommandArgs,
		Example: "  amove token create",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("amove token: want a subcommand (create)")
		}}
	c.AddCommand(&cobra.Command{
		Use: "create", Short: "Print a token for the HTTP API (for --user, default admin)", Args: nArgs(0, 0),
		Example: `  TOKEN=$(amove token create) && curl "http://127.0.0.1:29123/cloud/accounts?token=$TOKEN"
  amove token create --user alice --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				tok, err := se.c.IssueToken(ctx, se.u.ID)
				if err != nil {
					return err
				}
				if a.json {
					return a.writeJSON(map[string]any{"token": tok.Token, "user": se.u.Username, "expires": tok.Expires})
				}
				fmt.Fprintln(a.stdout, tok.Token)
				fmt.Fprintf(a.stderr, "token for %s, valid until %s\n", se.u.Username, tok.Expires.Format(time.RFC3339))
				return nil
			})
		},
	})
	return c
}

// accountJSON is an account as --json prints it: never its keys.
type accountJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Region   string `json:"region,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Shared   bool   `json:"shared"`
}

func accountOut(a amove.CloudAccount) accountJSON {
	return accountJSON{ID: a.ID, Name: a.Name, Type: a.CloudType.String(), Region: a.Region, Endpoint: a.Endpoint, Shared: a.Shared}
}

func (a *app) accountsCmd() *cobra.Command {
	c := &cobra.Command{Use: "accounts", Short: "Manage cloud accounts (list, add, rm, test)", Args: subcommandArgs,
		Example: "  amove accounts list\n  amove accounts add --type S3Generic --name m --access KEY --endpoint http://127.0.0.1:9000\n  amove accounts test m\n  amove accounts rm m",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("amove accounts: want a subcommand (list, add, rm, test)")
		}}
	list := &cobra.Command{Use: "list", Short: "List the cloud accounts", Args: nArgs(0, 0),
		Example: "  amove accounts list\n  amove accounts list --json",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				as, err := se.c.ListAccounts(ctx, se.p)
				if err != nil {
					return err
				}
				if a.json {
					out := make([]accountJSON, 0, len(as))
					for _, ac := range as {
						out = append(out, accountOut(ac))
					}
					return a.writeJSON(out)
				}
				tw := a.table()
				fmt.Fprintln(tw, "ID\tNAME\tTYPE\tSHARED")
				for _, ac := range as {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", ac.ID, ac.Name, ac.CloudType, ac.Shared)
				}
				return tw.Flush()
			})
		}}
	var n amove.NewAccount
	var typ string
	add := &cobra.Command{Use: "add --type T --name N [flags]", Short: "Add a cloud account (its credentials are checked first)", Args: nArgs(0, 0),
		Example: `  AMOVE_SECRET=... amove accounts add --type S3Generic --name m --access KEY --endpoint http://127.0.0.1:9000
  amove accounts add --type AWS --name prod --access AKIA... --region eu-west-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ct, err := provider.ParseCloudType(typ)
			if err != nil {
				return usagef("--type %q: %v", typ, err)
			}
			n.CloudType = ct
			if n.SecretKey == "" {
				n.SecretKey = os.Getenv("AMOVE_SECRET")
			}
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				ac, err := se.c.InsertAccount(ctx, se.p, n)
				if err != nil {
					return failed(err, "add account "+n.Name, remote{})
				}
				if a.json {
					return a.writeJSON(accountOut(ac))
				}
				fmt.Fprintln(a.stdout, ac.ID)
				return nil
			})
		}}
	f := add.Flags()
	f.StringVar(&typ, "type", "", "cloud type: AWS, Wasabi, Azure, S3Generic, Google, Cloudflare, ... or its number")
	f.StringVar(&n.Name, "name", "", "display name (at most 50 characters)")
	f.StringVar(&n.AccessKey, "access", "", "access key (Azure: account name)")
	f.StringVar(&n.SecretKey, "secret", "", "secret key (or set AMOVE_SECRET to keep it out of the process list)")
	f.StringVar(&n.Endpoint, "endpoint", "", "custom endpoint")
	f.StringVar(&n.Region, "region", "", "region")
	f.StringVar(&n.ServiceURL, "service-url", "", "service URL")
	f.BoolVar(&n.Shared, "shared", false, "share with the users of the Amove account")
	rm := &cobra.Command{Use: "rm ACCOUNT", Short: "Remove a cloud account (by name or id); its objects stay where they are", Args: nArgs(1, 1),
		Example: "  amove accounts rm m",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				ac, err := se.findAccount(ctx, args[0])
				if err != nil {
					return err
				}
				if err := se.c.DeleteAccount(ctx, se.p, ac.ID); err != nil {
					return failed(err, "remove account "+args[0], remote{})
				}
				if a.json {
					return a.writeJSON(map[string]any{"removed": accountOut(ac)})
				}
				fmt.Fprintf(a.stderr, "removed account %s (%s)\n", ac.Name, ac.ID)
				return nil
			})
		}}
	test := &cobra.Command{Use: "test ACCOUNT", Short: "Check that an account's credentials work (lists its buckets)", Args: nArgs(1, 1),
		Example: "  amove accounts test m && echo ok",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				ac, err := se.findAccount(ctx, args[0])
				if err != nil {
					return err
				}
				start := time.Now()
				bs, err := se.c.ListBuckets(ctx, se.p, ac.ID)
				if err != nil {
					return failed(err, "list the buckets of", remote{ref: args[0]})
				}
				took := time.Since(start).Round(time.Millisecond)
				if a.json {
					return a.writeJSON(map[string]any{"account": accountOut(ac), "ok": true, "buckets": len(bs), "millis": took.Milliseconds()})
				}
				fmt.Fprintf(a.stdout, "account %s works: %d buckets listed in %s\n", ac.Name, len(bs), took)
				return nil
			})
		}}
	c.AddCommand(list, add, rm, test)
	return c
}

// findAccount accepts an account id or name.
func (se *session) findAccount(ctx context.Context, ref string) (amove.CloudAccount, error) {
	as, err := se.c.ListAccounts(ctx, se.p)
	if err != nil {
		return amove.CloudAccount{}, err
	}
	for _, a := range as {
		if a.ID == ref || a.Name == ref {
			return a, nil
		}
	}
	return amove.CloudAccount{}, fmt.Errorf("no cloud account named %q: see amove accounts list", ref)
}

// remote is a location ACCOUNT:BUCKET/KEY as the user wrote it, with the
// account it names once resolved.
type remote struct {
	ref         string // the account as written: name or id
	id          string // the account's id, once resolved
	bucket, key string
}

func (r remote) String() string { return r.ref + ":" + r.bucket + "/" + r.key }

// splitRemote parses ACCOUNT:BUCKET/KEY. A path starting with / or . is
// local, as is one whose part before the colon holds a slash.
func splitRemote(s string) (remote, bool) {
	account, rest, ok := strings.Cut(s, ":")
	if !ok || account == "" || strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.ContainsAny(account, `/\`) {
		return remote{}, false
	}
	bucket, key, _ := strings.Cut(rest, "/")
	return remote{ref: account, bucket: bucket, key: key}, true
}

// resolve parses arg as a remote location and finds its account.
func (se *session) resolve(ctx context.Context, arg string) (remote, error) {
	r, ok := splitRemote(arg)
	if !ok {
		return remote{}, usagef("%q is not a remote location: want ACCOUNT:BUCKET/KEY", arg)
	}
	ac, err := se.findAccount(ctx, r.ref)
	if err != nil {
		return remote{}, err
	}
	r.id = ac.ID
	return r, nil
}
