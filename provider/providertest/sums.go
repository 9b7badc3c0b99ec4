package providertest

import (
	"github.com/amove/amove-go/provider"
)

// Sums computes every checksum provider.Checksums can hold, with the
// provider package's own implementations (provider.NewHash).
func Sums(b []byte) provider.Checksums {
	var c provider.Checksums
	for _, h := range provider.Preference {
		c.Set(provider.SumBytes(h, b))
	}
	return c
}
