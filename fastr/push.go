package fastr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/amove/amove-go/provider"
)

// The push engine: the source server sends one of its objects to a target
// Fastr server through an upload session on the target, in offset mode, one
// checksummed chunk at a time. Because the target's committed offset is the
// only progress record, pause, resume, a retry after a network error and a
// restart of the push all continue from the same place.

// DefaultPushChunk is the chunk size when the request names none (the spec's
// chunkSizeMB default of 64).
const DefaultPushChunk = 64 << 20

// pushRetention is how long a finished push stays visible in status calls.
const pushRetention = time.Hour

// DefaultMaxPushes is how many pushes may be unfinished at once when
// Options.MaxPushes is zero. Each holds its source file open and a
// goroutine; its chunks are streamed from the file, not buffered.
const DefaultMaxPushes = 64

type pushRegistry struct {
	mu     sync.Mutex
	pushes map[string]*push
}

func (r *pushRegistry) init() { r.pushes = map[string]*push{} }

func (r *pushRegistry) get(id string) (*push, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pushes[id]
	return p, ok
}

// add registers p unless limit pushes are unfinished already.
func (r *pushRegistry) add(p *push, now time.Time, limit int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	unfinished := 0
	for id, old := range r.pushes {
		st := old.status()
		switch {
		case st.Terminal() && st.EndTime != nil && now.Sub(*st.EndTime) > pushRetention:
			delete(r.pushes, id)
		case !st.Terminal():
			unfinished++
		}
	}
	if unfinished >= limit {
		e := errf(http.StatusTooManyRequests, CodeSlowDown, "%d pushes are unfinished, the most this server runs; try again later", unfinished)
		e.RetryAfter = time.Minute
		return e
	}
	r.pushes[p.st.ID] = p
	return nil
}

func (r *pushRegistry) all() []PushStatus {
	r.mu.Lock()
	ps := make([]*push, 0, len(r.pushes))
	for _, p := range r.pushes {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	out := make([]PushStatus, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.status())
	}
	slices.SortFunc(out, func(a, b PushStatus) int { return a.StartTime.Compare(b.StartTime) })
	return out
}

func (r *pushRegistry) stopAll() {
	r.mu.Lock()
	ps := make([]*push, 0, len(r.pushes))
	for _, p := range r.pushes {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		cancel, done := p.cancelRun, p.done
		p.mu.Unlock()
		if cancel != nil {
			cancel()
			<-done
		}
	}
}

type push struct {
	s      *Server
	target *Client
	file   *os.File // the source version being pushed, held open
	req    PushRequest

	mu        sync.Mutex
	st        PushStatus
	cancelRun context.CancelFunc // stops the current run; nil when none
	done      chan struct{}      // closed when the current run returns
}

func (p *push) status() PushStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

func invalidState(st PushStatus, format string, args ...any) *Error {
	e := errf(http.StatusConflict, CodeInvalidState, format, args...)
	e.Status = st.Status
	return e
}

// startPush validates the request, opens the source and starts the run.
func (s *Server) startPush(req PushRequest) (PushStatus, error) {
	t := req.Target
	if t.Bucket == "" || t.Key == "" || t.URL == "" {
		return PushStatus{}, errf(http.StatusBadRequest, CodeInvalidArgument, "target url, bucket and key are required")
	}
	if e := checkBucket(t.Bucket); e != nil {
		return PushStatus{}, e
	}
	if e := checkKey(t.Key); e != nil || isFolderKey(t.Key) {
		return PushStatus{}, errf(http.StatusBadRequest, CodeInvalidKey, "invalid target key %q", t.Key)
	}
	if req.ChunkSize == 0 {
		req.ChunkSize = DefaultPushChunk
	}
	if req.ChunkSize < MinPartSize || req.ChunkSize > MaxPartSize {
		return PushStatus{}, errf(http.StatusBadRequest, CodeInvalidArgument, "chunk size %d outside %d..%d", req.ChunkSize, MinPartSize, int64(MaxPartSize))
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return PushStatus{}, errf(http.StatusBadRequest, CodeInvalidArgument, "invalid target url")
	}
	if s.opts.AllowPushTarget != nil {
		if err := s.opts.AllowPushTarget(u); err != nil {
			return PushStatus{}, errf(http.StatusForbidden, CodeAccessDenied, "target not allowed: %v", err)
		}
	}
	target, err := NewClient(t.URL, t.AccessKey, t.SecretKey, s.opts.PushClient)
	if err != nil {
		return PushStatus{}, errf(http.StatusBadRequest, CodeInvalidArgument, "%v", err)
	}
	if isFolderKey(req.Key) {
		return PushStatus{}, errf(http.StatusBadRequest, CodeInvalidKey, "cannot push a folder")
	}
	f, o, err := s.open(req.Bucket, req.Key)
	if err != nil {
		return PushStatus{}, err
	}
	chunks := max(1, (o.Size+req.ChunkSize-1)/req.ChunkSize)
	if chunks > MaxParts {
		f.Close()
		return PushStatus{}, errf(http.StatusBadRequest, CodeInvalidArgument, "object needs %d chunks of %d bytes, over %d", chunks, req.ChunkSize, MaxParts)
	}
	p := &push{s: s, target: target, file: f, req: req, st: PushStatus{
		ID: newID(), Status: PushPending, Bucket: req.Bucket, Key: req.Key,
		TargetURL: t.URL, TargetBucket: t.Bucket, TargetKey: t.Key,
		TargetUploadID: t.UploadID,
		TotalBytes:     o.Size, ChunkSize: req.ChunkSize, SHA256: o.SHA256, StartTime: s.now().UTC(),
	}}
	limit := s.opts.MaxPushes
	if limit <= 0 {
		limit = DefaultMaxPushes
	}
	if err := s.pushes.add(p, s.now(), limit); err != nil {
		f.Close()
		return PushStatus{}, err
	}
	p.mu.Lock()
	p.startLocked()
	st := p.st
	p.mu.Unlock()
	return st, nil
}

