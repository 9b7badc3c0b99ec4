// Package localpath resolves local paths the way the agent's checks need:
// symlinks evaluated in the part that exists, so a path that does not exist
// yet (a download target) is judged by where it would really be written.
package localpath

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
)

// Resolve returns the absolute, cleaned form of p with every symlink in its
// existing part evaluated; the part that does not exist yet is appended as
// is. A symlink anywhere on the way therefore cannot hide where p leads.
func Resolve(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
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

// Within reports whether p is dir or lies inside it. Both must be
// resolved (Resolve) so that the comparison is of real locations.
func Within(p, dir string) bool {
	if p == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(p, dir)
}

// ResolveParent is Resolve for a path whose last element is to be
// replaced, not followed: a download target that is a symlink names the
// link, so a download can never write through it.
func ResolveParent(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	dir, err := Resolve(filepath.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(p)), nil
}
