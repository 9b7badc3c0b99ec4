package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/amove/amove-go/provider"
)

// P2P jobs: the source's server sends the object to the destination itself
// (provider.Pusher), into a session the destination's driver opened and
// granted (provider.UploadGranter), so neither the bytes nor the
// destination's credentials pass through the source's hands beyond that one
// session. The engine starts the push, watches it, and pauses, resumes or
// cancels it on the source; the push id and the session id are journaled,
// so a restarted engine finds the push again, and a source that restarted
// and forgot it gets it again for the same session, which resumes at its
// committed offset.
//
// Relay: when the source will not connect to the destination (a policy
// refuses it: provider.ErrUnreachable from StartPush), cannot reach it (a
// push that failed with Unreachable), or cannot push at all (a driver
// without the capabilities), the engine carries the bytes itself into the
// same session, exactly as a ServerTransfer (remote.go). The status says
// which in Push.Mode and Push.RelayReason.

// How a P2P job moves its bytes.
const (
	PushMode  = "push"  // the source's server sends them
	RelayMode = "relay" // the engine relays them
)

// pushPoll is how often the engine asks the source about a running push.
const pushPoll = 250 * time.Millisecond

// PushRecord is the journaled state of a P2P job, also its Status.Push.
type PushRecord struct {
	Mode        string `json:"mode,omitempty"`
	RelayReason string `json:"relayReason,omitempty"`
	Overwrite   bool   `json:"overwrite,omitempty"`
	// ID is the push on the source, State its last known state there.
	ID    string             `json:"id,omitempty"`
	State provider.PushState `json:"state,omitempty"`
	// Restarts counts pushes started again on a source that forgot them.
	Restarts int `json:"restarts,omitempty"`
	// Session is the destination session the job writes into while it
	// holds one: empty once the object is committed or the session
	// discarded (how a cancel tells that the destination is clean).
	Session string `json:"session,omitempty"`
}

// pushStatus is Status.Push; j.mu is held.
func (j *job) pushStatus() PushRecord { return j.rec.Push }

func (j *job) pushRec() PushRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.rec.Push
}

// savePush changes the job's PushRecord, journals it and, when the mode or
// the source's state changed, tells subscribers.
func (j *job) savePush(ctx context.Context, f func(*PushRecord)) {
	j.mu.Lock()
	before := j.rec.Push
	f(&j.rec.Push)
	after := j.rec.Push
	if after == before {
		j.mu.Unlock()
		return
	}
	j.rec.Updated = time.Now().UTC()
	rec := j.rec.clone()
	j.mu.Unlock()
	if err := j.e.journal.Put(context.WithoutCancel(ctx), rec); err != nil {
		j.e.log.Error("transfer: journal", "job", rec.ID, "err", err)
	}
	if after.Mode != before.Mode || after.State != before.State {
		j.e.emit(Event{Type: EventState, Status: j.status()})
	}
}

