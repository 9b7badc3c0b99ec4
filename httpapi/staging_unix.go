//go:build unix

package httpapi

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate accepts a directory owned by this process's user that no
// one else may enter (mode 0700).
func checkPrivate(dir string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: %s: cannot read its owner", ErrStagingDir, dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to this agent's uid %d", ErrStagingDir, dir, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		return fmt.Errorf("%w: %s has mode %#o; it must be 0700 (chmod 700 it)", ErrStagingDir, dir, perm)
	}
	return nil
}
