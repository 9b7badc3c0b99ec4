//go:build !unix

package transfer

// oNoFollow is not available here; the checks on the opened file remain.
const oNoFollow = 0