// startLocked launches a run; p.mu is held.
func (p *push) startLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancelRun, p.done = cancel, make(chan struct{})
	p.st.Status = PushRunning
	go p.run(ctx, p.done)
}

// run pushes until done, paused or cancelled. A pause or cancel cancels ctx;
// the controller then owns the status, so run only records its own outcome
// when ctx is still live, or when the push completed anyway.
func (p *push) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	verified, err := p.transfer(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.s.now().UTC()
	switch {
	case err == nil:
		p.st.Status, p.st.ChecksumVerified, p.st.EndTime = PushCompleted, verified, &now
		p.st.TransferredBytes = p.st.TotalBytes
		p.file.Close()
	case ctx.Err() != nil:
		// Paused or cancelled: the controller sets the state.
	default:
		p.st.Status, p.st.ErrorMessage, p.st.EndTime = PushFailed, err.Error(), &now
		// Every request of a push goes to the target, so a transport
		// error is the target being out of the source's reach.
		var ue *url.Error
		p.st.TargetUnreachable = errors.As(err, &ue)
		p.file.Close()
		// The partial target session is left for a new push to resume
		// from; it is not worth a request that would probably fail too.
	}
	if p.done == done {
		// A resume after a pause may already have started the next run.
		p.cancelRun = nil
	}
}

func (p *push) setProgress(off int64, chunk bool) {
	p.mu.Lock()
	p.st.TransferredBytes = off
	if chunk {
		p.st.ChunksSent++
	}
	p.mu.Unlock()
}

func (p *push) transfer(ctx context.Context) (verified bool, err error) {
	p.mu.Lock()
	sum, uploadID := p.st.SHA256, p.st.TargetUploadID
	p.mu.Unlock()
	if sum == "" {
		// No sidecar (a file placed by hand): hash the version we hold.
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(p.file, 0, p.st.TotalBytes)); err != nil {
			return false, err
		}
		sum = hex.EncodeToString(h.Sum(nil))
		p.mu.Lock()
		p.st.SHA256 = sum
		p.mu.Unlock()
	}
	t := p.req.Target
	if uploadID == "" {
		if !p.req.Overwrite {
			_, err := p.target.Stat(ctx, t.Bucket, t.Key)
			if err == nil {
				return false, fmt.Errorf("target %s/%s exists and overwrite is false", t.Bucket, t.Key)
			}
			var e *Error
			if !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || e.Code == CodeNoSuchBucket {
				return false, fmt.Errorf("checking target: %w", err)
			}
		}
		// Not cancelled midway by a pause or cancel: a session the target
		// made but we never heard of could not be resumed or aborted.
		cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		u, err := p.target.CreateUpload(cctx, t.Bucket, t.Key, "")
		stop()
		if err != nil {
			return false, fmt.Errorf("creating target upload: %w", err)
		}
		uploadID = u.ID
		p.mu.Lock()
		p.st.TargetUploadID = uploadID
		p.mu.Unlock()
	}
	up, err := p.target.GetUpload(ctx, uploadID)
	if err != nil {
		return false, fmt.Errorf("reading target upload: %w", err)
	}
	if up.Bucket != t.Bucket || up.Key != t.Key {
		// A resumed session must be the one for this target object.
		return false, fmt.Errorf("target upload %s is for %s/%s, not %s/%s", uploadID, up.Bucket, up.Key, t.Bucket, t.Key)
	}
	off := up.Offset
	p.setProgress(off, false)
	// The one retry policy of amove-go, per chunk.
	policy := provider.RetryPolicy{Attempts: 5, Base: 250 * time.Millisecond, Max: 4 * time.Second}
	for off < p.st.TotalBytes {
		// A chunk is read from the file twice, to checksum it and to send
		// it, rather than held in memory: the request sets the chunk size
		// (up to MaxPartSize), and a buffer of that size per push would
		// let a few requests take all the memory. The second read comes
		// from the page cache and the CRC32C runs at memory speed.
		n := min(p.req.ChunkSize, p.st.TotalBytes-off)
		crc, err := crcRange(p.file, off, n)
		if err != nil {
			return false, fmt.Errorf("reading source: %w", err)
		}
		var next int64
		err = policy.Do(ctx, retryable, func() error {
			var err error
			next, err = p.target.appendChunkFrom(ctx, uploadID, off, io.NewSectionReader(p.file, off, n), n, crc)
			return err
		})
		var e *Error
		switch {
		case err == nil:
			off = next
			p.setProgress(off, true)
		case errors.As(err, &e) && e.Code == CodeOffsetMismatch && e.ExpectedOffset != nil:
			// The target knows better (a chunk we thought lost did
			// land): continue from its offset.
			off = *e.ExpectedOffset
			p.setProgress(off, false)
		case ctx.Err() != nil:
			return false, ctx.Err()
		default:
			return false, fmt.Errorf("sending chunk at %d: %w", off, err)
		}
	}
	o, err := p.target.CompleteUpload(ctx, uploadID, CompleteRequest{SHA256: sum})
	if err != nil {
		return false, fmt.Errorf("completing target upload: %w", err)
	}
	return o.SHA256 == sum, nil
}

