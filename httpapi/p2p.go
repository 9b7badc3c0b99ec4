package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/amove/amove-go"
	"github.com/amove/amove-go/fastr"
)

// P2P transfers (docs/fastr.md §6): the source server pushes the object to
// the target through an upload session on the target, and the agent
// watches, pauses, resumes and cancels the push on the source. When the
// source cannot reach the target, the agent relays the bytes itself ("TURN
// fallback") into the same kind of session; the status says so in mode and
// relayReason.

const (
	modePush  = "push"
	modeRelay = "relay"
)

// sourceGrace is how long a source server may stay unreachable before the
// agent gives a running push up as failed. A source that comes back within
// it and has forgotten the push (it restarted) gets the push again, resuming
// the target session.
const sourceGrace = 2 * time.Minute

type p2pRequest struct {
	SourceAccount   cloudAccount  `json:"sourceAccount"`
	TargetAccount   *cloudAccount `json:"targetAccount"`
	SourceBucket    string        `json:"sourceBucket"`
	SourcePath      string        `json:"sourcePath"`
	TargetServerURL string        `json:"targetServerUrl"`
	TargetBucket    string        `json:"targetBucket"`
	TargetPath      string        `json:"targetPath"`
	Overwrite       bool          `json:"overwrite"`
	ChunkSizeMB     int           `json:"chunkSizeMB"`
}

// p2pStatus is the spec's P2PTransferStatusResponse, plus how the bytes
// travel (mode, relayReason) and how often the push was restarted.
type p2pStatus struct {
	TransferID         string     `json:"transferId"`
	Status             string     `json:"status"`
	TotalBytes         int64      `json:"totalBytes"`
	TransferredBytes   int64      `json:"transferredBytes"`
	ProgressPercentage int        `json:"progressPercentage"`
	StartTime          time.Time  `json:"startTime"`
	EndTime            *time.Time `json:"endTime"`
	ErrorMessage       *string    `json:"errorMessage"`
	SourceBucket       string     `json:"sourceBucket"`
	SourcePath         string     `json:"sourcePath"`
	TargetServerURL    string     `json:"targetServerUrl"`
	TargetBucket       string     `json:"targetBucket"`
	TargetPath         string     `json:"targetPath"`
	ChecksumVerified   bool       `json:"checksumVerified"`
	Mode               string     `json:"mode"`
	RelayReason        string     `json:"relayReason,omitempty"`
	Restarts           int        `json:"restarts,omitempty"`
}

type p2pJob struct {
	id     string
	owner  amove.Principal
	in     p2pRequest // without the keys of the body
	src    *fastr.Client
	dst    *fastr.Client    // the target, for the relay and for cleanup
	target fastr.PushTarget // carries the target keys: memory only, never logged
	chunk  int64

	// ctl serializes control actions and watcher syncs, so a status read
	// from the source never overwrites a pause or cancel made meanwhile.
	ctl sync.Mutex

	mu          sync.Mutex
	st          p2pStatus
	errMsg      string
	pushID      string
	uploadID    string
	unreachable time.Time // since when the source does not answer
	relayCancel context.CancelFunc
	relayDone   chan struct{}
}

func (j *p2pJob) status() p2pStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.st
	st.ProgressPercentage = percent(st.TransferredBytes, st.TotalBytes, st.Status)
	if j.errMsg != "" {
		msg := j.errMsg
		st.ErrorMessage = &msg
	}
	if st.EndTime != nil {
		t := *st.EndTime
		st.EndTime = &t
	}
	return st
}

func (j *p2pJob) mode() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st.Mode
}

func (j *p2pJob) pushRequest() fastr.PushRequest {
	t := j.target
	j.mu.Lock()
	t.UploadID = j.uploadID
	j.mu.Unlock()
	return fastr.PushRequest{Bucket: j.in.SourceBucket, Key: j.in.SourcePath, Target: t,
		ChunkSize: j.chunk, Overwrite: j.in.Overwrite}
}

// apply merges the source's view of the push into the record.
func (j *p2pJob) apply(st fastr.PushStatus) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.st.Status = st.Status
	j.st.TotalBytes, j.st.TransferredBytes = st.TotalBytes, st.TransferredBytes
	j.st.ChecksumVerified = st.ChecksumVerified
	if st.TargetUploadID != "" {
		j.uploadID = st.TargetUploadID
	}
	j.errMsg = st.ErrorMessage
	j.st.EndTime = nil
	if st.EndTime != nil {
		t := st.EndTime.UTC()
		j.st.EndTime = &t
	}
	j.unreachable = time.Time{}
}

