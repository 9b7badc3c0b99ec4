package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// cmdKeys runs `amove keys rotate|list` as the configured user (admin by
// default), who must be a DesktopAdmin or ProviderAdmin to rotate.
//
// rotate makes a new seal key and a new sign key the active ones: every
// stored credential is sealed again with the new seal key in one store
// transaction, new tokens are signed with the new sign key, and tokens
// signed before stay valid until they expire. Both print the keyring's
// keys: ids, use and dates, never a key.
func cmdKeys(ctx context.Context, args []string, w io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return errUsage
	}
	sub := args[0]
	s, fs, err := parse("keys "+sub, args[1:], nil)
	if err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errUsage
	}
	se, err := openSession(ctx, s)
	if err != nil {
		return err
	}
	defer se.c.Close()
	if sub == "rotate" {
		r, err := se.c.RotateKeys(ctx, se.p)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "new seal key %s, new sign key %s\n", r.SealKeyID, r.SignKeyID)
		fmt.Fprintf(w, "%d stored values sealed again with the new seal key\n", r.Resealed)
		if len(r.Dropped) > 0 {
			fmt.Fprintf(w, "dropped keys no longer needed: %s\n", strings.Join(r.Dropped, ", "))
		}
		fmt.Fprintln(w, "tokens signed with the previous sign key stay valid until they expire")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSE\tSTATE\tCREATED\tRETIRED")
	for _, k := range se.c.Keys() {
		state, retired := "retired", k.Retired.Local().Format(time.DateTime)
		if k.Active {
			state, retired = "active", ""
		}
		created := ""
		if !k.Created.IsZero() {
			created = k.Created.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Use, state, created, retired)
	}
	return tw.Flush()
}