// crcRange is the CRC32C of f's n bytes at off.
func crcRange(f io.ReaderAt, off, n int64) (uint32, error) {
	h := crc32.New(provider.CRC32C)
	got, err := io.Copy(h, io.NewSectionReader(f, off, n))
	if err != nil {
		return 0, err
	}
	if got != n {
		return 0, fmt.Errorf("%d bytes at %d, want %d: %w", got, off, n, io.ErrUnexpectedEOF)
	}
	return h.Sum32(), nil
}

// retryable: network errors and 5xx/429; a 4xx will not change by retrying.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
	}
	return true
}

// pause stops the run and returns once it has stopped, so "paused" is
// confirmed, not requested.
func (p *push) pause(ctx context.Context) (PushStatus, error) {
	p.mu.Lock()
	if p.st.Status != PushRunning && p.st.Status != PushPending {
		st := p.st
		p.mu.Unlock()
		return st, invalidState(st, "push is %s, not running", st.Status)
	}
	p.st.Status = PushPaused
	cancel, done := p.cancelRun, p.done
	p.mu.Unlock()
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return p.status(), ctx.Err()
	}
	st := p.status()
	if st.Status != PushPaused {
		// It completed (or failed) before the pause took hold.
		return st, invalidState(st, "push %s before it could be paused", st.Status)
	}
	return st, nil
}

func (p *push) resume() (PushStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st.Status != PushPaused {
		return p.st, invalidState(p.st, "push is %s, not paused", p.st.Status)
	}
	p.startLocked()
	return p.st, nil
}

// cancel stops the run, then aborts the target session, so the target keeps
// neither an object nor an upload.
func (p *push) cancel(ctx context.Context) (PushStatus, error) {
	p.mu.Lock()
	if p.st.Terminal() {
		st := p.st
		p.mu.Unlock()
		return st, invalidState(st, "push is already %s", st.Status)
	}
	p.st.Status = PushCancelled
	cancel, done := p.cancelRun, p.done
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return p.status(), ctx.Err()
		}
	}
	p.mu.Lock()
	if p.st.Status == PushCompleted {
		st := p.st
		p.mu.Unlock()
		return st, invalidState(st, "push completed before it could be cancelled")
	}
	uploadID := p.st.TargetUploadID
	now := p.s.now().UTC()
	p.st.Status, p.st.EndTime = PushCancelled, &now
	p.mu.Unlock()
	p.file.Close()
	if uploadID != "" {
		actx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer stop()
		if err := p.target.AbortUpload(actx, uploadID); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeNoSuchUpload {
				p.mu.Lock()
				p.st.ErrorMessage = "aborting target upload: " + err.Error()
				p.mu.Unlock()
			}
		}
	}
	return p.status(), nil
}

// ---- handlers ----

func (s *Server) handleStartPush(w http.ResponseWriter, r *http.Request) {
	var req PushRequest
	if err := readJSON(r, &req); err != nil {
		s.writeErr(w, r, err)
		return
	}
	st, err := s.startPush(req)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, st)
}

func (s *Server) handleListPushes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, PushList{Pushes: s.pushes.all()})
}

func (s *Server) lookupPush(w http.ResponseWriter, r *http.Request) (*push, bool) {
	p, ok := s.pushes.get(r.PathValue("id"))
	if !ok {
		s.writeErr(w, r, errf(http.StatusNotFound, CodeNoSuchPush, "no push %q", r.PathValue("id")))
	}
	return p, ok
}

func (s *Server) handlePushStatus(w http.ResponseWriter, r *http.Request) {
	if p, ok := s.lookupPush(w, r); ok {
		writeJSON(w, http.StatusOK, p.status())
	}
}

func (s *Server) handlePushAction(w http.ResponseWriter, r *http.Request) {
	p, ok := s.lookupPush(w, r)
	if !ok {
		return
	}
	var (
		st  PushStatus
		err error
	)
	switch strings.ToLower(r.PathValue("action")) {
	case "pause":
		st, err = p.pause(r.Context())
	case "resume":
		st, err = p.resume()
	case "cancel":
		st, err = p.cancel(r.Context())
	default:
		s.writeErr(w, r, errf(http.StatusNotFound, CodeNotFound, "unknown push action %q", r.PathValue("action")))
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
