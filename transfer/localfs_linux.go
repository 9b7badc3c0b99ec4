//go:build linux

package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// createAnon opens an unnamed file in lf's folder (O_TMPFILE): no partial
// name is made and removed again (three changes of the folder become
// one, which matters when sixteen workers write small files into one
// folder), and a crash leaves nothing behind. The folder is the run's
// descriptor (job.folder), opened through the job's os.Root.
func (lf localFile) createAnon() (*os.File, error) {
	d, release, err := lf.openDir()
	if err != nil {
		return nil, err
	}
	defer release()
	// Readable too, so linkAnon can compare it with a file under its name.
	fd, err := unix.Openat(int(d.Fd()), ".", unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), filepath.Join(lf.dir, "(unnamed)")), nil
}

// linkAnon names the durable file f from createAnon lf.dst in the folder
// d (through /proc/self/fd, which needs no privilege); commitAnon makes
// the name durable. A name that exists is never replaced without
// overwrite (a link fails on it, with no window between check and use);
// with overwrite the file is linked under the partial name and renamed
// over it. A regular file with the same bytes under the name is taken as
// this one: what a crash after the link and before the journal's record
// leaves, so the resume finishes the item instead of failing it.
// errNoAnonLink says the file cannot be named here (no /proc).
func (lf localFile) linkAnon(d, f *os.File, overwrite bool) error {
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	dirfd := int(d.Fd())
	err := unix.Linkat(unix.AT_FDCWD, src, dirfd, filepath.Base(lf.dst), unix.AT_SYMLINK_FOLLOW)
	switch {
	case errors.Is(err, unix.EEXIST) && overwrite:
		tmp := filepath.Base(lf.tmp)
		_ = unix.Unlinkat(dirfd, tmp, 0) // a stale partial of this job
		if err = unix.Linkat(unix.AT_FDCWD, src, dirfd, tmp, unix.AT_SYMLINK_FOLLOW); err == nil {
			err = unix.Renameat(dirfd, tmp, dirfd, filepath.Base(lf.dst))
		}
	case errors.Is(err, unix.EEXIST):
		if sameBytes(dirfd, filepath.Base(lf.dst), f) {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrExists, lf.dst)
	case errors.Is(err, unix.ENOENT):
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return errNoAnonLink
		}
	}
	if err != nil {
		return &os.LinkError{Op: "link", Old: src, New: lf.dst, Err: err}
	}
	return nil
}

// sameBytes reports whether name in the folder dirfd is a regular file
// (not followed if a link) with the bytes of f.
func sameBytes(dirfd int, name string, f *os.File) bool {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	g := os.NewFile(uintptr(fd), name)
	defer g.Close()
	a, aerr := f.Stat()
	b, berr := g.Stat()
	if aerr != nil || berr != nil || !b.Mode().IsRegular() || a.Size() != b.Size() {
		return false
	}
	ra, rb := io.NewSectionReader(f, 0, a.Size()), io.NewSectionReader(g, 0, b.Size())
	ba, bb := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(ra, ba)
		if _, err := io.ReadFull(rb, bb[:n]); err != nil || !bytes.Equal(ba[:n], bb[:n]) {
			return false
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// syncFS is syncfs(2) of the file system that holds the open folder fd.
func syncFS(fd int) error {
	return os.NewSyscallError("syncfs", unix.Syncfs(fd))
}

// fsID is the device of the file system that holds d, and whether a
// syncfs(2) of it makes a file's bytes and names durable as an fsync of
// the file and of its folder would: the local file systems whose syncfs
// writes every dirty inode and commits their journal (ext2/3/4, XFS,
// Btrfs, F2FS; tmpfs has nothing to lose). Network and FUSE file systems
// sync per file, so there the fsyncs stay.
func fsID(d *os.File) (dev uint64, ok bool) {
	var st unix.Stat_t
	var fs unix.Statfs_t
	if unix.Fstat(int(d.Fd()), &st) != nil || unix.Fstatfs(int(d.Fd()), &fs) != nil {
		return 0, false
	}
	switch uint32(fs.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC, unix.TMPFS_MAGIC:
		return st.Dev, true
	}
	return 0, false
}

// sharedSyncWorks reports whether this kernel's syncfs(2) returns the
// write-back errors of the file system (Linux 5.8 and later); before, it
// always succeeded, and a failed write would go unseen, so the fsyncs
// per file stay.
func sharedSyncWorks() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 8
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

// onlyName is the one name of the open file f (fi its Stat), when it has
// exactly one: one link, on a file system mounted once, named by the
// kernel (/proc/self/fd, one readlink). ok is false when the file may have
// more names, or its name cannot be read: then the caller checks the
// file's identity instead.
func (g *sourceGuard) onlyName(f *os.File, fi os.FileInfo) (name string, ok bool) {
	st, isStat := fi.Sys().(*syscall.Stat_t)
	if !isStat || st.Nlink != 1 || !g.mountedOnce[uint64(st.Dev)] {
		return "", false
	}
	name, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !filepath.IsAbs(name) {
		return "", false
	}
	return name, true
}

// maxMountinfo caps the read of /proc/self/mountinfo; past it (a machine
// of many thousands of mounts) every file gets the identity check.
const maxMountinfo = 4 << 20

// mountedOnce returns the devices that appear in exactly one line of
// /proc/self/mountinfo (its third field, major:minor), or nil when it
// cannot be read.
func mountedOnce() map[uint64]bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMountinfo+1))
	if err != nil || len(b) > maxMountinfo {
		return nil
	}
	count := map[uint64]int{}
	for line := range bytes.Lines(b) {
		fields := bytes.Fields(line)
		if len(fields) < 3 {
			return nil
		}
		var major, minor uint32
		if _, err := fmt.Sscanf(string(fields[2]), "%d:%d", &major, &minor); err != nil {
			return nil
		}
		count[unix.Mkdev(major, minor)]++
	}
	once := make(map[uint64]bool, len(count))
	for dev, n := range count {
		if n == 1 {
			once[dev] = true
		}
	}
	return once
}
