package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/amove/amove-go/transfer"
)

// transfersCmd lists and controls the transfers of the store: those of the
// agent and of every CLI run, running, at rest or finished within the
// retention.
func (a *app) transfersCmd() *cobra.Command {
	list := func(cmd *cobra.Command, args []string) error {
		return a.withSession(cmd, func(ctx context.Context, se *session) error {
			sts, err := se.c.ListTransfers(ctx, se.p)
			if err != nil {
				return err
			}
			if a.json {
				if sts == nil {
					sts = []transfer.Status{}
				}
				return a.writeJSON(sts)
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tKIND\tSTATE\tBYTES\tFILES\tUPDATED")
			for _, st := range sts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d/%d\t%s\n", st.ID, st.Kind, st.State, st.BytesDone, st.BytesTotal,
					st.FilesDone, st.FilesTotal, st.Updated.Local().Format(time.DateTime))
			}
			return tw.Flush()
		})
	}
	c := &cobra.Command{Use: "transfers [list|show|pause|resume|cancel|wait]", Short: "List and control the transfers of the store (agent and CLI runs)",
		Args: subcommandArgs, RunE: list,
		Example: `  amove transfers
  amove transfers show 3f2a...
  amove transfers resume 3f2a...   # continue a transfer paused by Ctrl-C
  amove transfers list --json | jq '.[] | select(.state=="failed") | .id'`}
	// one runs fn on the transfer named by the argument and prints its
	// status after.
	one := func(use, short, example string, fn func(ctx context.Context, se *session, id string) error) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: short, Example: example, Args: nArgs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.withSession(cmd, func(ctx context.Context, se *session) error {
					id := args[0]
					if err := fn(ctx, se, id); err != nil {
						return failedTransfer(err, use, id)
					}
					st, err := se.c.TransferStatus(ctx, se.p, id)
					if err != nil {
						return failedTransfer(err, "read", id)
					}
					return a.printStatus(st)
				})
			}}
	}
	nop := func(context.Context, *session, string) error { return nil }
	c.AddCommand(
		&cobra.Command{Use: "list", Short: "List the transfers", Args: nArgs(0, 0), RunE: list, Example: "  amove transfers list --json"},
		one("show", "Show a transfer's state and progress", "  amove transfers show 3f2a...", nop),
		one("pause", "Pause a transfer this process runs (the agent's: pause it through the agent)", "  amove transfers pause 3f2a...",
			func(ctx context.Context, se *session, id string) error { return se.c.PauseTransfer(ctx, se.p, id) }),
		one("cancel", "Cancel a transfer for good and clean up after it", "  amove transfers cancel 3f2a...",
			func(ctx context.Context, se *session, id string) error { return se.c.CancelTransfer(ctx, se.p, id) }),
		&cobra.Command{Use: "resume ID", Short: "Continue a paused or failed transfer here, from the parts stored, until it ends", Args: nArgs(1, 1),
			Example: "  amove transfers resume 3f2a...",
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.withSession(cmd, func(ctx context.Context, se *session) error {
					id := args[0]
					if err := se.c.ResumeTransfer(ctx, se.p, id); err != nil {
						return failedTransfer(err, "resume", id)
					}
					sts, err := a.follow(ctx, se, []job{{id: id, name: id}}, nil)
					if a.json && len(sts) == 1 && sts[0].ID != "" {
						_ = a.printStatus(sts[0])
					}
					return err
				})
			}},
		&cobra.Command{Use: "wait ID", Short: "Wait until a transfer this process can see ends or pauses", Args: nArgs(1, 1),
			Example: "  amove transfers wait 3f2a... && echo done",
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.withSession(cmd, func(ctx context.Context, se *session) error {
					st, err := se.c.WaitTransfer(ctx, se.p, args[0])
					if err != nil {
						return failedTransfer(err, "wait for", args[0])
					}
					if err := a.printStatus(st); err != nil {
						return err
					}
					if st.State != transfer.Completed {
						return &transferError{name: st.ID, st: st}
					}
					return nil
				})
			}},
	)
	return c
}

// failedTransfer wraps an error about transfer id for describe.
func failedTransfer(err error, op, id string) error {
	return &opError{op: op + " transfer", account: id, err: err}
}

func (a *app) printStatus(st transfer.Status) error {
	if a.json {
		return a.writeJSON(st)
	}
	tw := a.table()
	fmt.Fprintf(tw, "id:\t%s\nkind:\t%s\nstate:\t%s\n", st.ID, st.Kind, st.State)
	if st.Error != "" {
		fmt.Fprintf(tw, "error:\t%s\n", st.Error)
	}
	fmt.Fprintf(tw, "bytes:\t%d/%d\nfiles:\t%d/%d (%d failed)\nchecksum verified:\t%v\n", st.BytesDone, st.BytesTotal, st.FilesDone, st.FilesTotal, st.FilesFailed, st.ChecksumVerified)
	if st.LocalPath != "" {
		fmt.Fprintf(tw, "local:\t%s\n", st.LocalPath)
	}
	if st.Source.Bucket != "" {
		fmt.Fprintf(tw, "source:\t%s/%s\n", st.Source.Bucket, st.Source.Key)
	}
	if st.Dest.Bucket != "" {
		fmt.Fprintf(tw, "dest:\t%s/%s\n", st.Dest.Bucket, st.Dest.Key)
	}
	fmt.Fprintf(tw, "created:\t%s\nupdated:\t%s\n", st.Created.Local().Format(time.DateTime), st.Updated.Local().Format(time.DateTime))
	return tw.Flush()
}
