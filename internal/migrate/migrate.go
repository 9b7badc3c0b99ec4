// Package migrate is the one schema migration runner of amove-go: both
// shipped stores (and any table owner that keeps its own migrations, such
// as the job queue's) read their numbered SQL files and apply them through
// Up, and only the few dialect statements differ (Target).
//
// A migration file is named NNNN_what.sql; its number is its version.
// Versions are applied in order, once each, inside the transaction the
// Target runs in, so a failed migration leaves the schema as it was. A
// database whose schema is newer than the files this binary knows is
// refused (ErrTooNew) rather than run against.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// ErrTooNew reports a database migrated by a newer release: running an
// older binary against it could misread or corrupt rows it does not know.
var ErrTooNew = errors.New("migrate: database schema is newer than this program")

// Step is one migration file.
type Step struct {
	Version int
	Name    string // file name, for errors
	SQL     string
}

// Target is a database, inside one transaction that also keeps concurrent
// migrators out (an exclusive lock), as the runner needs it.
type Target interface {
	// Current creates the version table when missing and returns the
	// highest applied version, 0 for none.
	Current(ctx context.Context) (int, error)
	// Apply runs the statements of s and records s.Version.
	Apply(ctx context.Context, s Step) error
}

// Steps reads the *.sql files of dir in fsys, ordered by version. A file
// name without a leading number, or two files with one version, is an
// error: each would make the applied schema depend on file order.
func Steps(fsys fs.FS, dir string) ([]Step, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	steps := make([]Step, 0, len(files))
	for _, f := range files {
		base := path.Base(f)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migrate: %s: name must start with a positive version number", base)
		}
		body, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		steps = append(steps, Step{Version: v, Name: base, SQL: string(body)})
	}
	slices.SortFunc(steps, func(a, b Step) int { return a.Version - b.Version })
	for i := 1; i < len(steps); i++ {
		if steps[i].Version == steps[i-1].Version {
			return nil, fmt.Errorf("migrate: %s and %s share version %d", steps[i-1].Name, steps[i].Name, steps[i].Version)
		}
	}
	return steps, nil
}

// Up applies the steps newer than t's current version, in order.
func Up(ctx context.Context, t Target, steps []Step) error {
	current, err := t.Current(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if n := len(steps); n > 0 && current > steps[n-1].Version {
		return fmt.Errorf("%w: it is at version %d, this program knows up to %d", ErrTooNew, current, steps[n-1].Version)
	}
	for _, s := range steps {
		if s.Version <= current {
			continue
		}
		if err := t.Apply(ctx, s); err != nil {
			return fmt.Errorf("migrate: %s: %w", s.Name, err)
		}
	}
	return nil
}
