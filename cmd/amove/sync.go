package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// entry is a file or object on one side of a sync, by its path relative
// to the synced folder.
type entry struct {
	where   string // local path or key
	size    int64
	modTime time.Time
	md5     string // hex; empty when unknown (computed lazily for local files)
	local   bool
}

// syncJSON is the --json shape of sync.
type syncJSON struct {
	Copied    []string          `json:"copied"`
	Deleted   []string          `json:"deleted"`
	Unchanged int               `json:"unchanged"`
	DryRun    bool              `json:"dryRun"`
	Transfers []transfer.Status `json:"transfers"`
}

func (a *app) syncCmd() *cobra.Command {
	var x xferFlags
	var del, dryRun bool
	c := &cobra.Command{Use: "sync SRC DST", Short: "Make DST hold what SRC holds: copy what is missing or differs, and with --delete remove the rest", Args: nArgs(2, 2),
		Long: `Sync a local folder or remote prefix into another (local to remote, remote to
local, or between any two accounts). A file is copied when it is missing at
DST, when the sizes differ, or when both sides know an MD5 and they differ;
when no checksum can be compared (or with --no-verify), when the source is
newer than the destination. --delete removes what DST holds and SRC does not.`,
		Example: `  amove sync ./site m:www/
  amove sync --delete --dry-run ./site m:www/
  amove sync m:media/ ./media --exclude '*.tmp'
  amove sync m:media/ azure:backup/media/ --delete`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := x.check(); err != nil {
				return err
			}
			rate, err := parseRate(x.bwlimit)
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, se *session) error {
				e := endpoints{rate: rate, overwrite: true}
				var srcDir, dstDir string
				if e.src, e.srcRemote = splitRemote(args[0]); e.srcRemote {
					if e.src, err = se.resolve(ctx, args[0]); err != nil {
						return err
					}
				} else {
					srcDir = args[0]
					if fi, err := os.Stat(srcDir); err != nil || !fi.IsDir() {
						return fmt.Errorf("local folder %q does not exist", srcDir)
					}
				}
				if e.dst, e.dstRemote = splitRemote(args[1]); e.dstRemote {
					if e.dst, err = se.resolve(ctx, args[1]); err != nil {
						return err
					}
				} else {
					dstDir = args[1]
				}
				if !e.srcRemote && !e.dstRemote {
					return usagef("one side of sync must be ACCOUNT:BUCKET/PREFIX")
				}
				for _, r := range []*remote{&e.src, &e.dst} {
					if r.id != "" && (r.bucket == "") {
						return usagef("sync: %s: want ACCOUNT:BUCKET/PREFIX", r.ref)
					}
					if r.id != "" && !isPrefix(r.key) {
						r.key += "/"
					}
				}
				src, err := a.syncSide(ctx, se, e.src, srcDir, &x.filter)
				if err != nil {
					return err
				}
				dst, err := a.syncSide(ctx, se, e.dst, dstDir, &x.filter)
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				out := syncJSON{Copied: []string{}, Deleted: []string{}, DryRun: dryRun, Transfers: []transfer.Status{}}
				var jobs []job
				var startErrs []error
				for _, rel := range sortedKeys(src) {
					s := src[rel]
					if d, ok := dst[rel]; ok && !differs(s, d, a.s.noVerify) {
						out.Unchanged++
						continue
					}
					out.Copied = append(out.Copied, rel)
					it := item{src: s.where, dst: e.dst.key + rel}
					if !e.dstRemote {
						it.dst = filepath.Join(dstDir, filepath.FromSlash(rel))
						if !dryRun {
							if err := os.MkdirAll(filepath.Dir(it.dst), 0o755); err != nil {
								return err
							}
						}
					}
					if dryRun {
						a.say("would copy %s\n", rel)
						continue
					}
					id, err := e.start(ctx, se, it)
					if err != nil {
						startErrs = append(startErrs, e.startErr(err, it))
						continue
					}
					jobs = append(jobs, job{id: id, name: rel, items: []item{it}})
				}
				sts, ferr := a.follow(ctx, se, jobs, startErrs)
				out.Transfers = nonNilStatus(sts)
				var ie *interruptedError
				if errors.As(ferr, &ie) {
					return ferr
				}
				var delErrs []error
				if del {
					for _, rel := range sortedKeys(dst) {
						if _, ok := src[rel]; ok {
							continue
						}
						d := dst[rel]
						if !dryRun {
							var err error
							if d.local {
								err = os.Remove(d.where)
							} else {
								err = failed(se.c.Delete(ctx, se.p, e.dst.id, e.dst.bucket, d.where), "remove", remote{ref: e.dst.ref, bucket: e.dst.bucket, key: d.where})
							}
							if err != nil {
								delErrs = append(delErrs, err)
								continue
							}
						}
						out.Deleted = append(out.Deleted, rel)
						verb := "deleted"
						if dryRun {
							verb = "would delete"
						}
						a.say("%s %s\n", verb, rel)
					}
				}
				if a.json {
					_ = a.writeJSON(out)
				} else {
					done := "sync: %d copied, %d deleted, %d unchanged\n"
					if dryRun {
						done = "sync --dry-run: %d to copy, %d to delete, %d unchanged; nothing changed\n"
					}
					fmt.Fprintf(a.stderr, done, len(out.Copied), len(out.Deleted), out.Unchanged)
				}
				var pe *partialError
				switch {
				case ferr != nil && len(delErrs) == 0:
					return ferr
				case ferr != nil && errors.As(ferr, &pe):
					return &partialError{done: pe.done + len(out.Deleted), failed: pe.failed + len(delErrs), first: pe.first}
				case ferr != nil:
					return &partialError{done: len(out.Deleted), failed: len(jobs) + len(startErrs) + len(delErrs), first: ferr}
				}
				return outcome(len(out.Copied)+len(out.Deleted), delErrs)
			})
		}}
	a.registerXfer(c, &x)
	c.Flags().BoolVar(&del, "delete", false, "remove from DST what SRC does not hold (within the filters)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be copied and deleted, change nothing")
	return c
}

