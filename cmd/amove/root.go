package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes (docs/cli.md).
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitPartial = 3
)

// errUsage is what every usage error matches with errors.Is: a command,
// flag or argument the CLI does not take. It exits with code 2.
var errUsage = errors.New("usage")

// usageError is a usage error with what was wrong.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// partialError is a command that did part of its work: some objects
// copied or deleted, others failed. It exits with code 3.
type partialError struct {
	done, failed int
	first        error
}

func (e *partialError) Error() string {
	return fmt.Sprintf("%d of %d failed, the first: %v", e.failed, e.done+e.failed, e.first)
}
func (e *partialError) Unwrap() error { return e.first }

// app is one run of the CLI: its streams and the flags every command
// shares. Commands get it from their closure; nothing is global.
type app struct {
	s              settings
	stdin          io.Reader
	stdout, stderr io.Writer
	json           bool
	verbose        bool
}

// execute runs the CLI on args and returns its exit code, after printing
// any error for people on stderr (or as JSON on stdout with --json).
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	err := a.run(ctx, args)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	if a.json {
		_ = a.writeJSON(map[string]any{"error": map[string]any{"code": errorCode(err), "message": a.describe(err), "exitCode": code}})
	} else {
		fmt.Fprintln(stderr, "amove: "+a.describe(err))
	}
	return code
}

func (a *app) run(ctx context.Context, args []string) error {
	root := a.rootCmd()
	root.SetArgs(normalizeArgs(root, args))
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	return root.ExecuteContext(ctx)
}

func exitCode(err error) int {
	var pe *partialError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.As(err, &pe):
		return exitPartial
	}
	return exitFailed
}

// normalizeArgs turns the single-dash long flags amove took before it
// moved to cobra (-dsn, -key-file, -overwrite...) into double-dash ones, so
// scripts written for it keep working. Commands that parse their own flags
// (serve, fastr serve) get their arguments as they are.
func normalizeArgs(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd.DisableFlagParsing {
		return args
	}
	known := func(name string) bool {
		return name == "help" || cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil
	}
	out := make([]string, 0, len(args))
	for i, arg := range args {
		if arg == "--" {
			return append(out, args[i:]...)
		}
		if len(arg) > 2 && arg[0] == '-' && arg[1] != '-' {
			if name, _, _ := strings.Cut(arg[1:], "="); len(name) > 1 && known(name) {
				arg = "-" + arg
			}
		}
		out = append(out, arg)
	}
	return out
}

// writeJSON prints v as one indented JSON document on stdout.
func (a *app) writeJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// flagUsage makes cobra's flag errors usage errors (exit code 2).
func flagUsage(cmd *cobra.Command, err error) error {
	return usagef("%v", err)
}

// nArgs returns an Args check for between min and max arguments (max < 0:
// no upper bound) that fails with a usage error.
func nArgs(minN, maxN int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < minN || (maxN >= 0 && len(args) > maxN) {
			return usagef("%q takes %s, not %d arguments", cmd.CommandPath(), strings.TrimPrefix(cmd.Use, cmd.Name()), len(args))
		}
		return nil
	}
}

// subcommandArgs is the Args check of a command that only groups
// subcommands: any word that is not one of them is a usage error.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "amove",
		Short: "Move objects between local folders and cloud accounts, and run the amove agent",
		Long: `amove moves objects between local folders and cloud accounts (S3, Azure, GCS,
Wasabi, Dropbox, Box, OneDrive, Google Drive, Frame.io...) and between any two
accounts, and runs the amove agent (serve).

A remote location is ACCOUNT:BUCKET/KEY, with the account by name or id
(amove accounts list); ACCOUNT: alone is the account's buckets.

Exit codes: 0 ok, 1 failed, 2 usage error, 3 partly done (some objects failed).
Settings: flags, then AMOVE_* variables, then the config file (--config).`,
		Example: `  amove accounts add --type S3Generic --name m --access KEY --endpoint http://127.0.0.1:9000
  amove ls m:
  amove cp ./photos m:backup/photos/
  amove sync --delete ./site m:www/
  amove cat m:backup/notes.txt
  amove transfers resume 3f2a...`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          subcommandArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(a.stderr)
			_ = cmd.Help()
			return usagef("want a command")
		},
	}
	root.SetFlagErrorFunc(flagUsage)
	pf := root.PersistentFlags()
	a.s.pflags(pf)
	pf.BoolVar(&a.json, "json", false, "print the result as JSON on stdout (errors too), for scripts")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "print the provider's details of errors")

	root.AddCommand(a.serveCmd(), a.fastrCmd(), a.tokenCmd(), a.keysCmd(), a.agentsCmd(), a.accountsCmd(),
		a.lsCmd(), a.cpCmd(), a.mvCmd(), a.rmCmd(), a.syncCmd(), a.catCmd(), a.statCmd(), a.mbCmd(), a.rbCmd(),
		a.presignCmd(), a.transfersCmd())
	// Subcommands inherit the flag error function.
	for _, c := range root.Commands() {
		switch c.Name() {
		case "ls", "cp", "mv", "rm", "sync", "cat", "stat", "mb", "rb", "presign":
			c.ValidArgsFunction = a.completeRemote
		}
	}
	return root
}

