package httpapi

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/amove/amove-go/internal/localpath"
)

var errFilesystem = func(msg string) error {
	return &httpError{status: StatusValidation, code: "FILESYSTEM_ACCESS", msg: msg}
}

// localPath checks that p, an absolute local path from a request, lies in
// one of the configured roots once symlinks are resolved, and not in the
// form-upload staging folder (other users' uploads in flight), nor, for an
// upload, holds it; it returns p resolved. The path need not exist yet (a
// download target). The
// engine refuses the agent's own files (key, database, configuration)
// whatever the roots say; see transfer.ErrProtected.
func (s *Server) localPath(p string, upload bool) (string, error) {
	if p == "" {
		return "", invalid("a local path is required")
	}
	if strings.ContainsRune(p, 0) || !filepath.IsAbs(p) {
		return "", invalid("the local path must be absolute")
	}
	resolved, err := localpath.Resolve(filepath.Clean(p))
	if err != nil {
		return "", errFilesystem("cannot resolve the local path")
	}
	if staging, err := localpath.Resolve(s.tempDir); s.tempDir != "" && err == nil && (localpath.Within(resolved, staging) || upload && localpath.Within(staging, resolved)) {
		return "", errFilesystem("the local path is, or holds, the agent's staging folder")
	}
	for _, root := range s.roots {
		r, err := localpath.Resolve(filepath.Clean(root))
		if err != nil {
			continue
		}
		if localpath.Within(resolved, r) {
			return resolved, nil
		}
	}
	return "", errFilesystem("the local path is outside the folders this agent may use")
}

// existing checks a path that must be a regular file or a directory.
func existing(p string) error {
	if _, err := os.Stat(p); err != nil {
		return invalid("the local path does not exist")
	}
	return nil
}
