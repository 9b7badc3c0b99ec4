package gcs

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"time"

	"cloud.google.com/go/storage"

	"github.com/amove/amove-go/provider"
)

// maxExpiry is the longest a V4 signed URL may live.
const maxExpiry = 7 * 24 * time.Hour

// PresignURL returns a V4 signed URL, signed with the service account's
// private key. Without a service-account key (an authorized_user JSON, or
// an emulator opened without credentials) it is ErrUnsupported, saying why.
func (s *Storage) PresignURL(ctx context.Context, bucket, key string, opts provider.PresignOptions) (string, error) {
	if opts.Method != http.MethodGet && opts.Method != http.MethodPut {
		return "", fmt.Errorf("%w: presign method %q", provider.ErrInvalid, opts.Method)
	}
	if opts.Expiry < 0 || opts.Expiry > maxExpiry {
		return "", fmt.Errorf("%w: presign expiry %s outside 0..%s", provider.ErrInvalid, opts.Expiry, maxExpiry)
	}
	if opts.Expiry == 0 {
		opts.Expiry = time.Hour
	}
	if s.account.ClientEmail == "" || s.account.PrivateKey == "" {
		return "", fmt.Errorf("%w: gcs: signing a URL needs a service-account key or HMAC credentials; this account has neither", provider.ErrUnsupported)
	}
	so := &storage.SignedURLOptions{
		GoogleAccessID: s.account.ClientEmail,
		PrivateKey:     []byte(s.account.PrivateKey),
		Method:         opts.Method,
		Expires:        time.Now().Add(opts.Expiry),
		Scheme:         storage.SigningSchemeV4,
		Style:          storage.PathStyle(),
		Hostname:       s.signHost,
		Insecure:       s.signInsecure,
	}
	q := url.Values{}
	switch opts.Method {
	case http.MethodPut:
		// Signed, so the uploader must send exactly this Content-Type.
		so.ContentType = opts.ContentType
	case http.MethodGet:
		if opts.ContentType != "" {
			q.Set("response-content-type", opts.ContentType)
		}
		if opts.ForceDownload {
			name := opts.FileName
			if name == "" {
				name = path.Base(key)
			}
			q.Set("response-content-disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		}
	}
	if len(q) > 0 {
		so.QueryParameters = q
	}
	u, err := storage.SignedURL(bucket, key, so)
	if err != nil {
		return "", fmt.Errorf("%w: gcs: sign URL: %v", provider.ErrInvalid, err)
	}
	return u, nil
}
