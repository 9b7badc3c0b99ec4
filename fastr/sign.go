package fastr

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Protocol constants. docs/fastr.md is the normative description; these
// names are what both the client and the server use, so they cannot drift.
const (
	// Algorithm names the signing scheme in the Authorization header.
	Algorithm = "FASTR-HMAC-SHA256"

	HeaderDate          = "X-Fastr-Date"
	HeaderNonce         = "X-Fastr-Nonce"
	HeaderContentSHA256 = "X-Fastr-Content-SHA256"
	HeaderChunkSHA256   = "X-Fastr-Chunk-SHA256"
	// HeaderChunkCRC32C is the hex CRC32C (Castagnoli, 8 digits) of an
	// offset-mode chunk (protocol v1.1): a check that costs next to nothing
	// for a chunk sent with UNSIGNED-PAYLOAD, the whole object still being
	// verified by the SHA-256 of complete. A v1.1 server echoes it in the
	// answer.
	HeaderChunkCRC32C = "X-Fastr-Chunk-CRC32C"
	HeaderOffset      = "X-Fastr-Offset"
	HeaderErrorCode   = "X-Fastr-Error-Code"
	HeaderSHA256      = "X-Fastr-SHA256"
	HeaderMD5         = "X-Fastr-MD5"
	HeaderModTime     = "X-Fastr-Mtime"
	HeaderFolder      = "X-Fastr-Folder"
	// HeaderMetadata carries an object's user metadata, URL-encoded as a
	// query string (k1=v1&k2=v2), so keys keep their case.
	HeaderMetadata = "X-Fastr-Metadata"

	// Query parameters of a presigned URL.
	QueryCredential  = "X-Fastr-Credential"
	QueryDate        = "X-Fastr-Date"
	QueryExpires     = "X-Fastr-Expires"
	QueryContentType = "X-Fastr-Content-Type"
	QueryDisposition = "X-Fastr-Disposition"
	QuerySignature   = "X-Fastr-Signature"

	// UnsignedPayload replaces the body hash when the body is streamed and
	// cannot be hashed up front (presigned PUTs, streaming writes).
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	// DateFormat is the format of X-Fastr-Date (UTC, second precision).
	DateFormat = "20060102T150405Z"

	// APIPrefix is where the protocol lives relative to the service URL.
	APIPrefix = "/v1"
)

// EmptySHA256 is the hex SHA-256 of no bytes, the payload hash of a request
// without a body.
const EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// CanonicalPath re-escapes a decoded URL path segment by segment. Client and
// server both sign this form of r.URL.Path, so the signature does not depend
// on which characters an HTTP stack chose to escape on the way.
func CanonicalPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// canonicalQuery sorts the query by key (url.Values.Encode does) and leaves
// the signature out, so presigned URLs sign their own parameters.
func canonicalQuery(q url.Values) string {
	if _, ok := q[QuerySignature]; ok {
		q = cloneValues(q)
		q.Del(QuerySignature)
	}
	return q.Encode()
}

func cloneValues(q url.Values) url.Values {
	c := make(url.Values, len(q))
	for k, v := range q {
		c[k] = slices.Clone(v)
	}
	return c
}

// signedHeader reports whether a header takes part in the signature: the
// content type (stored with the object), the range, and every X-Fastr header.
// Headers a proxy or transport may add (Accept-Encoding, User-Agent) are
// left out on purpose.
func signedHeader(name string) bool {
	n := strings.ToLower(name)
	return n == "content-type" || n == "range" || strings.HasPrefix(n, "x-fastr-")
}