func (j *p2pJob) end(status, msg string) {
	now := time.Now().UTC()
	j.mu.Lock()
	j.st.Status, j.st.EndTime = status, &now
	if msg != "" {
		j.errMsg = msg
	}
	j.mu.Unlock()
}

// refusedTarget: the source will not connect to this target (its
// AllowPushTarget policy), so only the agent can move the bytes.
func refusedTarget(err error) bool {
	var e *fastr.Error
	return errors.As(err, &e) && e.Code == fastr.CodeAccessDenied && strings.Contains(e.Message, "target not allowed")
}

// sourceErr maps a failed call to the source server onto the answer.
func sourceErr(what string, err error) error {
	var e *fastr.Error
	if errors.As(err, &e) && e.StatusCode < 500 {
		return badRequest(fmt.Sprintf("source server: %s: %s: %s", what, e.Code, e.Message))
	}
	return &httpError{status: http.StatusBadGateway, code: "FASTR", msg: fmt.Sprintf("source server: %s: %v", what, err)}
}

func (s *Server) p2pInitiate(w http.ResponseWriter, r *http.Request) error {
	var in p2pRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.SourceAccount.ID == "" {
		return badRequest("sourceAccount.id is required: the agent uses that stored account's serviceUrl and keys")
	}
	for name, v := range map[string]string{"sourceBucket": in.SourceBucket, "sourcePath": in.SourcePath,
		"targetServerUrl": in.TargetServerURL, "targetBucket": in.TargetBucket, "targetPath": in.TargetPath} {
		if v == "" {
			return badRequest(name + " is required")
		}
	}
	chunk := int64(in.ChunkSizeMB) << 20
	if in.ChunkSizeMB == 0 {
		chunk = fastr.DefaultPushChunk
	}
	if chunk < fastr.MinPartSize || chunk > fastr.MaxPartSize {
		return badRequest(fmt.Sprintf("chunkSizeMB must be from 1 to %d", int64(fastr.MaxPartSize)>>20))
	}
	ctx, p, f := r.Context(), principalFrom(r.Context()), s.fastr
	src, err := f.fastrClient(ctx, p, in.SourceAccount.ID, "")
	if err != nil {
		return err
	}
	// The target keys: the target account's, or else the source's (two
	// servers of one owner often share a key pair).
	targetID := in.SourceAccount.ID
	if in.TargetAccount != nil && in.TargetAccount.ID != "" {
		targetID = in.TargetAccount.ID
	}
	tcfg, err := s.c.FastrConfig(ctx, p, targetID)
	if err != nil {
		return err
	}
	dst, err := fastr.NewClient(in.TargetServerURL, tcfg.AccessKey, tcfg.SecretKey, f.hc)
	if err != nil {
		return badRequest("targetServerUrl: " + err.Error())
	}
	// Only ids are kept: the body's keys are not used and not stored.
	in.SourceAccount = cloudAccount{ID: in.SourceAccount.ID}
	if in.TargetAccount != nil {
		in.TargetAccount = &cloudAccount{ID: in.TargetAccount.ID}
	}
	j := &p2pJob{id: uuid.NewString(), owner: p, in: in, src: src, dst: dst, chunk: chunk,
		target: fastr.PushTarget{URL: in.TargetServerURL, AccessKey: tcfg.AccessKey, SecretKey: tcfg.SecretKey,
			Bucket: in.TargetBucket, Key: in.TargetPath}}
	j.st = p2pStatus{TransferID: j.id, Status: stPending, StartTime: time.Now().UTC(), Mode: modePush,
		SourceBucket: in.SourceBucket, SourcePath: in.SourcePath, TargetServerURL: in.TargetServerURL,
		TargetBucket: in.TargetBucket, TargetPath: in.TargetPath}

	st, err := src.StartPush(ctx, j.pushRequest())
	switch {
	case err == nil:
		j.pushID = st.ID
		j.apply(st)
	case refusedTarget(err):
		j.ctl.Lock()
		f.startRelay(j, "the source server refused the target: "+message(err))
		j.ctl.Unlock()
	default:
		return sourceErr("starting the push", err)
	}
	f.mu.Lock()
	f.p2p[j.id] = j
	f.mu.Unlock()
	if j.mode() == modePush {
		f.goRun(func() { f.watch(j) })
	}
	f.notifyP2P(j, "state")
	writeJSON(w, http.StatusOK, map[string]string{"transferId": j.id, "message": "P2P transfer initiated successfully"})
	return nil
}

