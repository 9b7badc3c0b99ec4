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
		{"Delete", testDelete},
		{"ConcurrentAddPart", testConcurrentAddPart},
		{"ManyItems", testManyItems},
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
	return transfer.PartRecord{Number: n, Size: int64(n) * 100, ETag: fmt.Sprintf("%q", tag+strconv.Itoa(n)), MD5: fmt.Sprintf("%032x", n)}
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
	rec.Items[0].SrcMD5 = "d41d8cd98f00b204e9800998ecf8427e"
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

// testList: every job, ordered by id, without parts.
func testList(t *testing.T, j transfer.Journal) {
	ctx := context.Background()
	if list, err := j.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List of an empty journal = %d jobs, %v", len(list), err)
	}
	var want []*transfer.JobRecord
	for _, id := range []string{"job-b", "job-a", "job-c"} {
		rec := Plan(id, 2)
		rec.State = transfer.Paused
		put(t, j, rec)
		update(t, j, id, 0, transfer.ItemUpdate{UploadID: "u-" + id})
		addPart(t, j, id, 0, Part(1, id))
		want = append(want, rec)
	}
	slices.SortFunc(want, func(a, b *transfer.JobRecord) int { return cmp.Compare(a.ID, b.ID) })
	list, err := j.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("List = %d jobs, want %d", len(list), len(want))
	}
	for i, got := range list {
		for _, it := range got.Items {
			if len(it.Parts) > 0 {
				t.Errorf("List: job %s has parts", got.ID)
			}
		}
		// Items are optional in List (the engine calls Get for them).
		g, w := *got, *want[i]
		g.Items, w.Items = nil, nil
		Equal(t, "List["+strconv.Itoa(i)+"]", &g, &w)
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
	list, err := j.List(ctx)
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
	list, err := j.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %d jobs, %v", len(list), err)
	}
}
