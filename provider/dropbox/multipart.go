package dropbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/amove/amove-go/provider"
)

var randRead = rand.Read

// Multipart uploads are Dropbox upload sessions in sequential mode. Dropbox
// appends strictly by offset, while the transfer engine sends parts
// concurrently and in any order, so:
//
//   - UploadPart of the next part appends it at once, then appends any
//     later parts held back;
//   - UploadPart of a later part keeps it in memory (up to
//     Options.MaxBuffered bytes across the upload) and returns; beyond that
//     it blocks until its turn comes or ctx ends;
//   - ListParts reports appended and held parts; CompleteMultipart appends
//     what is still held, then commits with upload_session/finish.
//
// Dropbox cannot list a session's parts, so the part table lives in this
// process: after a restart ListParts of an older session is ErrNotFound and
// the engine starts the file again. Dropbox has no abort either; an
// abandoned session expires after 7 days.

type session struct {
	bucket, key string

	mu       sync.Mutex
	next     int   // number of the next part to append
	offset   int64 // bytes appended
	parts    []provider.Part
	held     map[int][]byte
	buffered int64
	hash     hash.Hash // content_hash of the appended bytes
	turn     chan struct{}
	done     bool
}

// PartLimits: every part but the last is a multiple of 4 MiB (so sessions
// could be concurrent, and blocks align with content_hash), under 150 MB.
func (s *Storage) PartLimits() provider.PartLimits {
	return provider.PartLimits{MinPartSize: blockSize, MaxPartSize: maxPartSize, MaxParts: 10_000,
		PartMultiple: blockSize, MaxSinglePut: maxRequest}
}

func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, _ provider.WriteOptions) (provider.Upload, error) {
	if err := provider.CheckKey(bucket, key); err != nil {
		return provider.Upload{}, err
	}
	if err := checkBucket(bucket); err != nil {
		return provider.Upload{}, err
	}
	var start struct {
		SessionID string `json:"session_id"`
	}
	if err := s.upload(ctx, "files/upload_session/start", map[string]any{}, nil, &start); err != nil {
		return provider.Upload{}, mapErr(err, "dropbox: upload session "+key)
	}
	s.upMu.Lock()
	s.uploads[start.SessionID] = &session{bucket: bucket, key: key, next: 1, held: map[int][]byte{},
		hash: NewContentHash(), turn: make(chan struct{})}
	s.upMu.Unlock()
	return provider.Upload{Bucket: bucket, Key: key, ID: start.SessionID}, nil
}

func (s *Storage) session(u provider.Upload) (*session, error) {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	ss := s.uploads[u.ID]
	if ss == nil || ss.key != u.Key || ss.bucket != u.Bucket {
		return nil, fmt.Errorf("%w: dropbox upload session %q is not known to this process", provider.ErrNotFound, u.ID)
	}
	return ss, nil
}

