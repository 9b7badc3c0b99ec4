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

func (lf localFile) linkAnon(f *os.File, overwrite bool) error { return errNoAnonLink }

// startWriteback is a Linux hint (sync_file_range); here commit's fsync
// writes everything.
func startWriteback(*os.File, int64, int64) {}
