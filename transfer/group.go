package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A copy of many objects run by a Scheduler is split into shards, jobs of
// their own that different agents run at once, under one job the user
// sees: the group. The group's record has no items and lists its shards;
// each shard names its group. The group's status is the sum of its
// shards' (Lookup, ListJournal), and Pause, Resume and Cancel on it act on
// every shard. Shards are not listed on their own.

// Splitting: a copy of at least 2 × shardItems objects becomes
// ceil(items / shardItems) shards, at most maxShards.
const (
	shardItems = 250
	maxShards  = 16
)

// split returns the shards of rec, a copy planned for a scheduler, and
// turns rec into their group; nil when rec is not worth splitting.
func split(rec *JobRecord) []*JobRecord {
	n := len(rec.Items)
	if rec.Kind != Copy || n < 2*shardItems {
		return nil
	}
	k := min((n+shardItems-1)/shardItems, maxShards)
	shards := make([]*JobRecord, k)
	for i := range k {
		s := *rec
		s.ID = newID()
		s.Group, s.Shards = rec.ID, nil
		s.Items = slices.Clone(rec.Items[i*n/k : (i+1)*n/k])
		shards[i] = &s
		rec.Shards = append(rec.Shards, s.ID)
	}
	rec.Items = nil
	return shards
}

// startGroup writes a split copy to the journal and schedules its shards.
func (e *Engine) startGroup(ctx context.Context, s Scheduler, group *JobRecord, shards []*JobRecord) error {
	for _, sh := range shards {
		if err := e.journal.Put(ctx, sh); err != nil {
			return fmt.Errorf("transfer: journal: %w", err)
		}
	}
	if err := e.journal.Put(ctx, group); err != nil {
		return fmt.Errorf("transfer: journal: %w", err)
	}
	for _, sh := range shards {
		if err := s.Schedule(ctx, sh.ID, false); err != nil {
			return fmt.Errorf("transfer: schedule: %w", err)
		}
	}
	return nil
}

// groupStatus sums the shards of group into its status. Its state: running
// while a shard runs (pending while all wait), paused when none runs and
// one is paused, failed when one failed, cancelled when one was cancelled,
// completed when all completed.
func (e *Engine) groupStatus(ctx context.Context, group JobRecord) (Status, error) {
	rec := group
	st := newJob(e, &rec).status()
	st.ChecksumVerified = true
	var states []State
	for _, id := range group.Shards {
		s, err := e.Lookup(ctx, id)
		if errors.Is(err, ErrUnknownJob) {
			continue // expired before its group
		}
		if err != nil {
			return Status{}, err
		}
		st.BytesDone += s.BytesDone
		st.BytesTotal += s.BytesTotal
		st.FilesDone += s.FilesDone
		st.FilesFailed += s.FilesFailed
		st.FilesTotal += s.FilesTotal
		st.BytesPerSecond += s.BytesPerSecond
		st.ChecksumVerified = st.ChecksumVerified && s.ChecksumVerified
		st.PausedDuration = max(st.PausedDuration, s.PausedDuration) // side by side
		if s.Updated.After(st.Updated) {
			st.Updated = s.Updated
		}
		if s.Error != "" && st.Error == "" {
			st.Error = s.Error
		}
		states = append(states, s.State)
	}
	st.State = groupState(states)
	if st.BytesPerSecond > 0 && st.BytesTotal > st.BytesDone {
		st.ETA = time.Duration(float64(st.BytesTotal-st.BytesDone) / st.BytesPerSecond * float64(time.Second))
	}
	return st, nil
}

func groupState(states []State) State {
	has := func(s State) bool { return slices.Contains(states, s) }
	switch {
	case len(states) == 0:
		return Completed
	case has(Running):
		return Running
	case has(Pending):
		if has(Completed) || has(Paused) || has(Failed) {
			return Running
		}
		return Pending
	case has(Paused):
		return Paused
	case has(Failed):
		return Failed
	case has(Cancelled):
		return Cancelled
	}
	return Completed
}

// settleGroup records the final state of shard's group once every shard
// has ended, so that the group expires with its shards (Expire deletes
// finished jobs) and reads as finished without its shards.
func (e *Engine) settleGroup(ctx context.Context, shard *JobRecord) {
	if shard.Group == "" || !shard.State.Final() {
		return
	}
	ctx = context.WithoutCancel(ctx)
	group, err := e.journal.Get(ctx, shard.Group)
	if err != nil {
		return
	}
	st, err := e.groupStatus(ctx, *group)
	if err != nil || !st.State.Final() || group.State == st.State {
		return
	}
	group.State, group.Error, group.Updated = st.State, st.Error, st.Updated
	if err := e.journal.Put(ctx, group); err != nil {
		e.log.Error("transfer: journal", "job", group.ID, "err", err)
	}
	// Subscribers that hold the group's id hear that it ended.
	e.emit(Event{Type: EventState, Status: st})
}

// eachShard calls fn for every shard of group id and joins the errors
// that matter: a shard already in the state fn wants is not an error.
func (e *Engine) eachShard(ctx context.Context, group *JobRecord, fn func(ctx context.Context, id string) error) error {
	// At once: a pause waits for each shard's runner to record it.
	results := make([]error, len(group.Shards))
	var wg sync.WaitGroup
	for i, id := range group.Shards {
		wg.Go(func() { results[i] = fn(ctx, id) })
	}
	wg.Wait()
	var errs []error
	acted := false
	for _, err := range results {
		switch {
		case err == nil:
			acted = true
		case errors.Is(err, ErrBadState), errors.Is(err, ErrUnknownJob):
		default:
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !acted {
		st, _ := e.groupStatus(ctx, *group)
		return fmt.Errorf("%w: job %s is %s", ErrBadState, group.ID, st.State)
	}
	return nil
}
