// Package journaltest is the conformance suite for transfer.Journal: every
// implementation (memory, file, the SQLite and PostgreSQL stores) runs it, so
// a job resumes the same way whichever journal holds it.
package journaltest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/amove/amove-go/provider"
	"github.com/amove/amove-go/transfer"
)

// Run runs the suite. newJournal returns a fresh, empty journal for each
// subtest; releasing it (Close) is up to newJournal, through t.Cleanup.
func Run(t *testing.T, newJournal func(t *testing.T) transfer.Journal) {
	tests := []struct {
		name string
		fn   func(t *testing.T, j transfer.Journal)
	}{
		{"RoundTrip", testRoundTrip},
		{"PutKeepsProgress", testPutKeepsProgress},
		{"PutNewPlan", testPutNewPlan},
		{"UpdateItemNewUpload", testUpdateItemNewUpload},
		{"AddPartReplaces", testAddPartReplaces},
		{"UnknownJob", testUnknownJob},
		{"BadIndex", testBadIndex},
		{"List", testList},
		{"ListFilter", testListFilter},
		{"ListCounts", testListCounts},
		{"Delete", testDelete},
		{"DeleteFinished", testDeleteFinished},
		{"ConcurrentAddPart", testConcurrentAddPart},
		{"ManyItems", testManyItems},
		{"Batch", testBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newJournal(t))
		})
	}
}

var created = time.Date(2025, 3, 1, 10, 0, 0, 123456000, time.UTC)

// Plan returns a job record with n items and no progress, as the engine
// plans it. Tests outside the suite may use it as a fixture.
func Plan(id string, n int) *transfer.JobRecord {
	rec := &transfer.JobRecord{
		ID:        id,
		Kind:      transfer.Upload,
		State:     transfer.Running,
		LocalPath: "/data/in",
		Dest:      transfer.Location{Account: "acc-1", Bucket: "bucket", Key: "prefix/"},
		Options:   transfer.JobOptions{PartSize: 5 << 20, Concurrency: 4, BytesPerSecond: 1 << 20},
		Created:   created,
		Updated:   created,
	}
	for i := range n {
		rec.Items = append(rec.Items, transfer.ItemRecord{
			Src:      "/data/in/f" + strconv.Itoa(i),
			Dst:      "prefix/f" + strconv.Itoa(i),
			Size:     int64(i) * 1000,
			SrcETag:  "etag-" + strconv.Itoa(i),
			PartSize: 5 << 20,
		})
	}
	return rec
}

// Part returns part n with a size and checksums derived from n and tag.
func Part(n int, tag string) transfer.PartRecord {
	return transfer.PartRecord{Number: n, Size: int64(n) * 100, ETag: fmt.Sprintf("%q", tag+strconv.Itoa(n)),
		Checksum: provider.Checksum{Hash: provider.HashCRC32C, Value: fmt.Sprintf("%08x", n)},
		Sum:      provider.Checksum{Hash: provider.HashMD5, Value: fmt.Sprintf("%032x", n)}}
}

// Normalize returns a copy of rec in a comparable form: times in UTC, parts
// sorted by number (a journal may return them in any order) and empty
// slices as nil.
func Normalize(rec *transfer.JobRecord) *transfer.JobRecord {
	if rec == nil {
		return nil
	}
	c := *rec
	c.Created, c.Updated = c.Created.UTC(), c.Updated.UTC()
	c.Items = nil
	for _, it := range rec.Items {
		it.Parts = slices.Clone(it.Parts)
		slices.SortFunc(it.Parts, func(a, b transfer.PartRecord) int { return a.Number - b.Number })
		if len(it.Parts) == 0 {
			it.Parts = nil
		}
		c.Items = append(c.Items, it)
	}
	return &c
}

