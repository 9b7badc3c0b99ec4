package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// FileJournal keeps each job in a directory as two files: <id>.json, the
// plan and state, replaced atomically (write, fsync, rename), and <id>.log,
// an append-only list of item updates and finished parts, one JSON line each.
// Appends are not fsynced: a killed process loses nothing the kernel has, and
// an OS crash can only lose the newest lines, which costs re-sending those
// parts, never correctness.
type FileJournal struct {
	dir  string
	mu   sync.Mutex
	logs map[string]*os.File
	// items is the item count of each job written to since the journal
	// was opened.
	items map[string]int
}

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// NewFileJournal uses (and creates, mode 0700) dir.
func NewFileJournal(dir string) (*FileJournal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &FileJournal{dir: dir, logs: map[string]*os.File{}, items: map[string]int{}}, nil
}

type logLine struct {
	Index  int         `json:"i"`
	Part   *PartRecord `json:"p,omitempty"`
	Update *ItemUpdate `json:"u,omitempty"`
}

func (j *FileJournal) path(id, ext string) (string, error) {
	// Ids become file names: refuse anything that could escape the directory.
	if !jobIDPattern.MatchString(id) {
		return "", fmt.Errorf("%w: bad job id %q", ErrUnknownJob, id)
	}
	return filepath.Join(j.dir, id+ext), nil
}

