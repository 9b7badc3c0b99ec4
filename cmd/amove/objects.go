package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// objectJSON is an object or folder as --json prints it.
type objectJSON struct {
	Key         string            `json:"key"`
	Size        int64             `json:"size"`
	ModTime     time.Time         `json:"modTime,omitzero"`
	ETag        string            `json:"etag,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Checksums   map[string]string `json:"checksums,omitempty"`
	IsFolder    bool              `json:"isFolder,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func objectOut(o provider.Object) objectJSON {
	out := objectJSON{Key: o.Key, Size: o.Size, ModTime: o.ModTime, ETag: o.ETag, ContentType: o.ContentType, IsFolder: o.IsFolder, Metadata: o.Metadata}
	c := o.Checksums
	for h, v := range map[string]string{"md5": c.MD5, "sha1": c.SHA1, "sha256": c.SHA256, "crc32": c.CRC32, "crc32c": c.CRC32C,
		"crc64": c.CRC64, "dropbox": c.Dropbox, "quickxor": c.QuickXor} {
		if v == "" {
			continue
		}
		if out.Checksums == nil {
			out.Checksums = map[string]string{}
		}
		out.Checksums[h] = v
	}
	return out
}

func (a *app) lsCmd() *cobra.Command {
	var long, recursive bool
	var f filter
	c := &cobra.Command{Use: "ls ACCOUNT:[BUCKET[/PREFIX]]", Short: "List the buckets of an account, or the objects under a prefix", Args: nArgs(1, 1),
		Example: `  amove ls m:                  # the buckets of account m
  amove ls m:photos/2024/       # one level under a prefix
  amove ls -lR m:photos --include '*.jpg'
  amove ls --json m:photos | jq '.[].key'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				arg := args[0]
				if !strings.Contains(arg, ":") {
					arg += ":" // the account alone, as amove ls took it
				}
				r, err := se.resolve(ctx, arg)
				if err != nil {
					return err
				}
				if r.bucket == "" {
					bs, err := se.c.ListBuckets(ctx, se.p, r.id)
					if err != nil {
						return failed(err, "list the buckets of", r)
					}
					if a.json {
						type bucketJSON struct {
							Name    string    `json:"name"`
							Created time.Time `json:"created,omitzero"`
							Region  string    `json:"region,omitempty"`
						}
						out := make([]bucketJSON, 0, len(bs))
						for _, b := range bs {
							out = append(out, bucketJSON{b.Name, b.Created, b.Region})
						}
						return a.writeJSON(out)
					}
					tw := a.table()
					for _, b := range bs {
						if long {
							fmt.Fprintf(tw, "%s\t%s\n", b.Created.Local().Format(time.DateTime), b.Name)
						} else {
							fmt.Fprintln(tw, b.Name)
						}
					}
					return tw.Flush()
				}
				opts := provider.ListOptions{Prefix: r.key}
				if !recursive {
					opts.Delimiter = "/"
				}
				out := []objectJSON{}
				tw := a.table()
				for o, err := range se.c.Walk(ctx, se.p, r.id, r.bucket, opts) {
					if err != nil {
						tw.Flush()
						return failed(err, "list", r)
					}
					if !o.IsFolder && f.active() && !f.match(strings.TrimPrefix(o.Key, r.key)) {
						continue
					}
					switch {
					case a.json:
						out = append(out, objectOut(o))
					case long && o.IsFolder:
						fmt.Fprintf(tw, "\t\tDIR\t%s\n", o.Key)
					case long:
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", o.ModTime.Local().Format(time.DateTime), o.Size, o.ETag, o.Key)
					default:
						fmt.Fprintln(tw, o.Key)
					}
				}
				if a.json {
					return a.writeJSON(out)
				}
				return tw.Flush()
			})
		}}
	c.Flags().BoolVarP(&long, "long", "l", false, "show size, modification time and ETag")
	c.Flags().BoolVarP(&recursive, "recursive", "R", false, "list every object under the prefix, not one level")
	f.register(c.Flags())
	return c
}

// transferJSON is the --json shape of cp, mv and the transfers commands.
type transferJSON struct {
	Transfers []transfer.Status `json:"transfers"`
	Removed   []string          `json:"removed,omitempty"`
}

func (a *app) cpCmd() *cobra.Command {
	var x xferFlags
	c := &cobra.Command{Use: "cp SRC DST", Short: "Copy files and objects: local to remote, remote to local, or between any two accounts", Args: nArgs(2, 2),
		Long: `Copy a file or folder to ACCOUNT:BUCKET/KEY, an object or prefix to a local
path, or objects between any two accounts. A KEY ending in / (or empty) is a
folder. Between two accounts the copy stays on the provider's side where both
ends allow it; otherwise the bytes stream through amove, checked end to end.

The copy is a transfer in the store's journal: Ctrl-C pauses it, and
amove transfers resume ID continues it from the parts already stored.`,
		Example: `  amove cp ./video.mov m:media/in/
  amove cp ./photos m:backup/photos/ --exclude '*.tmp'
  amove cp m:media/in/video.mov ./video.mov --overwrite
  amove cp m:media/in/ azure:archive/media/ --bwlimit 50M`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := x.check(); err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				jobs, startErrs, _, _, err := a.startCopy(ctx, se, args[0], args[1], &x, false)
				if err != nil {
					return err
				}
				sts, err := a.follow(ctx, se, jobs, startErrs)
				if a.json {
					_ = a.writeJSON(transferJSON{Transfers: nonNilStatus(sts)})
				}
				return err
			})
		}}
	a.registerXfer(c, &x)
	return c
}

func (a *app) mvCmd() *cobra.Command {
	var x xferFlags
	c := &cobra.Command{Use: "mv SRC DST", Short: "Move files and objects: copy, then remove each source whose copy completed", Args: nArgs(2, 2),
		Long: `Move is cp followed by the removal of each source file or object whose copy
completed, and was verified end to end unless --no-verify is given.`,
		Example: `  amove mv ./upload.bin m:in/
  amove mv m:in/ m:archive/2024/
  amove mv m:in/report.pdf ./report.pdf`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := x.check(); err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				jobs, startErrs, src, _, err := a.startCopy(ctx, se, args[0], args[1], &x, true)
				if err != nil {
					return err
				}
				sts, ferr := a.follow(ctx, se, jobs, startErrs)
				var ie *interruptedError
				if errors.As(ferr, &ie) {
					return ferr // nothing removed: the paused copies finish first
				}
				var removed []string
				var rmErrs []error
				for i, st := range sts {
					if st.State != transfer.Completed {
						continue
					}
					if !st.ChecksumVerified && !a.s.noVerify {
						rmErrs = append(rmErrs, fmt.Errorf("the copy of %s was not verified end to end: the source stays (--no-verify to remove it anyway)", jobs[i].name))
						continue
					}
					for _, it := range jobs[i].items {
						if src.id == "" {
							err = os.Remove(it.src)
						} else {
							err = failed(se.c.Delete(ctx, se.p, src.id, src.bucket, it.src), "remove", remote{ref: src.ref, bucket: src.bucket, key: it.src})
						}
						if err != nil {
							rmErrs = append(rmErrs, err)
						} else {
							removed = append(removed, it.src)
						}
					}
				}
				if a.json {
					_ = a.writeJSON(transferJSON{Transfers: nonNilStatus(sts), Removed: removed})
				}
				if ferr != nil {
					return ferr
				}
				return outcome(len(removed), rmErrs)
			})
		}}
	a.registerXfer(c, &x)
	return c
}

func (a *app) rmCmd() *cobra.Command {
	var recursive, dryRun bool
	var f filter
	c := &cobra.Command{Use: "rm ACCOUNT:BUCKET/KEY", Short: "Remove an object, or with -r every object under a prefix", Args: nArgs(1, 1),
		Example: `  amove rm m:media/in/old.mov
  amove rm -r m:media/tmp/
  amove rm -r m:media/ --include '*.tmp' --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(); err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				r, err := se.resolve(ctx, args[0])
				if err != nil {
					return err
				}
				if r.bucket == "" {
					return usagef("amove rm: want ACCOUNT:BUCKET/KEY (to remove a bucket: amove rb)")
				}
				var keys []string
				if !recursive {
					if r.key == "" || isPrefix(r.key) {
						return usagef("amove rm: %s is a folder: add -r to remove every object under it", args[0])
					}
					// A missing object is an error here, though Delete
					// takes it calmly: the user named it.
					if _, err := se.c.Stat(ctx, se.p, r.id, r.bucket, r.key); err != nil {
						return failed(err, "remove", r)
					}
					keys = []string{r.key}
				} else {
					for o, err := range se.c.Walk(ctx, se.p, r.id, r.bucket, provider.ListOptions{Prefix: r.key}) {
						if err != nil {
							return failed(err, "list", r)
						}
						if !o.IsFolder && f.match(strings.TrimPrefix(o.Key, r.key)) {
							keys = append(keys, o.Key)
						}
					}
				}
				var deleted []string
				var errs []error
				for _, k := range keys {
					if !dryRun {
						if err := se.c.Delete(ctx, se.p, r.id, r.bucket, k); err != nil {
							errs = append(errs, failed(err, "remove", remote{ref: r.ref, bucket: r.bucket, key: k}))
							continue
						}
					}
					deleted = append(deleted, k)
					if !a.json {
						verb := "removed"
						if dryRun {
							verb = "would remove"
						}
						fmt.Fprintf(a.stdout, "%s %s:%s/%s\n", verb, r.ref, r.bucket, k)
					}
				}
				if a.json {
					_ = a.writeJSON(map[string]any{"removed": nonNil(deleted), "dryRun": dryRun, "failed": len(errs)})
				}
				return outcome(len(deleted), errs)
			})
		}}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove every object under the prefix")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be removed, remove nothing")
	f.register(c.Flags())
	return c
}