// say prints a line for people on stdout, unless --json.
func (a *app) say(format string, args ...any) {
	if !a.json {
		fmt.Fprintf(a.stdout, format, args...)
	}
}

func sortedKeys(m map[string]*entry) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// syncSide lists one side of a sync: a local folder or a remote prefix.
func (a *app) syncSide(ctx context.Context, se *session, r remote, dir string, f *filter) (map[string]*entry, error) {
	out := map[string]*entry{}
	if r.id == "" {
		err := f.walk(dir, func(p, rel string, d fs.DirEntry) error {
			info, err := d.Info()
			if err != nil {
				return err
			}
			out[rel] = &entry{where: p, size: info.Size(), modTime: info.ModTime(), local: true}
			return nil
		})
		return out, err
	}
	for o, err := range se.c.Walk(ctx, se.p, r.id, r.bucket, provider.ListOptions{Prefix: r.key}) {
		if err != nil {
			return nil, failed(err, "list", r)
		}
		rel := strings.TrimPrefix(o.Key, r.key)
		if o.IsFolder || rel == "" || !f.match(rel) {
			continue
		}
		out[rel] = &entry{where: o.Key, size: o.Size, modTime: o.ModTime, md5: o.Checksums.MD5}
	}
	return out, nil
}

// differs reports whether s must be copied over d: sizes differ, or MD5s
// both known differ, or (no checksum to compare, or noVerify) s is newer.
func differs(s, d *entry, noVerify bool) bool {
	if s.size != d.size {
		return true
	}
	if !noVerify && (s.md5 != "" || d.md5 != "") {
		sm, dm := s.sum(), d.sum()
		if sm != "" && dm != "" {
			return sm != dm
		}
	}
	return s.modTime.After(d.modTime)
}

// sum is the entry's MD5, computed for a local file when asked: only when
// the other side has one to compare with (differs).
func (e *entry) sum() string {
	if e.md5 != "" || !e.local {
		return e.md5
	}
	f, err := os.Open(e.where)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	e.md5 = hex.EncodeToString(h.Sum(nil))
	return e.md5
}
