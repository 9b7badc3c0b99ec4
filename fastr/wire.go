package fastr

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The JSON shapes of the protocol. Field names are camelCase like the rest of
// the Amove API.

// BucketInfo is one bucket in a listing.
type BucketInfo struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// BucketList answers GET /v1/b.
type BucketList struct {
	Buckets []BucketInfo `json:"buckets"`
}

// ObjectInfo describes an object or a folder. Checksums are lowercase hex and
// empty when the server does not know them (a file placed in the root by
// hand); listings carry size and time only, HEAD carries everything.
type ObjectInfo struct {
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ModTime     time.Time `json:"modTime"`
	ETag        string    `json:"etag,omitempty"`
	ContentType string    `json:"contentType,omitempty"`
	SHA256      string    `json:"sha256,omitempty"`
	MD5         string    `json:"md5,omitempty"`
	IsFolder    bool      `json:"isFolder,omitempty"`
	// Metadata is the user metadata the object was uploaded with; a HEAD
	// or GET sends it URL-encoded in HeaderMetadata.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// ObjectList is one page of GET /v1/b/{bucket}.
type ObjectList struct {
	Objects   []ObjectInfo `json:"objects"`
	NextToken string       `json:"nextToken,omitempty"`
}

// CopyRequest is the body of POST /v1/copy.
type CopyRequest struct {
	SrcBucket string `json:"srcBucket"`
	SrcKey    string `json:"srcKey"`
	DstBucket string `json:"dstBucket"`
	DstKey    string `json:"dstKey"`
}

// CreateUploadRequest is the body of POST /v1/uploads.
type CreateUploadRequest struct {
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	ContentType string `json:"contentType,omitempty"`
	// Metadata is user metadata the object gets when the upload completes
	// (at most MaxMetadataBytes of keys and values).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// MaxMetadataBytes bounds an object's user metadata: the sum of its keys'
// and values' lengths.
const MaxMetadataBytes = 8 << 10

// checkMetadata refuses metadata over MaxMetadataBytes or with an empty key.
func checkMetadata(m map[string]string) *Error {
	n := 0
	for k, v := range m {
		if k == "" {
			return errf(http.StatusBadRequest, CodeInvalidArgument, "metadata key is empty")
		}
		n += len(k) + len(v)
	}
	if n > MaxMetadataBytes {
		return errf(http.StatusBadRequest, CodeInvalidArgument, "metadata is larger than %d bytes", MaxMetadataBytes)
	}
	return nil
}

// PartInfo is one stored part of an upload session. ETag is the part's hex
// SHA-256.
type PartInfo struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag"`
}

// UploadInfo describes an upload session. Offset is the committed offset:
// the bytes of the parts numbered 1..k without a gap, which is where a
// sequential (offset mode) writer resumes.
type UploadInfo struct {
	ID          string     `json:"id"`
	Bucket      string     `json:"bucket"`
	Key         string     `json:"key"`
	ContentType string     `json:"contentType,omitempty"`
	Created     time.Time  `json:"created"`
	Parts       []PartInfo `json:"parts,omitempty"`
	Offset      int64      `json:"offset"`
}

// UploadList answers GET /v1/uploads.
type UploadList struct {
	Uploads []UploadInfo `json:"uploads"`
}

// CompleteRequest is the body of POST /v1/uploads/{id}/complete. Without
// Parts every stored part 1..k is assembled (offset mode). SHA256, when set,
// is the whole object's hex SHA-256: the server refuses to commit anything
// else.
type CompleteRequest struct {
	Parts  []PartInfo `json:"parts,omitempty"`
	SHA256 string     `json:"sha256,omitempty"`
}

// Push states.
const (
	PushPending   = "pending"
	PushRunning   = "running"
	PushPaused    = "paused"
	PushCompleted = "completed"
	PushFailed    = "failed"
	PushCancelled = "cancelled"
)

// PushTarget says where a push goes: a Fastr server URL, the credentials the
// source signs its requests to it with, and the target bucket and key.
type PushTarget struct {
	URL       string `json:"url"`
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	// UploadID, when set, continues this offset-mode session on the target
	// from its committed offset instead of opening a new one: how the agent
	// resumes a push whose source restarted and forgot it.
	UploadID string `json:"uploadId,omitempty"`
}

// PushRequest is the body of POST /v1/push on the source server.
type PushRequest struct {
	Bucket string     `json:"bucket"`
	Key    string     `json:"key"`
	Target PushTarget `json:"target"`
	// ChunkSize in bytes; zero means DefaultPushChunk.
	ChunkSize int64 `json:"chunkSize,omitempty"`
	// Overwrite allows replacing an existing target object.
	Overwrite bool `json:"overwrite,omitempty"`
}

// PushStatus is the source server's view of a push.
type PushStatus struct {
	ID               string     `json:"id"`
	Status           string     `json:"status"`
	Bucket           string     `json:"bucket"`
	Key              string     `json:"key"`
	TargetURL        string     `json:"targetUrl"`
	TargetBucket     string     `json:"targetBucket"`
	TargetKey        string     `json:"targetKey"`
	TargetUploadID   string     `json:"targetUploadId,omitempty"`
	TotalBytes       int64      `json:"totalBytes"`
	TransferredBytes int64      `json:"transferredBytes"`
	ChunkSize        int64      `json:"chunkSize"`
	ChunksSent       int        `json:"chunksSent"`
	SHA256           string     `json:"sha256,omitempty"`
	ChecksumVerified bool       `json:"checksumVerified"`
	StartTime        time.Time  `json:"startTime"`
	EndTime          *time.Time `json:"endTime,omitempty"`
	ErrorMessage     string     `json:"errorMessage,omitempty"`
	// TargetUnreachable is set on a failed push when the source could not
	// connect to the target (no route, refused, timed out): an agent may
	// then carry the bytes into the same session itself.
	TargetUnreachable bool `json:"targetUnreachable,omitempty"`
}

// Terminal reports whether the push can no longer change.
func (p PushStatus) Terminal() bool {
	return p.Status == PushCompleted || p.Status == PushFailed || p.Status == PushCancelled
}

// PushList answers GET /v1/push.
type PushList struct {
	Pushes []PushStatus `json:"pushes"`
}

// Error codes of the JSON error body. docs/fastr.md maps them to statuses.
const (
	CodeInvalidArgument   = "InvalidArgument"
	CodeInvalidBucketName = "InvalidBucketName"
	CodeInvalidKey        = "InvalidKey"
	CodeBadDigest         = "BadDigest"
	CodeInvalidPart       = "InvalidPart"
	CodeEntityTooSmall    = "EntityTooSmall"
	CodeEntityTooLarge    = "EntityTooLarge"
	CodeInvalidRange      = "InvalidRange"
	CodeNoSuchBucket      = "NoSuchBucket"
	CodeNoSuchKey         = "NoSuchKey"
	CodeNoSuchUpload      = "NoSuchUpload"
	CodeNoSuchPush        = "NoSuchPush"
	CodeNotFound          = "NotFound"
	CodeBucketExists      = "BucketAlreadyExists"
	CodeBucketNotEmpty    = "BucketNotEmpty"
	CodeKeyConflict       = "KeyConflict"
	CodeObjectExists      = "ObjectExists"
	CodeOffsetMismatch    = "OffsetMismatch"
	CodeInvalidState      = "InvalidState"
	CodeMissingAuth       = "MissingAuthentication"
	CodeUnknownAccessKey  = "InvalidAccessKeyId"
	CodeSignatureMismatch = "SignatureDoesNotMatch"
	CodeRequestExpired    = "RequestTimeTooSkewed"
	CodeReplayedRequest   = "ReplayedRequest"
	CodeURLExpired        = "ExpiredPresignedURL"
	CodeCredentialExpired = "ExpiredCredential"
	CodeAccessDenied      = "AccessDenied"
	CodeMisdirected       = "MisdirectedRequest"
	CodeMethodNotAllowed  = "MethodNotAllowed"
	CodeSlowDown          = "SlowDown"
	CodeInternal          = "InternalError"
)

// Error is the JSON error body, and the error the Client returns for a non-2xx
// answer. StatusCode and RetryAfter come from the response, not the body.
type Error struct {
	StatusCode int           `json:"-"`
	RetryAfter time.Duration `json:"-"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	// ExpectedOffset is set with OffsetMismatch: where the writer resumes.
	ExpectedOffset *int64 `json:"expectedOffset,omitempty"`
	// Status is set with InvalidState on a push: the state it is in.
	Status string `json:"status,omitempty"`
}

// Error formats the status, code and message, so a logged error says what
// the server refused and why.
func (e *Error) Error() string {
	return fmt.Sprintf("fastr: %d %s: %s", e.StatusCode, e.Code, e.Message)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
