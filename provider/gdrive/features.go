package gdrive

import "github.com/amove/amove-go/provider"

// Features declares what the driver supports (provider.Featurer), beside
// the optional interfaces it implements; the conformance suite checks that
// the two agree.
func (s *Storage) Features() provider.Features {
	return provider.Features{
		Multipart:  true,
		PartLimits: s.PartLimits(),
		Checksums:  s.Hashes(),
	}
}