func partETag(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func (s *Storage) UploadPart(ctx context.Context, u provider.Upload, n int, r io.ReadSeeker, size int64) (provider.Part, error) {
	if n < 1 || size < 0 || size > maxPartSize {
		return provider.Part{}, fmt.Errorf("%w: part %d of %d bytes", provider.ErrInvalid, n, size)
	}
	ss, err := s.session(u)
	if err != nil {
		return provider.Part{}, err
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return provider.Part{}, readErr2(ctx, err)
	}
	part := provider.Part{Number: n, Size: size, ETag: partETag(data)}
	ss.mu.Lock()
	for {
		switch {
		case ss.done:
			ss.mu.Unlock()
			return provider.Part{}, fmt.Errorf("%w: upload %s is finished", provider.ErrInvalid, u.ID)
		case n < ss.next:
			// A retry of an appended part: fine if it is the same part.
			got := ss.parts[n-1]
			ss.mu.Unlock()
			if got.ETag != part.ETag || got.Size != size {
				return provider.Part{}, fmt.Errorf("%w: part %d was already appended with other content", provider.ErrInvalid, n)
			}
			return got, nil
		case n == ss.next:
			err := s.appendPart(ctx, u, ss, data)
			if err == nil {
				err = s.drain(ctx, u, ss)
			}
			ss.mu.Unlock()
			if err != nil {
				return provider.Part{}, err
			}
			return part, nil
		case ss.held[n] != nil || ss.buffered+size <= s.opts.MaxBuffered:
			if old := ss.held[n]; old != nil {
				ss.buffered -= int64(len(old))
			}
			ss.held[n] = data
			ss.buffered += size
			ss.mu.Unlock()
			return part, nil
		}
		// Too much held already: wait for the parts before this one.
		turn := ss.turn
		ss.mu.Unlock()
		select {
		case <-ctx.Done():
			return provider.Part{}, ctx.Err()
		case <-turn:
		}
		ss.mu.Lock()
	}
}

// appendPart appends data as part ss.next; ss.mu is held.
func (s *Storage) appendPart(ctx context.Context, u provider.Upload, ss *session, data []byte) error {
	cursor := map[string]any{"session_id": u.ID, "offset": ss.offset}
	err := s.upload(ctx, "files/upload_session/append_v2", map[string]any{"cursor": cursor}, data, nil)
	var ae *apiError
	if errors.As(err, &ae) && ae.has("incorrect_offset") && ae.CorrectOffset == ss.offset+int64(len(data)) {
		err = nil // an earlier try landed but its answer was lost
	}
	if err != nil {
		return mapErr(err, fmt.Sprintf("dropbox: append part %d of %s", ss.next, ss.key))
	}
	ss.parts = append(ss.parts, provider.Part{Number: ss.next, Size: int64(len(data)), ETag: partETag(data)})
	ss.offset += int64(len(data))
	ss.hash.Write(data)
	ss.next++
	close(ss.turn) // wake the parts waiting for their turn
	ss.turn = make(chan struct{})
	return nil
}

// drain appends the held parts that are now next; ss.mu is held.
func (s *Storage) drain(ctx context.Context, u provider.Upload, ss *session) error {
	for {
		data, ok := ss.held[ss.next]
		if !ok {
			return nil
		}
		if err := s.appendPart(ctx, u, ss, data); err != nil {
			return err // stays held; CompleteMultipart tries again
		}
		delete(ss.held, ss.next-1)
		ss.buffered -= int64(len(data))
	}
}

func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	ss, err := s.session(u)
	if err != nil {
		return provider.Object{}, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err := s.drain(ctx, u, ss); err != nil {
		return provider.Object{}, err
	}
	if len(parts) != len(ss.parts) || len(ss.held) > 0 {
		return provider.Object{}, fmt.Errorf("%w: %d parts given, %d appended in order (%d held after a gap)",
			provider.ErrInvalid, len(parts), len(ss.parts), len(ss.held))
	}
	for i, p := range parts {
		got := ss.parts[i]
		if p.Number != got.Number || p.Size != got.Size || p.ETag != got.ETag {
			return provider.Object{}, fmt.Errorf("%w: part %d does not match what was uploaded", provider.ErrInvalid, p.Number)
		}
		if i < len(parts)-1 && (p.Size < blockSize || p.Size%blockSize != 0) {
			return provider.Object{}, fmt.Errorf("%w: part %d has %d bytes; all but the last must be a multiple of 4 MiB",
				provider.ErrInvalid, p.Number, p.Size)
		}
	}
	var m metadata
	err = s.upload(ctx, "files/upload_session/finish", map[string]any{
		"cursor": map[string]any{"session_id": u.ID, "offset": ss.offset},
		"commit": map[string]any{"path": dbxPath(u.Key), "mode": "overwrite", "mute": true}}, nil, &m)
	if err != nil {
		return provider.Object{}, mapErr(err, "dropbox: finish "+u.Key)
	}
	ss.done = true
	s.upMu.Lock()
	delete(s.uploads, u.ID)
	s.upMu.Unlock()
	if want := hex.EncodeToString(ss.hash.Sum(nil)); m.ContentHash != want {
		return provider.Object{}, fmt.Errorf("dropbox: %s: content_hash %s, want %s", u.Key, m.ContentHash, want)
	}
	return m.object(u.Key), nil
}

// AbortMultipart forgets the session; Dropbox drops it after 7 days.
func (s *Storage) AbortMultipart(_ context.Context, u provider.Upload) error {
	s.upMu.Lock()
	defer s.upMu.Unlock()
	if ss := s.uploads[u.ID]; ss != nil {
		ss.mu.Lock()
		ss.done = true
		close(ss.turn)
		ss.turn = make(chan struct{})
		ss.mu.Unlock()
		delete(s.uploads, u.ID)
	}
	return nil
}

func (s *Storage) ListParts(_ context.Context, u provider.Upload) ([]provider.Part, error) {
	ss, err := s.session(u)
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := append([]provider.Part(nil), ss.parts...)
	for n, b := range ss.held {
		out = append(out, provider.Part{Number: n, Size: int64(len(b)), ETag: partETag(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func (s *Storage) ListUploads(_ context.Context, bucket, prefix string) ([]provider.Upload, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	s.upMu.Lock()
	defer s.upMu.Unlock()
	var out []provider.Upload
	for id, ss := range s.uploads {
		if ss.bucket == bucket && strings.HasPrefix(ss.key, prefix) {
			out = append(out, provider.Upload{Bucket: bucket, Key: ss.key, ID: id})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
