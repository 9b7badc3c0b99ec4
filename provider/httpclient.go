package provider

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns the HTTP client drivers use when Config.HTTPClient is
// nil, and that the amove client shares between all the drivers it opens.
// It keeps many idle connections per host, since the transfer engine sends
// dozens of requests to one endpoint at once and redialing (and TLS) would
// dominate small transfers, and it times out connects and stalled answers
// but not bodies: an object read may legitimately take hours.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}}
}
