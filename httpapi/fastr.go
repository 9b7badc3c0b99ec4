package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
)

// Fastr transfers (docs/fastr.md §6): server-to-server transfers, where the
// agent streams the bytes itself, and P2P transfers, where the agent asks the
// source server to push and relays only when the source cannot reach the
// target. Both live in this process's memory, as the spec says ("tracked in
// the current process lifetime"); the durable progress record is the upload
// session on the target, which every sender resumes from.

// serverTransferChunk is the spec's 8 MB chunk of a server transfer.
const serverTransferChunk = 8 << 20

// fastrJobs holds the server-to-server and P2P transfers of this agent.
type fastrJobs struct {
	s    *Server
	hc   *http.Client
	ctx  context.Context // cancelled by close: stops the agent's own senders
	stop context.CancelFunc
	wg   sync.WaitGroup
	poll time.Duration // how often a P2P watcher asks the source

	mu     sync.Mutex
	server map[string]*serverJob
	p2p    map[string]*p2pJob
}

func newFastrJobs(s *Server) *fastrJobs {
	ctx, stop := context.WithCancel(context.Background())
	return &fastrJobs{s: s, ctx: ctx, stop: stop, poll: 500 * time.Millisecond,
		hc: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			ResponseHeaderTimeout: time.Minute,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
		}},
		server: map[string]*serverJob{}, p2p: map[string]*p2pJob{}}
}

// close stops the agent's senders and watchers. Pushes keep running on
// their source servers; they are not the agent's to stop.
func (f *fastrJobs) close() {
	f.stop()
	f.wg.Wait()
}

func (f *fastrJobs) goRun(fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}

// sameUser: a Fastr transfer is visible to the user who started it only.
func sameUser(a, b amove.Principal) bool { return a.UserID == b.UserID && a.TenantID == b.TenantID }

var errUnknownTransfer = &httpError{status: http.StatusNotFound, code: "NOT_FOUND", msg: "unknown transfer id"}

// fastrClient opens a Fastr client with the keys of an account p sees, at
// serviceURL (empty: the account's own service URL).
func (f *fastrJobs) fastrClient(ctx context.Context, p amove.Principal, accountID, serviceURL string) (*fastr.Client, error) {
	cfg, err := f.s.c.FastrConfig(ctx, p, accountID)
	if err != nil {
		return nil, err
	}
	if serviceURL == "" {
		serviceURL = cfg.ServiceURL
	}
	if serviceURL == "" {
		serviceURL = cfg.Endpoint
	}
	c, err := fastr.NewClient(serviceURL, cfg.AccessKey, cfg.SecretKey, f.hc)
	if err != nil {
		return nil, badRequest("account " + accountID + ": " + err.Error())
	}
	return c, nil
}

// ---- the agent's own sender ----

// pump copies an object from a source Fastr server into an offset-mode
// upload session on a target, chunk by chunk with checksums, starting at
// the session's committed offset, then completes it with the whole
// object's SHA-256. It serves server transfers and the P2P relay fallback,
// and resumes exactly as the push engine does.
type pump struct {
	src         *fastr.Client
	bucket, key string
	dst         *fastr.Client
	uploadID    string
	total       int64
	chunk       int64
	sum         string // the source's SHA-256 when it has one
	progress    func(off int64)
}