// Equal fails t when got and want differ after Normalize.
func Equal(t testing.TB, what string, got, want *transfer.JobRecord) {
	t.Helper()
	g, w := Normalize(got), Normalize(want)
	if reflect.DeepEqual(g, w) {
		return
	}
	if len(g.Items) != len(w.Items) {
		t.Fatalf("%s: %d items, want %d\n got %+v\nwant %+v", what, len(g.Items), len(w.Items), g, w)
	}
	for i := range g.Items {
		if !reflect.DeepEqual(g.Items[i], w.Items[i]) {
			t.Errorf("%s: item %d\n got %+v\nwant %+v", what, i, g.Items[i], w.Items[i])
		}
	}
	g.Items, w.Items = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: record\n got %+v\nwant %+v", what, g, w)
	}
}

func put(t *testing.T, j transfer.Journal, rec *transfer.JobRecord) {
	t.Helper()
	if err := j.Put(context.Background(), rec); err != nil {
		t.Fatalf("Put %s: %v", rec.ID, err)
	}
}

func update(t *testing.T, j transfer.Journal, id string, i int, u transfer.ItemUpdate) {
	t.Helper()
	if err := j.UpdateItem(context.Background(), id, i, u); err != nil {
		t.Fatalf("UpdateItem %s/%d: %v", id, i, err)
	}
}

func addPart(t *testing.T, j transfer.Journal, id string, i int, p transfer.PartRecord) {
	t.Helper()
	if err := j.AddPart(context.Background(), id, i, p); err != nil {
		t.Fatalf("AddPart %s/%d/%d: %v", id, i, p.Number, err)
	}
}

func get(t *testing.T, j transfer.Journal, id string) *transfer.JobRecord {
	t.Helper()
	rec, err := j.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return rec
}

// testRoundTrip: a plan comes back as it went in, including item progress
// and parts the plan already carries (a job imported mid-way).
func testRoundTrip(t *testing.T, j transfer.Journal) {
	rec := Plan("job-rt", 3)
	rec.Kind = transfer.Copy
	rec.Error = "last attempt: timeout"
	rec.Source = transfer.Location{Account: "acc-0", Bucket: "src", Key: "a/"}
	rec.Items[1].UploadID = "upload-1"
	rec.Items[1].Parts = []transfer.PartRecord{Part(1, "a"), Part(2, "a")}
	rec.Items[2].Done, rec.Items[2].Verified = true, true
	rec.Items[0].Failed = "access denied"
	rec.Items[0].SrcSum = provider.Checksum{Hash: provider.HashMD5, Value: "d41d8cd98f00b204e9800998ecf8427e"}
	put(t, j, rec)
	Equal(t, "Get", get(t, j, rec.ID), rec)

	// The journal keeps its own copy: changing the caller's record after
	// Put or the returned record after Get changes nothing stored.
	want := Normalize(rec)
	rec.Items[1].Parts[0].ETag = "changed"
	got := get(t, j, rec.ID)
	got.Items[1].Parts = nil
	Equal(t, "Get after changing copies", get(t, j, rec.ID), want)
}

// testPutKeepsProgress: the engine re-puts the plan on every state change;
// that must not roll back item progress or parts recorded since.
func testPutKeepsProgress(t *testing.T, j transfer.Journal) {
	rec := Plan("job-keep", 3)
	put(t, j, rec)
	update(t, j, rec.ID, 0, transfer.ItemUpdate{Done: true, Verified: true})
	update(t, j, rec.ID, 1, transfer.ItemUpdate{UploadID: "u1"})
	addPart(t, j, rec.ID, 1, Part(1, "u1"))
	addPart(t, j, rec.ID, 1, Part(2, "u1"))

	again := Plan(rec.ID, 3)
	again.State = transfer.Paused
	again.Error = "paused by user"
	again.Updated = created.Add(time.Minute)
	put(t, j, again)

	want := Plan(rec.ID, 3)
	want.State, want.Error, want.Updated = again.State, again.Error, again.Updated
	want.Items[0].Done, want.Items[0].Verified = true, true
	want.Items[1].UploadID = "u1"
	want.Items[1].Parts = []transfer.PartRecord{Part(1, "u1"), Part(2, "u1")}
	Equal(t, "Get after second Put", get(t, j, rec.ID), want)
}

