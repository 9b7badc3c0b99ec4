package dropbox

import (
	"context"

	"github.com/amove/amove-go/provider"
)

// Options lets the tests tune what Open leaves at its defaults: smaller
// chunks and retry budgets make multi-chunk and retry paths cheap to drive.
type Options = options

// OpenWithOptions is Open with tuned options.
func OpenWithOptions(ctx context.Context, cfg provider.Config, opts Options) (*Storage, error) {
	return open(ctx, cfg, opts)
}
