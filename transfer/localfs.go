package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/amove/amove-go/internal/localpath"
	"github.com/amove/amove-go/provider"
)

// ErrProtected is the error of a local path that is, holds or lies inside
// one of Options.Protected (the agent's own key, database, configuration),
// whatever name or link reaches it.
var ErrProtected = errors.New("transfer: the local path is one of the agent's own files")

// ErrExists is the error of a download whose local file exists when the
// request did not ask to overwrite it (Request.Overwrite).
var ErrExists = errors.New("transfer: the local file exists and the request does not overwrite it")

// protectedPath reports ErrProtected when p, a resolved path
// (localpath.Resolve), is one of the protected paths or lies inside one;
// unless mayHold, also when p holds one (an upload of a folder that holds
// the agent's key). The protected paths are resolved at each call: some
// (a database's WAL) appear after the engine starts.
func (e *Engine) protectedPath(p string, mayHold bool) error {
	return protectedAt(p, e.resolvedProtected(), mayHold)
}

// resolvedProtected is Options.Protected resolved now (localpath.Resolve).
// A download resolves them once per run (job.localDir) rather than once
// per file: a path that appears later resolves to the same place, its
// folder having been resolved already.
func (e *Engine) resolvedProtected() []string {
	out := make([]string, 0, len(e.opts.Protected))
	for _, q := range e.opts.Protected {
		r, err := localpath.Resolve(q)
		if err != nil {
			r = filepath.Clean(q)
		}
		out = append(out, r)
	}
	return out
}

// protectedAt is protectedPath against protected paths already resolved.
func protectedAt(p string, protected []string, mayHold bool) error {
	for _, r := range protected {
		if localpath.Within(p, r) || !mayHold && localpath.Within(r, p) {
			return fmt.Errorf("%w: %s", ErrProtected, p)
		}
	}
	return nil
}

// protectedFiles are the protected files, and the files directly in the
// protected folders (where an agent keeps its key, database and password
// file), to tell a hard link to one of them by its identity rather than
// its name. Deeper files (a local storage's objects) are judged by path.
func (e *Engine) protectedFiles() []fs.FileInfo {
	var out []fs.FileInfo
	for _, q := range e.opts.Protected {
		fi, err := os.Stat(q)
		switch {
		case err != nil:
		case fi.Mode().IsRegular():
			out = append(out, fi)
		case fi.IsDir():
			entries, _ := os.ReadDir(q)
			for _, d := range entries {
				if !d.Type().IsRegular() {
					continue
				}
				if fi, err := d.Info(); err == nil {
					out = append(out, fi)
				}
			}
		}
	}
	return out
}

func aliasOf(fi fs.FileInfo, protected []fs.FileInfo, name string) error {
	for _, q := range protected {
		if os.SameFile(fi, q) {
			return fmt.Errorf("%w: %s", ErrProtected, name)
		}
	}
	return nil
}

