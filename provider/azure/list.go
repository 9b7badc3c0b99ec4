package azure

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/amove/amove-go/provider"
)

const (
	defaultMaxKeys = 1000
	maxMaxKeys     = 5000 // the service's own cap on maxresults
)

// ListObjects returns one page. The continuation token is the service's
// NextMarker, passed through unchanged. With a delimiter, BlobPrefix entries
// become folders and are merged with the blobs in name order; the folder
// marker blob equal to the prefix itself is left out, so listing "d/" shows
// the folder's content, not the folder.
func (s *Storage) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	max := opts.MaxKeys
	switch {
	case max <= 0:
		max = defaultMaxKeys
	case max > maxMaxKeys:
		max = maxMaxKeys
	}
	c := s.container(bucket)
	var (
		blobs    []*container.BlobItem
		prefixes []*container.BlobPrefix
		next     *string
	)
	if opts.Delimiter == "" {
		pager := c.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
			Prefix:     nonEmpty(opts.Prefix),
			Marker:     nonEmpty(opts.Token),
			MaxResults: to(int32(max)),
		})
		resp, err := pager.NextPage(ctx)
		if err != nil {
			return provider.Page{}, mapErr(err, bucket)
		}
		if resp.Segment != nil {
			blobs = resp.Segment.BlobItems
		}
		next = resp.NextMarker
	} else {
		pager := c.NewListBlobsHierarchyPager(opts.Delimiter, &container.ListBlobsHierarchyOptions{
			Prefix:     nonEmpty(opts.Prefix),
			Marker:     nonEmpty(opts.Token),
			MaxResults: to(int32(max)),
		})
		resp, err := pager.NextPage(ctx)
		if err != nil {
			return provider.Page{}, mapErr(err, bucket)
		}
		if resp.Segment != nil {
			blobs = resp.Segment.BlobItems
			prefixes = resp.Segment.BlobPrefixes
		}
		next = resp.NextMarker
	}

	page := provider.Page{Objects: make([]provider.Object, 0, len(blobs)+len(prefixes))}
	for _, p := range prefixes {
		if p == nil || p.Name == nil {
			continue
		}
		page.Objects = append(page.Objects, provider.Object{Key: *p.Name, IsFolder: true})
	}
	for _, b := range blobs {
		if b == nil || b.Name == nil {
			continue
		}
		if opts.Delimiter != "" && *b.Name == opts.Prefix && strings.HasSuffix(*b.Name, opts.Delimiter) {
			continue // the folder marker of the folder being listed
		}
		page.Objects = append(page.Objects, blobObject(b))
	}
	// The service returns prefixes and blobs as two lists; callers expect
	// one listing in key order.
	slices.SortFunc(page.Objects, func(a, b provider.Object) int { return strings.Compare(a.Key, b.Key) })
	if next != nil {
		page.NextToken = *next
	}
	return page, nil
}

func blobObject(b *container.BlobItem) provider.Object {
	o := provider.Object{Key: *b.Name, IsFolder: strings.HasSuffix(*b.Name, "/")}
	p := b.Properties
	if p == nil {
		return o
	}
	if p.ContentLength != nil {
		o.Size = *p.ContentLength
	}
	if p.LastModified != nil {
		o.ModTime = p.LastModified.UTC()
	}
	if p.ETag != nil {
		o.ETag = string(*p.ETag)
	}
	if p.ContentType != nil {
		o.ContentType = *p.ContentType
	}
	o.Checksums.MD5 = hexMD5(p.ContentMD5)
	return o
}

// hexMD5 turns the raw Content-MD5 bytes into the lowercase hex the provider
// package uses; anything but 16 bytes is treated as unknown.
func hexMD5(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return hex.EncodeToString(b)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
