package fastr

import "net/http"

// declaredTooLarge refuses a body whose Content-Length is over limit before
// a byte of it is read or a file is made for it. A body that does not say
// its length is still cut at limit as it is read.
func declaredTooLarge(r *http.Request, limit int64) error {
	if r.ContentLength > limit {
		return errf(http.StatusRequestEntityTooLarge, CodeEntityTooLarge, "a body of %d bytes is over the %d this request takes", r.ContentLength, limit)
	}
	return nil
}