func (p pump) run(ctx context.Context) (verified bool, err error) {
	up, err := p.dst.GetUpload(ctx, p.uploadID)
	if err != nil {
		return false, fmt.Errorf("reading target upload: %w", err)
	}
	off := up.Offset
	p.progress(off)
	var h hash.Hash
	if p.sum == "" {
		// No checksum at the source: hash what we send, and what an
		// earlier run sent, so the target can still verify the whole.
		h = sha256.New()
		if off > 0 {
			if err := p.read(ctx, 0, off, h); err != nil {
				return false, err
			}
		}
	}
	buf := make([]byte, p.chunk)
	failures := 0
	for off < p.total {
		b := buf[:min(p.chunk, p.total-off)]
		err := p.readFull(ctx, off, b)
		var next int64
		if err == nil {
			next, err = p.dst.AppendChunk(ctx, p.uploadID, off, b)
		}
		var fe *fastr.Error
		switch {
		case err == nil:
			if h != nil {
				h.Write(b)
			}
			off, failures = next, 0
			p.progress(off)
		case ctx.Err() != nil:
			return false, ctx.Err()
		case errors.As(err, &fe) && fe.Code == fastr.CodeOffsetMismatch && fe.ExpectedOffset != nil && h == nil:
			// A chunk we thought lost did land: continue where the
			// target is. (With a running hash we could not skip.)
			off = *fe.ExpectedOffset
			p.progress(off)
		case retryable(err) && failures < 4:
			failures++
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-time.After(time.Duration(failures*failures) * 250 * time.Millisecond):
			}
		default:
			return false, fmt.Errorf("chunk at %d: %w", off, err)
		}
	}
	sum := p.sum
	if h != nil {
		sum = hex.EncodeToString(h.Sum(nil))
	}
	o, err := p.dst.CompleteUpload(ctx, p.uploadID, fastr.CompleteRequest{SHA256: sum})
	if err != nil {
		return false, fmt.Errorf("completing target upload: %w", err)
	}
	return o.SHA256 == sum, nil
}

func (p pump) readFull(ctx context.Context, off int64, b []byte) error {
	rc, err := p.src.Get(ctx, p.bucket, p.key, off, int64(len(b)))
	if err != nil {
		return fmt.Errorf("reading source: %w", err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, b); err != nil {
		return fmt.Errorf("reading source at %d: %w", off, err)
	}
	return nil
}

func (p pump) read(ctx context.Context, off, n int64, w io.Writer) error {
	rc, err := p.src.Get(ctx, p.bucket, p.key, off, n)
	if err != nil {
		return fmt.Errorf("reading source: %w", err)
	}
	defer rc.Close()
	if m, err := io.Copy(w, rc); err != nil || m != n {
		return fmt.Errorf("reading source: %d of %d bytes: %v", m, n, err)
	}
	return nil
}

// retryable: network errors, 5xx and 429; another 4xx will not change.
func retryable(err error) bool {
	var e *fastr.Error
	if errors.As(err, &e) {
		return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
	}
	return true
}

// ---- server-to-server transfers ----

// Server transfer states (the spec's status strings).
const (
	stPending   = "pending"
	stRunning   = "running"
	stPaused    = "paused"
	stCompleted = "completed"
	stFailed    = "failed"
	stCancelled = "cancelled"
)

func terminal(st string) bool { return st == stCompleted || st == stFailed || st == stCancelled }

type serverTransferRequest struct {
	SourceServerURL string         `json:"sourceServerUrl"`
	TargetServerURL string         `json:"targetServerUrl"`
	SourceBucket    string         `json:"sourceBucket"`
	SourcePath      string         `json:"sourcePath"`
	TargetBucket    string         `json:"targetBucket"`
	TargetPath      string         `json:"targetPath"`
	SourceAccountID string         `json:"sourceAccountId"`
	TargetAccountID string         `json:"targetAccountId"`
	Metadata        map[string]any `json:"metadata"`
}

// dotnetTime marshals the zero time as .NET's default DateTime, which is
// what the spec shows for a server transfer that has not ended.
type dotnetTime time.Time

func (t dotnetTime) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte(`"0001-01-01T00:00:00"`), nil
	}
	return time.Time(t).UTC().MarshalJSON()
}

func (t *dotnetTime) UnmarshalJSON(b []byte) error {
	if string(b) == `"0001-01-01T00:00:00"` {
		*t = dotnetTime{}
		return nil
	}
	return (*time.Time)(t).UnmarshalJSON(b)
}

// serverTransferStatus is the spec's FastrServerTransferStatus.
type serverTransferStatus struct {
	TransferID       string     `json:"transferId"`
	Status           string     `json:"status"`
	SourceServerURL  string     `json:"sourceServerUrl"`
	TargetServerURL  string     `json:"targetServerUrl"`
	SourceBucket     string     `json:"sourceBucket"`
	SourcePath       string     `json:"sourcePath"`
	TargetBucket     string     `json:"targetBucket"`
	TargetPath       string     `json:"targetPath"`
	StartTime        time.Time  `json:"startTime"`
	EndTime          dotnetTime `json:"endTime"`
	BytesTransferred int64      `json:"bytesTransferred"`
	TotalBytes       int64      `json:"totalBytes"`
	Progress         int        `json:"progress"`
	ErrorMessage     string     `json:"errorMessage"`
	ChecksumVerified bool       `json:"checksumVerified"`
}

