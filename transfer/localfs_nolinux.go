//go:build !linux

package transfer

import (
	"errors"
	"os"
)

// createAnon has no unnamed files here: whole downloads use the partial
// file.
func (lf localFile) createAnon() (*os.File, error) {
	return nil, errors.ErrUnsupported
}

func (lf localFile) linkAnon(d, f *os.File, overwrite bool) error { return errNoAnonLink }

// Shared syncs (durable.go) are a Linux feature here: small downloads
// fsync the file and its folder.
func syncFS(int) error                    { return errors.ErrUnsupported }
func fsID(*os.File) (dev uint64, ok bool) { return 0, false }
func sharedSyncWorks() bool               { return false }

// startWriteback is a Linux hint (sync_file_range); here commit's fsync
// writes everything.
func startWriteback(*os.File, int64, int64) {}

// onlyName needs /proc here: every file gets the identity check.
func (g *sourceGuard) onlyName(*os.File, os.FileInfo) (string, bool) { return "", false }

func mountedOnce() map[uint64]bool { return nil }