func nonNilStatus(s []transfer.Status) []transfer.Status {
	if s == nil {
		return []transfer.Status{}
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *app) catCmd() *cobra.Command {
	return &cobra.Command{Use: "cat ACCOUNT:BUCKET/KEY", Short: "Write an object's bytes to stdout", Args: nArgs(1, 1),
		Long: "Write an object's bytes to stdout, as they are (--json only changes how errors are printed).",
		Example: `  amove cat m:notes/todo.txt
  amove cat m:logs/app.log.gz | gunzip | grep ERROR`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				r, err := se.resolve(ctx, args[0])
				if err != nil {
					return err
				}
				if r.bucket == "" || isPrefix(r.key) {
					return usagef("amove cat: want ACCOUNT:BUCKET/KEY of an object")
				}
				rc, err := se.c.NewReader(ctx, se.p, r.id, r.bucket, r.key)
				if err != nil {
					return failed(err, "read", r)
				}
				_, err = io.Copy(a.stdout, rc)
				return errors.Join(failed(err, "read", r), failed(rc.Close(), "read", r))
			})
		}}
}

func (a *app) statCmd() *cobra.Command {
	return &cobra.Command{Use: "stat ACCOUNT:BUCKET/KEY", Short: "Show an object's size, time, type, checksums and metadata", Args: nArgs(1, 1),
		Example: "  amove stat m:media/in/video.mov\n  amove stat --json m:media/in/video.mov | jq .size",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				r, err := se.resolve(ctx, args[0])
				if err != nil {
					return err
				}
				if r.bucket == "" || r.key == "" {
					return usagef("amove stat: want ACCOUNT:BUCKET/KEY")
				}
				o, err := se.c.Stat(ctx, se.p, r.id, r.bucket, r.key)
				if err != nil {
					return failed(err, "stat", r)
				}
				if a.json {
					return a.writeJSON(objectOut(o))
				}
				tw := a.table()
				j := objectOut(o)
				fmt.Fprintf(tw, "key:\t%s\nsize:\t%d\nmodified:\t%s\netag:\t%s\ncontent-type:\t%s\n", j.Key, j.Size, j.ModTime.Local().Format(time.RFC3339), j.ETag, j.ContentType)
				for h, v := range j.Checksums {
					fmt.Fprintf(tw, "%s:\t%s\n", h, v)
				}
				for k, v := range j.Metadata {
					fmt.Fprintf(tw, "meta %s:\t%s\n", k, v)
				}
				return tw.Flush()
			})
		}}
}

