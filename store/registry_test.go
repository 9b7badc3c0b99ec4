package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/amove/amove-go/store"
)

// This test binary imports no store package, so nothing but what the test
// registers is there: the errors must say what to import.
func TestOpenUnregistered(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		dsn, want string
	}{
		{"", "empty DSN"},
		{"/var/lib/amove.db", "no scheme"},
		{"sqlite:/tmp/a.db", `import _ "github.com/amove/amove-go/store/sqlite"`},
		{"postgres://u:hunter2@db/amove", `import _ "github.com/amove/amove-go/store/postgres"`},
		{"postgresql://u:hunter2@db/amove", `import _ "github.com/amove/amove-go/store/postgres"`},
		{"mysql://u:hunter2@db/amove", `no store registered for "mysql"`},
	} {
		_, err := store.Open(ctx, tc.dsn)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error with %q", tc.dsn, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) error quotes the password: %v", tc.dsn, err)
		}
	}
}

// errOpened is what the test's store returns, to show Open reached it.
var errOpened = errors.New("opened")

func TestRegister(t *testing.T) {
	var got string
	store.Register("memtest", func(ctx context.Context, dsn string) (store.Store, error) {
		got = dsn
		return nil, errOpened
	})
	if _, err := store.Open(context.Background(), "memtest:x?y=1"); !errors.Is(err, errOpened) || got != "memtest:x?y=1" {
		t.Errorf("Open through the registered store = %v with DSN %q, want errOpened with the whole DSN", err, got)
	}
	if !slices.Contains(store.Schemes(), "memtest") {
		t.Errorf("Schemes() = %v, want memtest in it", store.Schemes())
	}
	for _, tc := range []struct {
		name   string
		scheme string
		open   store.Opener
	}{
		{"twice", "memtest", func(context.Context, string) (store.Store, error) { return nil, nil }},
		{"nil opener", "other", nil},
		{"upper case", "Mem", func(context.Context, string) (store.Store, error) { return nil, nil }},
		{"empty", "", func(context.Context, string) (store.Store, error) { return nil, nil }},
		{"colon", "a:b", func(context.Context, string) (store.Store, error) { return nil, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tc.scheme)
				}
			}()
			store.Register(tc.scheme, tc.open)
		})
	}
}