// Put implements Journal: it replaces <id>.json atomically with the plan and
// state (parts stay in <id>.log), keeping the item progress already logged
// when the plan has the same number of items.
func (j *FileJournal) Put(ctx context.Context, rec *JobRecord) error {
	p, err := j.path(rec.ID, ".json")
	if err != nil {
		return err
	}
	c := rec.clone()
	parts := make([][]PartRecord, len(c.Items))
	for i := range c.Items {
		parts[i], c.Items[i].Parts = c.Items[i].Parts, nil // parts live in the log
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	old, err := j.readPlan(rec.ID)
	keep := err == nil && len(old.Items) == len(c.Items)
	if keep {
		// Item progress comes from UpdateItem and AddPart and must not be
		// rolled back by a Put: keep the plan's items as they were, the
		// log is replayed over them on Get.
		c.Items = old.Items
	} else if err := j.dropLog(rec.ID); err != nil {
		// A new plan: lines of an earlier plan (or of a deleted job with
		// the same id) would land on the wrong items.
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(j.dir, rec.ID+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	j.items[rec.ID] = len(c.Items)
	if keep {
		return nil
	}
	// Parts the new plan already carries go to the log like any other.
	for i, ps := range parts {
		for _, part := range ps {
			if err := j.appendLocked(rec.ID, logLine{Index: i, Part: &part}); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropLog closes and removes the job's log. j.mu must be held.
func (j *FileJournal) dropLog(id string) error {
	if f := j.logs[id]; f != nil {
		f.Close()
		delete(j.logs, id)
	}
	p, err := j.path(id, ".log")
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (j *FileJournal) readPlan(id string) (*JobRecord, error) {
	p, err := j.path(id, ".json")
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownJob, id)
	}
	if err != nil {
		return nil, err
	}
	var rec JobRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("transfer: journal %s: %w", p, err)
	}
	return &rec, nil
}

func (j *FileJournal) append(id string, line logLine) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appendLocked(id, line)
}

// appendLocked writes one line to the job's log. j.mu must be held.
func (j *FileJournal) appendLocked(id string, line logLine) error {
	n, ok := j.items[id]
	if !ok {
		// First write to this job since the journal was opened: learn the
		// item count once, so a bad index is refused here instead of
		// making every later Get fail.
		rec, err := j.readPlan(id)
		if err != nil {
			return err
		}
		n = len(rec.Items)
		j.items[id] = n
	}
	if line.Index < 0 || line.Index >= n {
		return fmt.Errorf("transfer: job %s has no item %d", id, line.Index)
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f := j.logs[id]
	if f == nil {
		if f, err = j.openLog(id); err != nil {
			return err
		}
		j.logs[id] = f
	}
	_, err = f.Write(b)
	return err
}

// openLog opens the job's log for appending. A torn last line, left by a
// crash mid-write, is cut off first: otherwise the next line would be glued
// to it and Get would stop reading there.
func (j *FileJournal) openLog(id string) (*os.File, error) {
	p, err := j.path(id, ".log")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if size := fi.Size(); size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			f.Close()
			return nil, err
		}
		if last[0] != '\n' {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Close()
				return nil, err
			}
			if err := f.Truncate(int64(bytes.LastIndexByte(b, '\n') + 1)); err != nil {
				f.Close()
				return nil, err
			}
		}
	}
	return f, nil
}

// UpdateItem implements Journal: it appends the update as one line to
// <id>.log; Get replays it.
func (j *FileJournal) UpdateItem(ctx context.Context, id string, index int, u ItemUpdate) error {
	return j.append(id, logLine{Index: index, Update: &u})
}

// AddPart implements Journal: it appends the finished part as one line to
// <id>.log; Get replays it.
func (j *FileJournal) AddPart(ctx context.Context, id string, index int, p PartRecord) error {
	return j.append(id, logLine{Index: index, Part: &p})
}

// Get implements Journal: it reads <id>.json and replays <id>.log onto it,
// ignoring a torn last line left by a crash. An unknown id is ErrUnknownJob.
func (j *FileJournal) Get(ctx context.Context, id string) (*JobRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	rec, err := j.readPlan(id)
	if err != nil {
		return nil, err
	}
	return j.replay(rec)
}

// replay applies the job's log to its plan. j.mu must be held.
func (j *FileJournal) replay(rec *JobRecord) (*JobRecord, error) {
	id := rec.ID
	p, _ := j.path(id, ".log")
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line logLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			break // a torn last line from a crash mid-write: ignore it
		}
		switch {
		case line.Update != nil:
			err = rec.apply(line.Index, *line.Update)
		case line.Part != nil:
			err = rec.mergePart(line.Index, *line.Part)
		}
		if err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// List reads the plans, and the logs of the jobs f selects for their
// counts.
func (j *FileJournal) List(ctx context.Context, f ListFilter) ([]JobSummary, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	plans, err := j.plans()
	if err != nil {
		return nil, err
	}
	var out []JobSummary
	for _, rec := range plans {
		if !f.Match(rec.Owner, rec.State, rec.Updated) {
			continue
		}
		full, err := j.replay(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, full.summary())
	}
	sortSummaries(out)
	return out, nil
}

// plans reads every job's plan, without its log. A plan that does not
// read (a torn write of an older version) is skipped. j.mu must be held.
func (j *FileJournal) plans() ([]*JobRecord, error) {
	matches, err := filepath.Glob(filepath.Join(j.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*JobRecord
	for _, m := range matches {
		id := filepath.Base(m)
		id = id[:len(id)-len(".json")]
		rec, err := j.readPlan(id)
		if err != nil {
			continue
		}
		out = append(out, rec)
	}
	return out, nil
}

// Delete implements Journal: it removes the job's two files; an unknown id
// is not an error.
func (j *FileJournal) Delete(ctx context.Context, id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.deleteLocked(id)
}

// DeleteFinished implements Journal: it removes the files of the jobs in a
// final state last updated before t and returns how many went.
func (j *FileJournal) DeleteFinished(ctx context.Context, t time.Time) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	plans, err := j.plans()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range plans {
		if !rec.State.Final() || !rec.Updated.Before(t) {
			continue
		}
		if err := j.deleteLocked(rec.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// deleteLocked removes the job's plan and log. j.mu must be held.
func (j *FileJournal) deleteLocked(id string) error {
	delete(j.items, id)
	p, err := j.path(id, ".json")
	if err != nil {
		return err
	}
	// The plan goes first: a log without a plan is dropped by the next Put
	// of that id, a plan without its log would look like a job with no
	// progress.
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return j.dropLog(id)
}

// Close closes the open log files.
func (j *FileJournal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	for id, f := range j.logs {
		errs = append(errs, f.Close())
		delete(j.logs, id)
	}
	return errors.Join(errs...)
}
