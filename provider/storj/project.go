package storj

import (
	"context"
	"io"
	"iter"

	"storj.io/uplink"
	"storj.io/uplink/private/multipart"
)

// Project is what the driver uses of an *uplink.Project: buckets, and
// objects uploaded, downloaded, listed, stated and deleted. It speaks
// uplink's own types and sentinel errors (uplink.ErrBucketNotFound,
// uplink.ErrObjectNotFound, ...), so Adapt is a thin pass-through and a
// fake (internal/fakes/storj) can stand in for a satellite in tests.
type Project interface {
	// CreateBucket makes a bucket; a taken name is
	// uplink.ErrBucketAlreadyExists.
	CreateBucket(ctx context.Context, bucket string) (*uplink.Bucket, error)
	// StatBucket describes a bucket; a missing one is
	// uplink.ErrBucketNotFound.
	StatBucket(ctx context.Context, bucket string) (*uplink.Bucket, error)
	// DeleteBucket removes an empty bucket; one holding objects is
	// uplink.ErrBucketNotEmpty.
	DeleteBucket(ctx context.Context, bucket string) (*uplink.Bucket, error)
	// DeleteBucketWithObjects removes a bucket and everything in it.
	DeleteBucketWithObjects(ctx context.Context, bucket string) (*uplink.Bucket, error)
	// Buckets yields every bucket the access grant can see.
	Buckets(ctx context.Context) iter.Seq2[*uplink.Bucket, error]
	// Objects yields the objects (and, unless opts.Recursive, the
	// collapsed prefixes) under opts.Prefix, which is empty or ends in
	// "/", after opts.Cursor, which is relative to opts.Prefix.
	Objects(ctx context.Context, bucket string, opts *uplink.ListObjectsOptions) iter.Seq2[*uplink.Object, error]
	// StatObject describes an object with its system and custom
	// metadata; a missing one is uplink.ErrObjectNotFound.
	StatObject(ctx context.Context, bucket, key string) (*uplink.Object, error)
	// DeleteObject removes an object; a missing one is not an error.
	DeleteObject(ctx context.Context, bucket, key string) (*uplink.Object, error)
	// UploadObject starts an upload that is visible at key only after
	// Commit.
	UploadObject(ctx context.Context, bucket, key string, opts *uplink.UploadOptions) (Upload, error)
	// DownloadObject reads opts.Length bytes (-1: to the end) from
	// opts.Offset.
	DownloadObject(ctx context.Context, bucket, key string, opts *uplink.DownloadOptions) (Download, error)
	// CopyObject copies an object with its metadata inside the project,
	// without moving its bytes through the client.
	CopyObject(ctx context.Context, oldBucket, oldKey, newBucket, newKey string, opts *uplink.CopyObjectOptions) (*uplink.Object, error)
	// BeginUpload starts a multipart upload whose object gets custom as
	// its metadata.
	BeginUpload(ctx context.Context, bucket, key string, custom uplink.CustomMetadata) (uplink.UploadInfo, error)
	// UploadPart starts the upload of one part; uploading a part number
	// again replaces it.
	UploadPart(ctx context.Context, bucket, key, uploadID string, partNumber uint32) (PartUpload, error)
	// CommitUpload assembles every uploaded part, in part-number order:
	// Storj takes no list of parts. A part below the satellite's minimum
	// size (5 MiB) other than the last fails it.
	CommitUpload(ctx context.Context, bucket, key, uploadID string, opts *uplink.CommitUploadOptions) (*uplink.Object, error)
	// AbortUpload discards an upload and its parts; an unknown one is
	// uplink.ErrUploadIDInvalid.
	AbortUpload(ctx context.Context, bucket, key, uploadID string) error
	// UploadParts yields the parts an upload holds, by part number.
	UploadParts(ctx context.Context, bucket, key, uploadID string) iter.Seq2[*uplink.Part, error]
	// Uploads yields the unfinished uploads under opts.Prefix, with the
	// same prefix and cursor rules as Objects.
	Uploads(ctx context.Context, bucket string, opts *uplink.ListUploadsOptions) iter.Seq2[*uplink.UploadInfo, error]
	// RevokeAccess revokes a grant derived from the project's grant, on
	// the satellite.
	RevokeAccess(ctx context.Context, access *uplink.Access) error
	// Close releases the project's connections.
	Close() error
}

