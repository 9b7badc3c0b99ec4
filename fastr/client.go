package fastr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go/provider"
)

// Client speaks the Fastr protocol to one server with one key pair. It is
// what the LocalHttp/FastrServer drivers, the push engine and the agent use.
// It is safe for concurrent use.
type Client struct {
	base      *url.URL
	accessKey string
	secret    string
	hc        *http.Client
	now       func() time.Time
}

// NewClient returns a client for the server at serviceURL (http or https, an
// optional path prefix where the server is mounted). hc nil means
// http.DefaultClient.
func NewClient(serviceURL, accessKey, secretKey string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return nil, fmt.Errorf("fastr: service URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fastr: service URL %q is not an http(s) URL", serviceURL)
	}
	if accessKey == "" || secretKey == "" {
		return nil, errors.New("fastr: access key and secret key are required")
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	u.RawQuery, u.Fragment = "", ""
	return &Client{base: u, accessKey: accessKey, secret: secretKey, hc: hc, now: time.Now}, nil
}

// URL is the service URL the client talks to.
func (c *Client) URL() string { return c.base.String() }

func objectPath(bucket, key string) string { return APIPrefix + "/o/" + bucket + "/" + key }

// request is one signed call.
type request struct {
	method  string
	path    string // API path, decoded
	query   url.Values
	body    io.Reader
	size    int64  // body length; -1 unknown
	payload string // hex SHA-256 of the body or UnsignedPayload
	header  http.Header
}

func (c *Client) do(ctx context.Context, rq request) (*http.Response, error) {
	u := *c.base
	u.Path = strings.TrimSuffix(c.base.Path, "/") + rq.path
	u.RawPath = CanonicalPath(u.Path)
	u.RawQuery = rq.query.Encode()
	body := rq.body
	if body == nil || rq.size == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if rq.size >= 0 {
		req.ContentLength = rq.size
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	payload := rq.payload
	if payload == "" {
		payload = EmptySHA256
		if body != http.NoBody {
			payload = UnsignedPayload
		}
	}
	SignRequest(req, rq.path, c.accessKey, c.secret, payload, c.now())
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

// readError turns a non-2xx answer into *Error. HEAD answers have no body,
// so the code also travels in X-Fastr-Error-Code.
func readError(resp *http.Response) *Error {
	e := &Error{}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(b, e)
	e.StatusCode = resp.StatusCode
	if e.Code == "" {
		e.Code = resp.Header.Get(HeaderErrorCode)
	}
	if e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(b))
	}
	if e.ExpectedOffset == nil {
		if v, err := strconv.ParseInt(resp.Header.Get(HeaderOffset), 10, 64); err == nil {
			e.ExpectedOffset = &v
		}
	}
	e.RetryAfter = provider.ParseRetryAfter(resp.Header)
	return e
}

// doJSON sends in (if any) as a signed JSON body and decodes the answer
// into out (if any).
func (c *Client) doJSON(ctx context.Context, method, path string, q url.Values, in, out any) error {
	rq := request{method: method, path: path, query: q, size: 0}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rq.body, rq.size, rq.payload = bytes.NewReader(b), int64(len(b)), hex.EncodeToString(sum[:])
		rq.header = http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := c.do(ctx, rq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("fastr: decoding %s %s answer: %w", method, path, err)
	}
	return nil
}

// ListBuckets lists every bucket.
func (c *Client) ListBuckets(ctx context.Context) ([]BucketInfo, error) {
	var out BucketList
	err := c.doJSON(ctx, http.MethodGet, APIPrefix+"/b", nil, nil, &out)
	return out.Buckets, err
}

// CreateBucket makes a bucket; an existing one is a 409 BucketAlreadyExists.
func (c *Client) CreateBucket(ctx context.Context, name string) error {
	return c.doJSON(ctx, http.MethodPut, APIPrefix+"/b/"+name, nil, nil, nil)
}

// DeleteBucket removes an empty bucket.
func (c *Client) DeleteBucket(ctx context.Context, name string) error {
	return c.doJSON(ctx, http.MethodDelete, APIPrefix+"/b/"+name, nil, nil, nil)
}

// List returns one page of a bucket listing.
func (c *Client) List(ctx context.Context, bucket, prefix, delimiter, token string, maxKeys int) (ObjectList, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if delimiter != "" {
		q.Set("delimiter", delimiter)
	}
	if token != "" {
		q.Set("token", token)
	}
	if maxKeys > 0 {
		q.Set("max", strconv.Itoa(maxKeys))
	}
	var out ObjectList
	err := c.doJSON(ctx, http.MethodGet, APIPrefix+"/b/"+bucket, q, nil, &out)
	return out, err
}