// AwaitStarted returns once a P2P job that was just started or resumed is
// under way: the source confirmed the push (or the engine relays), so a
// caller that asks the source next sees it running. For other kinds, and
// jobs that already stopped, it returns at once.
func (e *Engine) AwaitStarted(ctx context.Context, id string) error {
	j, err := e.job(id)
	if err != nil {
		return err
	}
	if j.rec.Kind != P2P {
		return nil
	}
	j.mu.Lock()
	done := j.done
	if j.ready == nil {
		j.ready = make(chan struct{})
	}
	ready := j.ready
	j.mu.Unlock()
	select {
	case <-ready:
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (j *job) signalReady() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ready == nil {
		j.ready = make(chan struct{})
	}
	select {
	case <-j.ready:
	default:
		close(j.ready)
	}
}

// errRelay: the push gave up on the destination; relay instead.
var errRelay = errors.New("transfer: relaying")

// p2p runs a P2P job: the push, or the relay.
func (j *job) p2p(ctx context.Context) error {
	defer func() {
		// The next run (a resume) signals afresh.
		j.mu.Lock()
		j.ready = nil
		j.mu.Unlock()
	}()
	for {
		if j.pushRec().Mode == RelayMode {
			j.signalReady()
			return j.stream(ctx)
		}
		err := j.push(ctx)
		if !errors.Is(err, errRelay) {
			return err
		}
	}
}

// relay switches the job to the engine's own stream.
func (j *job) relay(ctx context.Context, reason string) error {
	j.e.log.Info("transfer: p2p relayed through the engine", "job", j.rec.ID, "reason", reason)
	j.savePush(ctx, func(p *PushRecord) {
		p.Mode, p.RelayReason, p.ID, p.State = RelayMode, reason, "", ""
	})
	return errRelay
}

// applyPush takes the source's word on the push.
func (j *job) applyPush(ctx context.Context, st provider.PushStatus) {
	if it := j.item0(); st.UploadID != "" && st.UploadID != it.UploadID && !it.Done {
		j.setSession(ctx, st.UploadID)
	}
	j.progress(ctx, st.TransferredBytes)
	j.savePush(ctx, func(p *PushRecord) { p.ID, p.State = st.ID, st.State })
}

// push starts (or finds again) the push on the source and watches it until
// it ends, the job is stopped, or the bytes must be relayed (errRelay).
func (j *job) push(ctx context.Context) error {
	e := j.e
	pusher, ok := provider.Capability[provider.Pusher](j.src)
	if !ok {
		return j.relay(ctx, "the source cannot push")
	}
	granter, ok := provider.Capability[provider.UploadGranter](j.dst)
	if !ok {
		return j.relay(ctx, "the destination cannot grant a push")
	}
	var st provider.PushStatus
	if id := j.pushRec().ID; id != "" {
		err := e.retry(ctx, func() (err error) {
			st, err = pusher.PushStatus(ctx, id)
			return err
		})
		switch {
		case errors.Is(err, provider.ErrNotFound):
			st = provider.PushStatus{} // the source forgot it: start again
		case err != nil:
			return j.stopPush(ctx, pusher, fmt.Errorf("source server: %w", err))
		}
		if st.State == provider.PushPaused && ctx.Err() == nil {
			if err := e.retry(ctx, func() (err error) {
				st, err = pusher.ResumePush(ctx, id)
				return err
			}); err != nil {
				return fmt.Errorf("resuming the push: %w", err)
			}
		}
	}
	if st.ID == "" {
		var err error
		if st, err = j.startPush(ctx, pusher, granter); err != nil {
			return err
		}
	}
	j.applyPush(ctx, st)
	j.signalReady()
	t := time.NewTicker(pushPoll)
	defer t.Stop()
	for {
		switch st.State {
		case provider.PushCompleted:
			j.finish(ctx, st.UploadID, st.Verified != "")
			return nil
		case provider.PushFailed:
			if st.Unreachable {
				return j.relay(ctx, "the source server could not reach the target: "+st.Error)
			}
			return fmt.Errorf("source server: push failed: %s", st.Error)
		case provider.PushCancelled:
			return errors.New("source server: the push was cancelled there")
		}
		select {
		case <-ctx.Done():
			return j.stopPush(ctx, pusher, ctx.Err())
		case <-t.C:
		}
		err := e.retry(ctx, func() (err error) {
			st, err = pusher.PushStatus(ctx, st.ID)
			return err
		})
		switch {
		case errors.Is(err, provider.ErrNotFound):
			// The source restarted and forgot the push: start it again
			// on the same session, which continues at its committed
			// offset.
			if st, err = j.startPush(ctx, pusher, granter); err != nil {
				return err
			}
			j.savePush(ctx, func(p *PushRecord) { p.Restarts++ })
		case err != nil:
			return j.stopPush(ctx, pusher, fmt.Errorf("source server: %w", err))
		}
		j.applyPush(ctx, st)
	}
}

// startPush grants the destination session to the source and starts the
// push into it.
func (j *job) startPush(ctx context.Context, pusher provider.Pusher, granter provider.UploadGranter) (provider.PushStatus, error) {
	rec := j.rec
	it := j.item0()
	opts := provider.GrantOptions{UploadID: it.UploadID, Overwrite: j.pushRec().Overwrite}
	g, err := granter.GrantUpload(ctx, rec.Dest.Bucket, it.Dst, opts)
	if errors.Is(err, provider.ErrNotFound) && opts.UploadID != "" {
		// The session is gone (expired): a new one starts from nothing.
		j.setSession(ctx, "")
		opts.UploadID = ""
		g, err = granter.GrantUpload(ctx, rec.Dest.Bucket, it.Dst, opts)
	}
	if err != nil {
		return provider.PushStatus{}, fmt.Errorf("destination: %w", err)
	}
	if id := g.Upload().ID; id != it.UploadID || j.pushRec().Session != id {
		j.setSession(ctx, id)
	}
	// Not retried: a push whose answer was lost would run twice.
	st, err := pusher.StartPush(ctx, rec.Source.Bucket, it.Src, g, provider.PushOptions{ChunkSize: j.chunkSize()})
	switch {
	case errors.Is(err, provider.ErrUnreachable), errors.Is(err, provider.ErrUnsupported):
		return provider.PushStatus{}, j.relay(ctx, "the source server refused the target: "+err.Error())
	case err != nil:
		return provider.PushStatus{}, fmt.Errorf("source server: starting the push: %w", err)
	}
	return st, nil
}

// stopPush acts on the source when the job stops: a pause pauses the push
// and returns once the source confirms; a cancel cancels it (the source
// then discards the destination session); an engine closing leaves it
// running, for the next engine to find. A push that completed meanwhile
// completes the job (nil).
func (j *job) stopPush(ctx context.Context, pusher provider.Pusher, err error) error {
	cause := context.Cause(ctx)
	id := j.pushRec().ID
	if ctx.Err() == nil || id == "" || errors.Is(cause, errClose) {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	act := pusher.PausePush
	if errors.Is(cause, errCancel) {
		act = pusher.CancelPush
	}
	var st provider.PushStatus
	aerr := j.e.retry(cctx, func() (err error) {
		st, err = act(cctx, id)
		return err
	})
	switch {
	case aerr == nil:
		j.applyPush(cctx, st)
	case errors.Is(aerr, provider.ErrNotFound):
		// The source forgot it: nothing is sending.
		j.savePush(cctx, func(p *PushRecord) { p.State = "" })
	case errors.Is(aerr, provider.ErrInvalid):
		// It is not running any more: find out why.
		if st, serr := pusher.PushStatus(cctx, id); serr == nil {
			j.applyPush(cctx, st)
			if st.State == provider.PushCompleted {
				j.finish(cctx, st.UploadID, st.Verified != "")
				return nil
			}
		}
	default:
		j.e.log.Warn("transfer: the source server did not confirm", "job", j.rec.ID, "cause", cause, "err", aerr)
	}
	return err
}

// cancelPush cancels the push of a job cancelled while it did not run (a
// paused job), so the source lets go of it.
func (j *job) cancelPush(ctx context.Context) {
	p := j.pushRec()
	if p.Mode != PushMode || p.ID == "" || p.State == provider.PushCancelled || p.State == provider.PushCompleted ||
		p.State == provider.PushFailed {
		return
	}
	src := j.src
	if src == nil {
		var err error
		if src, err = j.e.open(ctx, j.rec.Source.Account); err != nil {
			return
		}
	}
	pusher, ok := provider.Capability[provider.Pusher](src)
	if !ok {
		return
	}
	if st, err := pusher.CancelPush(ctx, p.ID); err == nil {
		j.applyPush(ctx, st)
	}
}
