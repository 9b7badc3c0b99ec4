package transfer

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/provider"
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
	// List returns the jobs f selects, oldest first (by Created, then ID),
	// without their items but with the Counts over them, so a listing costs
	// neither the plans nor the parts.
	List(ctx context.Context, f ListFilter) ([]JobSummary, error)
	// Delete forgets the job with its items and parts. An unknown id is not
	// an error.
	Delete(ctx context.Context, id string) error
	// DeleteFinished forgets, with their items and parts, the jobs in a final
	// state (completed, failed, cancelled) last updated before t, and
	// returns how many went. The state and time are checked where the job
	// is deleted, so a job another process resumes meanwhile stays.
	DeleteFinished(ctx context.Context, t time.Time) (int, error)
}

// JournalBatcher is a Journal that can record several item updates and
// finished parts of one job in one transaction. The engine then writes the
// progress of the items that finish while a commit is under way together,
// in the next commit (group commit), instead of one commit per file: what
// costs most in a job of many small files. Every call still returns only
// once its entries are recorded, so nothing the engine counts as done is
// lost to a crash.
type JournalBatcher interface {
	// Batch records entries of job id in order, all or none: the same as
	// calling UpdateItem or AddPart for each, in one transaction.
	Batch(ctx context.Context, id string, entries []JournalEntry) error
}

// JournalEntry is one write of JournalBatcher.Batch: an item update when
// Part is nil, else a finished part of item Index.
type JournalEntry struct {
	Index  int
	Update ItemUpdate
	Part   *PartRecord
}

// ListFilter selects jobs for Journal.List. Each set field narrows the
// selection; the zero ListFilter selects every job.
type ListFilter struct {
	// Owner keeps the jobs whose Owner is exactly Owner.
	Owner string
	// OwnerPrefix keeps the jobs whose Owner begins with OwnerPrefix (the
	// amove client lists a tenant's jobs with "tenant/").
	OwnerPrefix string
	// States keeps the jobs in one of these states.
	States []State
	// UpdatedBefore keeps the jobs last updated before it.
	UpdatedBefore time.Time
}

// Match reports whether f selects a job of this owner, state and last
// update.
func (f ListFilter) Match(owner string, state State, updated time.Time) bool {
	return (f.Owner == "" || owner == f.Owner) &&
		strings.HasPrefix(owner, f.OwnerPrefix) &&
		(len(f.States) == 0 || slices.Contains(f.States, state)) &&
		(f.UpdatedBefore.IsZero() || updated.Before(f.UpdatedBefore))
}

// JobSummary is a job as Journal.List returns it: the record without items
// (Items is nil) and the counts over the items and their parts.
type JobSummary struct {
	JobRecord
	Counts
}

// Counts are a job's totals, as Status reports them.
type Counts struct {
	// BytesTotal is the size of every item; BytesDone that of the done
	// items plus the recorded parts of the items neither done nor failed.
	BytesDone, BytesTotal int64
	// FilesTotal is the number of items; FilesDone and FilesFailed those
	// done and failed.
	FilesDone, FilesFailed, FilesTotal int
	// Verified is true when the job has items and every one is Verified.
	Verified bool
}

// Counts returns the totals over r's items and parts.
func (r *JobRecord) Counts() Counts {
	c := Counts{FilesTotal: len(r.Items), Verified: len(r.Items) > 0}
	for _, it := range r.Items {
		c.BytesTotal += it.Size
		c.Verified = c.Verified && it.Verified
		switch {
		case it.Done:
			c.FilesDone++
			c.BytesDone += it.Size
		case it.Failed != "":
			c.FilesFailed++
		default:
			for _, p := range it.Parts {
				c.BytesDone += p.Size
			}
		}
	}
	return c
}

