package migrate_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/amove/amove-go/internal/migrate"
)

// recorder is a Target that keeps the applied steps in memory: the runner,
// not a database, is under test here (the stores' suites run it on SQLite
// and PostgreSQL).
type recorder struct {
	current int
	applied []int
	failAt  int
}

func (r *recorder) Current(context.Context) (int, error) { return r.current, nil }

func (r *recorder) Apply(_ context.Context, s migrate.Step) error {
	if s.Version == r.failAt {
		return errors.New("syntax error")
	}
	r.applied = append(r.applied, s.Version)
	r.current = s.Version
	return nil
}

func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string
		want    []int
		wantErr string
	}{
		{"ordered by number, not text", []string{"m/0010_b.sql", "m/0002_a.sql", "m/0001_init.sql", "m/README"}, []int{1, 2, 10}, ""},
		{"no number", []string{"m/init.sql"}, nil, "init.sql: name must start"},
		{"zero", []string{"m/0000_x.sql"}, nil, "name must start"},
		{"shared version", []string{"m/0001_a.sql", "m/001_b.sql"}, nil, "share version 1"},
		{"none", nil, []int{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys[f] = &fstest.MapFile{Data: []byte("-- " + f)}
			}
			steps, err := migrate.Steps(fsys, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Steps = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []int{}
			for _, s := range steps {
				got = append(got, s.Version)
				if !strings.HasSuffix(s.SQL, s.Name) {
					t.Errorf("step %d has the SQL %q, want its own file's", s.Version, s.SQL)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("versions = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUp(t *testing.T) {
	steps := []migrate.Step{{Version: 1, Name: "0001_a.sql"}, {Version: 2, Name: "0002_b.sql"}, {Version: 5, Name: "0005_c.sql"}}
	for _, tc := range []struct {
		name        string
		current     int
		failAt      int
		wantApplied []int
		wantErr     error
		wantText    string
	}{
		{"fresh", 0, 0, []int{1, 2, 5}, nil, ""},
		{"partly applied", 2, 0, []int{5}, nil, ""},
		{"up to date", 5, 0, nil, nil, ""},
		{"newer database", 6, 0, nil, migrate.ErrTooNew, "version 6"},
		{"failing step stops the run", 0, 2, []int{1}, nil, "0002_b.sql: syntax error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{current: tc.current, failAt: tc.failAt}
			err := migrate.Up(context.Background(), r, steps)
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Up = %v, want %v", err, tc.wantErr)
			case tc.wantText != "" && (err == nil || !strings.Contains(err.Error(), tc.wantText)):
				t.Errorf("Up = %v, want an error with %q", err, tc.wantText)
			case tc.wantErr == nil && tc.wantText == "" && err != nil:
				t.Errorf("Up = %v", err)
			}
			if !slices.Equal(r.applied, tc.wantApplied) {
				t.Errorf("applied %v, want %v", r.applied, tc.wantApplied)
			}
		})
	}
}
