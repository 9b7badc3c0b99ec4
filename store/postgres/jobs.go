package postgres

import "github.com/amove/amove-go/internal/jobs"

// The job queue of agents sharing this database runs on the store's pool.
// Registering here, rather than exporting a method that returns the
// backend, keeps internal types out of the package's API and pgx out of
// programs that do not import this package.
func init() {
	jobs.RegisterBackend(func(st any) (jobs.Backend, bool) {
		s, ok := st.(*Store)
		if !ok || s == nil {
			return nil, false
		}
		return s.jobs, true
	})
}
