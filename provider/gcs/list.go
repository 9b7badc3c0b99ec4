package gcs

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/amove/amove-go/provider"
)

const defaultPageSize = 1000

// Listing tokens are the driver's own, not Cloud Storage's page tokens: a
// token names the last entry handed out ("k" + key for an object, "f" +
// prefix for a folder), and the next page starts there with StartOffset.
// That keeps folders and objects in one key order across pages with any
// MaxKeys (Cloud Storage counts prefixes and items together per page, and
// fake-gcs-server returns every prefix on every page), so paging neither
// repeats nor loses a folder.
type position struct {
	folder bool
	name   string
}

func (p position) token() string {
	kind := "k"
	if p.folder {
		kind = "f"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + p.name))
}

func parseToken(tok string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || (b[0] != 'k' && b[0] != 'f') {
		return position{}, fmt.Errorf("%w: gcs: bad continuation token", provider.ErrInvalid)
	}
	return position{folder: b[0] == 'f', name: string(b[1:])}, nil
}

// startOffset is the first name a listing after p may return: the key
// itself (Cloud Storage's StartOffset is inclusive; the caller skips it) or
// the first name after every key under the folder prefix.
func (p position) startOffset() string {
	if !p.folder {
		return p.name
	}
	return prefixEnd(p.name)
}

// prefixEnd returns the smallest string greater than every string starting
// with prefix. Keys are valid UTF-8, so no byte is 0xff and incrementing the
// last byte that is below 0xff suffices.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "" // unreachable for valid keys
}

// entry is one listed item or prefix.
type entry struct {
	name  string
	attrs *storage.ObjectAttrs // nil for a prefix
}

func (e entry) pos() position { return position{folder: e.attrs == nil, name: e.name} }

// ListObjects returns one page in key order, folders (prefixes) merged with
// objects. The marker object of the listed folder itself is left out, and so
// is the multipart staging area unless the listing is inside it.
func (s *Storage) ListObjects(ctx context.Context, bucket string, opts provider.ListOptions) (provider.Page, error) {
	limit := opts.MaxKeys
	if limit <= 0 || limit > defaultPageSize {
		limit = defaultPageSize
	}
	var after *position
	if opts.Token != "" {
		p, err := parseToken(opts.Token)
		if err != nil {
			return provider.Page{}, err
		}
		after = &p
	}
	hideStaging := !strings.HasPrefix(opts.Prefix, uploadsRoot)

	var page provider.Page
	for {
		entries, more, err := s.fetch(ctx, bucket, opts, after, limit-len(page.Objects))
		if err != nil {
			return provider.Page{}, err
		}
		if more && len(entries) == 0 {
			// fetch always returns a new entry when more follows; a server
			// that breaks that would otherwise spin here.
			return provider.Page{}, fmt.Errorf("gcs: listing %s made no progress", bucket)
		}
		for _, e := range entries {
			skip := (hideStaging && strings.HasPrefix(e.name, uploadsRoot)) ||
				// the marker of the folder being listed
				(e.attrs != nil && e.name == opts.Prefix && opts.Delimiter != "" && strings.HasSuffix(e.name, opts.Delimiter))
			if !skip && len(page.Objects) == limit {
				// A full page with entries left: they start the next one.
				page.NextToken = after.token()
				return page, nil
			}
			p := e.pos()
			after = &p
			if !skip {
				page.Objects = append(page.Objects, toObject(e))
			}
		}
		if !more {
			return page, nil
		}
		if len(page.Objects) == limit {
			page.NextToken = after.token()
			return page, nil
		}
		// Short of limit because entries were skipped: fetch on from after.
	}
}

func toObject(e entry) provider.Object {
	if e.attrs == nil {
		return provider.Object{Key: e.name, IsFolder: true}
	}
	return objectFrom(e.attrs)
}

// listAttrs are the fields a listing needs, to keep responses small.
var listAttrs = []string{"Name", "Size", "Updated", "Etag", "ContentType", "MD5", "CRC32C"}

// fetch lists up to want entries after the position after, sorted by name,
// and reports whether more may follow. It returns only entries it knows to
// be complete: everything up to the last one returned was seen, so the next
// fetch can start after it.
func (s *Storage) fetch(ctx context.Context, bucket string, opts provider.ListOptions, after *position, want int) ([]entry, bool, error) {
	q := &storage.Query{Prefix: opts.Prefix, Delimiter: opts.Delimiter, Projection: storage.ProjectionNoACL}
	if err := q.SetAttrSelection(listAttrs); err != nil {
		return nil, false, err
	}
	n := want
	if after != nil {
		q.StartOffset = after.startOffset()
		if !after.folder {
			n++ // StartOffset is inclusive: the last key comes back
		}
	}
	var attrs []*storage.ObjectAttrs
	tok, err := iterator.NewPager(s.bucket(ctx, bucket).Objects(ctx, q), n, "").NextPage(&attrs)
	if err != nil {
		return nil, false, mapErr(err, bucket)
	}
	entries := make([]entry, 0, len(attrs))
	items := 0
	lastItem := ""
	for _, a := range attrs {
		e := entry{name: a.Prefix}
		if a.Prefix == "" {
			e = entry{name: a.Name, attrs: a}
			items++
			lastItem = max(lastItem, a.Name)
		}
		if after != nil && (e.name < q.StartOffset || (e.attrs != nil && !after.folder && e.name == after.name)) {
			continue // at or before the position: already handed out
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Compare(a.name, b.name) })
	if tok == "" {
		return entries, false, nil
	}
	// More follows. Cloud Storage pages are contiguous ranges of names, so
	// every entry returned is complete. fake-gcs-server pages only the items
	// (n of them) and adds every prefix on every page, so prefixes past the
	// last item may hide items not yet returned: when the page holds n
	// items, trust it only up to the last item. Either way the cut keeps at
	// least one new entry, so the listing progresses.
	if items >= n {
		cut, found := slices.BinarySearchFunc(entries, lastItem, func(e entry, name string) int { return cmp.Compare(e.name, name) })
		if found {
			cut++
		}
		entries = entries[:cut]
	}
	return entries, true, nil
}