func percent(done, total int64, st string) int {
	if st == stCompleted {
		return 100
	}
	if total <= 0 {
		return 0
	}
	return int(done * 100 / total)
}

type serverJob struct {
	id    string
	owner amove.Principal
	req   serverTransferRequest
	src   *fastr.Client
	dst   *fastr.Client

	mu       sync.Mutex
	st       serverTransferStatus
	uploadID string
	cancel   context.CancelFunc
	done     chan struct{}
}

func (j *serverJob) status() serverTransferStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.st
	st.Progress = percent(st.BytesTransferred, st.TotalBytes, st.Status)
	return st
}

func (s *Server) serverTransferInitiate(w http.ResponseWriter, r *http.Request) error {
	var in serverTransferRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	for name, v := range map[string]string{"sourceServerUrl": in.SourceServerURL, "targetServerUrl": in.TargetServerURL,
		"sourceBucket": in.SourceBucket, "sourcePath": in.SourcePath, "targetBucket": in.TargetBucket, "targetPath": in.TargetPath} {
		if v == "" {
			return badRequest(name + " is required")
		}
	}
	if in.SourceAccountID == "" {
		return badRequest("sourceAccountId is required: the agent signs its Fastr requests with that account's keys")
	}
	p := principalFrom(r.Context())
	f := s.fastr
	src, err := f.fastrClient(r.Context(), p, in.SourceAccountID, in.SourceServerURL)
	if err != nil {
		return err
	}
	// Without a target account the source account's keys are used: two
	// servers of one owner often share a key pair.
	dstAccount := in.TargetAccountID
	if dstAccount == "" {
		dstAccount = in.SourceAccountID
	}
	dst, err := f.fastrClient(r.Context(), p, dstAccount, in.TargetServerURL)
	if err != nil {
		return err
	}
	j := &serverJob{id: uuid.NewString(), owner: p, req: in, src: src, dst: dst, done: make(chan struct{})}
	j.st = serverTransferStatus{TransferID: j.id, Status: stPending,
		SourceServerURL: in.SourceServerURL, TargetServerURL: in.TargetServerURL,
		SourceBucket: in.SourceBucket, SourcePath: in.SourcePath, TargetBucket: in.TargetBucket, TargetPath: in.TargetPath,
		StartTime: time.Now().UTC()}
	ctx, cancel := context.WithCancel(f.ctx)
	j.cancel = cancel
	f.mu.Lock()
	f.server[j.id] = j
	f.mu.Unlock()
	f.goRun(func() { f.runServer(ctx, j) })
	writeJSON(w, http.StatusAccepted, map[string]string{"transferId": j.id, "message": "Server transfer initiated", "status": stPending})
	return nil
}

func (f *fastrJobs) runServer(ctx context.Context, j *serverJob) {
	defer close(j.done)
	j.mu.Lock()
	if j.st.Status == stPending {
		j.st.Status = stRunning
	}
	j.mu.Unlock()
	f.notifyServer(j, "state")
	verified, err := f.serverTransfer(ctx, j)
	j.mu.Lock()
	if j.st.Status == stCancelled {
		// The cancel handler owns the outcome.
		j.mu.Unlock()
		return
	}
	j.st.EndTime = dotnetTime(time.Now().UTC())
	if err != nil {
		j.st.Status, j.st.ErrorMessage = stFailed, err.Error()
	} else {
		j.st.Status, j.st.ChecksumVerified, j.st.BytesTransferred = stCompleted, verified, j.st.TotalBytes
	}
	j.mu.Unlock()
	f.notifyServer(j, "state")
}

