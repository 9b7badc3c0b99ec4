package transfer

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Journal persists job plans and progress so a job survives pause, an agent
// restart or a crash. The engine calls Put when a job is planned and when its
// state or an item changes, and AddPart for every finished part. A Journal
// must be safe for concurrent use.
type Journal interface {
	// Put creates or replaces the job's record (plan, items, state). Parts
	// already added stay.
	Put(ctx context.Context, rec *JobRecord) error
	// UpdateItem records a change of one item. An UploadID different from
	// the item's current one clears the item's parts (a new upload starts
	// from nothing).
	UpdateItem(ctx context.Context, id string, index int, u ItemUpdate) error
	// AddPart records that part p of item index of job id is done.
	AddPart(ctx context.Context, id string, index int, p PartRecord) error
	// Get returns the job with every part added so far merged into its
	// items. An unknown id is ErrUnknownJob.
	Get(ctx context.Context, id string) (*JobRecord, error)
	// List returns every job, without parts.
	List(ctx context.Context) ([]*JobRecord, error)
	// Delete forgets the job.
	Delete(ctx context.Context, id string) error
}

// JobRecord is the persisted form of a job.
type JobRecord struct {
	ID        string       `json:"id"`
	Owner     string       `json:"owner,omitempty"`
	Kind      Kind         `json:"kind"`
	State     State        `json:"state"`
	Error     string       `json:"error,omitempty"`
	LocalPath string       `json:"localPath,omitempty"`
	Source    Location     `json:"source"`
	Dest      Location     `json:"dest"`
	Options   JobOptions   `json:"options"`
	Items     []ItemRecord `json:"items"`
	Created   time.Time    `json:"created"`
	Updated   time.Time    `json:"updated"`
}

// JobOptions are the per-job settings kept for a resume.
type JobOptions struct {
	PartSize       int64 `json:"partSize"`
	Concurrency    int   `json:"concurrency"`
	BytesPerSecond int64 `json:"bytesPerSecond"`
}

// ItemRecord is one file or object of a job.
type ItemRecord struct {
	// Src and Dst are a local path or an object key, by job kind.
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	Size int64  `json:"size"`
	// SrcETag pins the source version: a resume refuses to mix parts of two
	// versions of a changed source.
	SrcETag string `json:"srcEtag,omitempty"`
	SrcMD5  string `json:"srcMd5,omitempty"`
	// SrcCRC32C is the source\'s full-object CRC32C (hex), the cheapest
	// end-to-end check of a download; ranges then keep their CRC in ETag.
	SrcCRC32C string `json:"srcCrc32c,omitempty"`
	// SrcParts is the source\'s part count when the download is cut along
	// the source\'s own parts, so its multipart ETag can be checked.
	SrcParts int          `json:"srcParts,omitempty"`
	PartSize int64        `json:"partSize"`
	UploadID string       `json:"uploadId,omitempty"`
	Done     bool         `json:"done"`
	Failed   string       `json:"failed,omitempty"`
	Verified bool         `json:"verified"`
	Parts    []PartRecord `json:"parts,omitempty"`
}

// ItemUpdate is the part of an item that changes while a job runs.
type ItemUpdate struct {
	UploadID string `json:"uploadId,omitempty"`
	Done     bool   `json:"done,omitempty"`
	Verified bool   `json:"verified,omitempty"`
	Failed   string `json:"failed,omitempty"`
}

// apply merges u into item index.
func (r *JobRecord) apply(index int, u ItemUpdate) error {
	if index < 0 || index >= len(r.Items) {
		return fmt.Errorf("transfer: job %s has no item %d", r.ID, index)
	}
	it := &r.Items[index]
	if u.UploadID != it.UploadID {
		it.Parts = nil
	}
	it.UploadID, it.Done, it.Verified, it.Failed = u.UploadID, u.Done, u.Verified, u.Failed
	return nil
}

// PartRecord is a finished part: for uploads and copies the provider's part,
// for downloads a byte range written to the local file (whose ETag field
// then holds the range's CRC32C when the source has a full-object CRC32C).
type PartRecord struct {
	Number int    `json:"n"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag,omitempty"`
	MD5    string `json:"md5,omitempty"` // hex MD5 of the part's bytes
}

// clone returns a deep copy, so journals never share memory with the engine.
func (r *JobRecord) clone() *JobRecord {
	c := *r
	c.Items = slices.Clone(r.Items)
	for i := range c.Items {
		c.Items[i].Parts = slices.Clone(c.Items[i].Parts)
	}
	return &c
}

// mergePart adds p to item index, replacing an earlier record of the same
// part number.
func (r *JobRecord) mergePart(index int, p PartRecord) error {
	if index < 0 || index >= len(r.Items) {
		return fmt.Errorf("transfer: job %s has no item %d", r.ID, index)
	}
	it := &r.Items[index]
	for i := range it.Parts {
		if it.Parts[i].Number == p.Number {
			it.Parts[i] = p
			return nil
		}
	}
	it.Parts = append(it.Parts, p)
	return nil
}

// MemJournal keeps jobs in memory: jobs survive pause and resume, not a
// process restart.
type MemJournal struct {
	mu   sync.Mutex
	jobs map[string]*JobRecord
}

// NewMemJournal returns an empty MemJournal.
func NewMemJournal() *MemJournal { return &MemJournal{jobs: map[string]*JobRecord{}} }

func (m *MemJournal) Put(ctx context.Context, rec *JobRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := rec.clone()
	if old, ok := m.jobs[rec.ID]; ok && len(old.Items) == len(c.Items) {
		// Put carries the plan and state; item progress comes from
		// UpdateItem and AddPart and must not be rolled back by it.
		c.Items = old.Items
	}
	m.jobs[rec.ID] = c
	return nil
}

func (m *MemJournal) AddPart(ctx context.Context, id string, index int, p PartRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	return rec.mergePart(index, p)
}

func (m *MemJournal) UpdateItem(ctx context.Context, id string, index int, u ItemUpdate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	return rec.apply(index, u)
}

func (m *MemJournal) Get(ctx context.Context, id string) (*JobRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	return rec.clone(), nil
}

func (m *MemJournal) List(ctx context.Context) ([]*JobRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*JobRecord
	for _, id := range slices.Sorted(maps.Keys(m.jobs)) {
		c := *m.jobs[id]
		c.Items = nil
		out = append(out, &c)
	}
	return out, nil
}

func (m *MemJournal) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.jobs, id)
	return nil
}
