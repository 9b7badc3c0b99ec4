package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// keysCmd runs `amove keys rotate|list` as the configured user (admin by
// default), who must be a DesktopAdmin or ProviderAdmin to rotate.
//
// rotate makes a new seal key and a new sign key the active ones: every
// stored credential is sealed again with the new seal key in one store
// transaction, new tokens are signed with the new sign key, and tokens
// signed before stay valid until they expire. Both print the keyring's
// keys: ids, use and dates, never a key.
func (a *app) keysCmd() *cobra.Command {
	c := &cobra.Command{Use: "keys", Short: "Rotate the seal and sign keys, or list them", Args: subcommandArgs,
		Example: "  amove keys list\n  amove keys rotate",
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("amove keys: want a subcommand (rotate, list)")
		}}
	run := func(rotate bool) func(cmd *cobra.Command, args []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				out := map[string]any{}
				if rotate {
					r, err := se.c.RotateKeys(ctx, se.p)
					if err != nil {
						return err
					}
					out["rotation"] = map[string]any{"sealKeyId": r.SealKeyID, "signKeyId": r.SignKeyID, "resealed": r.Resealed, "dropped": r.Dropped}
					if !a.json {
						fmt.Fprintf(a.stdout, "new seal key %s, new sign key %s\n", r.SealKeyID, r.SignKeyID)
						fmt.Fprintf(a.stdout, "%d stored values sealed again with the new seal key\n", r.Resealed)
						if len(r.Dropped) > 0 {
							fmt.Fprintf(a.stdout, "dropped keys no longer needed: %s\n", strings.Join(r.Dropped, ", "))
						}
						fmt.Fprintln(a.stdout, "tokens signed with the previous sign key stay valid until they expire")
					}
				}
				keys := se.c.Keys()
				if a.json {
					type keyJSON struct {
						ID      string    `json:"id"`
						Use     string    `json:"use"`
						Active  bool      `json:"active"`
						Created time.Time `json:"created,omitzero"`
						Retired time.Time `json:"retired,omitzero"`
					}
					list := make([]keyJSON, 0, len(keys))
					for _, k := range keys {
						list = append(list, keyJSON{k.ID, k.Use, k.Active, k.Created, k.Retired})
					}
					out["keys"] = list
					return a.writeJSON(out)
				}
				tw := a.table()
				fmt.Fprintln(tw, "ID\tUSE\tSTATE\tCREATED\tRETIRED")
				for _, k := range keys {
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
			})
		}
	}
	c.AddCommand(
		&cobra.Command{Use: "rotate", Short: "Seal every stored credential with a new key and sign tokens with a new one", Args: nArgs(0, 0),
			Example: "  amove keys rotate", RunE: run(true)},
		&cobra.Command{Use: "list", Short: "List the keyring's keys: ids, use and dates, never a key", Args: nArgs(0, 0),
			Example: "  amove keys list --json", RunE: run(false)})
	return c
}