// watch keeps the record of a push current (and the sockets informed)
// until it ends or the agent relays it.
func (f *fastrJobs) watch(j *p2pJob) {
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		if f.sync(f.ctx, j) {
			return
		}
	}
}

// sync asks the source about the push and reacts: a push that failed
// before it reached the target goes to the relay, a push the source forgot
// (it restarted) is started again on the same target session. It reports
// whether there is nothing left to watch.
func (f *fastrJobs) sync(ctx context.Context, j *p2pJob) (stop bool) {
	j.ctl.Lock()
	defer j.ctl.Unlock()
	before := j.status()
	if before.Mode != modePush || terminal(before.Status) {
		return true
	}
	j.mu.Lock()
	pushID := j.pushID
	j.mu.Unlock()
	st, err := j.src.PushStatus(ctx, pushID)
	switch {
	case err == nil:
		j.apply(st)
		if st.Status == fastr.PushFailed && st.TargetUploadID == "" && !strings.Contains(st.ErrorMessage, "overwrite is false") {
			// It never opened a session on the target: the source
			// cannot reach it, but the agent may.
			f.startRelay(j, "the source server could not reach the target: "+st.ErrorMessage)
		}
	case isCode(err, fastr.CodeNoSuchPush):
		if before.Status != stPaused {
			f.restartPush(ctx, j)
		}
	case ctx.Err() != nil:
	default:
		j.mu.Lock()
		if j.unreachable.IsZero() {
			j.unreachable = time.Now()
		}
		gone := time.Since(j.unreachable) > sourceGrace
		j.mu.Unlock()
		if gone {
			j.end(stFailed, "source server unreachable: "+err.Error())
		}
	}
	after := j.status()
	if after.Status != before.Status || after.Mode != before.Mode {
		f.notifyP2P(j, "state")
	} else if after.TransferredBytes != before.TransferredBytes {
		f.notifyP2P(j, "progress")
	}
	return after.Mode != modePush || terminal(after.Status)
}

// restartPush starts the push again on a source that forgot it, continuing
// the target session from its committed offset. j.ctl is held.
func (f *fastrJobs) restartPush(ctx context.Context, j *p2pJob) {
	st, err := j.src.StartPush(ctx, j.pushRequest())
	switch {
	case err == nil:
		j.mu.Lock()
		j.pushID = st.ID
		j.st.Restarts++
		j.mu.Unlock()
		j.apply(st)
	case refusedTarget(err):
		f.startRelay(j, "the source server refused the target: "+message(err))
	case retryable(err):
		// Still starting up, or gone again: the next sync retries.
	default:
		j.end(stFailed, "restarting the push: "+err.Error())
	}
}

// startRelay switches the transfer to the agent's own sender. j.ctl is
// held.
func (f *fastrJobs) startRelay(j *p2pJob, reason string) {
	j.mu.Lock()
	j.st.Mode, j.st.RelayReason = modeRelay, reason
	j.st.Status, j.st.EndTime, j.errMsg = stRunning, nil, ""
	j.mu.Unlock()
	f.s.log.Info("p2p: relaying through the agent", "transfer", j.id, "reason", reason)
	f.runRelay(j)
}

// runRelay starts the relay goroutine. j.ctl is held.
func (f *fastrJobs) runRelay(j *p2pJob) {
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	j.mu.Lock()
	j.relayCancel, j.relayDone = cancel, done
	j.mu.Unlock()
	f.goRun(func() {
		defer close(done)
		verified, err := f.relay(ctx, j)
		j.mu.Lock()
		switch {
		case j.st.Status == stPaused || j.st.Status == stCancelled:
			// The controller stopped us and owns the state.
			j.mu.Unlock()
			return
		case err == nil:
			now := time.Now().UTC()
			j.st.Status, j.st.EndTime, j.st.ChecksumVerified = stCompleted, &now, verified
			j.st.TransferredBytes = j.st.TotalBytes
		case f.ctx.Err() != nil:
			// The agent is stopping.
			j.mu.Unlock()
			return
		default:
			now := time.Now().UTC()
			j.st.Status, j.st.EndTime, j.errMsg = stFailed, &now, err.Error()
		}
		j.mu.Unlock()
		f.notifyP2P(j, "state")
	})
}

