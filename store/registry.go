package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Opener opens a Store from a DSN whose scheme it was registered for. It
// applies the store's pending migrations before it returns.
type Opener func(ctx context.Context, dsn string) (Store, error)

// registry is the one piece of global state of the package, as in
// database/sql: stores add themselves from init, so a program links only
// the stores it imports.
var registry struct {
	sync.RWMutex
	m map[string]Opener
}

// knownImports names the package that registers each scheme this module
// ships, for the error a program gets when it forgot the import.
var knownImports = map[string]string{
	"sqlite":     "github.com/amove/amove-go/store/sqlite",
	"postgres":   "github.com/amove/amove-go/store/postgres",
	"postgresql": "github.com/amove/amove-go/store/postgres",
}

// Register makes a store available to Open under a DSN scheme (the text
// before the first ':' of a DSN: "sqlite", "postgres"). It is meant to be
// called from an init function, like sql.Register, and panics when open is
// nil, the scheme is not a lower-case word, or the scheme is taken.
func Register(scheme string, open Opener) {
	if open == nil {
		panic("store: Register of a nil Opener for " + scheme)
	}
	if !validScheme(scheme) {
		panic(fmt.Sprintf("store: Register: bad scheme %q: want lower-case letters, digits, '+', '-' or '.', starting with a letter", scheme))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[scheme]; dup {
		panic("store: Register called twice for scheme " + scheme)
	}
	if registry.m == nil {
		registry.m = map[string]Opener{}
	}
	registry.m[scheme] = open
}

// Schemes returns the registered DSN schemes, sorted.
func Schemes() []string {
	registry.RLock()
	defer registry.RUnlock()
	s := make([]string, 0, len(registry.m))
	for k := range registry.m {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// Open opens the store a DSN names: "sqlite:<path>" once package
// store/sqlite is imported, "postgres://..." (or "postgresql://...") once
// store/postgres is. The error never quotes the DSN, which may hold a
// password.
func Open(ctx context.Context, dsn string) (Store, error) {
	scheme, _, ok := strings.Cut(dsn, ":")
	if dsn == "" {
		return nil, fmt.Errorf("store: empty DSN: want sqlite:<path> or postgres://<...>")
	}
	if !ok || !validScheme(scheme) {
		return nil, fmt.Errorf("store: DSN has no scheme: want sqlite:<path> or postgres://<...>")
	}
	registry.RLock()
	open := registry.m[scheme]
	registry.RUnlock()
	if open == nil {
		if pkg, known := knownImports[scheme]; known {
			return nil, fmt.Errorf("store: no store registered for %q: import _ %q", scheme, pkg)
		}
		return nil, fmt.Errorf("store: no store registered for %q (registered: %s)", scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, dsn)
}

func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
