package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
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

func parse(name string, args []string, extra func(*flag.FlagSet)) (*settings, *flag.FlagSet, error) {
	s := &settings{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	s.flags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, errUsage
	}
	return s, fs, nil
}

func cmdToken(ctx context.Context, args []string) error {
	s, _, err := parse("token create", args, nil)
	if err != nil {
		return err
	}
	se, err := openSession(ctx, s)
	if err != nil {
		return err
	}
	defer se.c.Close()
	tok, err := se.c.IssueToken(ctx, se.u.ID)
	if err != nil {
		return err
	}
	fmt.Println(tok.Token)
	fmt.Fprintf(os.Stderr, "token for %s, valid until %s\n", se.u.Username, tok.Expires.Format(time.RFC3339))
	return nil
}

func cmdAccounts(ctx context.Context, sub string, args []string) error {
	var n amove.NewAccount
	var typ string
	s, _, err := parse("accounts "+sub, args, func(fs *flag.FlagSet) {
		if sub != "add" {
			return
		}
		fs.StringVar(&typ, "type", "", "cloud type: AWS, Wasabi, Azure, S3Generic, Google, Cloudflare, ... or its number")
		fs.StringVar(&n.Name, "name", "", "display name (at most 50 characters)")
		fs.StringVar(&n.AccessKey, "access", "", "access key (Azure: account name)")
		fs.StringVar(&n.SecretKey, "secret", "", "secret key (or set AMOVE_SECRET to keep it out of the process list)")
		fs.StringVar(&n.Endpoint, "endpoint", "", "custom endpoint")
		fs.StringVar(&n.Region, "region", "", "region")
		fs.StringVar(&n.ServiceURL, "service-url", "", "service URL")
		fs.BoolVar(&n.Shared, "shared", false, "share with the users of the Amove account")
	})
	if err != nil {
		return err
	}
	se, err := openSession(ctx, s)
	if err != nil {
		return err
	}
	defer se.c.Close()
	switch sub {
	case "list":
		as, err := se.c.ListAccounts(ctx, se.p)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tTYPE\tSHARED")
		for _, a := range as {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", a.ID, a.Name, a.CloudType, a.Shared)
		}
		return tw.Flush()
	case "add":
		ct, err := provider.ParseCloudType(typ)
		if err != nil {
			return err
		}
		n.CloudType = ct
		if n.SecretKey == "" {
			n.SecretKey = os.Getenv("AMOVE_SECRET")
		}
		a, err := se.c.InsertAccount(ctx, se.p, n)
		if err != nil {
			return err
		}
		fmt.Println(a.ID)
		return nil
	}
	return errUsage
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
	return amove.CloudAccount{}, fmt.Errorf("no cloud account named %q (see amove accounts list)", ref)
}

// splitRemote parses ACCOUNT:BUCKET/KEY.
func splitRemote(s string) (account, bucket, key string, ok bool) {
	account, rest, ok := strings.Cut(s, ":")
	if !ok || account == "" || strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") {
		return "", "", "", false
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return account, bucket, key, true
}

func cmdLs(ctx context.Context, args []string) error {
	s, fs, err := parse("ls", args, nil)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errUsage
	}
	se, err := openSession(ctx, s)
	if err != nil {
		return err
	}
	defer se.c.Close()
	ref, bucket, prefix, ok := splitRemote(fs.Arg(0))
	if !ok {
		ref = fs.Arg(0)
	}
	a, err := se.findAccount(ctx, ref)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if bucket == "" {
		bs, err := se.c.ListBuckets(ctx, se.p, a.ID)
		if err != nil {
			return err
		}
		for _, b := range bs {
			fmt.Fprintf(tw, "%s\t%s\n", b.Created.Format(time.DateTime), b.Name)
		}
		return nil
	}
	opts := provider.ListOptions{Prefix: prefix, Delimiter: "/"}
	for {
		page, err := se.c.ListObjects(ctx, se.p, a.ID, bucket, opts)
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if o.IsFolder {
				fmt.Fprintf(tw, "\tDIR\t%s\n", o.Key)
			} else {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", o.ModTime.Format(time.DateTime), o.Size, o.Key)
			}
		}
		if page.NextToken == "" {
			return nil
		}
		opts.Token = page.NextToken
	}
}

