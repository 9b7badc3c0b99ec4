package memory

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/amove/amove-go/provider"
)

// PresignURL returns a URL on BaseURL signed with a per-Storage HMAC key.
// ServeHTTP checks the signature, the expiry and, for PUT, the content type.
func (s *Storage) PresignURL(ctx context.Context, bucketName, key string, opts provider.PresignOptions) (string, error) {
	if opts.Method != http.MethodGet && opts.Method != http.MethodPut {
		return "", fmt.Errorf("%w: presign method %q", provider.ErrInvalid, opts.Method)
	}
	if opts.Expiry < 0 {
		return "", fmt.Errorf("%w: negative expiry", provider.ErrInvalid)
	}
	if opts.Expiry == 0 {
		opts.Expiry = time.Hour
	}
	s.mu.RLock()
	base := s.opts.BaseURL
	s.mu.RUnlock()
	if base == "" {
		return "", fmt.Errorf("%w: memory storage has no BaseURL to presign against", provider.ErrUnsupported)
	}
	disposition := ""
	if opts.ForceDownload {
		name := opts.FileName
		if name == "" {
			name = path.Base(key)
		}
		disposition = mime.FormatMediaType("attachment", map[string]string{"filename": name})
	}
	q := url.Values{}
	q.Set("X-Expires", strconv.FormatInt(time.Now().Add(opts.Expiry).Unix(), 10))
	if opts.ContentType != "" {
		q.Set("X-Content-Type", opts.ContentType)
	}
	if disposition != "" {
		q.Set("X-Disposition", disposition)
	}
	q.Set("X-Signature", s.sign(opts.Method, bucketName, key, q))
	return base + "/" + url.PathEscape(bucketName) + "/" + escapeKey(key) + "?" + q.Encode(), nil
}

func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func (s *Storage) sign(method, bucketName, key string, q url.Values) string {
	m := hmac.New(sha256.New, s.secret)
	for _, v := range []string{method, bucketName, key, q.Get("X-Expires"), q.Get("X-Content-Type"), q.Get("X-Disposition")} {
		m.Write([]byte(v))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// ServeHTTP serves presigned GET and PUT requests at /{bucket}/{key}.
func (s *Storage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucketName, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || key == "" {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	want := s.sign(method, bucketName, key, q)
	if !hmac.Equal([]byte(want), []byte(q.Get("X-Signature"))) {
		http.Error(w, "signature does not match", http.StatusForbidden)
		return
	}
	exp, err := strconv.ParseInt(q.Get("X-Expires"), 10, 64)
	if err != nil || time.Now().Unix() > exp {
		http.Error(w, "request has expired", http.StatusForbidden)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		o, err := s.lookup(bucketName, key)
		if err != nil {
			http.Error(w, "no such key", http.StatusNotFound)
			return
		}
		ct := o.contentType
		if v := q.Get("X-Content-Type"); v != "" {
			ct = v
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("ETag", `"`+o.etag+`"`)
		if d := q.Get("X-Disposition"); d != "" {
			w.Header().Set("Content-Disposition", d)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(o.data)
		}
	case http.MethodPut:
		if ct := q.Get("X-Content-Type"); ct != "" && r.Header.Get("Content-Type") != ct {
			http.Error(w, "content type does not match the signed one", http.StatusForbidden)
			return
		}
		data, err := readAll(r.Context(), http.MaxBytesReader(w, r.Body, s.opts.Limits.MaxSinglePut), r.ContentLength)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o, err := s.put(bucketName, key, newObject(data, r.Header.Get("Content-Type")))
		if err != nil {
			http.Error(w, "no such bucket", http.StatusNotFound)
			return
		}
		w.Header().Set("ETag", o.ETag)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