// summary is r without items, with its Counts.
func (r *JobRecord) summary() JobSummary {
	s := JobSummary{JobRecord: *r, Counts: r.Counts()}
	s.Items = nil
	return s
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
	// Meta and Push: see Request.Meta and PushRecord.
	Meta map[string]string `json:"meta,omitempty"`
	Push PushRecord        `json:"push,omitzero"`
	// Metadata: see Request.Metadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Overwrite: see Request.Overwrite.
	Overwrite bool `json:"overwrite,omitempty"`
	// Group is set on the jobs a big copy was split into (group.go): the
	// id of the job users see, which has no items of its own and lists
	// these in Shards.
	Group  string   `json:"group,omitempty"`
	Shards []string `json:"shards,omitempty"`
	// PausedAt is when the job was paused, while it is; PausedFor the time
	// it spent paused before (Status.PausedDuration).
	PausedAt  time.Time     `json:"pausedAt,omitzero"`
	PausedFor time.Duration `json:"pausedFor,omitempty"`
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
	// SrcSum is the source object's whole digest, as its provider computed
	// it, that a download or copy checks the bytes it reads against (zero:
	// the source offers none, or checks are off).
	SrcSum provider.Checksum `json:"srcSum,omitzero"`
	// SumHash is the algorithm of the parts' Sum: one that folds across
	// ranges (provider.Combinable), chosen at plan time so a resume keeps
	// it. Empty when no whole-object check can use part digests.
	SumHash  provider.Hash `json:"sumHash,omitempty"`
	PartSize int64         `json:"partSize"`
	UploadID string        `json:"uploadId,omitempty"`
	Done     bool          `json:"done"`
	Failed   string        `json:"failed,omitempty"`
	Verified bool          `json:"verified"`
	Parts    []PartRecord  `json:"parts,omitempty"`
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
// for downloads a byte range written to the local file.
type PartRecord struct {
	Number int    `json:"n"`
	Size   int64  `json:"size"`
	ETag   string `json:"etag,omitempty"` // the provider's handle of the part
	// Checksum is the part's digest that the provider computed or checked
	// on receipt (provider.Part.Checksum), after the engine compared it
	// with the bytes it sent; zero when the provider checked nothing.
	Checksum provider.Checksum `json:"checksum,omitzero"`
	// Sum is the engine's digest of the part's bytes in the item's SumHash,
	// so the parts fold into a whole-object digest without the bytes.
	Sum provider.Checksum `json:"sum,omitzero"`
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

// Put implements Journal: it stores a copy of rec, keeping the item progress
// already recorded when the plan has the same number of items, so a state
// change cannot roll back finished parts.
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

// AddPart implements Journal: it merges p into item index of job id. An
// unknown id is ErrUnknownJob.
func (m *MemJournal) AddPart(ctx context.Context, id string, index int, p PartRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	return rec.mergePart(index, p)
}

// UpdateItem implements Journal: it applies u to item index of job id. An
// unknown id is ErrUnknownJob.
func (m *MemJournal) UpdateItem(ctx context.Context, id string, index int, u ItemUpdate) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	return rec.apply(index, u)
}

// Batch implements JournalBatcher: the entries apply in order, all or
// none (an index outside the plan refuses the whole batch). An unknown id
// is ErrUnknownJob.
func (m *MemJournal) Batch(ctx context.Context, id string, entries []JournalEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.jobs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	for _, e := range entries {
		if e.Index < 0 || e.Index >= len(rec.Items) {
			return fmt.Errorf("transfer: job %s has no item %d", id, e.Index)
		}
	}
	for _, e := range entries {
		if e.Part != nil {
			_ = rec.mergePart(e.Index, *e.Part)
		} else {
			_ = rec.apply(e.Index, e.Update)
		}
	}
	return nil
}

// Get implements Journal: it returns a copy of the job, so the caller may
// change it without racing the engine. An unknown id is ErrUnknownJob.
func (m *MemJournal) Get(ctx context.Context, id string) (*JobRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.jobs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	return rec.clone(), nil
}

// List implements Journal: it returns the summaries of the jobs f selects,
// oldest first.
func (m *MemJournal) List(ctx context.Context, f ListFilter) ([]JobSummary, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []JobSummary
	for _, rec := range m.jobs {
		if f.Match(rec.Owner, rec.State, rec.Updated) {
			out = append(out, rec.summary())
		}
	}
	sortSummaries(out)
	return out, nil
}

// sortSummaries orders jobs oldest first, then by id.
func sortSummaries(s []JobSummary) {
	slices.SortFunc(s, func(a, b JobSummary) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
}

// Delete implements Journal: it forgets the job; an unknown id is not an
// error.
func (m *MemJournal) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.jobs, id)
	return nil
}

// DeleteFinished implements Journal: it forgets the jobs in a final state
// last updated before t and returns how many went.
func (m *MemJournal) DeleteFinished(ctx context.Context, t time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, rec := range m.jobs {
		if rec.State.Final() && rec.Updated.Before(t) {
			delete(m.jobs, id)
			n++
		}
	}
	return n, nil
}