func cmdCp(ctx context.Context, args []string) error {
	var overwrite bool
	s, fs, err := parse("cp", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&overwrite, "overwrite", false, "let a download replace existing local files (by default an existing file is refused and left as it was)")
	})
	if err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errUsage
	}
	se, err := openSession(ctx, s)
	if err != nil {
		return err
	}
	defer se.c.Close()
	src, dst := fs.Arg(0), fs.Arg(1)
	var id string
	if ref, bucket, key, ok := splitRemote(dst); ok {
		a, err := se.findAccount(ctx, ref)
		if err != nil {
			return err
		}
		id, err = se.c.Upload(ctx, se.p, amove.UploadRequest{AccountID: a.ID, Bucket: bucket, Key: key, LocalPath: src})
		if err != nil {
			return err
		}
	} else if ref, bucket, key, ok := splitRemote(src); ok {
		a, err := se.findAccount(ctx, ref)
		if err != nil {
			return err
		}
		id, err = se.c.Download(ctx, se.p, amove.DownloadRequest{AccountID: a.ID, Bucket: bucket, Key: key, LocalPath: dst, Overwrite: overwrite})
		if err != nil {
			return err
		}
	} else {
		return errors.New("one side of cp must be ACCOUNT:BUCKET/KEY")
	}
	return follow(ctx, se, id, os.Stderr)
}

// follow prints progress until the transfer ends. Interrupting pauses it:
// the next agent or CLI run on the same store resumes it.
func follow(ctx context.Context, se *session, id string, w io.Writer) error {
	events, stop := se.c.Subscribe(ctx, se.p)
	defer stop()
	for {
		st, err := se.c.TransferStatus(context.Background(), se.p, id)
		if err != nil {
			return err
		}
		if st.State.Final() {
			fmt.Fprintf(w, "\r%s: %s, %d files, %d bytes, checksum verified: %v\n", st.Kind, st.State, st.FilesDone, st.BytesDone, st.ChecksumVerified)
			if st.State != transfer.Completed {
				return fmt.Errorf("transfer %s: %s", st.State, st.Error)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "\ninterrupted: the transfer stays in the journal; the agent (amove serve) resumes it when it starts")
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				events = nil // ctx is done: the case above ends the loop
				continue
			}
			if ev.Status.ID == id && ev.Type == transfer.EventProgress {
				fmt.Fprintf(w, "\r%s %5.1f%%  %s/s  ", st.Kind, pct(ev.Status), human(ev.Status.BytesPerSecond))
			}
		case <-time.After(time.Second):
		}
	}
}

func pct(st transfer.Status) float64 {
	if st.BytesTotal == 0 {
		return 0
	}
	return float64(st.BytesDone) * 100 / float64(st.BytesTotal)
}

func human(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// cmdTransfers lists the transfers of the store: those of the agent and of
// every CLI run, running, at rest or finished within the retention.
func cmdTransfers(ctx context.Context, args []string, w io.Writer) error {
	s, _, err := parse("transfers", args, nil)
	if err != nil {
		return err
	}
	se, err := openSession(ctx, s)
	if err != nil {
		return err
	}
	defer se.c.Close()
	list, err := se.c.ListTransfers(ctx, se.p)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tBYTES\tFILES\tUPDATED")
	for _, st := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d/%d\t%s\n", st.ID, st.Kind, st.State, st.BytesDone, st.BytesTotal,
			st.FilesDone, st.FilesTotal, st.Updated.Local().Format(time.DateTime))
	}
	return tw.Flush()
}