// openSource opens an upload's local file: never through a symlink in its
// last element (the plan resolved the others), never anything but a regular
// file, and never one of the protected files, whatever name reaches it.
// Checking the open file, not the name, leaves no window between check and
// use.
//
// The identity check (protectedFiles) costs a stat of each protected path
// and a read of each protected folder, for every file. A file with one
// name, on a file system mounted once, skips it (sourceGuard.onlyName):
// its one name, which the kernel tells from the open file, is then the
// only way to it, and a check of that name against the protected paths
// resolved for the run proves it is none of them.
func (j *job) openSource(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%w: %s is not a regular file", provider.ErrInvalid, p)
	default:
		g := j.sourceGuard()
		if name, ok := g.onlyName(f, fi); ok {
			err = protectedAt(name, g.protected, false)
		} else {
			err = aliasOf(fi, j.e.protectedFiles(), p)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// sourceGuard is what an upload run's openSource needs once per run: the
// protected paths resolved (a path that appears later, such as a
// database's WAL, resolves to the same place, its folder having been
// resolved already) and the file systems mounted once.
type sourceGuard struct {
	protected []string
	// mountedOnce holds the devices that appear in exactly one mount
	// (Linux, /proc/self/mountinfo); nil elsewhere. A device mounted
	// twice (a bind mount) gives a file one name per mount.
	mountedOnce map[uint64]bool
}

// sourceGuard returns the run's sourceGuard, made on first use.
func (j *job) sourceGuard() *sourceGuard {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.guard == nil {
		j.guard = &sourceGuard{protected: j.e.resolvedProtected(), mountedOnce: mountedOnce()}
	}
	return j.guard
}

// downloadBase is the folder a download job writes in: its local path, or
// that path's folder when the job writes one file at that path.
func downloadBase(rec *JobRecord) string {
	if len(rec.Items) == 1 && rec.Items[0].Dst == rec.LocalPath {
		return filepath.Dir(rec.LocalPath)
	}
	return rec.LocalPath
}

// localDir gives a download job's writes their folder as an os.Root, so a
// key's name or a symlink planted in the folder cannot lead a write outside
// it. Opened on first use, with the protected paths resolved for the run;
// closed when the run ends.
func (j *job) localDir() (*os.Root, string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	base := downloadBase(j.rec)
	if j.root != nil {
		return j.root, base, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, "", err
	}
	r, err := os.OpenRoot(base)
	if err != nil {
		return nil, "", err
	}
	j.root = r
	j.protected = j.e.resolvedProtected()
	j.folders = map[string]*folder{}
	j.sharedSync = sharedSyncWorks()
	return r, base, nil
}

func (j *job) closeLocalDir() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, d := range j.folders {
		if d.f != nil {
			d.f.Close()
		}
	}
	j.folders = nil
	if j.root != nil {
		j.root.Close()
		j.root = nil
	}
}

// maxFolders bounds the folders a download run keeps open: past it (a
// bucket of many thousands of prefixes), a folder is opened for each use.
const maxFolders = 256

// folder is one folder of a download's files, prepared once per run: made,
// checked against the protected paths, and kept open, so the files
// written into it (createAnon, linkAnon) cost no lookup of its path.
type folder struct {
	f    *os.File // nil past maxFolders: opened through the root per use
	real string   // its resolved path (localpath.Resolve)
	// barrier, when set, makes small files in it durable with one shared
	// sync of its file system (durable.go) instead of fsyncs per file.
	barrier *groupCommit[int]
}

// folder returns the prepared folder dir (relative to root), making it on
// first use and refusing one that resolves into a protected path (a
// download into the home folder of a key such as ".config/amove").
func (j *job) folder(root *os.Root, base, dir string) (*folder, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if d, ok := j.folders[dir]; ok {
		return d, nil
	}
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	real, err := localpath.Resolve(filepath.Join(base, dir))
	if err != nil {
		return nil, err
	}
	d := &folder{real: real}
	if len(j.folders) < maxFolders {
		if d.f, err = root.Open(dir); err != nil {
			return nil, err
		}
		if j.sharedSync {
			d.barrier = j.e.barriers.of(d.f)
		}
		j.folders[dir] = d
	}
	return d, nil
}

// localFile is one download target inside the job's folder.
type localFile struct {
	root     *os.Root
	dst, tmp string // relative to root
	dir      string // the folder of dst, relative to root
	d        *folder
}

// target prepares the folder of item it's file and refuses a file that
// is, or lies in, a protected path.
func (j *job) target(it ItemRecord) (localFile, error) {
	root, base, err := j.localDir()
	if err != nil {
		return localFile{}, err
	}
	rel, err := filepath.Rel(base, it.Dst)
	if err != nil || !filepath.IsLocal(rel) {
		return localFile{}, fmt.Errorf("%w: %s is outside %s", provider.ErrInvalid, it.Dst, base)
	}
	lf := localFile{root: root, dst: rel, tmp: partialPath(rel, j.rec.ID), dir: filepath.Dir(rel)}
	if lf.d, err = j.folder(root, base, lf.dir); err != nil {
		return localFile{}, err
	}
	j.mu.Lock()
	protected := j.protected
	j.mu.Unlock()
	if err := protectedAt(filepath.Join(lf.d.real, filepath.Base(rel)), protected, false); err != nil {
		return localFile{}, err
	}
	return lf, nil
}

// openDir is lf's folder, open: the run's descriptor, or one opened for
// this use; release closes what openDir opened.
func (lf localFile) openDir() (d *os.File, release func(), err error) {
	if lf.d != nil && lf.d.f != nil {
		return lf.d.f, func() {}, nil
	}
	if d, err = lf.root.Open(lf.dir); err != nil {
		return nil, nil, err
	}
	return d, func() { d.Close() }, nil
}

// syncDir makes lf's folder's names durable.
func (lf localFile) syncDir() error {
	d, release, err := lf.openDir()
	if err != nil {
		return err
	}
	defer release()
	return d.Sync()
}

// create makes a new, empty partial file: O_EXCL and mode 0600, so it is
// never a file (or a link) someone put there. A stale partial of this job
// (an earlier try) is removed first.
func (lf localFile) create() (*os.File, error) {
	f, err := lf.root.OpenFile(lf.tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if err := lf.root.Remove(lf.tmp); err != nil {
			return nil, err
		}
		f, err = lf.root.OpenFile(lf.tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	}
	return f, err
}

// open opens the partial file for writing ranges; never through a link.
func (lf localFile) open() (*os.File, error) {
	return lf.root.OpenFile(lf.tmp, os.O_WRONLY|oNoFollow, 0)
}

// size is the partial file's size, or -1 when there is none.
func (lf localFile) size() int64 {
	fi, err := lf.root.Lstat(lf.tmp)
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	return fi.Size()
}

// commit makes the partial file durable and puts it in place: the file's
// bytes are synced before it gets its name, and the folder after, so a
// crash leaves either the old state or the whole new file. Without
// overwrite it never replaces an existing file (a hard link fails when the
// name exists, with no window between check and rename).
func (lf localFile) commit(overwrite bool) error {
	f, err := lf.root.OpenFile(lf.tmp, os.O_WRONLY|oNoFollow, 0)
	if err != nil {
		return err
	}
	return lf.commitFile(f, overwrite)
}

// commitFile is commit with the partial file still open from create (a
// whole-object download), which saves opening it again; it closes f.
func (lf localFile) commitFile(f *os.File, overwrite bool) error {
	err := f.Sync()
	if cerr := f.Chmod(0o644); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if overwrite {
		err = lf.root.Rename(lf.tmp, lf.dst)
	} else if err = lf.root.Link(lf.tmp, lf.dst); err == nil {
		err = lf.root.Remove(lf.tmp)
	} else if errors.Is(err, fs.ErrExist) {
		_ = lf.root.Remove(lf.tmp)
		return fmt.Errorf("%w: %s", ErrExists, lf.dst)
	} else if _, serr := lf.root.Lstat(lf.dst); serr == nil {
		return fmt.Errorf("%w: %s", ErrExists, lf.dst)
	} else {
		// A file system without hard links: the name was free a moment ago.
		err = lf.root.Rename(lf.tmp, lf.dst)
	}
	if err != nil {
		return err
	}
	return lf.syncDir()
}

// errNoAnonLink is linkAnon's answer where an unnamed file (createAnon)
// cannot be given a name: the download starts over with a partial file.
var errNoAnonLink = errors.New("transfer: an unnamed file cannot be linked here")

// commitAnon is commitFile for an unnamed file from createAnon: the mode
// is set as for a partial file (0644 whatever the umask), its bytes are
// made durable before it gets its name (linkAnon), the folder's names
// after; no partial name to remove. With shared, both steps wait for a
// sync of the file system shared with the other small files in flight
// (durable.go); without, the file and then the folder are fsynced. It
// closes f.
func (lf localFile) commitAnon(ctx context.Context, f *os.File, overwrite, shared bool) error {
	d, release, err := lf.openDir()
	if err != nil {
		f.Close()
		return err
	}
	defer release()
	durable := func(f *os.File) error {
		if shared {
			return lf.d.barrier.do(ctx, int(d.Fd()))
		}
		return f.Sync()
	}
	err = f.Chmod(0o644)
	if err == nil {
		err = durable(f)
	}
	if err == nil {
		err = lf.linkAnon(d, f, overwrite)
	}
	if err == nil {
		err = durable(d)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// sum is the h digest of n bytes of the partial file from off.
func (lf localFile) sum(h provider.Hash, off, n int64) (provider.Checksum, error) {
	hh, ok := provider.NewHash(h)
	if !ok {
		return provider.Checksum{}, fmt.Errorf("%w: checksum algorithm %q", provider.ErrUnsupported, h)
	}
	defer hh.Close()
	f, err := lf.root.OpenFile(lf.tmp, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return provider.Checksum{}, err
	}
	defer f.Close()
	if _, err := io.Copy(hh, io.NewSectionReader(f, off, n)); err != nil {
		return provider.Checksum{}, err
	}
	return provider.Checksum{Hash: h, Value: hex.EncodeToString(hh.Sum(nil))}, nil
}

// partsOnDisk re-reads, once, the ranges an earlier run journaled, so
// that what a crash left unwritten (bytes in a page cache that never
// reached the disk) is fetched again rather than trusted: a digest the
// final check relies on must be of the bytes on disk. Ranges without a
// digest of their own are left to the whole-file check.
func (j *job) partsOnDisk(lf localFile, it ItemRecord) bool {
	for _, p := range it.Parts {
		want := p.Sum
		if want.IsZero() {
			want = p.Checksum
		}
		if !provider.Hashable(want.Hash) {
			continue
		}
		got, err := lf.sum(want.Hash, int64(p.Number-1)*it.PartSize, p.Size)
		if err != nil || !got.Equal(want) {
			j.e.log.Warn("transfer: a range written before the restart is not on disk; the file starts over", "job", j.rec.ID, "part", p.Number)
			return false
		}
	}
	return true
}

// ErrSourceChanged is the error of an upload whose local file changed
// (size or modification time) since the transfer was planned: checked when
// an item starts, after a small file is read and before a multipart upload
// is completed, so no object mixes two versions of a file.
var ErrSourceChanged = errors.New("transfer: the local file changed during the transfer")

func unchanged(it ItemRecord) error {
	fi, err := os.Stat(it.Src)
	if err != nil {
		return err
	}
	return checkVersion(fi, it)
}

// sameVersion is unchanged for a file already open.
func sameVersion(f *os.File, it ItemRecord) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkVersion(fi, it)
}

func checkVersion(fi fs.FileInfo, it ItemRecord) error {
	if fileVersion(fi) != it.SrcETag {
		return fmt.Errorf("%w: %s", ErrSourceChanged, it.Src)
	}
	return nil
}
