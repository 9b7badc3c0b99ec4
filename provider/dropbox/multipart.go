package dropbox

import (
	"context"
	"crypto/rand"
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
//     options.MaxBuffered bytes across the upload) and returns; beyond that
//     it blocks until its turn comes or ctx ends;
//   - ListParts reports appended and held parts; CompleteMultipart appends
//     what is still held, then commits with upload_session/finish.
//
// Integrity: every append carries the content_hash of the part, which
// Dropbox checks on receipt (content_hash_mismatch is provider.ErrChecksum).
// A part appended during its own UploadPart returns that hash as
// Part.Checksum (provider.HashDropbox); a part only held in memory returns a
// zero Checksum, since nothing has checked it yet (ListParts reports the
// checksum once it is appended). CompleteMultipart compares the content_hash
// Dropbox computes over the committed file with the content_hash of the
// parts' bytes in order, and sets Object.Verified.
//
// Dropbox cannot list a session's parts, so the part table lives in this
// process: after a restart ListParts and UploadPart of an older session are
// ErrNotFound and the engine starts the file again. CompleteMultipart of
// such a session commits it when Dropbox holds exactly the parts given (the
// offset check refuses anything else), but without the running
// content_hash it cannot verify the file: Verified stays empty. Dropbox has
// no abort either; an abandoned session expires after 7 days.

type session struct {
	bucket, key string

	mu       sync.Mutex
	next     int   // number of the next part to append
	offset   int64 // bytes appended
	parts    []provider.Part
	held     map[int]heldPart
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

// CreateMultipart implements provider.MultipartUploader: it starts a Dropbox
// upload session and keeps its part table in this process, since Dropbox
// cannot list a session's parts (the comment at the top of this file).
func (s *Storage) CreateMultipart(ctx context.Context, bucket, key string, opts provider.WriteOptions) (provider.Upload, error) {
	if err := provider.NoMetadata("dropbox", opts); err != nil {
		return provider.Upload{}, err
	}
	if err := checkBucket(bucket); err != nil {
		return provider.Upload{}, err
	}
	id, err := s.startSession(ctx)
	if err != nil {
		return provider.Upload{}, mapErr(err, "dropbox: upload session "+key)
	}
	s.upMu.Lock()
	s.uploads[id] = &session{bucket: bucket, key: key, next: 1, held: map[int]heldPart{},
		hash: provider.NewDropboxHash(), turn: make(chan struct{})}
	s.upMu.Unlock()
	return provider.Upload{Bucket: bucket, Key: key, ID: id}, nil
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

// heldPart is a part kept in memory until the parts before it are
// appended. sum is its content_hash, also its ETag: 64 hex digits, which
// nothing mistakes for an MD5, and the driver's own tag, not a checksum
// Dropbox vouched for (Part.Checksum is).
type heldPart struct {
	data []byte
	sum  string
}

// UploadPart implements provider.MultipartUploader: the next part in order
// is appended at once with its content_hash, which Dropbox checks; a later
// part is held in memory until its turn, blocking once Options.MaxBuffered
// bytes are held. A session unknown to this process is ErrNotFound.
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
	hp := heldPart{data: data, sum: contentHash(data)}
	// Held parts claim no checksum: nothing has checked their bytes.
	part := provider.Part{Number: n, Size: size, ETag: hp.sum}
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
			err := s.appendPart(ctx, u, ss, hp)
			if err == nil {
				err = s.drain(ctx, u, ss)
			}
			var got provider.Part
			if err == nil || len(ss.parts) >= n {
				got = ss.parts[n-1] // appended, so Dropbox checked its content_hash
			}
			ss.mu.Unlock()
			if got.Number == 0 {
				return provider.Part{}, err
			}
			// A later held part that failed to append is not this part's
			// failure: it stays held for CompleteMultipart to try again.
			return got, nil
		case ss.held[n].data != nil || ss.buffered+size <= s.opts.MaxBuffered:
			if old, ok := ss.held[n]; ok {
				ss.buffered -= int64(len(old.data))
			}
			ss.held[n] = hp
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

// appendPart appends data as part ss.next with its content_hash, which
// Dropbox checks; ss.mu is held.
func (s *Storage) appendPart(ctx context.Context, u provider.Upload, ss *session, hp heldPart) error {
	if err := s.appendChunk(ctx, u.ID, ss.offset, hp.data, hp.sum); err != nil {
		return mapErr(err, fmt.Sprintf("dropbox: append part %d of %s", ss.next, ss.key))
	}
	ss.parts = append(ss.parts, provider.Part{Number: ss.next, Size: int64(len(hp.data)), ETag: hp.sum,
		Checksum: provider.Checksum{Hash: provider.HashDropbox, Value: hp.sum}})
	ss.offset += int64(len(hp.data))
	ss.hash.Write(hp.data)
	ss.next++
	close(ss.turn) // wake the parts waiting for their turn
	ss.turn = make(chan struct{})
	return nil
}

// drain appends the held parts that are now next; ss.mu is held.
func (s *Storage) drain(ctx context.Context, u provider.Upload, ss *session) error {
	for {
		hp, ok := ss.held[ss.next]
		if !ok {
			return nil
		}
		if err := s.appendPart(ctx, u, ss, hp); err != nil {
			return err // stays held; CompleteMultipart tries again
		}
		delete(ss.held, ss.next-1)
		ss.buffered -= int64(len(hp.data))
	}
}

// CompleteMultipart implements provider.MultipartUploader: it appends the
// parts still held, commits the session with upload_session/finish, and
// compares Dropbox's content_hash of the file with that of the parts' bytes,
// setting Object.Verified. A session of an earlier process is committed
// unverified.
func (s *Storage) CompleteMultipart(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	parts = provider.SortedParts(parts)
	if err := checkBucket(u.Bucket); err != nil {
		return provider.Object{}, err
	}
	ss, err := s.session(u)
	if err != nil {
		return s.completeUnknown(ctx, u, parts)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.done {
		return provider.Object{}, fmt.Errorf("%w: upload %s is finished", provider.ErrInvalid, u.ID)
	}
	if err := s.drain(ctx, u, ss); err != nil {
		return provider.Object{}, err
	}
	if len(parts) != len(ss.parts) || len(ss.held) > 0 {
		return provider.Object{}, fmt.Errorf("%w: %d parts given, %d appended in order (%d held after a gap)",
			provider.ErrInvalid, len(parts), len(ss.parts), len(ss.held))
	}
	if err := checkParts(parts); err != nil {
		return provider.Object{}, err
	}
	for i, p := range parts {
		got := ss.parts[i]
		if p.Number != got.Number || p.Size != got.Size || (p.ETag != "" && p.ETag != got.ETag) {
			return provider.Object{}, fmt.Errorf("%w: part %d does not match what was uploaded", provider.ErrInvalid, p.Number)
		}
	}
	m, err := s.finish(ctx, u.ID, ss.offset, nil, overwrite(u.Key))
	if err != nil {
		return provider.Object{}, mapErr(err, "dropbox: finish "+u.Key)
	}
	ss.done = true
	s.upMu.Lock()
	delete(s.uploads, u.ID)
	s.upMu.Unlock()
	return m.verify(u.Key, ss.hash.Sum(nil))
}

// checkParts applies the part rules: numbers 1..n in order, every part but
// the last a multiple of 4 MiB.
func checkParts(parts []provider.Part) error {
	if len(parts) == 0 {
		return fmt.Errorf("%w: no parts", provider.ErrInvalid)
	}
	for i, p := range parts {
		if p.Number != i+1 {
			return fmt.Errorf("%w: part %d given as number %d", provider.ErrInvalid, i+1, p.Number)
		}
		if i < len(parts)-1 && (p.Size < blockSize || p.Size%blockSize != 0) {
			return fmt.Errorf("%w: part %d has %d bytes; all but the last must be a multiple of 4 MiB",
				provider.ErrInvalid, p.Number, p.Size)
		}
	}
	return nil
}

// completeUnknown commits a session this process did not start (the
// engine resuming after a restart with every part journaled as sent).
// Dropbox's offset check makes sure the session holds exactly the parts'
// bytes; parts an earlier process only held in memory are lost, which is
// ErrNotFound so the engine starts the file again. The running content_hash
// died with the earlier process, so the object is returned unverified.
func (s *Storage) completeUnknown(ctx context.Context, u provider.Upload, parts []provider.Part) (provider.Object, error) {
	if err := checkParts(parts); err != nil {
		return provider.Object{}, err
	}
	var size int64
	for _, p := range parts {
		size += p.Size
	}
	m, err := s.finish(ctx, u.ID, size, nil, overwrite(u.Key))
	var ae *apiError
	if errors.As(err, &ae) && ae.has("incorrect_offset") {
		return provider.Object{}, fmt.Errorf("%w: dropbox upload session %q holds %d bytes, not the %d of the parts given; upload them again",
			provider.ErrNotFound, u.ID, ae.CorrectOffset, size)
	}
	if err != nil {
		return provider.Object{}, mapErr(err, "dropbox: finish "+u.Key)
	}
	if m.Size != size {
		return provider.Object{}, fmt.Errorf("dropbox: %s: stored %d bytes, want %d", u.Key, m.Size, size)
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

// ListParts implements provider.MultipartUploader from this process's part
// table: the appended parts with their content_hash, and the held ones
// without a checksum.
func (s *Storage) ListParts(_ context.Context, u provider.Upload) ([]provider.Part, error) {
	ss, err := s.session(u)
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := append([]provider.Part(nil), ss.parts...)
	for n, hp := range ss.held {
		// Held, not sent: no Checksum.
		out = append(out, provider.Part{Number: n, Size: int64(len(hp.data)), ETag: hp.sum})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// ListUploads implements provider.MultipartUploader with the sessions this
// process started, since Dropbox cannot list them.
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