func (a *app) mbCmd() *cobra.Command {
	var region string
	c := &cobra.Command{Use: "mb ACCOUNT:BUCKET", Short: "Make a bucket", Args: nArgs(1, 1),
		Example: "  amove mb m:media\n  amove mb aws:media --region eu-west-1",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bucketOp(cmd, args[0], "create bucket", func(ctx context.Context, se *session, r remote) error {
				return se.c.CreateBucket(ctx, se.p, r.id, r.bucket, region)
			})
		}}
	c.Flags().StringVar(&region, "region", "", "region of the bucket (default: the account's)")
	return c
}

func (a *app) rbCmd() *cobra.Command {
	return &cobra.Command{Use: "rb ACCOUNT:BUCKET", Short: "Remove an empty bucket", Args: nArgs(1, 1),
		Example: "  amove rm -r m:media/ && amove rb m:media",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.bucketOp(cmd, args[0], "remove bucket", func(ctx context.Context, se *session, r remote) error {
				return se.c.DeleteBucket(ctx, se.p, r.id, r.bucket)
			})
		}}
}

func (a *app) bucketOp(cmd *cobra.Command, arg, op string, fn func(context.Context, *session, remote) error) error {
	return a.withSession(cmd, func(ctx context.Context, se *session) error {
		r, err := se.resolve(ctx, strings.TrimSuffix(arg, "/"))
		if err != nil {
			return err
		}
		if r.bucket == "" || r.key != "" {
			return usagef("amove %s: want ACCOUNT:BUCKET", cmd.Name())
		}
		if err := fn(ctx, se, r); err != nil {
			var oe *opError
			if err = failed(err, op, r); errors.As(err, &oe) {
				oe.op = op
			}
			return err
		}
		if a.json {
			return a.writeJSON(map[string]any{"account": r.ref, "bucket": r.bucket, "done": op})
		}
		fmt.Fprintf(a.stderr, "%s %s:%s: done\n", op, r.ref, r.bucket)
		return nil
	})
}