// testPutNewPlan: a plan with another item count replaces the items, and
// nothing of the old items' progress leaks into the new ones.
func testPutNewPlan(t *testing.T, j transfer.Journal) {
	rec := Plan("job-new", 2)
	put(t, j, rec)
	update(t, j, rec.ID, 0, transfer.ItemUpdate{UploadID: "old", Done: true})
	addPart(t, j, rec.ID, 0, Part(1, "old"))
	addPart(t, j, rec.ID, 1, Part(1, "old"))

	next := Plan(rec.ID, 3)
	next.Items[2].UploadID = "new"
	next.Items[2].Parts = []transfer.PartRecord{Part(3, "new")}
	put(t, j, next)
	Equal(t, "Get after a new plan", get(t, j, rec.ID), next)

	addPart(t, j, rec.ID, 2, Part(4, "new"))
	next.Items[2].Parts = append(next.Items[2].Parts, Part(4, "new"))
	Equal(t, "Get after AddPart", get(t, j, rec.ID), next)
}

// testUpdateItemNewUpload: the same upload id keeps the parts, a new one
// starts the item from nothing.
func testUpdateItemNewUpload(t *testing.T, j transfer.Journal) {
	rec := Plan("job-upload", 2)
	put(t, j, rec)
	update(t, j, rec.ID, 0, transfer.ItemUpdate{UploadID: "u1"})
	addPart(t, j, rec.ID, 0, Part(1, "u1"))
	addPart(t, j, rec.ID, 0, Part(2, "u1"))
	addPart(t, j, rec.ID, 1, Part(1, "other"))

	update(t, j, rec.ID, 0, transfer.ItemUpdate{UploadID: "u1", Failed: "retrying"})
	want := Plan(rec.ID, 2)
	want.Items[0].UploadID, want.Items[0].Failed = "u1", "retrying"
	want.Items[0].Parts = []transfer.PartRecord{Part(1, "u1"), Part(2, "u1")}
	want.Items[1].Parts = []transfer.PartRecord{Part(1, "other")}
	Equal(t, "same upload id", get(t, j, rec.ID), want)

	update(t, j, rec.ID, 0, transfer.ItemUpdate{UploadID: "u2"})
	want.Items[0].UploadID, want.Items[0].Failed, want.Items[0].Parts = "u2", "", nil
	Equal(t, "new upload id", get(t, j, rec.ID), want)

	addPart(t, j, rec.ID, 0, Part(1, "u2"))
	want.Items[0].Parts = []transfer.PartRecord{Part(1, "u2")}
	Equal(t, "part of the new upload", get(t, j, rec.ID), want)

	// Done clears the upload id (the upload is complete): that too is a
	// change, and the parts go.
	update(t, j, rec.ID, 0, transfer.ItemUpdate{Done: true, Verified: true})
	want.Items[0] = Plan(rec.ID, 2).Items[0]
	want.Items[0].Done, want.Items[0].Verified = true, true
	Equal(t, "done", get(t, j, rec.ID), want)
}

// testAddPartReplaces: a part sent twice (a retry after an unknown outcome)
// is recorded once, with the last values.
func testAddPartReplaces(t *testing.T, j transfer.Journal) {
	rec := Plan("job-replace", 1)
	put(t, j, rec)
	update(t, j, rec.ID, 0, transfer.ItemUpdate{UploadID: "u"})
	addPart(t, j, rec.ID, 0, Part(1, "first"))
	addPart(t, j, rec.ID, 0, Part(2, "first"))
	addPart(t, j, rec.ID, 0, Part(1, "second"))
	want := Plan(rec.ID, 1)
	want.Items[0].UploadID = "u"
	want.Items[0].Parts = []transfer.PartRecord{Part(1, "second"), Part(2, "first")}
	Equal(t, "Get", get(t, j, rec.ID), want)
}

