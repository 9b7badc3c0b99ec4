package azure

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/amove/amove-go/provider"
)

// clockSkew backdates a SAS start time so a client whose clock runs behind
// the service's can use the URL at once.
const clockSkew = 5 * time.Minute

// PresignURL returns the blob URL with a service SAS signed by the account
// key. GET grants read and can override the response's Content-Type and
// Content-Disposition (ForceDownload). PUT grants create and write; note
// that Azure's Put Blob requires the header "x-ms-blob-type: BlockBlob", so
// a client of a presigned PUT URL must send it. The SAS cannot pin the
// Content-Type a PUT sends.
func (s *Storage) PresignURL(ctx context.Context, bucket, key string, opts provider.PresignOptions) (string, error) {
	if opts.Expiry < 0 {
		return "", fmt.Errorf("%w: negative expiry", provider.ErrInvalid)
	}
	if opts.Expiry == 0 {
		opts.Expiry = time.Hour
	}
	now := time.Now().UTC()
	v := sas.BlobSignatureValues{
		StartTime:     now.Add(-clockSkew),
		ExpiryTime:    now.Add(opts.Expiry),
		ContainerName: bucket,
		BlobName:      key,
	}
	switch opts.Method {
	case http.MethodGet:
		v.Permissions = (&sas.BlobPermissions{Read: true}).String()
		v.ContentType = opts.ContentType
		if opts.ForceDownload {
			name := opts.FileName
			if name == "" {
				name = path.Base(strings.TrimSuffix(key, "/"))
			}
			v.ContentDisposition = mime.FormatMediaType("attachment", map[string]string{"filename": name})
		}
	case http.MethodPut:
		v.Permissions = (&sas.BlobPermissions{Create: true, Write: true}).String()
	default:
		return "", fmt.Errorf("%w: presign method %q", provider.ErrInvalid, opts.Method)
	}
	return s.signedURL(s.blockBlob(bucket, key).BlobClient(), v)
}

func (s *Storage) signedURL(b *blob.Client, v sas.BlobSignatureValues) (string, error) {
	if strings.HasPrefix(b.URL(), "http://") {
		v.Protocol = sas.ProtocolHTTPSandHTTP
	} else {
		v.Protocol = sas.ProtocolHTTPS
	}
	q, err := v.SignWithSharedKey(s.cred)
	if err != nil {
		return "", fmt.Errorf("%w: azure SAS: %v", provider.ErrInvalid, err)
	}
	return b.URL() + "?" + q.Encode(), nil
}
