package httpapi

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

var errFilesystem = func(msg string) error {
	return &httpError{status: StatusValidation, code: "FILESYSTEM_ACCESS", msg: msg}
}

// localPath checks that p, an absolute local path from a request, lies in
// one of the configured roots once symlinks are resolved, and returns it
// resolved. The path need not exist yet (a download target): its deepest
// existing ancestor is resolved and the rest appended, so a symlink anywhere
// on the way cannot lead outside.
func (s *Server) localPath(p string) (string, error) {
	if p == "" {
		return "", invalid("a local path is required")
	}
	if strings.ContainsRune(p, 0) || !filepath.IsAbs(p) {
		return "", invalid("the local path must be absolute")
	}
	resolved, err := resolve(filepath.Clean(p))
	if err != nil {
		return "", errFilesystem("cannot resolve the local path")
	}
	for _, root := range s.roots {
		r, err := resolve(filepath.Clean(root))
		if err != nil {
			continue
		}
		if resolved == r || strings.HasPrefix(resolved, r+string(filepath.Separator)) {
			return resolved, nil
		}
	}
	return "", errFilesystem("the local path is outside the folders this agent may use")
}

// resolve evaluates symlinks in the existing part of p.
func resolve(p string) (string, error) {
	var rest []string
	cur := p
	for {
		r, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

// existingFile checks a path that must be a regular file or a directory.
func existing(p string) error {
	if _, err := os.Stat(p); err != nil {
		return invalid("the local path does not exist")
	}
	return nil
}