func testUnknownJob(t *testing.T, j transfer.Journal) {
	ctx := context.Background()
	put(t, j, Plan("job-known", 1))
	if _, err := j.Get(ctx, "job-unknown"); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("Get = %v, want ErrUnknownJob", err)
	}
	if err := j.UpdateItem(ctx, "job-unknown", 0, transfer.ItemUpdate{Done: true}); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("UpdateItem = %v, want ErrUnknownJob", err)
	}
	if err := j.AddPart(ctx, "job-unknown", 0, Part(1, "x")); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("AddPart = %v, want ErrUnknownJob", err)
	}
	if err := j.Delete(ctx, "job-unknown"); err != nil {
		t.Errorf("Delete of an unknown job = %v, want nil", err)
	}
	if _, err := j.Get(ctx, "job-unknown"); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("Get after writes to an unknown job = %v, want ErrUnknownJob", err)
	}
}

// testBadIndex: an item index outside the plan is an error and leaves the
// job readable.
func testBadIndex(t *testing.T, j transfer.Journal) {
	ctx := context.Background()
	rec := Plan("job-index", 2)
	put(t, j, rec)
	for _, i := range []int{-1, 2, 1000} {
		if err := j.UpdateItem(ctx, rec.ID, i, transfer.ItemUpdate{Done: true}); err == nil || errors.Is(err, transfer.ErrUnknownJob) {
			t.Errorf("UpdateItem(%d) = %v, want an index error", i, err)
		}
		if err := j.AddPart(ctx, rec.ID, i, Part(1, "x")); err == nil || errors.Is(err, transfer.ErrUnknownJob) {
			t.Errorf("AddPart(%d) = %v, want an index error", i, err)
		}
	}
	Equal(t, "Get", get(t, j, rec.ID), rec)
}

