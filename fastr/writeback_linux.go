package fastr

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a range of an offset-mode
// session's data file to the disk without waiting (sync_file_range
// SYNC_FILE_RANGE_WRITE), so the fsync that ends each chunk finds most of
// it on disk already instead of writing all of it after the last byte. Only
// a hint: an error changes nothing, the fsync still decides.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