// pflags registers the common settings on a cobra flag set: the std flag
// set of serve (settings.flags), carried over, so both have the same names,
// defaults and help.
func (s *settings) pflags(fs *pflag.FlagSet) {
	std := flag.NewFlagSet("", flag.ContinueOnError)
	s.flags(std)
	fs.AddGoFlagSet(std)
}

// legacyCmd wraps a command that parses its own flags with the std flag
// package (serve, fastr serve): its flags stay exactly as they were, in
// the single- or double-dash form.
func (a *app) legacyCmd(use, short, long, example string, fn func(ctx context.Context, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Long: long, Example: example,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if slices.ContainsFunc(args, func(s string) bool { return s == "-h" || s == "-help" || s == "--help" }) {
				fmt.Fprintf(a.stdout, "%s\n\nUsage:\n  %s\n\nExamples:\n%s\n\nFlags:\n", cmd.Long, cmd.UseLine(), cmd.Example)
				_ = fn(cmd.Context(), []string{"-h"}) // the flag package prints the defaults
				return nil
			}
			err := fn(cmd.Context(), args)
			var ue *usageError
			if errors.Is(err, errUsage) && !errors.As(err, &ue) {
				// The flag package said what was wrong above.
				return usagef("%s: bad flags or arguments (see amove %s -h)", cmd.CommandPath(), cmd.CommandPath()[len("amove "):])
			}
			return err
		},
	}
}

func (a *app) serveCmd() *cobra.Command {
	return a.legacyCmd("serve [flags]", "Run the agent (HTTP API + /notification) on 127.0.0.1:29123",
		`Run the agent: the HTTP API and /notification WebSocket on 127.0.0.1:29123, the
embedded local storage, and the transfers of the store. Agents on one store
(postgres://...) share its transfers (docs/scale-out.md). Ctrl-C stops it:
running transfers are paused into the journal and resume at the next start.`,
		`  amove serve
  amove serve -addr 127.0.0.1:8080 -root ~/media
  amove serve -dsn postgres://amove@db/amove -agent-id a1`, cmdServe)
}

func (a *app) fastrCmd() *cobra.Command {
	c := &cobra.Command{Use: "fastr", Short: "Run a standalone Fastr server", Args: subcommandArgs,
		Example: "  amove fastr serve -root /srv/fastr",
		RunE:    func(cmd *cobra.Command, args []string) error { return usagef("amove fastr: want a subcommand (serve)") }}
	c.AddCommand(a.legacyCmd("serve -root DIR [flags]", "Run a standalone Fastr server on a folder",
		`Run a standalone Fastr server on a folder of buckets. The keys come from
-access-key/-secret-key, FASTR_ACCESS_KEY/FASTR_SECRET_KEY or a -keys file.`,
		`  FASTR_ACCESS_KEY=k FASTR_SECRET_KEY=s amove fastr serve -root /srv/fastr
  amove fastr serve -root /srv/fastr -addr 0.0.0.0:29124 -keys keys.txt -tls-cert c.pem -tls-key k.pem`,
		func(ctx context.Context, args []string) error {
			return cmdFastr(ctx, append([]string{"serve"}, args...))
		}))
	return c
}
