// Command amove is the amove-go agent and CLI.
//
//	amove serve                      run the agent on 127.0.0.1:29123
//	amove token create [-user NAME]  print a token for the HTTP API
//	amove accounts list|add          manage cloud accounts
//	amove ls ACCOUNT[:BUCKET[/PREFIX]]
//	amove cp [-overwrite] SRC DST    upload (local -> ACCOUNT:BUCKET/KEY) or download
//	amove transfers                  list transfers
//	amove keys rotate|list           rotate the seal and sign keys (keys.go)
//	amove fastr serve -root DIR      run a standalone Fastr server
//
// Every command reads the same settings: flags, then AMOVE_* environment
// variables, then the config file (-config, default <configdir>/amove/config.json).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	// The stores -dsn may name.
	_ "github.com/amove/amove-go/store/postgres"
	_ "github.com/amove/amove-go/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, errUsage) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "amove:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `usage: amove <command> [flags]

commands:
  serve [-agent-id ID]       run the agent (HTTP API + /notification) on 127.0.0.1:29123; agents on one
                             store (postgres://...) share its transfers (docs/scale-out.md)
  token create [-user NAME]  print a token for the HTTP API (default user: admin)
  accounts list              list cloud accounts
  accounts add -type T -name N [-access K -secret S -endpoint URL -region R -service-url URL]
  ls ACCOUNT[:BUCKET[/PREFIX]]
  cp [-overwrite] SRC DST    upload LOCAL to ACCOUNT:BUCKET/KEY (KEY ending in / is a folder), or download
                             (an existing local file is replaced only with -overwrite)
  transfers                  list the transfers of the store (agent and CLI runs)
  agents                     list the agents sharing the store's transfers, their queues and last heartbeat
  keys rotate|list           seal every stored credential with a new key and sign tokens with a new one; list the keys
  fastr serve -root DIR [-addr 127.0.0.1:29124 -access-key K -secret-key S | -keys FILE ...]
                             run a standalone Fastr server (keys also from FASTR_ACCESS_KEY/FASTR_SECRET_KEY)

common flags (also AMOVE_DSN, AMOVE_KEY_FILE, AMOVE_CONFIG):
  -dsn sqlite:PATH|postgres://...   store (default sqlite under the config dir)
  -key-file PATH                    key file (default <configdir>/amove/secret.key); the keys are in
                                    the keyring beside it (secret.keyring)
  -config PATH                      JSON config file with the same settings
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:])
	case "token":
		if len(args) < 2 || args[1] != "create" {
			return errUsage
		}
		return cmdToken(ctx, args[2:])
	case "accounts":
		if len(args) < 2 {
			return errUsage
		}
		return cmdAccounts(ctx, args[1], args[2:])
	case "ls":
		return cmdLs(ctx, args[1:])
	case "cp":
		return cmdCp(ctx, args[1:])
	case "transfers":
		return cmdTransfers(ctx, args[1:], os.Stdout)
	case "agents":
		return cmdAgents(ctx, args[1:], os.Stdout)
	case "fastr":
		return cmdFastr(ctx, args[1:])
	case "keys":
		return cmdKeys(ctx, args[1:], os.Stdout)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
		return nil
	}
	return errUsage
}
