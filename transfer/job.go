// Package transfer is the job engine of amove-go: it plans uploads,
// downloads and cloud-to-cloud copies as items split into parts, runs the
// parts of every job on one bounded worker pool, records each finished part
// in a Journal so a paused or crashed transfer continues where it stopped,
// verifies checksums end to end, and reports progress as events.
//
// It imports only provider: accounts are resolved to drivers through
// Options.Open, and persistence goes through the Journal interface, which
// the amove store implements.
package transfer

import (
	"errors"
	"time"

	"github.com/amove/amove-go/provider"
)

// Kind is what a job does.
type Kind string

// Job kinds.
const (
	Upload   Kind = "upload"   // local file or tree -> account/bucket/prefix
	Download Kind = "download" // object or prefix -> local file or directory
	Copy     Kind = "copy"     // account/bucket/key or prefix -> another account
	// ServerTransfer streams one object into a session on a destination
	// that takes appended chunks (provider.Appender), resuming from the
	// session's committed offset (remote.go).
	ServerTransfer Kind = "server_transfer"
	// P2P asks the source's server to push one object to the destination
	// (provider.Pusher, provider.UploadGranter), and relays the bytes like a
	// ServerTransfer when the source cannot reach it (p2p.go).
	P2P Kind = "p2p"
)

// State is where a job is in its life.
type State string

// Job states.
const (
	Pending   State = "pending"
	Running   State = "running"
	Paused    State = "paused"
	Completed State = "completed"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Final reports whether no more work will happen in state s.
func (s State) Final() bool { return s == Completed || s == Failed || s == Cancelled }

// Location is a place in cloud storage: an account (resolved through
// Options.Open), a bucket, and a key (one object) or a prefix (a tree, when
// it is empty or ends in "/").
type Location struct {
	Account string `json:"account"`
	Bucket  string `json:"bucket"`
	Key     string `json:"key"`
}

// Request starts a job.
type Request struct {
	Kind Kind
	// LocalPath is the upload source (a file or a directory) or the download
	// destination (a file, or a directory when it exists or ends in a path
	// separator).
	LocalPath string
	// Source is the download or copy source.
	Source Location
	// Dest is the upload or copy destination. A Key ending in "/" (or empty)
	// is a prefix the source names are appended to.
	Dest Location
	// PartSize overrides the engine's part size (still raised to what the
	// destination's limits require).
	PartSize int64
	// Concurrency bounds this job's parts in flight (the engine's global
	// bound still applies). Zero means the engine's default.
	Concurrency int
	// BytesPerSecond caps this job's bandwidth; zero means no cap.
	BytesPerSecond int64
	// Owner is an opaque label the caller uses to tell whose job it is (the
	// amove client stores the tenant and user). The engine only keeps it.
	Owner string
	// Overwrite lets a download replace existing local files (otherwise
	// an existing file fails with ErrExists and is left as it was) and a
	// P2P job replace an existing destination object.
	Overwrite bool
	// Meta is kept with the job and returned in its Status: labels of the
	// caller's (the server URLs of a server transfer). Never secrets.
	Meta map[string]string
	// Metadata is user metadata the destination object of a server
	// transfer gets (provider.WriteOptions.Metadata).
	Metadata map[string]string
}

// Status is a snapshot of a job.
type Status struct {
	ID          string `json:"id"`
	Owner       string `json:"owner,omitempty"`
	Kind        Kind   `json:"kind"`
	State       State  `json:"state"`
	Error       string `json:"error,omitempty"`
	BytesDone   int64  `json:"bytesDone"`
	BytesTotal  int64  `json:"bytesTotal"`
	FilesDone   int    `json:"filesDone"`
	FilesTotal  int    `json:"filesTotal"`
	FilesFailed int    `json:"filesFailed"`
	// BytesPerSecond is the recent transfer rate.
	BytesPerSecond float64 `json:"bytesPerSecond"`
	// ETA is the estimated time left at the recent rate; zero when unknown.
	ETA time.Duration `json:"eta"`
	// ChecksumVerified is true when every item's whole-object checksum was
	// compared end to end and matched.
	ChecksumVerified bool `json:"checksumVerified"`
	// LocalPath, Source and Dest are the job as planned: for uploads
	// LocalPath is the source, for downloads the destination.
	LocalPath string    `json:"localPath,omitempty"`
	Source    Location  `json:"source"`
	Dest      Location  `json:"dest"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	// Meta is the Request's.
	Meta map[string]string `json:"meta,omitempty"`
	// Push is how a P2P job moves its bytes.
	Push PushRecord `json:"push,omitzero"`
	// Group is the job this one is a shard of, when a big copy was split
	// across agents (its events carry the shard's id and this).
	Group string `json:"group,omitempty"`
	// PausedDuration is how long the job has been paused in all (so far,
	// while it is).
	PausedDuration time.Duration `json:"pausedDuration,omitempty"`
}

// EventType says what an Event reports.
type EventType string

// Event types.
const (
	EventProgress EventType = "progress" // at most ~10 a second per job
	EventState    EventType = "state"    // every state change
)

// Event is what subscribers receive.
type Event struct {
	Type   EventType `json:"type"`
	Status Status    `json:"status"`
}

// Errors of the engine.
var (
	ErrUnknownJob = errors.New("transfer: unknown job")
	ErrBadState   = errors.New("transfer: operation not allowed in this state")
	// ErrChecksumMismatch is provider.ErrChecksum: one sentinel for damaged
	// bytes, whichever side found them.
	ErrChecksumMismatch = provider.ErrChecksum
	ErrClosed           = errors.New("transfer: engine closed")
)
