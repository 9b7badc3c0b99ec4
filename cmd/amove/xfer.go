package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// xferFlags are the flags of the commands that move bytes (cp, mv, sync).
type xferFlags struct {
	filter
	bwlimit   string
	overwrite bool
}

// filter selects objects by --include and --exclude globs (path.Match): a
// pattern without a slash matches the name, one with a slash the path
// relative to the source.
type filter struct {
	include, exclude []string
}

func (f *filter) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.include, "include", nil, "only objects matching this glob (repeatable; a pattern with / matches the relative path, otherwise the name)")
	fs.StringArrayVar(&f.exclude, "exclude", nil, "skip objects matching this glob (repeatable)")
}

func (f *filter) active() bool { return len(f.include) > 0 || len(f.exclude) > 0 }

// check reports a malformed pattern before any work starts.
func (f *filter) check() error {
	for _, p := range append(append([]string{}, f.include...), f.exclude...) {
		if _, err := path.Match(p, ""); err != nil {
			return usagef("bad glob %q: %v", p, err)
		}
	}
	return nil
}

// walk calls fn for each regular file under dir that f selects, with its
// slash-separated path relative to dir.
func (f *filter) walk(dir string, fn func(p, rel string, d fs.DirEntry) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !f.match(rel) {
			return nil
		}
		return fn(p, rel, d)
	})
}

func (f *filter) match(rel string) bool {
	m := func(pats []string) bool {
		for _, p := range pats {
			target := path.Base(rel)
			if strings.Contains(p, "/") {
				target = rel
			}
			if ok, _ := path.Match(p, target); ok {
				return true
			}
		}
		return false
	}
	if len(f.include) > 0 && !m(f.include) {
		return false
	}
	return !m(f.exclude)
}

func (a *app) registerXfer(cmd *cobra.Command, x *xferFlags) {
	fs := cmd.Flags()
	x.filter.register(fs)
	fs.IntVar(&a.s.Concurrency, "concurrency", 0, "parts or small files in flight at once (default 16)")
	fs.IntVar(&a.s.PartSizeMiB, "part-size", 0, "part size of multipart transfers in MiB (default 16, raised to what the destination requires)")
	fs.StringVar(&x.bwlimit, "bwlimit", "", "bandwidth cap per transfer in bytes per second, with a K, M or G suffix (1024-based): 10M")
	fs.BoolVar(&a.s.noVerify, "no-verify", false, "skip the end-to-end checksum of downloads (faster on objects that carry only an MD5 ETag); mv removes sources whose copy was not verified, sync compares size and modification time only")
	fs.BoolVar(&x.overwrite, "overwrite", false, "let a download replace existing local files (by default an existing file is refused and left as it was)")
}

// parseRate parses --bwlimit: bytes per second with an optional K, M or G.
func parseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, usagef("--bwlimit %q: want a positive number of bytes per second such as 512K or 10M", s)
	}
	return int64(n * float64(mult)), nil
}

// item is one object or file a command moves: where from and where to.
type item struct {
	src, dst string // a local path, or a key in the remote's bucket
}

// job is a transfer a command started, with the name it shows.
type job struct {
	id, name string
	items    []item // what it moves, when the command listed them itself
}

