// Command amove is the amove-go agent and CLI: it runs the agent (serve),
// manages cloud accounts and moves objects between local folders and any
// two accounts (ls, cp, mv, rm, sync, cat, stat, mb, rb, presign), with
// the transfers journaled in the store (transfers pause|resume|...).
//
// Run `amove --help` or see docs/cli.md for every command, the exit codes
// and the --json shapes.
//
// Every command reads the same settings: flags, then AMOVE_* environment
// variables, then the config file (--config, default <configdir>/amove/config.json).
//
// Build it with -tags disable_grpc_modules (docs/cli.md, Building): the GCS
// driver never uses gRPC, whose DirectPath dependencies would otherwise add
// about 16 MiB to the memory of every command.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// The stores --dsn may name.
	_ "github.com/amove/amove-go/store/postgres"
	_ "github.com/amove/amove-go/store/sqlite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