// Upload is an upload in progress, as *uplink.Upload is.
type Upload interface {
	io.Writer
	// SetCustomMetadata sets the metadata the object is committed with.
	SetCustomMetadata(ctx context.Context, custom uplink.CustomMetadata) error
	// Commit makes the object visible; Abort discards it.
	Commit() error
	// Abort discards the upload.
	Abort() error
	// Info describes the object; after Commit, the committed one.
	Info() *uplink.Object
}

// PartUpload is a part being uploaded, as *uplink.PartUpload is.
type PartUpload interface {
	io.Writer
	// SetETag sets the part's ETag, which Storj stores and lists but
	// does not compute.
	SetETag(etag []byte) error
	// Commit stores the part; Abort discards it.
	Commit() error
	// Abort discards the part.
	Abort() error
	// Info describes the part.
	Info() *uplink.Part
}

// Download is an object being read, as *uplink.Download is.
type Download interface {
	io.ReadCloser
	// Info describes the object being read.
	Info() *uplink.Object
}

// Adapt wraps a real *uplink.Project as a Project. The project is closed
// with the Project.
func Adapt(p *uplink.Project) Project { return project{p} }

// project passes every call to the uplink project; only the iterators and
// the concrete upload and download types need converting.
type project struct{ *uplink.Project }

func (p project) Buckets(ctx context.Context) iter.Seq2[*uplink.Bucket, error] {
	return func(yield func(*uplink.Bucket, error) bool) {
		it := p.ListBuckets(ctx, nil)
		for it.Next() {
			if !yield(it.Item(), nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(nil, err)
		}
	}
}

func (p project) Objects(ctx context.Context, bucket string, opts *uplink.ListObjectsOptions) iter.Seq2[*uplink.Object, error] {
	return func(yield func(*uplink.Object, error) bool) {
		it := p.ListObjects(ctx, bucket, opts)
		for it.Next() {
			if !yield(it.Item(), nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// BeginUpload uses uplink's private/multipart, as the Storj S3 gateway
// does: the public BeginUpload takes no metadata, and CommitUpload would
// need the metadata again at the end, which a driver that keeps no state
// between calls no longer has.
func (p project) BeginUpload(ctx context.Context, bucket, key string, custom uplink.CustomMetadata) (uplink.UploadInfo, error) {
	return multipart.BeginUpload(ctx, p.Project, bucket, key, &multipart.UploadOptions{CustomMetadata: custom})
}

func (p project) UploadPart(ctx context.Context, bucket, key, uploadID string, partNumber uint32) (PartUpload, error) {
	u, err := p.Project.UploadPart(ctx, bucket, key, uploadID, partNumber)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (p project) UploadParts(ctx context.Context, bucket, key, uploadID string) iter.Seq2[*uplink.Part, error] {
	return func(yield func(*uplink.Part, error) bool) {
		it := p.ListUploadParts(ctx, bucket, key, uploadID, nil)
		for it.Next() {
			if !yield(it.Item(), nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(nil, err)
		}
	}
}

func (p project) Uploads(ctx context.Context, bucket string, opts *uplink.ListUploadsOptions) iter.Seq2[*uplink.UploadInfo, error] {
	return func(yield func(*uplink.UploadInfo, error) bool) {
		it := p.ListUploads(ctx, bucket, opts)
		for it.Next() {
			if !yield(it.Item(), nil) {
				return
			}
		}
		if err := it.Err(); err != nil {
			yield(nil, err)
		}
	}
}

func (p project) UploadObject(ctx context.Context, bucket, key string, opts *uplink.UploadOptions) (Upload, error) {
	u, err := p.Project.UploadObject(ctx, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (p project) DownloadObject(ctx context.Context, bucket, key string, opts *uplink.DownloadOptions) (Download, error) {
	d, err := p.Project.DownloadObject(ctx, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	return d, nil
}
