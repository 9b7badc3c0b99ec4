package httpapi

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Limits of upload_object_from_form. The spec's form has five fields
// (cloudAccountJson, storageName, uploadPath, file, id); a browser may add
// a few of its own, so sixteen parts leave room without letting a body
// of thousands of parts keep the handler busy.
const (
	maxFormParts = 16
	// maxFormField bounds each part that is not the file: the largest one
	// the spec has is cloudAccountJson, a CloudAccount of a few hundred
	// bytes.
	maxFormField = 64 << 10
)

// Deadlines of every request, set with http.ResponseController so they
// hold whatever the http.Server's own timeouts are (a server that sets
// none, as one embedding the handler may).
const (
	// defaultStallTimeout is how long a form upload's body may send
	// nothing before the agent gives up on it (Options.StallTimeout). Its total
	// time is not bounded: a large upload over a slow link is fine while
	// bytes arrive.
	defaultStallTimeout = time.Minute
	// jsonBodyTimeout bounds reading the other routes' bodies, at most
	// maxJSONBody bytes each.
	jsonBodyTimeout = 30 * time.Second
	// writeTimeout bounds writing an answer: a client that stops reading
	// cannot hold a handler for ever. Answers are JSON, small, and
	// computed before they are written; the form route sets it once the
	// body has arrived.
	writeTimeout = 5 * time.Minute
)

// setDeadlines gives a request its read and write deadlines. The form route
// gets a progress deadline instead of a total one (stallReader), and the
// /notification socket, which lives as long as its client, none.
//
// The read deadline covers the body only, and is cleared once the body has
// been read: net/http keeps reading the connection in the background after
// that (to notice a client that goes away), and a deadline firing there
// would cancel the request's context under a handler that is still busy.
// A request without a body gets none for the same reason.
func (s *Server) setDeadlines(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == formRoute || strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return // uploadFromForm sets its own
	}
	rc := http.NewResponseController(w)
	now := time.Now()
	// ErrNotSupported (a ResponseWriter that is not net/http's) leaves the
	// server's own timeouts in charge.
	_ = rc.SetWriteDeadline(now.Add(writeTimeout))
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		if rc.SetReadDeadline(now.Add(jsonBodyTimeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		}
	}
}

// deadlineBody clears the read deadline once the body has been read.
type deadlineBody struct {
	io.ReadCloser
	rc *http.ResponseController
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

const formRoute = "/cloud/upload_object_from_form"

// stallReader gives up on a body that sends nothing for d: before each
// read it moves the connection's read deadline d ahead.
type stallReader struct {
	r       io.Reader
	rc      *http.ResponseController
	d       time.Duration
	stalled bool
}

func newStallReader(w http.ResponseWriter, r io.Reader, d time.Duration) *stallReader {
	return &stallReader{r: r, rc: http.NewResponseController(w), d: d}
}

func (s *stallReader) Read(p []byte) (int, error) {
	_ = s.rc.SetReadDeadline(time.Now().Add(s.d))
	n, err := s.r.Read(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.stalled = true
	}
	return n, err
}

// done clears the read deadline and starts the answer's write deadline.
func (s *stallReader) done() {
	_ = s.rc.SetReadDeadline(time.Time{})
	_ = s.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
}
