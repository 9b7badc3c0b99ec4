package httpapi

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// ErrStagingDir is a staging folder the agent refuses: not a directory of
// its own (a symlink, another user's folder, a file) or open to others. A
// shared, predictable folder such as /tmp/amove would let another local
// user read staged uploads or plant files and links in the agent's way.
var ErrStagingDir = errors.New("httpapi: the staging folder is not private to this agent")

// defaultStagingDir is where form uploads are staged without Options.TempDir:
// a folder in the user's cache directory, stable across restarts (a
// transfer resumed after a restart still reads its staged file).
func defaultStagingDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "amove", "staging")
	}
	return filepath.Join(os.TempDir(), "amove-staging-"+strconv.Itoa(os.Getuid()))
}

// prepareStaging makes dir the agent's private staging folder: it creates
// it with mode 0700 when it does not exist, and otherwise accepts it only
// when it is a real directory (not a symlink) owned by this process's user
// with mode 0700. An existing folder is never chmodded: one the agent did
// not create is the operator's to fix.
func prepareStaging(dir string) error {
	if dir == "" {
		return fmt.Errorf("%w: no staging folder", ErrStagingDir)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("httpapi: creating the staging folder: %w", err)
	}
	// Mkdir, not MkdirAll: it fails on anything already there, a symlink
	// included, so only a folder this call made is chmodded.
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		// The umask may have taken bits away; none may be added, but be
		// exact all the same.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("httpapi: creating the staging folder: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("httpapi: creating the staging folder: %w", err)
	}
	return checkStaging(dir)
}

// checkStaging checks that dir is still the private folder prepareStaging
// accepted (a form upload checks it again before it stages anything).
func checkStaging(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStagingDir, dir, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symbolic link", ErrStagingDir, dir)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrStagingDir, dir)
	}
	return checkPrivate(dir, fi)
}
