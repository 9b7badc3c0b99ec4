package provider

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ErrOutboundRefused is a request the OutboundPolicy did not let out:
// nothing was sent. errors.Is(err, ErrPermission) holds too.
var ErrOutboundRefused = fmt.Errorf("%w: outbound request refused by policy", ErrPermission)

// OutboundPolicy bounds where the HTTP client of NewHTTPClient (the one
// every driver shares) may send requests. Endpoints come from users
// (an S3-compatible endpoint, a Fastr service URL, a push target), so the
// agent must not become a way to reach what only it can reach, nor carry a
// credential to a host the account does not name.
//
// Whatever the fields say:
//   - a redirect is followed only to the same scheme-less host[:port] as the
//     request that got it, over http or https, and never from https to
//     http. Go's http.Client strips Authorization and cookies on a redirect
//     to another domain, but it forwards every other header (X-Amz-Date,
//     X-Amz-Security-Token, X-Amz-Content-Sha256, the X-Fastr-* headers of
//     a signed request) and re-sends a PUT's body; the SDKs of S3, Azure and
//     GCS do not need cross-host redirects, so they are refused before
//     anything is sent to the other host.
//   - the address a name resolves to is checked when the connection is
//     dialled, and the connection goes to that checked address, so a DNS
//     answer cannot swap in a refused one.
type OutboundPolicy struct {
	// AllowHosts, when not empty, are the only hosts requests may go to.
	// An entry is a host name ("s3.example.com"), a wildcard domain
	// ("*.amazonaws.com": any name below amazonaws.com), an IP address or
	// a CIDR prefix ("10.0.0.0/8"). A URL whose host is a name is allowed
	// when the name matches a name entry, or else when every address it
	// resolves to lies in an IP or CIDR entry; an IP literal must lie in
	// one. Ports are not restricted. Empty allows every host.
	AllowHosts []string
	// AllowLinkLocal lets requests reach link-local addresses
	// (169.254.0.0/16, fe80::/10), where cloud metadata services answer
	// with the machine's own credentials. Refused by default.
	AllowLinkLocal bool
}

// compiledPolicy is an OutboundPolicy with its entries parsed.
type compiledPolicy struct {
	names     []string // lowercased host names
	suffixes  []string // ".example.com" of "*.example.com"
	prefixes  []netip.Prefix
	linkLocal bool
	any       bool // no allow-list
}

func (p OutboundPolicy) compile() (*compiledPolicy, error) {
	c := &compiledPolicy{linkLocal: p.AllowLinkLocal, any: len(p.AllowHosts) == 0}
	for _, h := range p.AllowHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
			return nil, fmt.Errorf("%w: empty allowed host", ErrInvalid)
		case strings.HasPrefix(h, "*."):
			c.suffixes = append(c.suffixes, h[1:])
		case strings.Contains(h, "/"):
			pfx, err := netip.ParsePrefix(h)
			if err != nil {
				return nil, fmt.Errorf("%w: allowed host %q: %v", ErrInvalid, h, err)
			}
			c.prefixes = append(c.prefixes, pfx.Masked())
		default:
			if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
				c.prefixes = append(c.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(h, ":*") {
				return nil, fmt.Errorf("%w: allowed host %q: want a name, *.domain, an IP or a CIDR (no port)", ErrInvalid, h)
			}
			c.names = append(c.names, strings.TrimSuffix(h, "."))
		}
	}
	return c, nil
}

// checkIPs is a context key: the addresses the dialled name resolves to
// must lie in an IP or CIDR entry (the name matched no name entry).
type checkIPs struct{}

// checkURL vets the host of a request before it is sent. needIPs asks the
// dialer to check the addresses of a name no name entry matched.
func (c *compiledPolicy) checkURL(host string) (needIPs bool, err error) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		if err := c.checkIP(ip, !c.any); err != nil {
			return false, err
		}
		return false, nil
	}
	if c.any || c.nameAllowed(h) {
		return false, nil
	}
	if len(c.prefixes) > 0 {
		return true, nil
	}
	return false, fmt.Errorf("%w: %s is not an allowed host", ErrOutboundRefused, host)
}

func (c *compiledPolicy) nameAllowed(h string) bool {
	for _, n := range c.names {
		if h == n {
			return true
		}
	}
	for _, s := range c.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	return false
}

// checkIP refuses a link-local address unless allowed, and with inList an
// address outside the IP and CIDR entries.
func (c *compiledPolicy) checkIP(ip netip.Addr, inList bool) error {
	ip = ip.Unmap()
	if ip.IsLinkLocalUnicast() && !c.linkLocal {
		return fmt.Errorf("%w: %s is a link-local address (cloud metadata)", ErrOutboundRefused, ip)
	}
	if !inList {
		return nil
	}
	for _, p := range c.prefixes {
		if p.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is not an allowed address", ErrOutboundRefused, ip)
}

// policyTransport checks every request, redirects included, before it
// goes to the wrapped transport.
type policyTransport struct {
	p    *compiledPolicy
	next http.RoundTripper
}

func (t *policyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.check(req); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	needIPs, err := t.p.checkURL(req.URL.Hostname())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if needIPs {
		req = req.WithContext(context.WithValue(req.Context(), checkIPs{}, true))
	}
	return t.next.RoundTrip(req)
}

// check refuses other schemes, and a redirect (http.Client sets
// req.Response on the request it makes for one) to another host or from
// https to http.
func (t *policyTransport) check(req *http.Request) error {
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q", ErrOutboundRefused, u.Scheme)
	}
	if req.Response == nil || req.Response.Request == nil {
		return nil
	}
	from := req.Response.Request.URL
	if !strings.EqualFold(from.Host, u.Host) {
		return fmt.Errorf("%w: redirect from %s to another host, %s", ErrOutboundRefused, from.Host, u.Host)
	}
	if from.Scheme == "https" && u.Scheme != "https" {
		return fmt.Errorf("%w: redirect from https to %s", ErrOutboundRefused, u.Scheme)
	}
	return nil
}

// dialer resolves the address, checks every answer, and dials the checked
// addresses in turn.
func (c *compiledPolicy) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		inList, _ := ctx.Value(checkIPs{}).(bool)
		for _, ip := range ips {
			if err := c.checkIP(ip, inList); err != nil {
				return nil, fmt.Errorf("%s resolves to a refused address: %w", host, err)
			}
		}
		var last error
		for _, ip := range ips {
			conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			last = err
		}
		if last == nil {
			last = fmt.Errorf("%s has no address", host)
		}
		return nil, last
	}
}