// testList: every job, oldest first (then by id), without items.
func testList(t *testing.T, j transfer.Journal) {
	ctx := context.Background()
	if list, err := j.List(ctx, transfer.ListFilter{}); err != nil || len(list) != 0 {
		t.Fatalf("List of an empty journal = %d jobs, %v", len(list), err)
	}
	var want []*transfer.JobRecord
	for k, id := range []string{"job-b", "job-a", "job-c", "job-0"} {
		rec := Plan(id, 2)
		rec.State = transfer.Paused
		rec.Owner = "tenant/user"
		if id != "job-a" {
			// job-a and job-b were created at the same time: the id
			// orders them; job-0 is the youngest.
			rec.Created = created.Add(time.Duration(k) * time.Second)
		}
		put(t, j, rec)
		update(t, j, id, 0, transfer.ItemUpdate{UploadID: "u-" + id})
		addPart(t, j, id, 0, Part(1, id))
		want = append(want, rec)
	}
	slices.SortFunc(want, func(a, b *transfer.JobRecord) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	list, err := j.List(ctx, transfer.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("List = %d jobs, want %d", len(list), len(want))
	}
	for i, got := range list {
		if got.Items != nil {
			t.Errorf("List: job %s has items", got.ID)
		}
		w := *want[i]
		w.Items = nil
		Equal(t, "List["+strconv.Itoa(i)+"]", &got.JobRecord, &w)
	}
}

// listIDs returns the ids of the jobs f selects, in List's order.
func listIDs(t *testing.T, j transfer.Journal, f transfer.ListFilter) []string {
	t.Helper()
	list, err := j.List(context.Background(), f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	ids := []string{}
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

// testListFilter: owner, owner prefix, states and last update narrow the
// listing, together.
func testListFilter(t *testing.T, j transfer.Journal) {
	jobs := []struct {
		id, owner string
		state     transfer.State
		age       time.Duration
	}{
		{"job-1", "t1/alice", transfer.Completed, 40 * 24 * time.Hour},
		{"job-2", "t1/alice", transfer.Running, time.Hour},
		{"job-3", "t1/bob", transfer.Paused, 40 * 24 * time.Hour},
		{"job-4", "t2/alice", transfer.Failed, time.Minute},
		{"job-5", "", transfer.Cancelled, 50 * 24 * time.Hour},
		{"job-6", "t1/alicia", transfer.Pending, 0},
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	for k, jb := range jobs {
		rec := Plan(jb.id, 1)
		rec.Owner, rec.State = jb.owner, jb.state
		rec.Created = created.Add(time.Duration(k) * time.Second)
		rec.Updated = now.Add(-jb.age)
		put(t, j, rec)
	}
	cutoff := now.Add(-30 * 24 * time.Hour)
	for _, tc := range []struct {
		f    transfer.ListFilter
		want []string
	}{
		{transfer.ListFilter{}, []string{"job-1", "job-2", "job-3", "job-4", "job-5", "job-6"}},
		{transfer.ListFilter{Owner: "t1/alice"}, []string{"job-1", "job-2"}},
		{transfer.ListFilter{Owner: "nobody"}, []string{}},
		{transfer.ListFilter{OwnerPrefix: "t1/"}, []string{"job-1", "job-2", "job-3", "job-6"}},
		{transfer.ListFilter{OwnerPrefix: "t1/alic"}, []string{"job-1", "job-2", "job-6"}},
		{transfer.ListFilter{OwnerPrefix: "t1/", Owner: "t1/bob"}, []string{"job-3"}},
		{transfer.ListFilter{States: []transfer.State{transfer.Pending, transfer.Running, transfer.Paused, transfer.Failed}}, []string{"job-2", "job-3", "job-4", "job-6"}},
		{transfer.ListFilter{States: []transfer.State{transfer.Completed, transfer.Cancelled}}, []string{"job-1", "job-5"}},
		{transfer.ListFilter{UpdatedBefore: cutoff}, []string{"job-1", "job-3", "job-5"}},
		{transfer.ListFilter{UpdatedBefore: cutoff, States: []transfer.State{transfer.Paused}, OwnerPrefix: "t1/"}, []string{"job-3"}},
	} {
		if got := listIDs(t, j, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("List(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

// testListCounts: List counts bytes and files as the engine does from the
// full record (JobRecord.Counts): done items whole, parts of the items
// still under way, nothing of failed items.
func testListCounts(t *testing.T, j transfer.Journal) {
	rec := Plan("job-counts", 5) // sizes 0, 1000, 2000, 3000, 4000
	rec.Owner = "t/u"
	put(t, j, rec)
	update(t, j, rec.ID, 1, transfer.ItemUpdate{Done: true, Verified: true})
	update(t, j, rec.ID, 2, transfer.ItemUpdate{UploadID: "u2"})
	addPart(t, j, rec.ID, 2, Part(1, "u2"))
	addPart(t, j, rec.ID, 2, Part(3, "u2"))
	update(t, j, rec.ID, 3, transfer.ItemUpdate{UploadID: "u3"})
	addPart(t, j, rec.ID, 3, Part(2, "u3"))
	update(t, j, rec.ID, 3, transfer.ItemUpdate{UploadID: "u3", Failed: "denied"})
	put(t, j, Plan("job-empty", 0))
	all := Plan("job-verified", 2)
	put(t, j, all)
	update(t, j, all.ID, 0, transfer.ItemUpdate{Done: true, Verified: true})
	update(t, j, all.ID, 1, transfer.ItemUpdate{Done: true, Verified: true})

	want := map[string]transfer.Counts{
		"job-counts":   {BytesDone: 1000 + 100 + 300, BytesTotal: 10000, FilesDone: 1, FilesFailed: 1, FilesTotal: 5},
		"job-empty":    {},
		"job-verified": {BytesDone: 1000, BytesTotal: 1000, FilesDone: 2, FilesTotal: 2, Verified: true},
	}
	list, err := j.List(context.Background(), transfer.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("List = %d jobs, want %d", len(list), len(want))
	}
	for _, s := range list {
		if s.Counts != want[s.ID] {
			t.Errorf("List: %s counts %+v, want %+v", s.ID, s.Counts, want[s.ID])
		}
		if c := get(t, j, s.ID).Counts(); c != s.Counts {
			t.Errorf("%s: List counts %+v, the record's %+v", s.ID, s.Counts, c)
		}
	}
}

// testDelete: a deleted job is gone with its parts; its id can be reused
// for a new job that starts from nothing.
func testDelete(t *testing.T, j transfer.Journal) {
	ctx := context.Background()
	rec := Plan("job-del", 2)
	put(t, j, rec)
	put(t, j, Plan("job-stays", 1))
	update(t, j, rec.ID, 0, transfer.ItemUpdate{UploadID: "u", Done: true})
	addPart(t, j, rec.ID, 0, Part(1, "u"))
	if err := j.Delete(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Get(ctx, rec.ID); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("Get after Delete = %v, want ErrUnknownJob", err)
	}
	list, err := j.List(ctx, transfer.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != "job-stays" {
		t.Errorf("List after Delete = %d jobs, want job-stays only", len(list))
	}
	if err := j.AddPart(ctx, rec.ID, 0, Part(2, "u")); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("AddPart after Delete = %v, want ErrUnknownJob", err)
	}
	put(t, j, rec)
	Equal(t, "Get of a reused id", get(t, j, rec.ID), rec)
}

// testDeleteFinished: jobs in a final state last updated before the time
// go with their items and parts; unfinished and younger ones stay.
func testDeleteFinished(t *testing.T, j transfer.Journal) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	old := now.Add(-31 * 24 * time.Hour)
	for _, jb := range []struct {
		id      string
		state   transfer.State
		updated time.Time
	}{
		{"job-done-old", transfer.Completed, old},
		{"job-failed-old", transfer.Failed, old},
		{"job-cancelled-old", transfer.Cancelled, old},
		{"job-done-new", transfer.Completed, now},
		{"job-paused-old", transfer.Paused, old},
		{"job-running-old", transfer.Running, old},
		{"job-pending-old", transfer.Pending, old},
	} {
		rec := Plan(jb.id, 2)
		rec.State, rec.Updated = jb.state, jb.updated
		put(t, j, rec)
		update(t, j, jb.id, 0, transfer.ItemUpdate{UploadID: "u"})
		addPart(t, j, jb.id, 0, Part(1, "u"))
	}
	n, err := j.DeleteFinished(ctx, now.Add(-30*24*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("DeleteFinished = %d, %v; want 3", n, err)
	}
	want := []string{"job-done-new", "job-paused-old", "job-pending-old", "job-running-old"}
	if got := listIDs(t, j, transfer.ListFilter{}); !slices.Equal(got, want) {
		t.Errorf("List after DeleteFinished = %v, want %v", got, want)
	}
	for _, id := range []string{"job-done-old", "job-failed-old", "job-cancelled-old"} {
		if _, err := j.Get(ctx, id); !errors.Is(err, transfer.ErrUnknownJob) {
			t.Errorf("Get %s after DeleteFinished = %v, want ErrUnknownJob", id, err)
		}
		// The parts went too: a new job with the id starts from nothing.
		rec := Plan(id, 2)
		put(t, j, rec)
		Equal(t, "Get of a reused id", get(t, j, id), rec)
	}
	if n, err := j.DeleteFinished(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("second DeleteFinished = %d, %v; want 0", n, err)
	}
}

// testConcurrentAddPart: the engine's workers record parts of one job at
// the same time; no part may be lost and no writer may fail (for SQLite:
// no "database is locked").
func testConcurrentAddPart(t *testing.T, j transfer.Journal) {
	const workers, perWorker = 16, 25
	ctx := context.Background()
	rec := Plan("job-concurrent", 2)
	put(t, j, rec)
	update(t, j, rec.ID, 0, transfer.ItemUpdate{UploadID: "u0"})
	update(t, j, rec.ID, 1, transfer.ItemUpdate{UploadID: "u1"})
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perWorker {
				n := w*perWorker + k + 1
				if err := j.AddPart(ctx, rec.ID, n%2, Part(n, "c")); err != nil {
					errs <- fmt.Errorf("AddPart %d: %w", n, err)
					return
				}
				// Readers (status, restore) run alongside the writers.
				if k%10 == 0 {
					if _, err := j.Get(ctx, rec.ID); err != nil {
						errs <- fmt.Errorf("reading the job: %w", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := Plan(rec.ID, 2)
	want.Items[0].UploadID, want.Items[1].UploadID = "u0", "u1"
	for n := 1; n <= workers*perWorker; n++ {
		want.Items[n%2].Parts = append(want.Items[n%2].Parts, Part(n, "c"))
	}
	Equal(t, "Get", get(t, j, rec.ID), want)
}

// testManyItems: a tree of 10,000 files is one job. Each item update must
// cost about the same whatever the plan's size; a journal that rewrites the
// whole plan per update makes this test take minutes.
func testManyItems(t *testing.T, j transfer.Journal) {
	const n = 10000
	ctx := context.Background()
	rec := Plan("job-many", n)
	put(t, j, rec)
	for i := range n {
		update(t, j, rec.ID, i, transfer.ItemUpdate{Done: true, Verified: i%2 == 0})
	}
	addPart(t, j, rec.ID, n-1, Part(1, "last"))
	got := get(t, j, rec.ID)
	for i := range rec.Items {
		rec.Items[i].Done, rec.Items[i].Verified = true, i%2 == 0
	}
	rec.Items[n-1].Parts = []transfer.PartRecord{Part(1, "last")}
	Equal(t, "Get", got, rec)
	list, err := j.List(ctx, transfer.ListFilter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %d jobs, %v", len(list), err)
	}
	if c := rec.Counts(); list[0].Counts != c {
		t.Errorf("List counts %+v, want %+v", list[0].Counts, c)
	}
}

// testBatch: a JournalBatcher applies a batch in order, as the same calls
// one by one would (a new upload id clears the parts recorded before it in
// the same batch), and all or none: a batch with an item outside the plan,
// or of an unknown job, changes nothing. Journals that do not batch skip.
func testBatch(t *testing.T, j transfer.Journal) {
	b, ok := j.(transfer.JournalBatcher)
	if !ok {
		t.Skip("not a JournalBatcher")
	}
	ctx := context.Background()
	rec := Plan("job-batch", 3)
	put(t, j, rec)
	p1, p2, p3 := Part(1, "u1"), Part(2, "u1"), Part(1, "u2")
	err := b.Batch(ctx, rec.ID, []transfer.JournalEntry{
		{Index: 0, Update: transfer.ItemUpdate{Done: true, Verified: true}},
		{Index: 1, Update: transfer.ItemUpdate{UploadID: "u1"}},
		{Index: 1, Part: &p1},
		{Index: 1, Part: &p2},
		{Index: 2, Update: transfer.ItemUpdate{UploadID: "u1"}},
		{Index: 2, Part: &p1},
		{Index: 2, Update: transfer.ItemUpdate{UploadID: "u2"}},
		{Index: 2, Part: &p3},
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	want := Plan(rec.ID, 3)
	want.Items[0].Done, want.Items[0].Verified = true, true
	want.Items[1].UploadID, want.Items[1].Parts = "u1", []transfer.PartRecord{p1, p2}
	want.Items[2].UploadID, want.Items[2].Parts = "u2", []transfer.PartRecord{p3}
	Equal(t, "after Batch", get(t, j, rec.ID), want)

	// The entry outside the plan comes last: the ones before it must not
	// stay either.
	err = b.Batch(ctx, rec.ID, []transfer.JournalEntry{
		{Index: 1, Update: transfer.ItemUpdate{UploadID: "u1", Done: true}},
		{Index: 0, Part: &p1},
		{Index: 3, Update: transfer.ItemUpdate{Done: true}},
	})
	if err == nil || errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("Batch with item 3 of 3 = %v, want an index error", err)
	}
	Equal(t, "after a refused Batch", get(t, j, rec.ID), want)
	if err := b.Batch(ctx, "job-unknown", []transfer.JournalEntry{{Index: 0, Part: &p1}}); !errors.Is(err, transfer.ErrUnknownJob) {
		t.Errorf("Batch of an unknown job = %v, want ErrUnknownJob", err)
	}
}