// serverTransfer: HEAD the source, open a session on the target and stream
// 8 MB ranges into it.
func (f *fastrJobs) serverTransfer(ctx context.Context, j *serverJob) (bool, error) {
	in := j.req
	o, err := j.src.Stat(ctx, in.SourceBucket, in.SourcePath)
	if err != nil {
		return false, fmt.Errorf("source: %w", err)
	}
	if o.IsFolder {
		return false, errors.New("source is a folder")
	}
	// Not cancelled midway: a session the target made but we never heard
	// of could not be discarded by a cancel.
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	u, err := j.dst.CreateUpload(cctx, in.TargetBucket, in.TargetPath, o.ContentType)
	stop()
	if err != nil {
		return false, fmt.Errorf("creating target upload: %w", err)
	}
	j.mu.Lock()
	j.st.TotalBytes, j.uploadID = o.Size, u.ID
	j.mu.Unlock()
	last := time.Now()
	return pump{src: j.src, bucket: in.SourceBucket, key: in.SourcePath, dst: j.dst, uploadID: u.ID,
		total: o.Size, chunk: serverTransferChunk, sum: o.SHA256,
		progress: func(off int64) {
			j.mu.Lock()
			j.st.BytesTransferred = off
			j.mu.Unlock()
			if time.Since(last) > 500*time.Millisecond {
				last = time.Now()
				f.notifyServer(j, "progress")
			}
		}}.run(ctx)
}

func (f *fastrJobs) serverJob(r *http.Request) (*serverJob, error) {
	f.mu.Lock()
	j, ok := f.server[r.PathValue("transferId")]
	f.mu.Unlock()
	if !ok || !sameUser(j.owner, principalFrom(r.Context())) {
		return nil, errUnknownTransfer
	}
	return j, nil
}

func (s *Server) serverTransferStatus(w http.ResponseWriter, r *http.Request) error {
	j, err := s.fastr.serverJob(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j.status())
	return nil
}

// serverTransferCancel: 400 once the transfer is completed or cancelled, as
// the spec says; a failed transfer may still be cancelled, which discards
// its partial upload on the target.
func (s *Server) serverTransferCancel(w http.ResponseWriter, r *http.Request) error {
	j, err := s.fastr.serverJob(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	if st := j.st.Status; st == stCompleted || st == stCancelled {
		j.mu.Unlock()
		return badRequest("transfer is " + st + ": a completed or cancelled transfer cannot be cancelled")
	}
	j.st.Status = stCancelled
	j.mu.Unlock()
	j.cancel()
	<-j.done
	j.mu.Lock()
	if j.st.Status == stCompleted {
		j.mu.Unlock()
		return badRequest("transfer completed before it could be cancelled")
	}
	j.st.EndTime = dotnetTime(time.Now().UTC())
	uploadID := j.uploadID
	j.mu.Unlock()
	if uploadID != "" {
		// The target keeps neither an object nor a session.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		defer cancel()
		if err := j.dst.AbortUpload(ctx, uploadID); err != nil && !isCode(err, fastr.CodeNoSuchUpload) {
			j.mu.Lock()
			j.st.ErrorMessage = "discarding the target upload: " + err.Error()
			j.mu.Unlock()
		}
	}
	s.fastr.notifyServer(j, "state")
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Transfer cancelled successfully"})
	return nil
}

func (s *Server) serverTransferAll(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	f := s.fastr
	f.mu.Lock()
	jobs := make([]*serverJob, 0, len(f.server))
	for _, j := range f.server {
		if sameUser(j.owner, p) {
			jobs = append(jobs, j)
		}
	}
	f.mu.Unlock()
	out := make([]serverTransferStatus, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.status())
	}
	slices.SortFunc(out, func(a, b serverTransferStatus) int { return a.StartTime.Compare(b.StartTime) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func isCode(err error, code string) bool {
	var e *fastr.Error
	return errors.As(err, &e) && e.Code == code
}

// ---- notifications ----

// fastrEvent is the Data of a /notification progress message (Type 1) for
// a Fastr transfer; Kind tells server transfers from P2P ones.
type fastrEvent struct {
	Event string `json:"event"` // "progress" or "state"
	Kind  string `json:"kind"`  // "server_transfer" or "p2p_transfer"
	Data  any    `json:"status"`
}

func (f *fastrJobs) notifyServer(j *serverJob, event string) {
	f.s.hub.sendTo(j.owner, envelope{Type: notifyProgress, Data: fastrEvent{Event: event, Kind: "server_transfer", Data: j.status()}})
}

// sendTo sends one message to every socket of p's user.
func (h *hub) sendTo(p amove.Principal, v any) {
	msg, err := json.Marshal(v)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if sameUser(c.p, p) {
			trySend(c, msg)
		}
	}
}
