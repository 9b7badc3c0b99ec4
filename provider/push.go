package provider

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Server-to-server transfers. Two optional capabilities, discovered with a
// type assertion like every other:
//
//   - Appender: a destination that takes an object as chunks appended at a
//     committed offset, in a session that outlives its writer (Fastr's
//     offset mode). A writer that stopped asks the session where to go on,
//     so the transfer engine streams into it and resumes without a part
//     list.
//   - Pusher and UploadGranter: a source whose server sends an object to
//     another server itself (a Fastr push), so the bytes never pass through
//     the agent. The destination's driver issues an UploadGrant for one
//     object; the source's driver hands it to its server. The engine only
//     carries the grant from one to the other and never stores or logs it.

// Appender writes an object as a sequence of chunks, each appended at the
// session's committed offset.
type Appender interface {
	// CreateAppend opens a session for bucket/key. The object appears only
	// when CompleteAppend commits it.
	CreateAppend(ctx context.Context, bucket, key string, opts WriteOptions) (Upload, error)
	// AppendOffset is the session's committed offset: how many bytes it
	// holds, and where the next chunk goes. ErrNotFound when the session
	// is gone (completed, aborted or expired).
	AppendOffset(ctx context.Context, u Upload) (int64, error)
	// Append writes chunk at offset, which must be the committed offset,
	// and returns the new committed offset. A chunk at another offset is
	// refused with an *OffsetError that tells the committed offset. Sending
	// a chunk again after a lost answer is safe: the OffsetError says it
	// landed.
	Append(ctx context.Context, u Upload, offset int64, chunk []byte) (int64, error)
	// AppendHash is the digest CompleteAppend checks the whole object
	// against; empty when it checks none.
	AppendHash() Hash
	// CompleteAppend commits the session. A non-zero sum of AppendHash is
	// the whole object's digest: the provider refuses to commit other bytes
	// (ErrChecksum), and the returned Object's Verified names the hash.
	CompleteAppend(ctx context.Context, u Upload, sum Checksum) (Object, error)
	// AbortAppend discards the session; a session already gone is not an
	// error.
	AbortAppend(ctx context.Context, u Upload) error
}

// OffsetError is an Append at an offset other than the committed one.
// errors.Is(err, ErrInvalid) holds.
type OffsetError struct {
	Committed int64 // where the session is
	Err       error // the provider's error
}

// Error says where the session is, so a log shows where to resume.
func (e *OffsetError) Error() string {
	return fmt.Sprintf("append offset mismatch: the session is at %d: %v", e.Committed, e.Err)
}

// Unwrap makes errors.Is(err, ErrInvalid) hold and lets errors.As reach
// the provider's error.
func (e *OffsetError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// UploadGranter is a destination that can let a server it does not trust
// with its credentials write one object into it.
type UploadGranter interface {
	// GrantUpload opens a session for bucket/key (or continues
	// opts.UploadID) and returns a grant for it. Without opts.Overwrite an
	// existing object is ErrExists; a continued session that is gone is
	// ErrNotFound.
	GrantUpload(ctx context.Context, bucket, key string, opts GrantOptions) (UploadGrant, error)
}

// GrantOptions shape an UploadGrant.
type GrantOptions struct {
	// UploadID continues this session of an earlier grant.
	UploadID string
	// Overwrite allows replacing an existing object.
	Overwrite   bool
	ContentType string
	// TTL bounds the grant's life; zero means the driver's default.
	TTL time.Duration
}

// UploadGrant is what a source server needs to write one object into a
// destination: driver-specific, and opaque to everyone but the drivers. It
// may hold a credential, so it is never logged, journaled or returned to a
// caller; String must not reveal it.
type UploadGrant interface {
	// Upload is the session the grant writes into. Its ID may be
	// journaled: it is how a restarted transfer continues the session.
	Upload() Upload
	// String describes the grant for logs and errors without its
	// credential.
	String() string
}

// Pusher is a source whose server sends one of its objects to another
// server through an UploadGrant.
type Pusher interface {
	// StartPush starts sending bucket/key into the grant's session from
	// its committed offset. A grant the driver cannot use (another
	// provider's) is ErrUnsupported; a destination the source will not or
	// cannot connect to is ErrUnreachable.
	StartPush(ctx context.Context, bucket, key string, to UploadGrant, opts PushOptions) (PushStatus, error)
	// PushStatus reports a push. ErrNotFound when the source does not know
	// it (it restarted): start it again with a grant for the same session.
	PushStatus(ctx context.Context, id string) (PushStatus, error)
	// PausePush returns once the source has stopped sending. A push that is
	// not running is ErrInvalid.
	PausePush(ctx context.Context, id string) (PushStatus, error)
	// ResumePush continues a paused push from the session's committed
	// offset. A push that is not paused is ErrInvalid.
	ResumePush(ctx context.Context, id string) (PushStatus, error)
	// CancelPush stops the push and discards the destination's session. A
	// push that already ended is ErrInvalid.
	CancelPush(ctx context.Context, id string) (PushStatus, error)
}

// PushOptions shape a push.
type PushOptions struct {
	// ChunkSize is the size of each chunk; zero means the driver's default.
	ChunkSize int64
}

// PushState is where a push is.
type PushState string

// Push states.
const (
	PushPending   PushState = "pending"
	PushRunning   PushState = "running"
	PushPaused    PushState = "paused"
	PushCompleted PushState = "completed"
	PushFailed    PushState = "failed"
	PushCancelled PushState = "cancelled"
)

// PushStatus is the source's view of a push.
type PushStatus struct {
	ID               string
	State            PushState
	TotalBytes       int64
	TransferredBytes int64
	// UploadID is the destination session the push writes into.
	UploadID string
	// Verified names the digest the destination checked the whole object
	// against when the push completed; empty when none.
	Verified Hash
	// Error says why a push failed.
	Error string
	// Unreachable: the push failed because the source could not connect
	// to the destination. Someone else (the engine) may still move the
	// bytes into the same session.
	Unreachable bool
}

// ErrUnreachable is a push the source will not or cannot send to its
// destination (a policy refuses the destination, or no route leads there).
var ErrUnreachable = errors.New("push destination unreachable from the source")
