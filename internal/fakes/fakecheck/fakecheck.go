// Package fakecheck records the traffic a driver exchanges with a SaaS fake,
// so a test can check every route the fake served, and every JSON field
// it read or wrote, against the provider's official API description (the
// Box OpenAPI document, Dropbox's Stone files, the Drive discovery
// document). The fakes were written from the same reading of the docs as
// their drivers; recording what actually crosses the wire, rather than a
// list kept by hand, is what lets the check catch the two agreeing on a
// wrong name.
package fakecheck

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
)

// Exchange is one request the fake answered.
type Exchange struct {
	Method string
	Path   string
	// Query holds the names of the query parameters sent.
	Query []string
	// Arg is the JSON argument: the request body, or for Dropbox content
	// routes the Dropbox-API-Arg header; nil when there is none or it is
	// not JSON.
	Arg any
	// Status is the answer's HTTP status.
	Status int
	// Result is the JSON answer: the response body, or for Dropbox
	// downloads the Dropbox-API-Result header; nil when it is not JSON.
	Result any
}

// Recorder is an http.Handler that records each exchange with the handler
// it wraps.
type Recorder struct {
	next http.Handler
	mu   sync.Mutex
	log  []Exchange
}

// Wrap installs a Recorder in front of the fake's handler. Call it before
// the first request.
func Wrap(srv *httptest.Server) *Recorder {
	r := &Recorder{next: srv.Config.Handler}
	srv.Config.Handler = r
	return r
}

// ServeHTTP serves req through the fake and records the exchange.
func (rec *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	x := Exchange{Method: req.Method, Path: req.URL.Path}
	for k := range req.URL.Query() {
		x.Query = append(x.Query, k)
	}
	sort.Strings(x.Query)
	if req.Body != nil && isJSON(req.Header.Get("Content-Type")) {
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		x.Arg = decode(b)
	}
	if a := req.Header.Get("Dropbox-API-Arg"); a != "" {
		x.Arg = decode([]byte(a))
	}
	cw := &capture{ResponseWriter: w, status: http.StatusOK}
	rec.next.ServeHTTP(cw, req)
	x.Status = cw.status
	if isJSON(cw.Header().Get("Content-Type")) {
		x.Result = decode(cw.body.Bytes())
	}
	if r := cw.Header().Get("Dropbox-API-Result"); r != "" {
		x.Result = decode([]byte(r))
	}
	rec.mu.Lock()
	rec.log = append(rec.log, x)
	rec.mu.Unlock()
}

// Exchanges returns what was recorded so far.
func (rec *Recorder) Exchanges() []Exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Exchange(nil), rec.log...)
}

func isJSON(ct string) bool {
	return len(ct) >= 16 && ct[:16] == "application/json"
}

func decode(b []byte) any {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v
}

// capture keeps the status and up to 1 MiB of a JSON body.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(code int) {
	c.status = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(p []byte) (int, error) {
	if isJSON(c.Header().Get("Content-Type")) && c.body.Len() < 1<<20 {
		c.body.Write(p)
	}
	return c.ResponseWriter.Write(p)
}

// Flush lets streaming handlers flush through the recorder.
func (c *capture) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