func (a *app) presignCmd() *cobra.Command {
	var expiry time.Duration
	var put bool
	c := &cobra.Command{Use: "presign ACCOUNT:BUCKET/KEY", Short: "Print a URL that reads (or with --put writes) the object without credentials", Args: nArgs(1, 1),
		Example: "  amove presign m:media/in/video.mov --expiry 24h\n  curl -T file $(amove presign --put m:in/file)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				r, err := se.resolve(ctx, args[0])
				if err != nil {
					return err
				}
				if r.bucket == "" || isPrefix(r.key) {
					return usagef("amove presign: want ACCOUNT:BUCKET/KEY of an object")
				}
				opts := provider.PresignOptions{Method: http.MethodGet, Expiry: expiry}
				if put {
					opts.Method = http.MethodPut
				}
				u, err := se.c.SignedURL(ctx, se.p, r.id, r.bucket, r.key, opts)
				if err != nil {
					return failed(err, "presign", r)
				}
				if a.json {
					return a.writeJSON(map[string]any{"url": u, "method": opts.Method, "expires": time.Now().Add(cmpDur(expiry, time.Hour))})
				}
				fmt.Fprintln(a.stdout, u)
				return nil
			})
		}}
	c.Flags().DurationVar(&expiry, "expiry", time.Hour, "how long the URL stays valid")
	c.Flags().BoolVar(&put, "put", false, "a URL to upload with HTTP PUT instead of downloading")
	return c
}

func cmpDur(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
