package s3

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/amove/amove-go/provider"
)

// maxPresignExpiry is SigV4's limit for query-signed URLs.
const maxPresignExpiry = 7 * 24 * time.Hour

// PresignURL implements provider.Presigner with a SigV4 query-signed GET or
// PUT URL, valid for at most 7 days (SigV4's limit). A GET may set the
// response's content type and, with ForceDownload, an attachment
// Content-Disposition.
func (s *Storage) PresignURL(ctx context.Context, bucket, key string, opts provider.PresignOptions) (string, error) {
	if opts.Expiry < 0 || opts.Expiry > maxPresignExpiry {
		return "", fmt.Errorf("%w: expiry %s outside 0..7 days", provider.ErrInvalid, opts.Expiry)
	}
	if opts.Expiry == 0 {
		opts.Expiry = time.Hour
	}
	expires := s3.WithPresignExpires(opts.Expiry)
	var req *v4.PresignedHTTPRequest
	var err error
	switch opts.Method {
	case http.MethodGet:
		in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if opts.ContentType != "" {
			in.ResponseContentType = aws.String(opts.ContentType)
		}
		if opts.ForceDownload {
			name := opts.FileName
			if name == "" {
				name = path.Base(key)
			}
			in.ResponseContentDisposition = aws.String(mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		}
		req, err = s.presign.PresignGetObject(ctx, in, expires)
	case http.MethodPut:
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
		if opts.ContentType != "" {
			in.ContentType = aws.String(opts.ContentType)
		}
		req, err = s.presign.PresignPutObject(ctx, in, expires)
	default:
		return "", fmt.Errorf("%w: presign method %q (want GET or PUT)", provider.ErrInvalid, opts.Method)
	}
	if err != nil {
		return "", mapError(err, bucket+"/"+key)
	}
	return req.URL, nil
}
