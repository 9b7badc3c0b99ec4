package frameio

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/amove/amove-go/provider/internal/tree"
)

// folderCache keeps recent folder listings, updated by this Storage's own
// writes and deletes. The API has no lookup by name, so without it writing
// n files into one folder would list that folder n times. Another
// client's change shows after at most ttl.
type folderCache struct {
	ttl   time.Duration
	group singleflight.Group // one listing of a folder at a time

	mu      sync.Mutex
	folders map[string]listing
	// gen counts this Storage's changes and changes keeps the latest of
	// them, so a listing that raced some can have them applied before it
	// is kept: a folder being written to is listed once, not per write.
	gen     uint64
	changes []change
}

// change is one write (entry set) or delete (removedID set) of this
// Storage, numbered by gen.
type change struct {
	gen       uint64
	parent    string
	entry     tree.Entry
	removedID string
}

// maxChanges bounds the change log; a listing that raced more changes than
// it holds is used once and not kept.
const maxChanges = 4096

type listing struct {
	at      time.Time
	entries []tree.Entry // in key order
}

// get returns parent's listing, from the cache when it is fresh, else
// from list (called once however many ask together). The caller must not
// change the slice.
func (c *folderCache) get(ctx context.Context, parent string, list func(context.Context) ([]tree.Entry, error)) ([]tree.Entry, error) {
	c.mu.Lock()
	l, ok := c.folders[parent]
	gen := c.gen
	c.mu.Unlock()
	if ok && time.Since(l.at) <= c.ttl {
		return l.entries, nil
	}
	v, err, _ := c.group.Do(parent, func() (any, error) {
		// Not the caller's context: another caller may share the result.
		entries, err := list(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		missed := c.gen - gen
		if missed > uint64(len(c.changes)) {
			return entries, nil
		}
		for _, ch := range c.changes[uint64(len(c.changes))-missed:] {
			switch {
			case ch.removedID != "":
				entries = without(entries, ch.removedID)
			case ch.parent == parent:
				entries = with(entries, ch.entry)
			}
		}
		if c.folders == nil || len(c.folders) > 1024 {
			c.folders = map[string]listing{}
		}
		c.folders[parent] = listing{at: time.Now(), entries: entries}
		return entries, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]tree.Entry), nil
}

// record numbers a change and logs it.
func (c *folderCache) record(ch change) {
	c.gen++
	ch.gen = c.gen
	if len(c.changes) == maxChanges {
		c.changes = slices.Delete(c.changes, 0, maxChanges/2)
	}
	c.changes = append(c.changes, ch)
}

// added records an entry this Storage created in parent, in place of one
// of the same key.
func (c *folderCache) added(parent string, e tree.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record(change{parent: parent, entry: e})
	if l, ok := c.folders[parent]; ok {
		c.folders[parent] = listing{at: l.at, entries: with(l.entries, e)}
	}
}

// removed forgets an entry this Storage deleted.
func (c *folderCache) removed(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record(change{removedID: id})
	for parent, l := range c.folders {
		c.folders[parent] = listing{at: l.at, entries: without(l.entries, id)}
	}
}

// with returns entries (in key order) with e in place of the entry of its
// key. It returns a new slice: readers may still hold the old one.
func with(entries []tree.Entry, e tree.Entry) []tree.Entry {
	k := keyOf(e)
	i, found := slices.BinarySearchFunc(entries, k, func(x tree.Entry, k string) int { return strings.Compare(keyOf(x), k) })
	out := slices.Clone(entries)
	if found {
		out[i] = e
		return out
	}
	return slices.Insert(out, i, e)
}

// without returns entries less the one with id, as a new slice when it
// was there.
func without(entries []tree.Entry, id string) []tree.Entry {
	i := slices.IndexFunc(entries, func(e tree.Entry) bool { return e.ID == id })
	if i < 0 {
		return entries
	}
	return slices.Delete(slices.Clone(entries), i, i+1)
}
