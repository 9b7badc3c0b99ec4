package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/amove/amove-go/provider"
)

// completeRemote completes remote locations for the shell: the account
// names (ACCOUNT:), then the account's buckets, then one level of keys
// under the prefix typed. A word starting with / or . is a local path:
// the shell completes it.
func (a *app) completeRemote(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.HasPrefix(toComplete, "/") || strings.HasPrefix(toComplete, ".") || strings.HasPrefix(toComplete, "~") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	ctx := cmd.Context()
	se, err := openSession(ctx, &a.s)
	if err != nil {
		return nil, cobra.ShellCompDirectiveDefault
	}
	defer se.c.Close()
	var out []string
	r, ok := splitRemote(toComplete)
	if !ok {
		as, err := se.c.ListAccounts(ctx, se.p)
		if err != nil {
			return nil, cobra.ShellCompDirectiveDefault
		}
		for _, ac := range as {
			if strings.HasPrefix(ac.Name, toComplete) {
				out = append(out, ac.Name+":")
			}
		}
		// Local paths stay possible: the shell adds its own files when
		// no account matches.
		if len(out) == 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return out, cobra.ShellCompDirectiveNoSpace
	}
	if r, err = se.resolve(ctx, toComplete); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if !strings.Contains(toComplete[len(r.ref)+1:], "/") {
		bs, err := se.c.ListBuckets(ctx, se.p, r.id)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		for _, b := range bs {
			if strings.HasPrefix(b.Name, r.bucket) {
				out = append(out, r.ref+":"+b.Name+"/")
			}
		}
		return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
	}
	// One level under the folder typed so far.
	prefix := r.key[:strings.LastIndex(r.key, "/")+1]
	n := 0
	for o, err := range se.c.Walk(ctx, se.p, r.id, r.bucket, provider.ListOptions{Prefix: prefix, Delimiter: "/"}) {
		if err != nil || n >= 1000 {
			break
		}
		if strings.HasPrefix(o.Key, r.key) {
			out = append(out, r.ref+":"+r.bucket+"/"+o.Key)
			n++
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
