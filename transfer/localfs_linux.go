//go:build linux

package transfer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// createAnon opens an unnamed file in lf's folder (O_TMPFILE): no partial
// name is made and removed again (three changes of the folder become
// one, which matters when sixteen workers write small files into one
// folder), and a crash leaves nothing behind. The folder is opened through
// the job's os.Root.
func (lf localFile) createAnon() (*os.File, error) {
	d, err := lf.root.Open(lf.dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fd, err := unix.Openat(int(d.Fd()), ".", unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(lf.dir, "(unnamed)")), nil
}

// linkAnon names the synced file f from createAnon lf.dst (through
// /proc/self/fd, which needs no privilege) and syncs the folder. A name
// that exists is never replaced without overwrite (a link fails on it,
// with no window between check and use); with overwrite the file is
// linked under the partial name and renamed over it. errNoAnonLink says
// the file cannot be named here (no /proc).
func (lf localFile) linkAnon(f *os.File, overwrite bool) error {
	d, err := lf.root.Open(lf.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	dirfd := int(d.Fd())
	err = unix.Linkat(unix.AT_FDCWD, src, dirfd, filepath.Base(lf.dst), unix.AT_SYMLINK_FOLLOW)
	switch {
	case errors.Is(err, unix.EEXIST) && overwrite:
		tmp := filepath.Base(lf.tmp)
		_ = unix.Unlinkat(dirfd, tmp, 0) // a stale partial of this job
		if err = unix.Linkat(unix.AT_FDCWD, src, dirfd, tmp, unix.AT_SYMLINK_FOLLOW); err == nil {
			err = unix.Renameat(dirfd, tmp, dirfd, filepath.Base(lf.dst))
		}
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %s", ErrExists, lf.dst)
	case errors.Is(err, unix.ENOENT):
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return errNoAnonLink
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: src, New: lf.dst, Err: err}
	}
	return d.Sync()
}

// startWriteback asks the kernel to start writing a range just written to
// the disk without waiting for it (sync_file_range SYNC_FILE_RANGE_WRITE),
// so the fsync of commit, which makes the file durable before it gets its
// name, finds most of a large download already on disk instead of writing
// all of it after the last byte arrived. Only a hint: an error changes
// nothing, the fsync still decides.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
