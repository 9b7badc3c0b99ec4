//go:build unix

package transfer

import "syscall"

// oNoFollow makes an open fail on a symlink in the last path element.
const oNoFollow = syscall.O_NOFOLLOW