// startCopy starts the transfers of cp or mv from src to dst. Without
// filters (and not for mv, which must know what it removes) a folder or
// prefix goes as one transfer that the engine plans; otherwise the CLI
// lists the sources and starts one transfer per file.
//
// startErrs are the items that could not start (an existing local file
// without --overwrite...) while others did; err is a failure before any
// started.
func (a *app) startCopy(ctx context.Context, se *session, srcArg, dstArg string, x *xferFlags, enumerate bool) (jobs []job, startErrs []error, src, dst remote, err error) {
	rate, err := parseRate(x.bwlimit)
	if err != nil {
		return nil, nil, src, dst, err
	}
	src, srcRemote := splitRemote(srcArg)
	dst, dstRemote := splitRemote(dstArg)
	if !srcRemote && !dstRemote {
		return nil, nil, src, dst, usagef("one side must be ACCOUNT:BUCKET/KEY (for local copies use your shell)")
	}
	if srcRemote {
		if src, err = se.resolve(ctx, srcArg); err != nil {
			return nil, nil, src, dst, err
		}
	}
	if dstRemote {
		if dst, err = se.resolve(ctx, dstArg); err != nil {
			return nil, nil, src, dst, err
		}
	}
	var fi os.FileInfo
	if !srcRemote {
		if fi, err = os.Stat(srcArg); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, src, dst, fmt.Errorf("local file %q does not exist", srcArg)
		} else if err != nil {
			return nil, nil, src, dst, err
		}
	}
	enumerate = enumerate || x.active()
	ends := endpoints{src: src, dst: dst, srcRemote: srcRemote, dstRemote: dstRemote, rate: rate, overwrite: x.overwrite}
	folder := srcRemote && isPrefix(src.key) || !srcRemote && fi.IsDir()
	if !enumerate || !folder {
		it := item{src: src.key, dst: dst.key}
		if !srcRemote {
			it.src = srcArg
		} else if !dstRemote {
			it.dst = dstArg
		}
		if !srcRemote && !folder && x.active() && !x.match(filepath.Base(srcArg)) {
			return nil, nil, src, dst, nil // the one file is filtered out
		}
		id, err := ends.start(ctx, se, it)
		if err != nil {
			return nil, nil, src, dst, ends.startErr(err, it)
		}
		return []job{{id: id, name: srcArg, items: []item{it}}}, nil, src, dst, nil
	}
	items, err := a.listItems(ctx, se, srcArg, src, srcRemote, dstArg, dst, dstRemote, &x.filter)
	if err != nil {
		return nil, nil, src, dst, err
	}
	for _, it := range items {
		id, err := ends.start(ctx, se, it)
		if err != nil {
			startErrs = append(startErrs, ends.startErr(err, it))
			continue
		}
		jobs = append(jobs, job{id: id, name: it.src, items: []item{it}})
	}
	return jobs, startErrs, src, dst, nil
}

// endpoints are the two ends of cp, mv or sync, resolved.
type endpoints struct {
	src, dst             remote
	srcRemote, dstRemote bool
	rate                 int64
	overwrite            bool
}

// start starts the transfer of one item: an upload, a download or a copy
// between accounts, which the engine keeps on the provider's side when it
// can.
func (e endpoints) start(ctx context.Context, se *session, it item) (string, error) {
	switch {
	case !e.srcRemote:
		return se.c.Upload(ctx, se.p, amove.UploadRequest{AccountID: e.dst.id, Bucket: e.dst.bucket, Key: it.dst, LocalPath: it.src, BytesPerSecond: e.rate})
	case !e.dstRemote:
		return se.c.Download(ctx, se.p, amove.DownloadRequest{AccountID: e.src.id, Bucket: e.src.bucket, Key: it.src, LocalPath: it.dst,
			Overwrite: e.overwrite, BytesPerSecond: e.rate})
	}
	return se.c.Copy(ctx, se.p, amove.CopyRequest{SourceAccountID: e.src.id, SourceBucket: e.src.bucket, SourceKey: it.src,
		DestAccountID: e.dst.id, DestBucket: e.dst.bucket, DestKey: it.dst, BytesPerSecond: e.rate})
}

func (e endpoints) startErr(err error, it item) error {
	if e.srcRemote {
		return failed(err, "copy", remote{ref: e.src.ref, bucket: e.src.bucket, key: it.src})
	}
	return failed(err, "upload "+it.src+" to", remote{ref: e.dst.ref, bucket: e.dst.bucket, key: it.dst})
}

// isPrefix reports whether a key names a folder (empty or ending in "/").
func isPrefix(key string) bool { return key == "" || strings.HasSuffix(key, "/") }

// listItems lists the files under a local folder or the objects under a
// remote prefix that the filter selects, with where each one goes.
func (a *app) listItems(ctx context.Context, se *session, srcArg string, src remote, srcRemote bool,
	dstArg string, dst remote, dstRemote bool, f *filter) ([]item, error) {
	to := func(rel string) string {
		if dstRemote {
			prefix := dst.key
			if !isPrefix(prefix) {
				prefix += "/"
			}
			return prefix + rel
		}
		return filepath.Join(dstArg, filepath.FromSlash(rel))
	}
	var items []item
	if !srcRemote {
		err := f.walk(srcArg, func(p, rel string, _ fs.DirEntry) error {
			items = append(items, item{src: p, dst: to(rel)})
			return nil
		})
		return items, err
	}
	for o, err := range se.c.Walk(ctx, se.p, src.id, src.bucket, provider.ListOptions{Prefix: src.key}) {
		if err != nil {
			return nil, failed(err, "list", src)
		}
		if o.IsFolder {
			continue
		}
		rel := strings.TrimPrefix(o.Key, src.key)
		if rel == "" || !f.match(rel) || strings.Contains("/"+rel+"/", "/../") {
			continue
		}
		items = append(items, item{src: o.Key, dst: to(rel)})
	}
	return items, nil
}

