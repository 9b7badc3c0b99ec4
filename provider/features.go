package provider

import "slices"

// Features is what a driver supports, stated as data beside the optional
// interfaces (like rclone's fs.Features). A caller plans with it (part
// sizes, which checksum to compute, whether a copy stays on the server)
// without probing interfaces, and a wrapper that forwards Features (or
// Unwrap) cannot hide a capability of the driver it wraps. The conformance
// suite (providertest) checks that a driver claims exactly the optional
// interfaces it implements and that each claimed capability works.
type Features struct {
	// Multipart: the driver is a MultipartUploader; PartLimits are its
	// limits.
	Multipart  bool
	PartLimits PartLimits
	// Append: the driver is an Appender (offset-committed sessions).
	Append bool
	// ServerSideCopy: the driver is a Copier.
	ServerSideCopy bool
	// Presign: the driver is a Presigner. A driver may still refuse a URL
	// for an account that cannot sign (ErrUnsupported, with the reason).
	Presign bool
	// BucketManagement: the driver is a BucketManager.
	BucketManagement bool
	// Regions: the driver is a Regioner.
	Regions bool
	// PartLayout: the driver is a PartLayouter.
	PartLayout bool
	// Push: the driver is a Pusher; GrantUpload: an UploadGranter.
	Push        bool
	GrantUpload bool
	// Checksums are the algorithms Stat fills for objects written in one
	// request (Hasher.Hashes); empty when the provider reports none.
	Checksums []Hash
}

// Featurer is implemented by drivers that declare their Features. Every
// driver in this module does; FeaturesOf falls back to type assertions for
// one that does not.
type Featurer interface {
	// Features states what the driver supports, as data a wrapper can
	// pass on.
	Features() Features
}

// Unwrapper is implemented by a Storage that wraps another one (logging,
// metrics, a bandwidth limit) and embeds only the required interface:
// FeaturesOf, Capability and Portable.As look through it, so the wrapped
// driver's capabilities stay reachable. A wrapper that implements an
// optional interface itself is found first and used instead.
type Unwrapper interface {
	// Unwrap returns the wrapped Storage.
	Unwrap() Storage
}

// FeaturesOf returns what st supports: the first Features declared along
// st's Unwrap chain, or, when nothing declares them, what the type
// assertions of the chain find.
func FeaturesOf(st Storage) Features {
	for s := st; s != nil; s = unwrap(s) {
		if f, ok := s.(Featurer); ok {
			return f.Features()
		}
	}
	var out Features
	for s := st; s != nil; s = unwrap(s) {
		out = merge(out, Detect(s))
	}
	return out
}

// Detect returns the Features st's own type assertions find, ignoring any
// declaration and any wrapped driver. The conformance suite compares it
// with what a driver declares.
func Detect(st Storage) Features {
	var f Features
	if mu, ok := st.(MultipartUploader); ok {
		f.Multipart, f.PartLimits = true, mu.PartLimits()
	}
	_, f.Append = st.(Appender)
	_, f.ServerSideCopy = st.(Copier)
	_, f.Presign = st.(Presigner)
	_, f.BucketManagement = st.(BucketManager)
	_, f.Regions = st.(Regioner)
	_, f.PartLayout = st.(PartLayouter)
	_, f.Push = st.(Pusher)
	_, f.GrantUpload = st.(UploadGranter)
	if h, ok := st.(Hasher); ok {
		f.Checksums = slices.Clone(h.Hashes())
	}
	return f
}

// merge adds to a what b has and a lacks: an outer wrapper's own
// capabilities win over the wrapped driver's.
func merge(a, b Features) Features {
	if !a.Multipart && b.Multipart {
		a.Multipart, a.PartLimits = true, b.PartLimits
	}
	a.Append = a.Append || b.Append
	a.ServerSideCopy = a.ServerSideCopy || b.ServerSideCopy
	a.Presign = a.Presign || b.Presign
	a.BucketManagement = a.BucketManagement || b.BucketManagement
	a.Regions = a.Regions || b.Regions
	a.PartLayout = a.PartLayout || b.PartLayout
	a.Push = a.Push || b.Push
	a.GrantUpload = a.GrantUpload || b.GrantUpload
	if len(a.Checksums) == 0 {
		a.Checksums = b.Checksums
	}
	return a
}

func unwrap(s Storage) Storage {
	if u, ok := s.(Unwrapper); ok {
		return u.Unwrap()
	}
	return nil
}

// Capability returns the first value along st's Unwrap chain that
// implements T (an optional interface such as Copier), so a wrapper that
// embeds only Storage does not hide the capability.
func Capability[T any](st Storage) (T, bool) {
	for s := st; s != nil; s = unwrap(s) {
		if v, ok := s.(T); ok {
			return v, true
		}
	}
	var zero T
	return zero, false
}
