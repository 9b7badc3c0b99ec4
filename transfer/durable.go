package transfer

import (
	"context"
	"errors"
	"os"
	"sync"
)

// Small downloads are made durable in batches. A download is recorded
// done only once its bytes and its name are durable, so a crash never
// leaves a file that the journal calls done and that is not whole on
// disk. For a large file that costs one fsync of the file and one of its
// folder, after its writeback started as the ranges landed
// (startWriteback). For thousands of small files the same two fsyncs per
// file cost more than the bytes: each waits for the disk while it holds a
// worker. So on Linux, where a syncfs(2) of a local file system makes
// every file's bytes and names durable (fsID, sharedSyncWorks), a small
// download written to an unnamed file (createAnon) is committed like
// this, outside the worker's slot (job.deferCommit):
//
//  1. its bytes are written and checked against the source's digest, its
//     mode set: the file has no name; a crash now leaves nothing (the
//     file system frees an unnamed file on mount) and the journal does
//     not call the item done, so a resume fetches it again;
//  2. it waits for a sync of the file system that began after it got
//     here (the barrier): its bytes and inode are durable, still without
//     a name, so a crash leaves nothing, as in 1;
//  3. it is linked to its name (linkAnon): a crash now leaves either no
//     name or the name of the whole, durable file; the journal does not
//     call the item done, so a resume fetches it again and finds its
//     name taken by the same bytes, which it takes as the download
//     (linkAnon: sameBytes), as after a crash between the link and the
//     journal record of the per-file commit;
//  4. it waits for the next such sync: the name is durable;
//  5. the journal records the item done.
//
// A power loss at any step therefore leaves what the per-file commit
// (fsync, link, fsync of the folder) would: no file, or the whole file,
// and never a done item without its file. The difference is only who
// pays the syncs: callers that arrive while a sync runs share the next
// one (groupCommit), so a batch of small files costs one or two syncs in
// all, and the worker that fetched a file fetches the next meanwhile.
// A syncfs also writes the dirty data of other programs on that file
// system; the fsync per file is kept for large files, for partial files,
// and wherever syncfs is not known to suffice.

// fsBarriers are the engine's durability barriers, one per local file
// system (device), shared by every job that writes there.
type fsBarriers struct {
	mu sync.Mutex
	m  map[uint64]*groupCommit[int]
}

// of is the barrier of the file system that holds the folder d, or nil
// where a shared sync does not make files durable (fsID). A barrier's
// commit syncs through the committer's folder descriptor (the first
// value of its batch).
func (b *fsBarriers) of(d *os.File) *groupCommit[int] {
	dev, ok := fsID(d)
	if !ok {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if g, ok := b.m[dev]; ok {
		return g
	}
	if b.m == nil {
		b.m = map[uint64]*groupCommit[int]{}
	}
	g := &groupCommit[int]{commit: func(_ context.Context, fds []int) error { return syncFS(fds[0]) }}
	b.m[dev] = g
	return g
}

// maxPending bounds the small downloads of a run that wait for their
// durable commit, each with its file open, per unit of concurrency.
const maxPending = 8

// pendingCommits are the durable commits of a run's small downloads that
// go on outside the workers' slots (job.deferCommit).
type pendingCommits struct {
	wg     sync.WaitGroup
	tokens chan struct{}
	fail   func(int, error)
}

func newPendingCommits(conc int, fail func(int, error)) *pendingCommits {
	return &pendingCommits{tokens: make(chan struct{}, maxPending*conc), fail: fail}
}

// deferCommit commits the checked unnamed file f of item i through the
// shared barrier of its folder, outside the worker's slot: the worker
// goes on fetching while the file waits for a sync (see above). It
// blocks while too many commits are pending.
func (j *job) deferCommit(ctx context.Context, i int, it ItemRecord, lf localFile, f *os.File, verified bool) {
	p := j.pending
	p.tokens <- struct{}{}
	p.wg.Go(func() {
		err := lf.commitAnon(ctx, f, j.rec.Overwrite, true)
		<-p.tokens // before the fallback below waits for a slot
		if errors.Is(err, errNoAnonLink) {
			// Again through a partial file, in a worker's slot.
			j.noAnon.Store(true)
			err = j.slot(ctx, func() error { return j.downloadWhole(ctx, i, it) })
		} else if err == nil {
			j.bytesDone.Add(it.Size)
			j.markItem(ctx, i, ItemUpdate{Done: true, Verified: verified})
		}
		if err != nil && !errors.Is(err, errYield) {
			p.fail(i, err)
		}
	})
}

// wait returns once every deferred commit ended.
func (p *pendingCommits) wait() {
	if p != nil {
		p.wg.Wait()
	}
}
