package transfer_test

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// s3Proxy is a loopback reverse proxy in front of MinIO. It logs every
// request so tests can assert on what reached the server (which parts were
// sent, when traffic stopped), and can inject faults: error answers,
// connection resets, delays and one flipped byte.
//
// SigV4 signs the Host header, so the proxy forwards the client's Host
// unchanged; MinIO then checks the signature against the proxy's address,
// which is what the client signed.
type s3Proxy struct {
	URL string

	srv *httptest.Server
	rp  *httputil.ReverseProxy

	// FaultRate is the share of requests (0..1) answered with a fault
	// instead of being forwarded: 500 InternalError, 503 SlowDown or a reset
	// connection, in equal shares. Stored as rate*1e6.
	faultRate atomic.Int64
	// delay holds each part upload (PUT with partNumber=) and each GET back
	// before forwarding it, to slow a transfer down enough to act on it.
	delay atomic.Int64
	// flipUpload, when set, corrupts one byte in the body of the next part
	// upload; flipDownload does the same to the next GET response body.
	flipUpload, flipDownload atomic.Bool
	flippedUp, flippedDown   atomic.Int64 // how many flips happened

	mu  sync.Mutex
	log []proxyEntry
	rnd *rand.Rand
}

// proxyEntry is one request as the proxy saw it.
type proxyEntry struct {
	Method  string
	Path    string
	Part    int // partNumber of a part upload, else 0
	Fault   string
	Status  int // 0 for a reset or an aborted request
	Start   time.Time
	End     time.Time
	Flipped bool
}

func newS3Proxy(t testing.TB, target string) *s3Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &s3Proxy{rnd: rand.New(rand.NewPCG(1, 2))}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host // keep the signed Host
		},
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
		},
		// Quiet: aborted requests (pause, cancel, kill) are expected.
		ErrorLog:     nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) },
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

func (p *s3Proxy) SetFaultRate(r float64)        { p.faultRate.Store(int64(r * 1e6)) }
func (p *s3Proxy) SetDelay(d time.Duration)      { p.delay.Store(int64(d)) }
func (p *s3Proxy) FlipNextPartUpload()           { p.flipUpload.Store(true) }
func (p *s3Proxy) FlipNextDownload()             { p.flipDownload.Store(true) }
func (p *s3Proxy) Flips() (up, down int64)       { return p.flippedUp.Load(), p.flippedDown.Load() }
func (p *s3Proxy) Len() int                      { p.mu.Lock(); defer p.mu.Unlock(); return len(p.log) }
func (p *s3Proxy) Entries(from int) []proxyEntry { return p.entries(from) }

func (p *s3Proxy) entries(from int) []proxyEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxyEntry(nil), p.log[from:]...)
}

// partPuts returns the part numbers of successful part uploads in the log
// from index from on.
func (p *s3Proxy) partPuts(from int) []int {
	var out []int
	for _, e := range p.entries(from) {
		if e.Method == http.MethodPut && e.Part > 0 && e.Status == http.StatusOK {
			out = append(out, e.Part)
		}
	}
	return out
}

// statusWriter remembers the status code of the answer.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (p *s3Proxy) serve(w http.ResponseWriter, r *http.Request) {
	part, _ := strconv.Atoi(r.URL.Query().Get("partNumber"))
	isPartPut := r.Method == http.MethodPut && part > 0 && r.Header.Get("X-Amz-Copy-Source") == ""
	e := proxyEntry{Method: r.Method, Path: r.URL.Path, Part: part, Start: time.Now()}
	p.mu.Lock()
	idx := len(p.log)
	p.log = append(p.log, e)
	fault := ""
	if rate := p.faultRate.Load(); rate > 0 && p.rnd.Int64N(1e6) < rate {
		fault = [...]string{"500", "503", "reset"}[p.rnd.IntN(3)]
	}
	p.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		p.mu.Lock()
		p.log[idx].Status, p.log[idx].End, p.log[idx].Fault = sw.status, time.Now(), fault
		p.mu.Unlock()
	}()

	if d := time.Duration(p.delay.Load()); d > 0 && (isPartPut || r.Method == http.MethodGet) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	switch fault {
	case "500":
		writeS3Error(sw, http.StatusInternalServerError, "InternalError", "injected fault")
		return
	case "503":
		writeS3Error(sw, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case "reset":
		// Close the client's connection with a RST, as a crashing load
		// balancer would, before any answer.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		conn.Close()
		return
	}
	if isPartPut && r.ContentLength > 1 && p.flipUpload.CompareAndSwap(true, false) {
		r.Body = &flipReader{r: r.Body, at: r.ContentLength / 2, done: &p.flippedUp}
		p.mu.Lock()
		p.log[idx].Flipped = true
		p.mu.Unlock()
	}
	var out http.ResponseWriter = sw
	if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && p.flipDownload.CompareAndSwap(true, false) {
		out = &flipWriter{statusWriter: sw, at: 100, done: &p.flippedDown}
		p.mu.Lock()
		p.log[idx].Flipped = true
		p.mu.Unlock()
	}
	p.rp.ServeHTTP(out, r)
}

func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<Error><Code>`+code+`</Code><Message>`+msg+`</Message><RequestId>fault</RequestId></Error>`)
}

// flipReader inverts the byte at offset at of a request body.
type flipReader struct {
	r    io.ReadCloser
	at   int64
	off  int64
	done *atomic.Int64
}

func (f *flipReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if f.at >= f.off && f.at < f.off+int64(n) {
		b[f.at-f.off] ^= 0xff
		f.done.Add(1)
	}
	f.off += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

// flipWriter inverts the byte at offset at of a response body.
type flipWriter struct {
	*statusWriter
	at, off int64
	done    *atomic.Int64
}

func (f *flipWriter) Write(b []byte) (int, error) {
	if f.at >= f.off && f.at < f.off+int64(len(b)) {
		c := append([]byte(nil), b...)
		c[f.at-f.off] ^= 0xff
		f.done.Add(1)
		b = c
	}
	f.off += int64(len(b))
	return f.statusWriter.Write(b)
}
