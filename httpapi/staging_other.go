//go:build !unix

package httpapi

import "io/fs"

// checkPrivate has no owner or mode bits to check outside Unix: the folder
// is private through the user profile's ACLs, which default to the user.
func checkPrivate(string, fs.FileInfo) error { return nil }