func canonicalHeaders(h http.Header) string {
	var lines []string
	for name, vals := range h {
		if !signedHeader(name) {
			continue
		}
		trimmed := make([]string, len(vals))
		for i, v := range vals {
			trimmed[i] = strings.TrimSpace(v)
		}
		lines = append(lines, strings.ToLower(name)+":"+strings.Join(trimmed, ","))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// CanonicalHost is the host line of the string to sign: host[:port] as the
// client dialled it, lowercased, without a port that is the default of
// http or https (":80", ":443"), since clients differ in whether they send
// it in the Host header. Both sides sign it, so a request captured on its
// way to one server does not verify on another that shares the key pair.
func CanonicalHost(host string) string {
	h := strings.ToLower(host)
	if name, port, err := net.SplitHostPort(h); err == nil && (port == "80" || port == "443") {
		if strings.Contains(name, ":") {
			return "[" + name + "]"
		}
		return name
	}
	return h
}

// StringToSign builds the text the HMAC covers. host is the server's
// host[:port] (CanonicalHost is applied). Date, nonce and body hash are
// X-Fastr headers, so they are inside the header block; the payload hash is
// repeated last so a presigned URL (no headers) still binds it.
func StringToSign(method, host, path string, query url.Values, h http.Header, payloadHash string) string {
	return strings.Join([]string{
		Algorithm,
		method,
		CanonicalHost(host),
		CanonicalPath(path),
		canonicalQuery(query),
		canonicalHeaders(h),
		payloadHash,
	}, "\n")
}

// Signature is hex(HMAC-SHA256(secret, stringToSign)).
func Signature(secret, stringToSign string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// SignRequest signs req in place for accessKey/secret. The host signed is
// req.Host, or req.URL.Host when that is empty (what net/http sends as
// Host). payloadHash is the hex SHA-256 of the body or UnsignedPayload. apiPath is the path the server sees
// (starting with APIPrefix), which differs from req.URL.Path when the
// service URL has a path of its own. A fresh nonce makes every signed request
// single-use.
func SignRequest(req *http.Request, apiPath, accessKey, secret, payloadHash string, now time.Time) {
	req.Header.Set(HeaderDate, now.UTC().Format(DateFormat))
	req.Header.Set(HeaderNonce, newID())
	req.Header.Set(HeaderContentSHA256, payloadHash)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	sts := StringToSign(req.Method, host, apiPath, req.URL.Query(), req.Header, payloadHash)
	req.Header.Set("Authorization", Algorithm+" Credential="+accessKey+", Signature="+Signature(secret, sts))
}

// parseAuthorization splits "FASTR-HMAC-SHA256 Credential=ak, Signature=hex".
func parseAuthorization(v string) (accessKey, sig string, ok bool) {
	rest, found := strings.CutPrefix(v, Algorithm+" ")
	if !found {
		return "", "", false
	}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			accessKey = val
		case "Signature":
			sig = val
		}
	}
	return accessKey, sig, accessKey != "" && sig != ""
}

// PresignOptions tune a presigned URL.
type PresignOptions struct {
	Method      string // GET or PUT
	Expiry      time.Duration
	ContentType string // PUT must send it; GET answers with it
	// Disposition is sent back as Content-Disposition on GET.
	Disposition string
}

// MaxPresignExpiry bounds how long a presigned URL may live.
const MaxPresignExpiry = 7 * 24 * time.Hour

// PresignURL returns base+apiPath with the query-string signature, bound to
// base's host. Presigned URLs carry no nonce: they are meant to be reused
// until they expire.
func PresignURL(base *url.URL, apiPath, accessKey, secret string, opts PresignOptions, now time.Time) string {
	q := url.Values{}
	q.Set(QueryCredential, accessKey)
	q.Set(QueryDate, now.UTC().Format(DateFormat))
	q.Set(QueryExpires, itoa(int64(opts.Expiry/time.Second)))
	if opts.ContentType != "" {
		q.Set(QueryContentType, opts.ContentType)
	}
	if opts.Disposition != "" {
		q.Set(QueryDisposition, opts.Disposition)
	}
	sts := StringToSign(opts.Method, base.Host, apiPath, q, nil, UnsignedPayload)
	q.Set(QuerySignature, Signature(secret, sts))
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + apiPath
	u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + CanonicalPath(apiPath)
	u.RawQuery = q.Encode()
	return u.String()
}
