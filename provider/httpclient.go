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
// but not bodies: an object read may legitimately take hours. It applies
// the default OutboundPolicy: no redirect to another host, no link-local
// (cloud metadata) address.
func NewHTTPClient() *http.Client {
	hc, _ := OutboundPolicy{}.NewHTTPClient() // an empty policy has nothing to parse
	return hc
}

// NewHTTPClient is provider.NewHTTPClient under policy p; an AllowHosts
// entry that does not parse is ErrInvalid.
func (p OutboundPolicy) NewHTTPClient() (*http.Client, error) {
	c, err := p.compile()
	if err != nil {
		return nil, err
	}
	dial := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &policyTransport{p: c, next: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           c.dialer(dial),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}}}, nil
}