func (f *fastrJobs) relay(ctx context.Context, j *p2pJob) (bool, error) {
	in := j.in
	o, err := j.src.Stat(ctx, in.SourceBucket, in.SourcePath)
	if err != nil {
		return false, fmt.Errorf("source: %w", err)
	}
	j.mu.Lock()
	j.st.TotalBytes = o.Size
	uploadID := j.uploadID
	j.mu.Unlock()
	if uploadID == "" {
		if !in.Overwrite {
			_, err := j.dst.Stat(ctx, in.TargetBucket, in.TargetPath)
			var e *fastr.Error
			switch {
			case err == nil:
				return false, fmt.Errorf("target %s/%s exists and overwrite is false", in.TargetBucket, in.TargetPath)
			case !errors.As(err, &e) || e.StatusCode != http.StatusNotFound || e.Code == fastr.CodeNoSuchBucket:
				return false, fmt.Errorf("checking target: %w", err)
			}
		}
		// Not cancelled midway, so a cancel always knows the session.
		cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		u, err := j.dst.CreateUpload(cctx, in.TargetBucket, in.TargetPath, o.ContentType)
		stop()
		if err != nil {
			return false, fmt.Errorf("creating target upload: %w", err)
		}
		uploadID = u.ID
		j.mu.Lock()
		j.uploadID = uploadID
		j.mu.Unlock()
	}
	last := time.Now()
	return pump{src: j.src, bucket: in.SourceBucket, key: in.SourcePath, dst: j.dst, uploadID: uploadID,
		total: o.Size, chunk: j.chunk, sum: o.SHA256,
		progress: func(off int64) {
			j.mu.Lock()
			j.st.TransferredBytes = off
			j.mu.Unlock()
			if time.Since(last) > 500*time.Millisecond {
				last = time.Now()
				f.notifyP2P(j, "progress")
			}
		}}.run(ctx)
}

// stopRelay stops the relay goroutine after the caller set the new state;
// j.ctl is held.
func (j *p2pJob) stopRelay() {
	j.mu.Lock()
	cancel, done := j.relayCancel, j.relayDone
	j.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (f *fastrJobs) p2pJob(r *http.Request) (*p2pJob, error) {
	f.mu.Lock()
	j, ok := f.p2p[r.PathValue("transferId")]
	f.mu.Unlock()
	if !ok || !sameUser(j.owner, principalFrom(r.Context())) {
		return nil, errUnknownTransfer
	}
	return j, nil
}

func (s *Server) p2pStatus(w http.ResponseWriter, r *http.Request) error {
	j, err := s.fastr.p2pJob(r)
	if err != nil {
		return err
	}
	// Ask the source for up-to-date figures, as the spec says.
	s.fastr.sync(r.Context(), j)
	writeJSON(w, http.StatusOK, j.status())
	return nil
}

func (s *Server) p2pAll(w http.ResponseWriter, r *http.Request) error {
	p, f := principalFrom(r.Context()), s.fastr
	f.mu.Lock()
	jobs := make([]*p2pJob, 0, len(f.p2p))
	for _, j := range f.p2p {
		if sameUser(j.owner, p) {
			jobs = append(jobs, j)
		}
	}
	f.mu.Unlock()
	out := make([]p2pStatus, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, j.status())
	}
	slices.SortFunc(out, func(a, b p2pStatus) int { return a.StartTime.Compare(b.StartTime) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// p2pPause answers after the sender has stopped: the source confirms the
// pause (or, when relaying, the agent's own loop has returned).
func (s *Server) p2pPause(w http.ResponseWriter, r *http.Request) error {
	j, err := s.fastr.p2pJob(r)
	if err != nil {
		return err
	}
	j.ctl.Lock()
	defer j.ctl.Unlock()
	cur := j.status()
	if cur.Status != stRunning && cur.Status != stPending {
		return badRequest("transfer is " + cur.Status + ": only a running or initiating transfer can be paused")
	}
	serverStatus := stPaused
	if cur.Mode == modeRelay {
		j.mu.Lock()
		j.st.Status = stPaused
		j.mu.Unlock()
		j.stopRelay()
		if st := j.status(); st.Status != stPaused {
			return badRequest("transfer " + st.Status + " before it could be paused")
		}
	} else {
		j.mu.Lock()
		pushID := j.pushID
		j.mu.Unlock()
		st, err := j.src.PausePush(r.Context(), pushID)
		var e *fastr.Error
		switch {
		case err == nil:
			j.apply(st)
			serverStatus = st.Status
		case isCode(err, fastr.CodeNoSuchPush):
			// The source restarted and sends nothing; resume starts
			// the push again on the same target session.
			j.mu.Lock()
			j.st.Status = stPaused
			j.mu.Unlock()
		case errors.As(err, &e) && e.Code == fastr.CodeInvalidState:
			s.fastr.sync(context.WithoutCancel(r.Context()), j)
			return badRequest("the pause could not be confirmed: the push is " + e.Status)
		default:
			return badRequest("the pause could not be confirmed on the source server: " + err.Error())
		}
		if serverStatus != stPaused {
			return badRequest("the pause could not be confirmed: the push is " + serverStatus)
		}
	}
	s.fastr.notifyP2P(j, "state")
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Transfer paused successfully",
		"serverPaused": true, "serverStatus": serverStatus})
	return nil
}

func (s *Server) p2pResume(w http.ResponseWriter, r *http.Request) error {
	j, err := s.fastr.p2pJob(r)
	if err != nil {
		return err
	}
	j.ctl.Lock()
	defer j.ctl.Unlock()
	cur := j.status()
	if cur.Status != stPaused {
		return badRequest("transfer is " + cur.Status + ": only a paused transfer can be resumed")
	}
	serverStatus := stRunning
	if cur.Mode == modeRelay {
		j.mu.Lock()
		j.st.Status = stRunning
		j.mu.Unlock()
		s.fastr.runRelay(j)
	} else {
		j.mu.Lock()
		pushID := j.pushID
		j.mu.Unlock()
		st, err := j.src.ResumePush(r.Context(), pushID)
		var e *fastr.Error
		switch {
		case err == nil:
			j.apply(st)
			serverStatus = st.Status
		case isCode(err, fastr.CodeNoSuchPush):
			s.fastr.restartPush(r.Context(), j)
			serverStatus = j.status().Status
		case errors.As(err, &e) && e.Code == fastr.CodeInvalidState:
			return badRequest("the resume could not be confirmed: the push is " + e.Status)
		default:
			return badRequest("the resume could not be confirmed on the source server: " + err.Error())
		}
		if serverStatus != stRunning && serverStatus != stCompleted {
			return badRequest("the resume could not be confirmed: the push is " + serverStatus)
		}
	}
	s.fastr.notifyP2P(j, "state")
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Transfer resumed successfully",
		"serverResumed": true, "serverStatus": serverStatus})
	return nil
}