// interruptedError is a command stopped by Ctrl-C after pausing its
// transfers into the journal.
type interruptedError struct{ ids []string }

func (e *interruptedError) Error() string { return "interrupted" }
func (e *interruptedError) Unwrap() error { return context.Canceled }

// transferError is a transfer that ended failed or cancelled.
type transferError struct {
	name string
	st   transfer.Status
}

func (e *transferError) Error() string {
	return fmt.Sprintf("%s %s %s: %s", e.st.Kind, e.name, e.st.State, e.st.Error)
}

// follow waits for the jobs to end, showing their progress on stderr, and
// returns their final statuses (in the order of jobs). Ctrl-C (ctx done)
// pauses those still running into the journal: `amove transfers resume
// ID` continues them from the parts already stored.
//
// The error is the outcome of all the work, startErrs (items that never
// started) included: nil when every item completed, the failure when all
// failed, a partialError (exit code 3) when some did.
func (a *app) follow(ctx context.Context, se *session, jobs []job, startErrs []error) ([]transfer.Status, error) {
	if len(jobs) == 0 {
		return nil, outcome(0, startErrs)
	}
	pr := newProgress(a.stderr, !a.json)
	closed := false
	closeProgress := func() {
		if !closed {
			closed = true
			pr.close()
		}
	}
	defer closeProgress()
	events, stop := se.c.Subscribe(ctx, se.p)
	defer stop()
	out := make([]transfer.Status, len(jobs))
	pending := map[string]int{}
	for i, j := range jobs {
		pending[j.id] = i
	}
	ended := func(i int, st transfer.Status) {
		out[i] = st
		pr.finish(jobs[i].name, st)
		delete(pending, st.ID)
	}
	poll := func() error {
		for id, i := range pending {
			st, err := se.c.TransferStatus(context.WithoutCancel(ctx), se.p, id)
			if err != nil {
				return err
			}
			if st.State.Final() || st.State == transfer.Paused {
				ended(i, st)
			} else {
				pr.update(jobs[i].name, st)
			}
		}
		return nil
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	if err := poll(); err != nil {
		return out, err
	}
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			ids := a.pauseAll(se, pending, out)
			closeProgress()
			return out, &interruptedError{ids: ids}
		case ev, ok := <-events:
			if !ok {
				events = nil // ctx is done: the case above ends the loop
				continue
			}
			i, mine := pending[ev.Status.ID]
			switch {
			case !mine:
			case ev.Status.State.Final() || ev.Status.State == transfer.Paused:
				// Read the journal's status now rather than at the next
				// tick: a short transfer would otherwise wait up to 500 ms.
				if err := poll(); err != nil {
					return out, err
				}
			case ev.Type == transfer.EventProgress:
				pr.update(jobs[i].name, ev.Status)
			}
		case <-tick.C:
			if err := poll(); err != nil {
				return out, err
			}
		}
	}
	closeProgress()
	failures := startErrs
	for i, st := range out {
		if st.State != transfer.Completed {
			failures = append(failures, &transferError{name: jobs[i].name, st: st})
		}
	}
	return out, outcome(len(out)+len(startErrs)-len(failures), failures)
}

// outcome is the error of a command that did done things and failed
// len(errs): nil, the one failure when nothing was done, or a partialError.
func outcome(done int, errs []error) error {
	switch {
	case len(errs) == 0:
		return nil
	case done == 0:
		return errs[0]
	}
	return &partialError{done: done, failed: len(errs), first: errs[0]}
}

// pauseAll pauses the transfers still running when the user interrupts,
// waits a little for the journal to say so, and records their statuses in
// out.
func (a *app) pauseAll(se *session, pending map[string]int, out []transfer.Status) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var ids []string
	for id := range pending {
		ids = append(ids, id)
		_ = se.c.PauseTransfer(ctx, se.p, id) // one that just ended cannot pause
	}
	for _, id := range ids {
		for ctx.Err() == nil {
			st, err := se.c.TransferStatus(ctx, se.p, id)
			if err == nil {
				out[pending[id]] = st
			}
			if err != nil || st.State == transfer.Paused || st.State.Final() {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return ids
}