// Stat HEADs an object or folder marker.
func (c *Client) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	resp, err := c.do(ctx, request{method: http.MethodHead, path: objectPath(bucket, key)})
	if err != nil {
		return ObjectInfo{}, err
	}
	resp.Body.Close()
	return objectFromHeader(key, resp.Header, resp.ContentLength), nil
}

func objectFromHeader(key string, h http.Header, size int64) ObjectInfo {
	o := ObjectInfo{
		Key:         key,
		Size:        max(size, 0),
		ETag:        strings.Trim(h.Get("ETag"), `"`),
		ContentType: h.Get("Content-Type"),
		SHA256:      h.Get(HeaderSHA256),
		MD5:         h.Get(HeaderMD5),
		IsFolder:    h.Get(HeaderFolder) == "true",
	}
	if v, err := url.ParseQuery(h.Get(HeaderMetadata)); err == nil && len(v) > 0 {
		o.Metadata = make(map[string]string, len(v))
		for k := range v {
			o.Metadata[k] = v.Get(k)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderModTime)); err == nil {
		o.ModTime = t
	} else if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		o.ModTime = t
	}
	return o
}

// Get reads length bytes from offset (length < 0: to the end). Reading at
// or past the end yields no bytes.
func (c *Client) Get(ctx context.Context, bucket, key string, offset, length int64) (io.ReadCloser, error) {
	h := http.Header{}
	switch {
	case offset == 0 && length < 0:
	case length < 0:
		h.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	default:
		h.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	}
	resp, err := c.do(ctx, request{method: http.MethodGet, path: objectPath(bucket, key), header: h})
	var e *Error
	if errors.As(err, &e) && e.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Put writes an object in one request. sha256hex is the body's hex SHA-256,
// or "" to stream it unsigned (the server still computes and stores it).
func (c *Client) Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType, sha256hex string) (ObjectInfo, error) {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if sha256hex == "" {
		sha256hex = UnsignedPayload
	}
	resp, err := c.do(ctx, request{method: http.MethodPut, path: objectPath(bucket, key), body: r, size: size, payload: sha256hex, header: h})
	if err != nil {
		return ObjectInfo{}, err
	}
	defer resp.Body.Close()
	var o ObjectInfo
	return o, json.NewDecoder(resp.Body).Decode(&o)
}

// Delete removes an object or folder marker (key ending in "/").
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	return c.doJSON(ctx, http.MethodDelete, objectPath(bucket, key), nil, nil, nil)
}

// CreateFolder writes the folder marker key (ending in "/").
func (c *Client) CreateFolder(ctx context.Context, bucket, key string) error {
	_, err := c.Put(ctx, bucket, key, nil, 0, "", EmptySHA256)
	return err
}

// Copy copies an object inside the server.
func (c *Client) Copy(ctx context.Context, req CopyRequest) (ObjectInfo, error) {
	var o ObjectInfo
	err := c.doJSON(ctx, http.MethodPost, APIPrefix+"/copy", nil, req, &o)
	return o, err
}

// CreateUpload opens an upload session.
func (c *Client) CreateUpload(ctx context.Context, bucket, key, contentType string) (UploadInfo, error) {
	return c.StartUpload(ctx, CreateUploadRequest{Bucket: bucket, Key: key, ContentType: contentType})
}

// StartUpload opens an upload session as req describes it, user metadata
// included.
func (c *Client) StartUpload(ctx context.Context, req CreateUploadRequest) (UploadInfo, error) {
	var u UploadInfo
	err := c.doJSON(ctx, http.MethodPost, APIPrefix+"/uploads", nil, req, &u)
	return u, err
}

// GetUpload reports a session with its parts and committed offset.
func (c *Client) GetUpload(ctx context.Context, id string) (UploadInfo, error) {
	var u UploadInfo
	err := c.doJSON(ctx, http.MethodGet, APIPrefix+"/uploads/"+id, nil, nil, &u)
	return u, err
}

// ListUploads lists open sessions in bucket whose key starts with prefix.
func (c *Client) ListUploads(ctx context.Context, bucket, prefix string) ([]UploadInfo, error) {
	var out UploadList
	err := c.doJSON(ctx, http.MethodGet, APIPrefix+"/uploads", url.Values{"bucket": {bucket}, "prefix": {prefix}}, nil, &out)
	return out.Uploads, err
}

