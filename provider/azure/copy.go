package azure

import (
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/amove/amove-go/provider"
)

// Copy copies a blob inside the account with Copy Blob, authorising the
// source with a short read SAS (so it also works across containers with
// different access), and waits for the copy to finish. Copies within an
// account normally complete at once.
func (s *Storage) Copy(ctx context.Context, dstBucket, dstKey, srcBucket, srcKey string) (provider.Object, error) {
	// Stat first: a missing source otherwise surfaces as a 404
	// CannotVerifyCopySource whose meaning depends on the service version.
	if _, err := s.Stat(ctx, srcBucket, srcKey); err != nil {
		return provider.Object{}, err
	}
	now := time.Now().UTC()
	src, err := s.signedURL(s.blockBlob(srcBucket, srcKey).BlobClient(), sas.BlobSignatureValues{
		StartTime:     now.Add(-clockSkew),
		ExpiryTime:    now.Add(time.Hour),
		Permissions:   (&sas.BlobPermissions{Read: true}).String(),
		ContainerName: srcBucket,
		BlobName:      srcKey,
	})
	if err != nil {
		return provider.Object{}, err
	}
	dst := s.blockBlob(dstBucket, dstKey)
	what := dstBucket + "/" + dstKey
	resp, err := dst.StartCopyFromURL(ctx, src, nil)
	if err != nil {
		return provider.Object{}, mapErr(err, what)
	}
	status := blob.CopyStatusTypePending
	if resp.CopyStatus != nil {
		status = *resp.CopyStatus
	}
	wait := 100 * time.Millisecond
	for status == blob.CopyStatusTypePending {
		select {
		case <-ctx.Done():
			// Leave no half copy behind.
			if resp.CopyID != nil {
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
				_, _ = dst.AbortCopyFromURL(actx, *resp.CopyID, nil)
				cancel()
			}
			return provider.Object{}, fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
		p, err := dst.GetProperties(ctx, nil)
		if err != nil {
			return provider.Object{}, mapErr(ctxErr(ctx, err), what)
		}
		if p.CopyStatus != nil {
			status = *p.CopyStatus
		}
		if status != blob.CopyStatusTypePending && p.CopyStatusDescription != nil {
			s.log.Debug("azure: copy finished", "blob", what, "status", status, "description", *p.CopyStatusDescription)
		}
	}
	if status != blob.CopyStatusTypeSuccess {
		return provider.Object{}, fmt.Errorf("%s: azure copy ended with status %q", what, status)
	}
	return s.Stat(ctx, dstBucket, dstKey)
}
