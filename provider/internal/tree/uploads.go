package tree

import (
	"maps"
	"slices"
	"strings"

	"github.com/amove/amove-go/provider"
)

// KnownUploads lists, in key order, the uploads a Storage keeps in its own
// table under bucket and prefix. Drive, Graph and Box cannot list their
// upload sessions, so their drivers report those they created or resumed.
// where returns an upload's bucket and key.
func KnownUploads[U any](uploads map[string]U, bucket, prefix string, where func(U) (bucket, key string)) ([]provider.Upload, error) {
	var out []provider.Upload
	for id, up := range uploads {
		if b, k := where(up); b == bucket && strings.HasPrefix(k, prefix) {
			out = append(out, provider.Upload{Bucket: bucket, Key: k, ID: id})
		}
	}
	slices.SortFunc(out, func(a, b provider.Upload) int { return strings.Compare(a.Key+a.ID, b.Key+b.ID) })
	return out, nil
}

// HeldParts is ListParts of a sequential session: the parts in number
// order, less the sent ones (numbers below next) that reach past the
// committed bytes, which the provider lost and must be sent again.
func HeldParts(parts map[int]provider.Part, next int, committed int64) []provider.Part {
	var out []provider.Part
	var end int64
	for _, n := range slices.Sorted(maps.Keys(parts)) {
		p := parts[n]
		if n < next {
			end += p.Size
			if end > committed {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}