// UploadPart stores part n (1-based) of size bytes whose hex SHA-256 is
// sha256hex; the server refuses the part when the bytes differ.
func (c *Client) UploadPart(ctx context.Context, id string, n int, r io.Reader, size int64, sha256hex string) (PartInfo, error) {
	h := http.Header{HeaderChunkSHA256: {sha256hex}}
	resp, err := c.do(ctx, request{method: http.MethodPut, path: fmt.Sprintf("%s/uploads/%s/parts/%d", APIPrefix, id, n),
		body: r, size: size, payload: sha256hex, header: h})
	if err != nil {
		return PartInfo{}, err
	}
	defer resp.Body.Close()
	var p PartInfo
	return p, json.NewDecoder(resp.Body).Decode(&p)
}

// AppendChunk writes chunk at offset in offset mode and returns the new
// committed offset. When offset is not the committed offset the error is an
// *Error with Code OffsetMismatch and ExpectedOffset set.
//
// The chunk carries its CRC32C (X-Fastr-Chunk-CRC32C, protocol v1.1) and
// an unsigned payload: the server checks every byte at memory speed instead
// of a second SHA-256 pass on both ends. Complete the session with the
// object's SHA-256 (CompleteRequest.SHA256), which is what proves the whole
// object arrived as sent.
func (c *Client) AppendChunk(ctx context.Context, id string, offset int64, chunk []byte) (int64, error) {
	return c.appendChunkFrom(ctx, id, offset, bytes.NewReader(chunk), int64(len(chunk)), crc32.Checksum(chunk, provider.CRC32C))
}

// appendChunkFrom is AppendChunk of size bytes read from body, whose
// CRC32C is sum, so a caller need not hold the chunk in memory.
func (c *Client) appendChunkFrom(ctx context.Context, id string, offset int64, body io.Reader, size int64, sum uint32) (int64, error) {
	h := http.Header{HeaderChunkCRC32C: {fmt.Sprintf("%08x", sum)}, HeaderOffset: {itoa(offset)}}
	resp, err := c.do(ctx, request{method: http.MethodPatch, path: APIPrefix + "/uploads/" + id,
		body: body, size: size, payload: UnsignedPayload, header: h})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return strconv.ParseInt(resp.Header.Get(HeaderOffset), 10, 64)
}

// CompleteUpload assembles the session into its object.
func (c *Client) CompleteUpload(ctx context.Context, id string, req CompleteRequest) (ObjectInfo, error) {
	var o ObjectInfo
	err := c.doJSON(ctx, http.MethodPost, APIPrefix+"/uploads/"+id+"/complete", nil, req, &o)
	return o, err
}

// AbortUpload discards a session and its parts.
func (c *Client) AbortUpload(ctx context.Context, id string) error {
	return c.doJSON(ctx, http.MethodDelete, APIPrefix+"/uploads/"+id, nil, nil, nil)
}

// PresignURL returns a URL a plain HTTP client can GET or PUT until it
// expires (zero expiry: one hour).
func (c *Client) PresignURL(bucket, key string, opts PresignOptions) string {
	if opts.Expiry <= 0 {
		opts.Expiry = time.Hour
	}
	return PresignURL(c.base, objectPath(bucket, key), c.accessKey, c.secret, opts, c.now())
}

// StartPush asks this (source) server to push an object to another server.
func (c *Client) StartPush(ctx context.Context, req PushRequest) (PushStatus, error) {
	var st PushStatus
	err := c.doJSON(ctx, http.MethodPost, APIPrefix+"/push", nil, req, &st)
	return st, err
}

// PushStatus reports a push.
func (c *Client) PushStatus(ctx context.Context, id string) (PushStatus, error) {
	var st PushStatus
	err := c.doJSON(ctx, http.MethodGet, APIPrefix+"/push/"+id, nil, nil, &st)
	return st, err
}

// ListPushes reports every push the server remembers.
func (c *Client) ListPushes(ctx context.Context) ([]PushStatus, error) {
	var out PushList
	err := c.doJSON(ctx, http.MethodGet, APIPrefix+"/push", nil, nil, &out)
	return out.Pushes, err
}

// PausePush returns once the source has stopped sending: the status it
// answers with is "paused" (or the terminal state the push reached first).
func (c *Client) PausePush(ctx context.Context, id string) (PushStatus, error) {
	return c.pushAction(ctx, id, "pause")
}

// ResumePush continues a paused push from the target's committed offset.
func (c *Client) ResumePush(ctx context.Context, id string) (PushStatus, error) {
	return c.pushAction(ctx, id, "resume")
}

// CancelPush stops a push and aborts the target's upload session.
func (c *Client) CancelPush(ctx context.Context, id string) (PushStatus, error) {
	return c.pushAction(ctx, id, "cancel")
}

func (c *Client) pushAction(ctx context.Context, id, action string) (PushStatus, error) {
	var st PushStatus
	err := c.doJSON(ctx, http.MethodPost, APIPrefix+"/push/"+id+"/"+action, nil, nil, &st)
	return st, err
}