// p2pCancel stops the push on the source (which discards the target
// session), or the agent's relay, and marks the agent's record cancelled.
func (s *Server) p2pCancel(w http.ResponseWriter, r *http.Request) error {
	j, err := s.fastr.p2pJob(r)
	if err != nil {
		return err
	}
	j.ctl.Lock()
	defer j.ctl.Unlock()
	cur := j.status()
	if cur.Status == stCompleted || cur.Status == stCancelled {
		return badRequest("transfer is " + cur.Status + ": a completed or cancelled transfer cannot be cancelled")
	}
	serverCancelled := false
	if cur.Mode == modePush {
		j.mu.Lock()
		pushID := j.pushID
		j.mu.Unlock()
		st, err := j.src.CancelPush(r.Context(), pushID)
		var e *fastr.Error
		switch {
		case err == nil:
			j.apply(st)
			serverCancelled = st.Status == fastr.PushCancelled
		case errors.As(err, &e) && e.Code == fastr.CodeInvalidState && e.Status == fastr.PushCompleted:
			s.fastr.sync(context.WithoutCancel(r.Context()), j)
			return badRequest("transfer completed before it could be cancelled")
		}
	}
	j.mu.Lock()
	j.st.Status = stCancelled
	uploadID := j.uploadID
	j.mu.Unlock()
	j.stopRelay()
	if !serverCancelled && uploadID != "" {
		// The source did not clean up (it forgot the push, or the
		// agent was relaying): discard the target session ourselves.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
		defer cancel()
		err := j.dst.AbortUpload(ctx, uploadID)
		serverCancelled = err == nil || isCode(err, fastr.CodeNoSuchUpload)
	}
	if cur.Mode == modeRelay && uploadID == "" {
		serverCancelled = true
	}
	j.end(stCancelled, "")
	s.fastr.notifyP2P(j, "state")
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Transfer cancelled successfully",
		"serverCancelled": serverCancelled})
	return nil
}

func (f *fastrJobs) notifyP2P(j *p2pJob, event string) {
	f.s.hub.sendTo(j.owner, envelope{Type: notifyProgress, Data: fastrEvent{Event: event, Kind: "p2p_transfer", Data: j.status()}})
}
